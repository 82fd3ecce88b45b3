// SPDX-License-Identifier: Apache-2.0
/**
 * A target whose scrape outlasts its interval: the scrape is never overlapped by the next one of
 * the same target (as in a Prometheus scrape loop); the record queued meanwhile is dropped and
 * counted as `scrape_in_progress`, and every scrape that ran is delivered. Needs `npm run build`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('a scrape slower than its interval', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('is not overlapped by the next scrape of the same target; the skipped one is counted', async () => {
    let running = 0;
    let most = 0;
    const slow = await serve((_req, res) => {
      running++;
      most = Math.max(most, running);
      setTimeout(() => {
        running--;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('slow 1\n');
      }, 2500);
    });
    closers.push(() => slow.close());
    const dir = tempDir('strata-overlap-');
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: '  scrape: {timeoutSeconds: 5}' }, [{ url: slow.url, labels: {} }], 1),
    );
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => (statusOf(engine).targetsDropped.scrape_in_progress ?? 0) >= 2 && slow.hits >= 2, 15_000, 'a skipped scrape and two scrapes');
    await engine.stop();
    const st = statusOf(engine);
    expect(most).toBe(1);
    expect(st.totalSent).toBe(readSinkLines(dir, 'out.').length);
    expect(st.totalSent).toBeGreaterThanOrEqual(1);
  }, 30_000);
});
