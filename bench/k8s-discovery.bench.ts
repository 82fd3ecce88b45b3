// SPDX-License-Identifier: Apache-2.0
/**
 * Kubernetes discovery at scale: 10,000 pods appearing and churning at the API server fixture
 * (test/fixtures/k8s/api-server.ts), watched by the operator's `InformerPool` + `KubeSource`
 * through @kubernetes/client-node, and shard takeover by `ShardManager` with its default timing.
 *
 *   node --expose-gc --import tsx bench/k8s-discovery.bench.ts          (~2.5 minutes)
 *   BENCH_K8S_PODS=2000 BENCH_K8S_CHURN_SECONDS=10 BENCH_K8S_TAKEOVER_RUNS=1 node --expose-gc --import tsx bench/k8s-discovery.bench.ts
 *
 * Settings (environment): BENCH_K8S_PODS (10000) pods; BENCH_K8S_CREATE_RATE (1000) pods
 * created per second while they appear; BENCH_K8S_CHURN_RATE (200) changes per second while they
 * churn, for BENCH_K8S_CHURN_SECONDS (30); BENCH_K8S_TAKEOVER_RUNS (3); BENCH_SEED (1).
 *
 * The API server runs in a child process (this file, forked with BENCH_K8S_ROLE=api-server), so
 * this process holds only what the operator holds and its memory is the operator's; the two talk
 * over IPC (what to change) and HTTPS (the real list/watch protocol).
 *
 * Data set "pods-10k-annotated": pods shaped as a kubelet reports them (6 labels, 4 annotations
 * with `prometheus.io/scrape|port|path`, one container with ports, env and resources, 4
 * conditions, a container status; about 2.2 KB of JSON each) over 20 namespaces, all labelled
 * `app=bench`, all Running with an IP. The KubeSource watches pods in all namespaces with the
 * selector `app=bench` (services and endpoints off).
 *
 * Measured:
 * - appear: each pod's latency from the moment this process asks for its creation (before the
 *   IPC message: an upper bound) to the first `discover()` whose targets contain its URL. A
 *   change wakes the loop (informer onChange); runs are coalesced: one `discover()` at a time,
 *   the next as soon as one ends if anything changed meanwhile. p50, p99, max.
 * - churn: random changes, each to a random pod: its `prometheus.io/port` annotation (new URL in,
 *   old out), its `app` label out of or back into the selector, its phase Running ↔ Pending,
 *   deleted, created again. Latency to the first `discover()` that reflects the change (URL in or
 *   out as expected). A change superseded by a later change to the same pod before it shows is
 *   not counted (reported). Target: p99 < 1 s.
 * - discover(): the duration of one run over the full set (the engine pays it every interval).
 * - memory per 1,000 watched pods: RSS and V8 heap used after a full GC (needs --expose-gc),
 *   with the informer synced on no pods and again on all of them: (after - before) / (pods/1000).
 * - shard takeover: three `ShardManager`s with `--shards=8` and the default timing (lease 15 s,
 *   retry 2 s) share the shards; one halts (stops renewing and releases nothing, as a killed
 *   pod); the time until the other two own all 8. Target: ≤ lease duration + one retry period.
 *   Also the clean hand-over: one replica stops (releases its Leases) and the rest own all 8.
 *
 * Results also go to bench/results/k8s-discovery.json. The child process is killed on exit.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { seededRandom } from '../src/demo/random.js';
import { InformerPool, KubeSource } from '../src/k8s/kube-source.js';
import { DEFAULT_TIMING, ShardManager } from '../src/k8s/lease.js';
import { ApiServer, type KObject } from '../test/fixtures/k8s/api-server.js';
import { intEnv, machineLine } from './lib/env.js';
import { median } from './lib/report.js';

const NAMESPACES = 20;
const P = 'prometheus.io';

/** What the parent wants of a pod; the child builds the object from it. */
interface PodState {
  readonly i: number;
  readonly exists: boolean;
  readonly inSelector: boolean;
  readonly running: boolean;
  readonly port: number;
}

type ToChild = { op: 'pods'; pods: PodState[] };
type ToParent = { op: 'ready'; kubeconfig: string } | { op: 'done' };

const podName = (i: number): string => `bench-${i}`;
const podNs = (i: number): string => `ns-${i % NAMESPACES}`;
const podIp = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const urlOf = (s: PodState): string => `http://${podIp(s.i)}:${s.port}/metrics`;
const visible = (s: PodState): boolean => s.exists && s.inSelector && s.running;

