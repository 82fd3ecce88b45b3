// SPDX-License-Identifier: Apache-2.0
/**
 * `scrape.targetSeries` with an output other than remote write (the JSON encoder into a file):
 * after every scrape the per-target series `up`, `scrape_duration_seconds`,
 * `scrape_samples_scraped` and `scrape_series_added` go out with the target's labels, `up` 0
 * for a target that cannot be scraped, and they are counted like the target's own samples.
 * Needs `npm run build` (npm test does).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

interface Line {
  name: string;
  value: number | string;
  tags: Record<string, string>;
}

describe('scrape.targetSeries with the file output', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('writes up and the scrape_* series for a live and a dead target, counted', async () => {
    const live = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('m{a="1"} 1\nm{a="2"} 2\n');
    });
    closers.push(() => live.close());
    const dead = await serve((_req, res) => res.destroy());
    closers.push(() => dead.close());
    const dir = tempDir('strata-target-series-');
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: '  scrape: {targetSeries: true}' }, [
        { url: live.url, labels: { t: 'live' } },
        { url: dead.url, labels: { t: 'dead' } },
      ]),
    );
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => live.hits >= 2 && dead.hits >= 2, 20_000, 'two scrapes of each');
    await engine.stop();
    const lines = readSinkLines(dir, 'out.').map((l) => JSON.parse(l) as Line);
    const of = (name: string, t: string): Line[] => lines.filter((l) => l.name === name && l.tags['t'] === t);
    expect(of('up', 'live').length).toBe(live.hits);
    expect(of('up', 'live').every((l) => l.value === 1)).toBe(true);
    expect(of('up', 'dead').length).toBe(dead.hits);
    expect(of('up', 'dead').every((l) => l.value === 0)).toBe(true);
    expect(of('scrape_samples_scraped', 'live').map((l) => l.value)).toEqual(Array(live.hits).fill(2));
    expect(of('scrape_samples_scraped', 'dead').map((l) => l.value)).toEqual(Array(dead.hits).fill(0));
    // Two new series in the first scrape, none after.
    expect(of('scrape_series_added', 'live').map((l) => l.value)).toEqual([2, ...Array(live.hits - 1).fill(0)]);
    expect(of('scrape_duration_seconds', 'live').every((l) => typeof l.value === 'number' && l.value >= 0)).toBe(true);
    const st = statusOf(engine);
    expect(st.totalSent).toBe(lines.length);
    expect(lines.length).toBe(2 * live.hits + 4 * live.hits + 4 * dead.hits);
    expect(st.collected).toBe(st.totalSent);
  }, 30_000);
});
