// SPDX-License-Identifier: Apache-2.0
/**
 * The series cache under churn (issue 16): a target whose series are replaced 10% per scrape, as
 * when pods are rescheduled, must not make the cache grow. Driven through the public API only
 * (`parseExposition` with a `SeriesCache`: `size`, `arenaBytes`; the `Series` objects of the
 * returned batch), so it holds whatever the cache's representation is.
 *
 * A churned series' object is checked with a WeakRef and a full GC: `gc` comes from a context
 * made after `--expose-gc` is set (as src/collector/gc.ts does for the workers), so the test runs
 * under plain vitest.
 */
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { SeriesCache, parseExposition } from '../../src/parse/index.js';
import type { Series } from '../../src/sample.js';

const SERIES = 5000;
const CHURN = 0.1;
const SCRAPES = 100;

/**
 * Scrape `n` of a churning target: series `k` is pod `gen * SERIES + k`'s, its generation
 * advancing every 1/CHURN scrapes at a phase of its own, so a share CHURN of the series is new
 * on every scrape and a replaced one never comes back. Two families, a counter and a histogram-
 * like gauge family, with the label values a Kubernetes target has.
 */
function body(n: number): { text: Buffer; series: string[] } {
  const period = Math.round(1 / CHURN);
  const counters: string[] = [];
  const gauges: string[] = [];
  for (let k = 0; k < SERIES; k++) {
    const gen = Math.floor((n + (k % period)) / period);
    const pod = `api-7f9c8d-${(gen * SERIES + k).toString(36).padStart(6, '0')}`;
    if (k % 2 === 0) counters.push(`demo_requests_total{namespace="shop",pod="${pod}",container="api",code="200",path="/api/v1/orders/${k % 50}"}`);
    else gauges.push(`demo_queue_depth{namespace="shop",pod="${pod}",container="api",queue="q${k % 7}"}`);
  }
  const line = (s: string, i: number): string => `${s} ${n * 3 + (i % 13)}\n`;
  const text =
    '# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\n' +
    counters.map(line).join('') +
    '# HELP demo_queue_depth Depth.\n# TYPE demo_queue_depth gauge\n' +
    gauges.map(line).join('');
  // In the order of the body, which is the order of the samples in a batch.
  return { text: Buffer.from(text), series: [...counters, ...gauges] };
}

function fullGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('no gc function');
  return gc as () => void;
}

/** WeakRefs to the series objects of scrape `n` that scrape `n + 1` replaces. */
function churnedRefs(cache: SeriesCache, n: number): { name: string; ref: WeakRef<Series> }[] {
  const refs: { name: string; ref: WeakRef<Series> }[] = [];
  const r = parseExposition(body(n).text, { cache });
  const now = body(n).series;
  const next = new Set(body(n + 1).series);
  for (let i = 0; i < r.batch.length; i++) {
    if (!next.has(now[i] as string)) refs.push({ name: now[i] as string, ref: new WeakRef(r.batch.series[i] as Series) });
  }
  return refs;
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('the series cache under churn', () => {
  it('replaces about the churn share of the series per scrape (the test data)', () => {
    const a = new Set(body(40).series);
    const b = body(41).series;
    const fresh = b.filter((s) => !a.has(s)).length;
    expect(fresh).toBe(SERIES * CHURN);
    const older = new Set(body(0).series);
    expect(b.filter((s) => older.has(s)).length).toBe(0);
  });

  it('keeps its recorded series and its arena within a fixed bound over 100 scrapes at 10% churn', () => {
    const cache = new SeriesCache();
    let liveBytes = 0;
    let everBytes = 0;
    const seen = new Set<string>();
    let maxArena = 0;
    for (let n = 0; n < SCRAPES; n++) {
      const { text, series } = body(n);
      const r = parseExposition(text, { cache });
      expect(r.stats.samples).toBe(SERIES);
      liveBytes = series.reduce((a, s) => a + Buffer.byteLength(s), 0);
      for (const s of series) {
        if (seen.has(s)) continue;
        seen.add(s);
        everBytes += Buffer.byteLength(s);
      }
      if (n > 0) {
        // Only a tenth missed: the rest was answered by the cache.
        expect(r.stats.cacheMisses, `scrape ${n}`).toBeLessThanOrEqual(SERIES * CHURN);
        expect(r.stats.cacheHits, `scrape ${n}`).toBeGreaterThanOrEqual(SERIES * (1 - CHURN));
      }
      expect(cache.size, `scrape ${n}`).toBeLessThanOrEqual(SERIES);
      maxArena = Math.max(maxArena, cache.arenaBytes);
      expect(cache.arenaBytes, `scrape ${n}`).toBeLessThanOrEqual(3 * liveBytes + 256 * 1024);
    }
    expect(cache.size).toBe(SERIES);
    // The bound means something: every series ever seen would not fit in it.
    expect(everBytes).toBeGreaterThan(2 * (3 * liveBytes + 256 * 1024));
    expect(maxArena).toBeLessThan(everBytes / 2);
  });

  it('lets a churned series object be collected a few scrapes after it stopped appearing', async () => {
    const gc = fullGc();
    const cache = new SeriesCache();
    const n0 = 20;
    for (let n = 0; n <= n0; n++) parseExposition(body(n).text, { cache });
    // In a function of its own: an async function's frame would keep the batch alive.
    const refs = churnedRefs(cache, n0 + 1);
    expect(refs.length).toBe(SERIES * CHURN);
    for (let n = n0 + 2; n <= n0 + 4; n++) parseExposition(body(n).text, { cache });
    // WeakRef targets live to the end of the job that made or read them: collect in a later one.
    await tick();
    gc();
    await tick();
    gc();
    const alive = refs.filter((r) => r.ref.deref() !== undefined).map((r) => r.name);
    expect(alive.length, `still referenced 3 scrapes after they were replaced: ${alive.slice(0, 3).join(', ')}`).toBe(0);
    expect(cache.size).toBe(SERIES);
  });
});