function podObject(s: PodState): KObject {
  const name = podName(s.i);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: podNs(s.i),
      labels: {
        app: s.inSelector ? 'bench' : 'other',
        'app.kubernetes.io/name': 'bench',
        'app.kubernetes.io/instance': `bench-${s.i % 50}`,
        'app.kubernetes.io/version': '1.4.2',
        'pod-template-hash': '7d9f8c6b5',
        tier: s.i % 2 === 0 ? 'web' : 'worker',
      },
      annotations: {
        [`${P}/scrape`]: 'true',
        [`${P}/port`]: String(s.port),
        [`${P}/path`]: '/metrics',
        'kubectl.kubernetes.io/restartedAt': '2026-12-01T10:00:00Z',
      },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `bench-${s.i % 50}-7d9f8c6b5`, uid: '5f0c3c1e-2d4b-4a7e-9b0f-0a1b2c3d4e5f', controller: true }],
    },
    spec: {
      nodeName: `node-${s.i % 40}`,
      serviceAccountName: 'default',
      containers: [
        {
          name: 'app',
          image: 'registry.example.com/bench/app:1.4.2',
          ports: [
            { name: 'http', containerPort: 8080, protocol: 'TCP' },
            { name: 'metrics', containerPort: s.port, protocol: 'TCP' },
          ],
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
          ],
          resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
          volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
        },
      ],
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
    },
    status: {
      phase: s.running ? 'Running' : 'Pending',
      podIP: podIp(s.i),
      podIPs: [{ ip: podIp(s.i) }],
      hostIP: `192.168.0.${s.i % 40}`,
      startTime: '2026-12-01T10:00:00Z',
      qosClass: 'Burstable',
      conditions: ['Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({ type, status: 'True', lastTransitionTime: '2026-12-01T10:00:05Z' })),
      containerStatuses: [{ name: 'app', ready: s.running, restartCount: 0, image: 'registry.example.com/bench/app:1.4.2', imageID: 'registry.example.com/bench/app@sha256:0f1e2d3c', started: s.running, state: { running: { startedAt: '2026-12-01T10:00:04Z' } } }],
    },
  };
}

// ---------------------------------------------------------------- the API server process

async function apiServerChild(): Promise<void> {
  // Enough history that no watch resumes into a 410 during the run.
  const server = await ApiServer.start({ historyLimit: 200_000 });
  for (let n = 0; n < NAMESPACES; n++) server.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}` } });
  server.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'strata' } });
  process.on('message', (m: ToChild) => {
    for (const s of m.pods) {
      if (s.exists) server.upsert(podObject(s));
      else server.remove('Pod', podNs(s.i), podName(s.i));
    }
  });
  process.on('disconnect', () => {
    void server.close().finally(() => process.exit(0));
  });
  (process.send as (m: ToParent) => void)({ op: 'ready', kubeconfig: server.writeKubeconfig('strata') });
}

// ---------------------------------------------------------------- the operator process

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

interface Probe {
  readonly t0: number;
  readonly present: string | null;
  readonly absent: string | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g !== undefined) {
    g();
    g();
  }
};
const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(2)} MiB`;

