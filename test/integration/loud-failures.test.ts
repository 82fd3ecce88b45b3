// SPDX-License-Identifier: Apache-2.0
/**
 * Failures that must be loud (issue 14, items 1 and 4), with real worker threads, real files and
 * a real HTTP target: a TLS file that cannot be used is refused before the pool starts; a worker
 * that fails at start is logged, counted, shown in /status, fails /readyz and is restarted with
 * backoff until it runs; a sink that fails keeps its reason (a code in the metrics, the message in
 * /status and in a rate-limited stderr line) and fails /readyz after failing for a while.
 * Needs `npm run build` (npm test does).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CollectorPool } from '../../src/pool/pool.js';
import { ConfigRejected, Engine } from '../../src/engine/engine.js';
import { resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

const logsOf = (engine: Engine): string[] => (engine as unknown as { logs: string[] }).logs;

describe('loud failures', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  async function target() {
    const t = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('up 1\nrequests_total 7\n');
    });
    closers.push(() => t.close());
    return t;
  }

  it('refuses a Collector whose tls.ca cannot be read before its pool starts, naming the field', async () => {
    const t = await target();
    const dir = tempDir('strata-loud-tls-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}', extra: '  tls: {ca: /nonexistent.pem}' }, [{ url: t.url, labels: {} }]));
    const engine = startEngine(file);
    const err = await engine.start().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigRejected);
    expect((err as ConfigRejected).errors).toHaveLength(1);
    expect((err as ConfigRejected).errors[0]).toMatch(/^Collector test\/it: spec\.tls\.ca: cannot read "\/nonexistent\.pem": .*ENOENT/);
    expect(engine.registry.get('test/it')).toBeUndefined(); // no pool ran
    await engine.stop();
  });

  it('a worker that fails at start is logged, counted, in /status, fails /readyz, and is restarted until it runs', async () => {
    const t = await target();
    const dir = tempDir('strata-loud-worker-');
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, 'a file where the spool directory should be\n');
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: `  buffer: {path: ${blocker}/spool}` }, [{ url: t.url, labels: {} }]),
    );
    const engine = startEngine(file, 2000, { spreadTargets: false });
    await engine.start();
    try {
      await waitFor(() => engine.readiness().ready === false, 10_000, 'readiness to fail');
      const r = engine.readiness();
      expect(r.reasons[0]).toMatch(/^collector test\/it: worker 0 failed: .*(ENOTDIR|EEXIST)/);
      const st = statusOf(engine);
      expect(st.workerStatus.failed).toHaveLength(1);
      expect(st.workerStatus.failed[0]?.error).toMatch(/ENOTDIR|EEXIST/);
      expect(st.workerFailures).toBeGreaterThanOrEqual(1);
      expect(st.metricsCollected).toBe(0);
      expect(logsOf(engine).some((l) => /^strata: collector test\/it worker 0 failed \(it starts again on a new thread\): .*(ENOTDIR|EEXIST)/.test(l))).toBe(true);
      const metrics = await engine.metrics.metrics();
      expect(metrics).toMatch(/strata_worker_failures_total\{collector="test\/it"\} [1-9]/);
      // Restarted with backoff: a second failure comes after the first backoff.
      const pool = engine.registry.get('test/it')?.pool as CollectorPool;
      await waitFor(() => pool.restarts >= 1 && statusOf(engine).workerFailures >= 2, 10_000, 'a restart that fails again');
      // Fixed: the next restart runs, readiness comes back, samples flow.
      rmSync(blocker);
      await waitFor(() => engine.readiness().ready && statusOf(engine).metricsCollected > 0, 20_000, 'the worker running again');
      expect(statusOf(engine).workerStatus.failed).toEqual([]);
    } finally {
      await engine.stop();
    }
    const st = statusOf(engine);
    expect(st.totalSent + st.totalDropped + st.totalFiltered + st.spoolSamples).toBe(st.metricsCollected + st.replayed);
  }, 60_000);

  it('a sink that fails keeps its reason: code in the metrics, message in /status and a rate-limited stderr line, then /readyz fails', async () => {
    const t = await target();
    const dir = tempDir('strata-loud-sink-');
    const missing = join(dir, 'no-such-dir', 'out.ndjson');
    const file = writeResources(dir, resourcesYaml({ output: `{file: {path: ${missing}, maxBytes: 1048576}}` }, [{ url: t.url, labels: { job: 'a' } }], 1));
    let offset = 0; // the engine's clock runs ahead of the workers' by this much
    const logs: string[] = [];
    const engine = new Engine({ files: [file], graceMs: 2000, watch: false, log: (l) => logs.push(l), now: () => Date.now() + offset, spreadTargets: false });
    await engine.start();
    try {
      await waitFor(() => (statusOf(engine).sink.failures.ENOENT ?? 0) >= 3, 15_000, 'failed sends');
      const st = statusOf(engine);
      expect(st.sink.lastError?.code).toBe('ENOENT');
      expect(st.sink.lastError?.reason).toContain(missing);
      expect(st.sink.failingSince).not.toBeNull();
      expect(st.dropped.sink_rejected).toBeGreaterThan(0);
      const sinkLines = (): string[] => logs.filter((l) => l.startsWith('strata: collector test/it: the sink'));
      // One line for several failures within the rate limit, with the code and the path.
      expect(sinkLines()).toHaveLength(1);
      expect(sinkLines()[0]).toContain('ENOENT');
      expect(sinkLines()[0]).toContain(missing);
      expect(await engine.metrics.metrics()).toMatch(/strata_sink_failures_total\{collector="test\/it",code="ENOENT"\} [1-9]/);
      // Not yet failing long enough.
      expect(engine.readiness().ready).toBe(true);
      // Ten seconds on: the next failure logs again, saying how many were not shown.
      offset = 11_000;
      await waitFor(() => sinkLines().length === 2, 10_000, 'a second sink line');
      expect(sinkLines()[1]).toMatch(/; [1-9]\d* more failed sends not shown/);
      // Thirty seconds without a successful send: not ready, with the reason.
      offset = 31_000;
      const r = engine.readiness();
      expect(r.ready).toBe(false);
      expect(r.reasons.join('\n')).toMatch(/^collector test\/it: every send has failed for \d+ s \(last: ENOENT: .*no-such-dir/m);
      expect(statusOf(engine).notReady).toHaveLength(1);
    } finally {
      await engine.stop();
    }
    const st = statusOf(engine);
    expect(st.totalSent + st.totalDropped + st.totalFiltered).toBe(st.metricsCollected);
  }, 60_000);
});
