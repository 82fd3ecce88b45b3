// SPDX-License-Identifier: Apache-2.0
/**
 * The per-target sample limit through the engine: `fail` fails the whole target as Prometheus
 * does; `truncate` keeps the first N samples in exposition order and counts the rest. Either
 * way every sample is sent or counted. Needs `npm run build` (npm test does).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

const BODY = Array.from({ length: 10 }, (_, i) => `m{i="${i}"} ${i}`).join('\n') + '\n';

describe('the sample limit', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  for (const policy of ['fail', 'truncate'] as const) {
    it(`with policy ${policy}`, async () => {
      const server = await serve((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(BODY);
      });
      closers.push(() => server.close());
      const dir = tempDir(`strata-limit-${policy}-`);
      const file = writeResources(
        dir,
        resourcesYaml(
          { output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: `  scrape: {sampleLimit: 4, sampleLimitPolicy: ${policy}}` },
          [{ url: server.url, labels: {} }],
          1,
        ),
      );
      const engine = startEngine(file);
      await engine.start();
      await waitFor(() => server.hits >= 2, 10_000, 'two scrapes');
      await engine.stop();
      const st = statusOf(engine);
      const scrapes = server.hits;
      const lines = readSinkLines(dir, 'out.');
      if (policy === 'fail') {
        expect(lines).toHaveLength(0);
        expect(st.errors.sample_limit).toBe(scrapes);
        expect(st.dropped.sample_limit).toBe(10 * scrapes);
        expect(st.targets[0]?.up).toBe(false);
        expect(st.targets[0]?.error).toContain('over the limit of 4 (scrape.sampleLimit)');
      } else {
        expect(lines).toHaveLength(4 * scrapes);
        expect(lines.slice(0, 4).map((l) => (JSON.parse(l) as { tags: { i: string } }).tags.i)).toEqual(['0', '1', '2', '3']);
        expect(st.dropped.sample_limit).toBe(6 * scrapes);
        expect(st.totalSent).toBe(4 * scrapes);
        expect(st.targets[0]?.up).toBe(true);
      }
    }, 20_000);
  }
});
