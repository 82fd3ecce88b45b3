// SPDX-License-Identifier: Apache-2.0
/**
 * End to end with real worker threads: targets on 127.0.0.1 → discovery → registry → channel →
 * Piscina pool → scrape, parse, filter, encode → file sink. The samples in the files must equal
 * what the targets served, and the counters must add up. Needs `npm run build` (npm test does).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startDemoTarget } from '../../src/demo/index.js';
import { parseExposition } from '../../src/parse/index.js';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

const BODIES = [
  '# TYPE a_total counter\na_total{code="200"} 10\na_total{code="500"} 2\n# TYPE g gauge\ng -5\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 3\nh_sum 1.5\nh_count 3\n',
  '# TYPE s summary\ns{quantile="0.5"} 0.25\ns{quantile="0.99"} NaN\ns_sum 9\ns_count 4\nu{x="Zürich \\"q\\""} 7 1700000000000\n',
  'only_untyped 1\n',
];

describe('end to end', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('writes exactly the samples the targets served, with target tags, and the counts add up', async () => {
    const servers = await Promise.all(
      BODIES.map((body) =>
        serve((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
          res.end(body);
        }),
      ),
    );
    for (const s of servers) closers.push(() => s.close());
    const dir = tempDir('strata-e2e-');
    const file = writeResources(
      dir,
      resourcesYaml(
        { workers: 2, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: '  filters: {clip: {min: 0, inclusive: true}}' },
        servers.map((s, i) => ({ url: s.url, labels: { job: `t${i}` } })),
      ),
    );
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => servers.every((s) => s.hits >= 2), 15_000, 'two scrapes of every target');
    await engine.stop();
    const st = statusOf(engine);

    // What each target served, flattened, with its job tag, clipped at min 0.
    const expected = new Map<string, unknown[]>();
    BODIES.forEach((body, i) => {
      const samples = parseExposition(Buffer.from(body), { targetTags: { job: `t${i}` } })
        .batch.toSamples(null)
        .filter((s) => !((s.type === 'counter' || s.type === 'gauge') && s.value < 0))
        .map((s) => JSON.stringify({ name: s.name, tags: s.tags, type: s.type, value: Number.isNaN(s.value) ? 'NaN' : s.value }));
      expected.set(`t${i}`, samples.sort());
    });
    // Group the written samples by target and scrape (same job, same scrape timestamp per scrape
    // unless the exposition gave one).
    const lines = readSinkLines(dir, 'out.');
    const scrapes = new Map<string, string[]>();
    for (const l of lines) {
      const s = JSON.parse(l) as { name: string; tags: Record<string, string>; timestamp: number; type: string; value: unknown };
      const job = s.tags.job as string;
      const key = s.name === 'u' ? `${job}` : `${job}@${s.timestamp}`;
      const list = scrapes.get(key) ?? [];
      list.push(JSON.stringify({ name: s.name, tags: s.tags, type: s.type, value: s.value }));
      scrapes.set(key, list);
    }
    for (const [key, list] of scrapes) {
      const job = key.split('@')[0] as string;
      const want = (expected.get(job) as string[]).filter((x) => (key.includes('@') ? !x.startsWith('{"name":"u"') : x.startsWith('{"name":"u"')));
      // every scrape of a target wrote exactly its samples
      const perScrape = key.includes('@') ? list : list.slice(0, want.length);
      expect(perScrape.sort()).toEqual(want.sort());
    }
    expect(lines.length).toBe(st.totalSent);
    expect(st.metricsCollected).toBe(st.totalSent + st.totalFiltered);
    expect(st.totalFiltered).toBe(servers[0]!.hits === 0 ? 0 : st.totalFiltered); // g -5 clipped each scrape
    expect(st.totalFiltered).toBeGreaterThan(0);
    expect(st.totalErrors).toBe(0);
    expect(st.totalDropped).toBe(0);
  }, 30_000);

  it('collects demo targets with 2 workers and reports each target in status', async () => {
    const demos = await Promise.all([1, 2, 3].map((seed) => startDemoTarget({ series: 2000, seed })));
    for (const d of demos) closers.push(() => d.close());
    const dir = tempDir('strata-e2e-demo-');
    const file = writeResources(
      dir,
      resourcesYaml({ workers: 2, output: `{file: {path: ${dir}/demo.ndjson, maxBytes: 4194304}}` }, demos.map((d, i) => ({ url: d.url, labels: { job: `demo${i}` } }))),
    );
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => demos.every((d) => d.scrapes() >= 2), 15_000, 'two scrapes of every demo target');
    await waitFor(() => statusOf(engine).targets.length === 3, 5_000, 'three targets in status');
    await engine.stop();
    const st = statusOf(engine);
    expect(st.targets.every((t) => t.up && t.samples > 1900 && t.error === null)).toBe(true);
    expect(readSinkLines(dir, 'demo.').length).toBe(st.totalSent);
    expect(st.metricsCollected).toBe(st.totalSent);
    expect(st.totalSent).toBeGreaterThanOrEqual(3 * 2 * 1900);
  }, 30_000);
});
