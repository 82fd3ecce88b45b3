// SPDX-License-Identifier: Apache-2.0
/**
 * `strata operator`: Kubernetes mode. Collectors and Discoveries come from custom resources,
 * targets from pods, services and endpoints (list + watch), status goes to the resources'
 * status subresource, admission webhooks serve `/mutate` and `/validate` over HTTPS, and
 * replicas share the work by Leases (`--ha=leader`, `--shards=N`) or statically (`--shard=i/n`).
 * It serves the same `/metrics`, `/healthz`, `/readyz` and `/status` as `strata run`.
 *
 * Status subresources are written by one replica only: the leader, or the holder of shard 0
 * (with `--shard=i/n`, replica 0); each replica's own counts are on its `/status` and `/metrics`.
 * SIGTERM or SIGINT stops cleanly: Leases are released first (another replica takes over at
 * once), then discovery stops and the pools finish what they hold.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import type { Collector, Discovery, Resource } from '../config/index.js';
import { sourcesFor } from '../discovery/service.js';
import type { DiscoveredTarget } from '../discovery/source.js';
import { Engine } from '../engine/engine.js';
import { ConfigError, UsageError } from '../errors.js';
import { loadKubeConfig } from '../k8s/client.js';
import { ShardManager } from '../k8s/lease.js';
import { type CollectorRef, ManagedNats, managedNatsUrl, wantsManagedNats } from '../k8s/managed-nats.js';
import { Operator } from '../k8s/operator.js';
import type { StatusEntry } from '../k8s/status-writer.js';
import { WebhookServer } from '../k8s/webhook.js';
import { startTelemetryServer } from '../telemetry/index.js';
import type { CommandIO } from './parse-command.js';

export const OPERATOR_USAGE =
  'usage: strata operator [--kubeconfig FILE] [--namespaces a,b] [--telemetry-port 9464] [--telemetry-host 0.0.0.0] [--webhook-port 9443 --tls-cert-file F --tls-key-file F] [--ha=leader | --shards=N | --shard=i/n] [--lease-namespace NS] [--identity ID] [--status-interval-seconds 5] [--grace-seconds 10]';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

function int(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
  return n;
}

function leaseNamespace(given: string | undefined): string {
  if (given !== undefined) return given;
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
  } catch {
    return process.env['POD_NAMESPACE'] ?? 'strata';
  }
}

export interface OperatorCommandOptions {
  /** Stops the operator as SIGTERM does (tests). */
  readonly signal?: AbortSignal;
  /** Called once the operator serves (tests). */
  readonly onReady?: (info: { telemetryUrl: string; webhookUrl: string | null; engine: Engine; operator: Operator; shards: ShardManager | null }) => void;
}

