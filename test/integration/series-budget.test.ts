// SPDX-License-Identifier: Apache-2.0
/**
 * The seriesBudget and the series top offenders through the engine: real worker threads (one
 * for the policies, whose counts must not depend on which worker takes a target; two for the
 * top offenders), real HTTP targets on 127.0.0.1, a file sink. One
 * target is steady, one grows by 10 series every scrape (the exploding exporter), one churns
 * (3 new series every scrape, as many gone). Checks: the steady target never loses a sample,
 * the active series stay within the budget, every sample is sent or counted, /status lists the
 * top offenders and /metrics has strata_active_series and strata_series_created_total per
 * Collector only. Needs `npm run build` (npm test does).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, type TestServer, tempDir, waitFor, writeResources } from './helpers.js';
import { total } from '../../src/channel/counters.js';

const lines = (name: string, n: number, from = 0): string => Array.from({ length: n }, (_, i) => `${name}{i="${from + i}"} ${i}`).join('\n') + '\n';

async function targets(): Promise<{ steady: TestServer; grow: TestServer; churn: TestServer }> {
  const text = (res: import('node:http').ServerResponse, body: string): void => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  };
  const steady = await serve((_q, res) => text(res, lines('steady', 20)));
  const grow = await serve((_q, res, hit) => text(res, lines('grow', 10 * hit)));
  const churn = await serve((_q, res, hit) => text(res, lines('churn', 3, 3 * hit)));
  return { steady, grow, churn };
}

describe('the series budget across worker threads', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => {});
  });

  for (const policy of ['dropNew', 'failTarget'] as const) {
    it(`with policy ${policy}, the exploding target is held at the budget and the steady one keeps every sample`, async () => {
      const { steady, grow, churn } = await targets();
      for (const s of [steady, grow, churn]) closers.push(() => s.close());
      const dir = tempDir(`strata-budget-${policy}-`);
      const file = writeResources(
        dir,
        resourcesYaml(
          // One worker: a scrape another worker steals starts with a cold cache, and its known
          // series ask for room again (series-budget.ts), which would make the counts below
          // depend on the machine's load. Two admissions sharing one budget word are tested in
          // test/collector/series-budget.test.ts; the last test here runs two workers.
          { workers: 1, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 104857600}}`, extra: `  seriesBudget: {maxSeries: 50, policy: ${policy}}` },
          [
            { url: steady.url, labels: { t: 'steady' } },
            { url: grow.url, labels: { t: 'grow' } },
          ],
          1,
        ),
      );
      const engine = startEngine(file);
      closers.push(() => engine.stop());
      await engine.start();
      // grow: 10, 20, 30 series fit (with steady's 20), then 40, 50, ... do not.
      await waitFor(() => grow.hits >= 6 && steady.hits >= 3, 30_000, 'six scrapes of the growing target');
      await engine.stop();
      const st = statusOf(engine);
      const sent = readSinkLines(dir, 'out.').map((l) => (JSON.parse(l) as { name: string }).name);
      expect(st.collected).toBe(st.sent + st.filtered + total(st.dropped));
      expect(sent.length).toBe(st.sent);
      // The steady target's series are known after its first scrape: never refused.
      expect(sent.filter((n) => n === 'steady').length).toBe(20 * steady.hits);
      expect(st.series.active).toBeLessThanOrEqual(50);
      expect(st.activeSeries).toBe(st.series.active);
      expect(st.seriesCreated).toBe(50);
      const counted = Object.fromEntries(st.series.topActive.map((t) => [t.labels.t, t.series]));
      expect(counted).toEqual({ steady: 20, grow: 30 });
      const growStatus = st.targets.find((t) => t.labels.t === 'grow');
      if (policy === 'dropNew') {
        // 10 × hits exposed, 30 kept: the rest of every scrape from the 4th on is dropped.
        let refused = 0;
        for (let h = 4; h <= grow.hits; h++) refused += 10 * h - 30;
        expect(st.dropped.series_budget).toBe(refused);
        expect(st.errors.series_budget).toBe(0);
        expect(sent.filter((n) => n === 'grow').length).toBe(10 + 20 + 30 * (grow.hits - 2));
        expect(growStatus).toMatchObject({ up: true, series: 30, newSeries: 0 });
      } else {
        // Every scrape from the 4th on fails whole: all its samples dropped.
        let dropped = 0;
        for (let h = 4; h <= grow.hits; h++) dropped += 10 * h;
        expect(st.dropped.series_budget).toBe(dropped);
        expect(st.errors.series_budget).toBe(grow.hits - 3);
        expect(sent.filter((n) => n === 'grow').length).toBe(10 + 20 + 30);
        expect(growStatus).toMatchObject({ up: false, series: 0 });
        expect(growStatus?.error).toContain('seriesBudget.maxSeries, policy failTarget');
        expect(st.targets.find((t) => t.labels.t === 'steady')?.up).toBe(true);
      }
    }, 60_000);
  }

  it('lists the top targets by active and by new series, and exports the two sums per Collector only', async () => {
    const { steady, grow, churn } = await targets();
    for (const s of [steady, grow, churn]) closers.push(() => s.close());
    const dir = tempDir('strata-budget-top-');
    const file = writeResources(
      dir,
      resourcesYaml({ workers: 2, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 104857600}}` }, [
        { url: steady.url, labels: { t: 'steady' } },
        { url: grow.url, labels: { t: 'grow' } },
        { url: churn.url, labels: { t: 'churn' } },
      ]),
    );
    const engine = startEngine(file);
    closers.push(() => engine.stop());
    await engine.start();
    await waitFor(() => Math.min(steady.hits, grow.hits, churn.hits) >= 4, 30_000, 'four scrapes of each target');
    // Reports are posted once a second: wait until the ledger has a fourth scrape of each.
    await waitFor(
      () => {
        const s = statusOf(engine).series;
        return s.topActive.length === 3 && (s.topActive.find((t) => t.labels.t === 'grow')?.series ?? 0) >= 40;
      },
      10_000,
      'the reports of the fourth scrapes',
    );
    const s = statusOf(engine);
    expect(s.series.topActive.map((t) => t.labels.t)).toEqual(['grow', 'steady', 'churn']);
    expect(s.series.topActive.map((t) => t.series).slice(1)).toEqual([20, 3]);
    // steady has no new series after its first scrape; grow has 10 each, churn 3.
    expect(s.series.topNewSeries.map((t) => t.labels.t)).toEqual(['grow', 'churn']);
    expect(s.series.active).toBe(s.series.topActive.reduce((a, t) => a + t.series, 0));
    const text = await engine.metrics.metrics();
    const active = text.split('\n').filter((l) => l.startsWith('strata_active_series'));
    const created = text.split('\n').filter((l) => l.startsWith('strata_series_created_total'));
    expect(active).toHaveLength(1);
    expect(created).toHaveLength(1);
    expect(active[0]).toMatch(/^strata_active_series\{collector="test\/it"\} \d+$/);
    expect(created[0]).toMatch(/^strata_series_created_total\{collector="test\/it"\} \d+$/);
    expect(Number(active[0]?.split(' ')[1])).toBeGreaterThanOrEqual(20 + 40 + 3);
    // Every scrape's new series: steady 20 once, grow 10 per scrape, churn 3 per scrape.
    expect(Number(created[0]?.split(' ')[1])).toBeGreaterThanOrEqual(20 + 40 + 12);
    await engine.stop();
  }, 60_000);
});
