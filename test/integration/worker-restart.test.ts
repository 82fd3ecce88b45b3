// SPDX-License-Identifier: Apache-2.0
/**
 * A collector worker thread that dies (a defect, or killed) does not stop the Collector or the
 * process: its consumer starts again on a new thread and collection goes on. Real worker threads;
 * needs `npm run build` (npm test does).
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { CollectorPool } from '../../src/pool/pool.js';
import { resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('a collector worker thread that dies', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('is replaced: its consumer starts again on a new thread and collection goes on', async () => {
    const target = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('up 1\nrequests_total 7\n');
    });
    closers.push(() => target.close());
    const dir = tempDir('strata-restart-');
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}` }, [{ url: target.url, labels: { job: 'a' } }], 1),
    );
    const engine = startEngine(file, 2000, { spreadTargets: false });
    await engine.start();
    try {
      await waitFor(() => statusOf(engine).metricsCollected >= 2, 5000, 'first scrapes');
      const pool = engine.registry.get('test/it')?.pool as CollectorPool;
      expect(pool.threads.length).toBe(1);
      const first = pool.threads[0];
      await first?.terminate();
      const before = statusOf(engine).metricsCollected;
      await waitFor(() => pool.restarts === 1, 5000, 'the consumer started again');
      await waitFor(() => statusOf(engine).metricsCollected >= before + 4, 6000, 'scrapes after the restart');
      expect(pool.threads.length).toBe(1);
      expect(pool.threads[0]).not.toBe(first);
      const logs = (engine as unknown as { logs: string[] }).logs;
      expect(logs.some((l) => l.startsWith('strata: collector test/it worker 0 failed (it starts again on a new thread): '))).toBe(true);
    } finally {
      await engine.stop();
    }
    // Every sample collected was sent or counted (what the killed thread held, as a drop).
    const st = statusOf(engine);
    expect(st.totalSent + st.totalDropped + st.totalFiltered).toBe(st.metricsCollected);
  }, 30_000);
});