export async function operatorCommand(argv: string[], io: CommandIO, options: OperatorCommandOptions = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      kubeconfig: { type: 'string' },
      namespaces: { type: 'string' },
      'telemetry-port': { type: 'string' },
      'telemetry-host': { type: 'string' },
      'webhook-port': { type: 'string' },
      'tls-cert-file': { type: 'string' },
      'tls-key-file': { type: 'string' },
      ha: { type: 'string' },
      shards: { type: 'string' },
      shard: { type: 'string' },
      'lease-namespace': { type: 'string' },
      identity: { type: 'string' },
      'status-interval-seconds': { type: 'string' },
      'grace-seconds': { type: 'string' },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const modes = [values.ha, values.shards, values.shard].filter((v) => v !== undefined).length;
  if (modes > 1) throw new UsageError('--ha, --shards and --shard exclude each other');
  if (values.ha !== undefined && values.ha !== 'leader') throw new UsageError(`--ha must be leader, got ${JSON.stringify(values.ha)}`);
  if ((values['tls-cert-file'] === undefined) !== (values['tls-key-file'] === undefined)) throw new UsageError('--tls-cert-file and --tls-key-file go together');
  let staticShard: { i: number; n: number } | null = null;
  if (values.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(values.shard);
    const i = Number(m?.[1]);
    const n = Number(m?.[2]);
    if (m === null || n < 1 || i >= n) throw new UsageError(`--shard must be i/n with 0 ≤ i < n, got ${JSON.stringify(values.shard)}`);
    staticShard = { i, n };
  }
  const shardCount = values.shards === undefined ? 0 : int('shards', values.shards, 1, 1);
  const namespaces = values.namespaces?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const log = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };

  let kube: ReturnType<typeof loadKubeConfig>;
  try {
    kube = loadKubeConfig({ kubeconfig: values.kubeconfig });
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr.write(`strata operator: ${e.message}\n`);
    return 1;
  }

  const identity = values.identity ?? `${process.env['POD_NAME'] ?? hostname()}-${process.pid}`;
  let shards: ShardManager | null = null;
  const operator = new Operator({
    config: kube.config,
    ...(namespaces === undefined ? {} : { namespaces }),
    statusIntervalMs: int('status-interval-seconds', values['status-interval-seconds'], 5, 1) * 1000,
    log,
  });
  const accept = (t: DiscoveredTarget): boolean => {
    if (staticShard !== null) return ShardManager.shardOf(t.url, staticShard.n) === staticShard.i;
    return shards === null || shards.owns(t.url);
  };
  const writesStatus = (): boolean => (staticShard !== null ? staticShard.i === 0 : shards === null || shards.owned.has(0));
  const engine = new Engine({
    files: [],
    watch: false,
    graceMs: int('grace-seconds', values['grace-seconds'], 10, 0) * 1000,
    log,
    sources: (d: Discovery) => [...sourcesFor(d), ...operator.sourcesFor(d)],
    accept,
  });

  // A Collector asking for a managed NATS (`output.nats.managed: true`) is pointed at the server
  // this operator runs in its own namespace; the server goes with the last Collector using it.
  const ownNamespace = leaseNamespace(values['lease-namespace']);
  const managedNats = new ManagedNats({ config: kube.config, namespace: ownNamespace, log });
  let natsUsers: CollectorRef[] = [];
  const withManagedNats = (resources: readonly Resource[]): Resource[] => {
    natsUsers = [];
    return resources.map((r) => {
      if (r.kind !== 'Collector' || !wantsManagedNats(r.spec as { output?: { nats?: { managed?: boolean } } })) return r;
      natsUsers.push({ namespace: r.metadata.namespace, name: r.metadata.name });
      const nats = (r.spec.output as { nats: object }).nats;
      return { ...r, spec: { ...r.spec, output: { nats: { ...nats, url: managedNatsUrl(ownNamespace) } } } } as Resource;
    });
  };
  let reconciling = false;
  const reconcileNats = (): void => {
    if (reconciling || !writesStatus()) return; // one replica manages it: the one that writes status
    reconciling = true;
    managedNats
      .reconcile(natsUsers)
      .catch((e: unknown) => log(`strata operator: managed NATS: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => (reconciling = false));
  };

  const telemetryPort = int('telemetry-port', values['telemetry-port'], 9464, 0);
  const telemetryHost = values['telemetry-host'] ?? '0.0.0.0';
  const telemetry = await startTelemetryServer({
    port: telemetryPort,
    host: telemetryHost,
    metrics: engine.metrics,
    status: () => ({ ...(engine.status() as object), operator: operator.status(), shards: shards?.state() ?? staticShard, managedNats: managedNats.state() }),
    ready: () => engine.readiness(),
  }).catch((e: unknown) => {
    throw new UsageError(`cannot serve telemetry on ${telemetryHost}:${telemetryPort} (--telemetry-port): ${e instanceof Error ? e.message : String(e)}`);
  });

  let webhook: WebhookServer | null = null;
  const stopAll = async (): Promise<void> => {
    await shards?.stop();
    await operator.stop();
    await engine.stop();
    await webhook?.close();
    await telemetry.close();
  };
  try {
    if (values['tls-cert-file'] !== undefined && values['tls-key-file'] !== undefined) {
      webhook = await WebhookServer.start({
        certFile: values['tls-cert-file'],
        keyFile: values['tls-key-file'],
        port: int('webhook-port', values['webhook-port'], 9443, 0),
        onError: log,
      });
    }
    if (values.ha === 'leader' || shardCount > 0) {
      shards = new ShardManager({
        config: kube.config,
        namespace: ownNamespace,
        identity,
        shards: values.ha === 'leader' ? 1 : shardCount,
        leaderLease: values.ha === 'leader',
        onChange: (owned) => log(`strata operator: ${identity} now owns ${values.ha === 'leader' ? (owned.size > 0 ? 'the leader lease' : 'nothing (standby)') : `shards [${[...owned].sort((a, b) => a - b).join(', ')}]`}`),
        onError: log,
      });
      await shards.start();
    }
    await engine.start();
    await operator.start({
      applyResources: async (resources) => {
        await engine.applyResources(withManagedNats(resources));
        reconcileNats();
      },
      statusEntries: () => {
        reconcileNats(); // on the status timer too: retries failures, and a new leader converges
        return writesStatus() ? statusEntries(engine) : [];
      },
    });
  } catch (e) {
    await stopAll();
    throw e;
  }
  log(`strata operator: ${identity} watching ${namespaces?.join(', ') ?? 'all namespaces'} (cluster from ${kube.from}); self-metrics on ${telemetry.url}/metrics${webhook === null ? '' : `, webhooks on ${webhook.url}`}`);
  options.onReady?.({ telemetryUrl: telemetry.url, webhookUrl: webhook?.url ?? null, engine, operator, shards });

  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
    options.signal?.addEventListener('abort', done, { once: true });
  });
  log('strata operator: stopping: releasing leases, stopping discovery, finishing in-flight scrapes');
  await stopAll();
  log('strata operator: stopped');
  return 0;
}

/** The status subresource of every Collector and Discovery the engine runs, as the CRDs define it. */
export function statusEntries(engine: Engine): StatusEntry[] {
  const out: StatusEntry[] = [];
  for (const rt of engine.registry.collectors()) {
    const s = engine.collectorStatus(rt.key);
    if (s === undefined) continue;
    const r = rt.resource as Collector;
    const lastError = s.notReady[0] ?? (s.sink.lastError === null ? null : `${s.sink.lastError.at} sink ${s.sink.lastError.code}: ${s.sink.lastError.reason}`);
    out.push({
      kind: 'Collector',
      namespace: r.metadata.namespace,
      name: r.metadata.name,
      status: {
        id: s.id,
        registeredDiscoveries: s.registeredDiscoveries,
        inFlightResources: s.inFlightResources,
        metricsCollected: s.metricsCollected,
        totalSent: s.totalSent,
        totalErrors: s.totalErrors,
        totalFiltered: s.totalFiltered,
        totalDropped: s.totalDropped,
        lastError,
        ...(r.metadata.generation === undefined ? {} : { observedGeneration: r.metadata.generation }),
      },
    });
  }
  for (const d of engine.discoveries()) {
    const s = d.status();
    const r = d.resource;
    out.push({
      kind: 'Discovery',
      namespace: r.metadata.namespace,
      name: r.metadata.name,
      status: {
        discoveredResourcesCount: s.discoveredResourcesCount,
        ...(s.lastDiscovered === null ? {} : { lastDiscovered: s.lastDiscovered }),
        readyCollectors: s.readyCollectors,
        totalCollectors: s.totalCollectors,
        inFlightResources: s.inFlightResources,
        lastError: s.errors[0] ?? null,
        ...(r.metadata.generation === undefined ? {} : { observedGeneration: r.metadata.generation }),
      },
    });
  }
  return out;
}
