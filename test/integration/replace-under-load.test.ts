// SPDX-License-Identifier: Apache-2.0
/**
 * Collectors replaced under load, with real worker threads: while targets stream through the
 * channel, the Collector is replaced again and again (workers 1 ↔ 3, concurrency, filters).
 * Every target queued is taken exactly once or counted as dropped: nothing lost, nothing
 * duplicated. (test/channel/stress.test.ts checks the same invariant with a million records at
 * the channel level.) Needs `npm run build` (npm test does).
 */
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('replacing collectors under load', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('takes every queued target exactly once or counts it', async () => {
    const seen = new Map<string, number>();
    const server = await serve((req, res) => {
      seen.set(req.url ?? '', (seen.get(req.url ?? '') ?? 0) + 1);
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('m{a="1"} 1\nm{a="2"} 2\n');
      }, 5);
    });
    closers.push(() => server.close());
    const dir = tempDir('strata-replace-');
    const targets = Array.from({ length: 200 }, (_, i) => ({ url: `${server.url}?t=${i}`, labels: { t: String(i) } }));
    const yaml = (workers: number, concurrency: number): string =>
      resourcesYaml(
        { workers, bufferSize: 1000, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 67108864}}`, extra: `  scrape: {concurrency: ${concurrency}}` },
        targets,
        1,
      );
    const file = writeResources(dir, yaml(1, 4));
    const engine = startEngine(file, 10_000);
    await engine.start();
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 400));
      writeFileSync(file, yaml(i % 2 === 0 ? 3 : 1, i % 2 === 0 ? 16 : 4));
      await engine.reload();
    }
    await waitFor(() => server.hits > 400, 20_000, 'steady scraping');
    await engine.stop();
    const st = statusOf(engine);
    const d = (engine.status() as { discoveries: { status: { queued: number; dropped: number } }[] }).discoveries[0]?.status;
    const dropped = Object.values(st.targetsDropped as Record<string, number>).reduce((a, b) => a + b, 0);
    // The discovery's drops are the records never queued (channel_full while queueing: counted
    // by the Collector too); the rest were dropped after queueing: `stale`, or `channel_full`
    // when a replaced channel's records did not fit the new one (a loaded machine).
    const droppedAfterQueueing = dropped - (d?.dropped ?? 0);
    // Every queued record was taken or dropped and counted; every taken one was scraped once.
    expect(st.targetsTaken + droppedAfterQueueing).toBe(d?.queued);
    expect(server.hits).toBe(st.targetsTaken);
    expect(st.totalSent).toBe(server.hits * 2);
    expect(st.totalErrors).toBe(0);
    expect(engine.reloads.applied).toBe(8);
  }, 60_000);
});