async function operator(): Promise<void> {
  const pods = intEnv('BENCH_K8S_PODS', 10_000);
  const createRate = intEnv('BENCH_K8S_CREATE_RATE', 1000);
  const churnRate = intEnv('BENCH_K8S_CHURN_RATE', 200);
  const churnSeconds = intEnv('BENCH_K8S_CHURN_SECONDS', 30);
  const takeoverRuns = intEnv('BENCH_K8S_TAKEOVER_RUNS', 3);
  const random = seededRandom(intEnv('BENCH_SEED', 1));
  const lines: string[] = [];
  const figures: { name: string; value: number; unit: string; target?: string; met?: boolean }[] = [];
  const result = (name: string, value: number, unit: string, target?: { label: string; met: boolean }): void => {
    figures.push({ name, value, unit, ...(target === undefined ? {} : { target: target.label, met: target.met }) });
    const shown = unit === 'ms' ? value.toFixed(1) : unit === 'MiB' ? value.toFixed(2) : String(value);
    const line = `result: ${name} = ${shown} ${unit}${target === undefined ? '' : `   (target ${target.label}: ${target.met ? 'met' : 'NOT MET'})`}`;
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  process.stdout.write(`# k8s discovery: ${pods} pods (pods-10k-annotated shape), create ${createRate}/s, churn ${churnRate}/s for ${churnSeconds} s\n# ${machineLine()}\n`);

  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [], {
    execArgv: process.execArgv.filter((a) => a !== '--expose-gc'),
    env: { ...process.env, BENCH_K8S_ROLE: 'api-server' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const killChild = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.on('exit', killChild);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: ToParent) => (m.op === 'ready' ? resolve(m.kubeconfig) : reject(new Error('unexpected message'))));
    child.once('exit', (code) => reject(new Error(`API server process exited (${code})`)));
  });
  const config = new KubeConfig();
  config.loadFromFile(kubeconfig);
  const send = (states: PodState[]): void => {
    child.send({ op: 'pods', pods: states } satisfies ToChild);
  };

  // ---- the watching operator
  const state: PodState[] = [];
  const pending = new Map<number, Probe>();
  const latencies: number[] = [];
  let superseded = 0;
  const discoverMs: number[] = [];
  let dirty = false;
  let running = false;
  let current = new Set<string>();
  let source: KubeSource | undefined;
  const check = async (): Promise<void> => {
    if (running || source === undefined) return;
    running = true;
    while (dirty) {
      dirty = false;
      const t = performance.now();
      const targets = await source.discover();
      const now = performance.now();
      discoverMs.push(now - t);
      current = new Set(targets.map((x) => x.url));
      for (const [i, p] of pending) {
        if ((p.present === null || current.has(p.present)) && (p.absent === null || !current.has(p.absent))) {
          latencies.push(now - p.t0);
          pending.delete(i);
        }
      }
      await new Promise((r) => setImmediate(r)); // let watch events in before the next run
    }
    running = false;
  };
  const pool = new InformerPool(config, undefined, () => {
    dirty = true;
    void check();
  });

  gc();
  const before = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
  source = new KubeSource({ prefix: P, selector: { matchLabels: { app: 'bench' } }, resources: { pods: true, services: false, endpoints: false } }, pool);
  await source.synced();
  await sleep(500);
  gc();
  const empty = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };

  // ---- appear
  const batch = Math.max(1, Math.round(createRate / 50));
  const appearStarted = performance.now();
  for (let from = 0; from < pods; from += batch) {
    const states: PodState[] = [];
    const t0 = performance.now();
    for (let i = from; i < Math.min(pods, from + batch); i++) {
      const s: PodState = { i, exists: true, inSelector: true, running: true, port: 9100 };
      state[i] = s;
      states.push(s);
      pending.set(i, { t0, present: urlOf(s), absent: null });
    }
    send(states);
    const due = appearStarted + ((from + batch) / createRate) * 1000;
    await sleep(Math.max(0, due - performance.now()));
  }
  const until = performance.now() + 120_000;
  while (pending.size > 0 && performance.now() < until) await sleep(20);
  if (pending.size > 0) throw new Error(`${pending.size} pods never showed up in the target set`);
  const appear = [...latencies];
  latencies.length = 0;
  result('appear latency p50', median(appear), 'ms');
  result('appear latency p99', percentile(appear, 99), 'ms');
  result('appear latency max', Math.max(...appear), 'ms');
  result('all pods in the target set after the first was asked for', performance.now() - appearStarted, 'ms');

  // ---- memory per 1,000 watched pods
  await sleep(1000);
  gc();
  const full = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
  const per = pods / 1000;
  result('RSS per 1,000 watched pods', (full.rss - empty.rss) / per / 1024 / 1024, 'MiB');
  result('heap per 1,000 watched pods', (full.heap - empty.heap) / per / 1024 / 1024, 'MiB');
  process.stdout.write(`#   rss: start ${mib(before.rss)}, synced on 0 pods ${mib(empty.rss)}, on ${pods} ${mib(full.rss)}; heap ${mib(before.heap)}, ${mib(empty.heap)}, ${mib(full.heap)}\n`);
  discoverMs.length = 0;
  for (let k = 0; k < 20; k++) {
    const t = performance.now();
    await source.discover();
    discoverMs.push(performance.now() - t);
  }
  result(`discover() over ${pods} pods, median of 20`, median(discoverMs), 'ms');

  // ---- churn
  const counts = { port: 0, label: 0, phase: 0, delete: 0, create: 0 };
  const churnStarted = performance.now();
  let sent = 0;
  while (performance.now() - churnStarted < churnSeconds * 1000) {
    const due = Math.floor(((performance.now() - churnStarted) / 1000) * churnRate) - sent;
    const states: PodState[] = [];
    const t0 = performance.now();
    for (let k = 0; k < due; k++) {
      const i = Math.floor(random() * pods);
      const old = state[i] as PodState;
      let next: PodState;
      if (!old.exists) {
        next = { ...old, exists: true };
        counts.create++;
      } else {
        const r = random();
        if (r < 0.4) {
          next = { ...old, port: old.port === 9100 ? 9101 : 9100 };
          counts.port++;
        } else if (r < 0.65) {
          next = { ...old, inSelector: !old.inSelector };
          counts.label++;
        } else if (r < 0.9) {
          next = { ...old, running: !old.running };
          counts.phase++;
        } else {
          next = { ...old, exists: false };
          counts.delete++;
        }
      }
      state[i] = next;
      states.push(next);
      if (pending.delete(i)) superseded++;
      const oldUrl = visible(old) ? urlOf(old) : null;
      const newUrl = visible(next) ? urlOf(next) : null;
      pending.set(i, { t0, present: newUrl, absent: oldUrl !== null && oldUrl !== newUrl ? oldUrl : null });
    }
    if (states.length > 0) send(states);
    sent += states.length;
    await sleep(10);
  }
  const drain = performance.now() + 60_000;
  while (pending.size > 0 && performance.now() < drain) await sleep(20);
  const lost = pending.size;
  const churn = [...latencies];
  process.stdout.write(
    `#   churn: ${sent} changes (${Object.entries(counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}), ${superseded} superseded before they showed, ${lost} never shown\n`,
  );
  result('churn latency p50', median(churn), 'ms');
  result('churn latency p99', percentile(churn, 99), 'ms', { label: '< 1000 ms', met: percentile(churn, 99) < 1000 && lost === 0 });
  result('churn latency max', Math.max(...churn), 'ms');
  source.close();
  await pool.close();
  source = undefined;

  // ---- shard takeover, default timing
  const takeovers: number[] = [];
  const handovers: number[] = [];
  const limit = DEFAULT_TIMING.leaseDurationSeconds * 1000 + DEFAULT_TIMING.retryPeriodMs;
  const allOwned = (ms: ShardManager[]): boolean => {
    const owned = ms.flatMap((m) => [...m.owned]);
    return owned.length === 8 && new Set(owned).size === 8;
  };
  const waitFor = async (cond: () => boolean, what: string, ms = 120_000): Promise<number> => {
    const t = performance.now();
    while (!cond()) {
      if (performance.now() - t > ms) throw new Error(`timed out waiting for ${what}`);
      await sleep(25);
    }
    return performance.now() - t;
  };
  for (let run = 0; run < takeoverRuns; run++) {
    const ms = ['a', 'b', 'c'].map((id) => new ShardManager({ config, namespace: 'strata', identity: `bench-${run}-${id}`, shards: 8 }));
    try {
      for (const m of ms) await m.start();
      await waitFor(() => allOwned(ms) && ms.every((m) => m.owned.size >= 2), 'three replicas to share 8 shards');
      const victim = ms.find((m) => m.owned.size > 0) as ShardManager;
      victim.halt();
      const rest = ms.filter((m) => m !== victim);
      takeovers.push(await waitFor(() => allOwned(rest), 'the others to take the halted replica’s shards over'));
      // Clean hand-over: one of the two left stops and releases its Leases.
      await waitFor(() => rest.every((m) => m.owned.size >= 3), 'the two to share 8 shards');
      const leaving = rest[0] as ShardManager;
      const t = performance.now();
      await leaving.stop();
      const last = rest[1] as ShardManager;
      await waitFor(() => last.owned.size === 8, 'the last replica to own all 8');
      handovers.push(performance.now() - t);
    } finally {
      for (const m of ms) await m.stop().catch(() => {});
    }
    // Lease objects of this run are left behind with other identities; the next run uses new ones.
  }
  process.stdout.write(`#   takeovers: ${takeovers.map((t) => t.toFixed(0)).join(', ')} ms; clean hand-overs: ${handovers.map((t) => t.toFixed(0)).join(', ')} ms\n`);
  result(`shard takeover after a replica halts, median of ${takeoverRuns}`, median(takeovers), 'ms', { label: `≤ ${limit} ms (lease ${DEFAULT_TIMING.leaseDurationSeconds} s + retry ${DEFAULT_TIMING.retryPeriodMs} ms)`, met: Math.max(...takeovers) <= limit });
  result(`shard takeover, max of ${takeoverRuns}`, Math.max(...takeovers), 'ms');
  result(`clean hand-over after a replica stops, median of ${takeoverRuns}`, median(handovers), 'ms');

  const dir = join(import.meta.dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'k8s-discovery.json'),
    `${JSON.stringify({ area: 'k8s-discovery', dataSet: 'pods-10k-annotated', machine: machineLine(), date: new Date().toISOString(), settings: { pods, createRate, churnRate, churnSeconds, takeoverRuns }, figures }, null, 2)}\n`,
  );
  child.disconnect();
  await new Promise((r) => setTimeout(r, 200));
  killChild();
  process.exit(0);
}

if (process.env['BENCH_K8S_ROLE'] === 'api-server') await apiServerChild();
else await operator();
