// SPDX-License-Identifier: Apache-2.0
/**
 * `strata operator` end to end against the API server fixture, through the real client library
 * and real worker threads: Collectors and Discoveries as custom resources, pods appearing,
 * changing and going with the target set following within an interval, samples written, status
 * subresources written on their timer, a Collector edited while Discoveries feed it with nothing
 * lost, and an invalid resource (the webhook bypassed) refused while the last good one runs on.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { operatorCommand } from '../../src/cli/operator-command.js';
import type { Engine } from '../../src/engine/engine.js';
import { ApiServer, type KObject } from '../fixtures/k8s/api-server.js';

const root = join(import.meta.dirname, '../..');

async function until(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exporter(body: string): Promise<{ server: Server; port: number; hits: () => number }> {
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, hits: () => hits })));
}

function pod(name: string, port: number, labels: Record<string, string> = { app: 'web' }): KObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port) } },
    spec: {},
    status: { phase: 'Running', podIP: '127.0.0.1' },
  };
}

describe('strata operator', () => {
  let server: ApiServer;
  let kubeconfig: string;
  const outDir = mkdtempSync(join(tmpdir(), 'strata-operator-'));
  const out = join(outDir, 'samples.ndjson');
  let a: Awaited<ReturnType<typeof exporter>>;
  let b: Awaited<ReturnType<typeof exporter>>;
  const stop = new AbortController();
  let running: Promise<number>;
  let engine: Engine;
  let stderr = '';

  const lines = (): { name: string; tags: Record<string, string> }[] =>
    existsSync(out)
      ? readFileSync(out, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { name: string; tags: Record<string, string> })
      : [];

  beforeAll(async () => {
    server = await ApiServer.start();
    kubeconfig = server.writeKubeconfig();
    for (const doc of parseAllDocuments(readFileSync(join(root, 'deploy/crds/strata.ctx.sh.yaml'), 'utf8'))) server.upsert(doc.toJS() as KObject);
    server.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } });
    a = await exporter('# TYPE requests_total counter\nrequests_total{code="200"} 10\n');
    b = await exporter('# TYPE temperature gauge\ntemperature 21.5\n');
    server.upsert({
      apiVersion: 'strata.ctx.sh/v1beta1',
      kind: 'Collector',
      metadata: { name: 'main', namespace: 'shop' },
      spec: { output: { file: { path: out } }, includeLabels: ['team'], includeMetadata: true },
    });
    server.upsert({
      apiVersion: 'strata.ctx.sh/v1beta1',
      kind: 'Discovery',
      metadata: { name: 'web', namespace: 'shop' },
      spec: { collector: [{ name: 'main' }], selector: { matchLabels: { app: 'web' } }, intervalSeconds: 1 },
    });
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((stderr += s), true) } };
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    running = operatorCommand(['--kubeconfig', kubeconfig, '--telemetry-port', '0', '--telemetry-host', '127.0.0.1', '--status-interval-seconds', '1'], io, {
      signal: stop.signal,
      onReady: (info) => {
        engine = info.engine;
        ready();
      },
    });
    await Promise.race([started, running.then((code) => Promise.reject(new Error(`operator exited ${code}: ${stderr}`)))]);
  }, 60_000);

  afterAll(async () => {
    stop.abort();
    await running;
    a.server.close();
    b.server.close();
    await server.close();
  }, 60_000);

  it('scrapes a pod once it runs, with the tags the Collector includes', async () => {
    server.upsert({ ...pod('web-a', a.port), metadata: { ...pod('web-a', a.port).metadata, labels: { app: 'web', team: 'shop' } } });
    await until(() => lines().some((l) => l.name === 'requests_total'), 'samples of web-a');
    expect(lines().find((l) => l.name === 'requests_total')?.tags).toEqual({ code: '200', team: 'shop', namespace: 'shop', kind: 'Pod', name: 'web-a' });
  }, 60_000);

  it('follows pods that appear, stop matching and go', async () => {
    server.upsert(pod('web-b', b.port));
    await until(() => lines().some((l) => l.name === 'temperature'), 'samples of web-b');
    server.upsert(pod('web-b', b.port, { app: 'other' })); // no longer selected
    await new Promise((r) => setTimeout(r, 2500)); // a run in flight may still scrape it once
    const hits = b.hits();
    await new Promise((r) => setTimeout(r, 3000));
    expect(b.hits()).toBe(hits);
  }, 60_000);

  it('writes status subresources on their own timer', async () => {
    await until(() => ((server.get('Collector', 'shop', 'main')?.status as { metricsCollected?: number } | undefined)?.metricsCollected ?? 0) > 0, 'collector status');
    const cx = server.get('Collector', 'shop', 'main')?.status as Record<string, unknown>;
    expect(cx).toMatchObject({ registeredDiscoveries: 1, observedGeneration: 1 });
    expect(typeof cx['id']).toBe('string');
    await until(() => ((server.get('Discovery', 'shop', 'web')?.status as { discoveredResourcesCount?: number } | undefined)?.discoveredResourcesCount ?? -1) >= 1, 'discovery status');
    expect(server.get('Discovery', 'shop', 'web')?.status).toMatchObject({ readyCollectors: 1, totalCollectors: 1 });
  }, 60_000);

  it('applies an edited Collector while Discoveries feed it, losing nothing', async () => {
    const before = server.get('Collector', 'shop', 'main') as KObject;
    server.upsert({ ...before, spec: { ...(before.spec as object), batch: { maxSamples: 1 } } });
    await until(() => engine.registry.collectors()[0]?.resource.spec.batch.maxSamples === 1, 'the edit to apply');
    await new Promise((r) => setTimeout(r, 2000));
    const s = engine.collectorStatus('shop/main');
    expect(s).toBeDefined();
    const dropped = Object.entries(s?.dropped ?? {}).filter(([reason]) => reason !== 'shutdown').reduce((n, [, v]) => n + v, 0);
    expect(dropped).toBe(0);
  }, 60_000);

  it('runs a managed NATS server for a Collector that asks for one, and removes it with the last', async () => {
    server.upsert({
      apiVersion: 'strata.ctx.sh/v1beta1',
      kind: 'Collector',
      metadata: { name: 'queue', namespace: 'shop' },
      spec: { output: { nats: { managed: true, subject: 'metrics' } } },
    });
    await until(() => server.get('StatefulSet', 'strata', 'strata-nats') !== undefined, 'the managed NATS StatefulSet');
    await until(() => engine.registry.get('shop/queue') !== undefined, 'the Collector to run');
    expect(engine.registry.get('shop/queue')?.resource.spec.output).toMatchObject({ nats: { url: 'nats://strata-nats.strata.svc:4222', subject: 'metrics' } });
    server.remove('Collector', 'shop', 'queue');
    await until(() => server.get('StatefulSet', 'strata', 'strata-nats') === undefined, 'the server to be removed with its last user');
  }, 60_000);

  it('refuses an invalid resource written past the webhook and keeps the last good one running', async () => {
    const good = server.get('Collector', 'shop', 'main') as KObject;
    server.upsert({ ...good, spec: { ...(good.spec as object), workers: 0 } });
    await until(() => /Collector\/shop\/main is not valid, not applied: .*spec\.workers: must be ≥ 1, got 0/.test(stderr), 'the refusal on stderr');
    expect(engine.registry.collectors()[0]?.resource.spec.workers).toBe(1);
    const n = lines().length;
    await until(() => lines().length > n, 'samples still written');
  }, 60_000);
});

describe('strata operator, refusing to start', () => {
  it('exits 1 naming every place it looked when no cluster can be found', async () => {
    let err = '';
    const io = { stdout: { write: () => true }, stderr: { write: (s: string) => ((err += s), true) } };
    const home = mkdtempSync(join(tmpdir(), 'strata-nohome-'));
    const saved = { KUBECONFIG: process.env['KUBECONFIG'], HOME: process.env['HOME'], KUBERNETES_SERVICE_HOST: process.env['KUBERNETES_SERVICE_HOST'] };
    process.env['KUBECONFIG'] = join(home, 'missing');
    process.env['HOME'] = home;
    delete process.env['KUBERNETES_SERVICE_HOST'];
    try {
      expect(await operatorCommand(['--kubeconfig', join(home, 'nope')], io)).toBe(1);
      expect(err).toContain('--kubeconfig');
      expect(readdirSync(home)).toEqual([]);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
