// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { createDemoExposition } from '../../src/demo/index.js';
import { ConfigError } from '../../src/errors.js';
import { parseExposition } from '../../src/parse/index.js';
import type { Sample } from '../../src/sample.js';

function samples(body: Buffer): Sample[] {
  return parseExposition(body).batch.toSamples();
}

function key(s: Sample, drop?: string): string {
  const tags = Object.entries(s.tags)
    .filter(([k]) => k !== drop)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `${s.name}${JSON.stringify(tags)}`;
}

function sampleLines(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'));
}

describe('the demo exposition', () => {
  it.each([0, 1, 7, 13, 14, 19, 100, 997, 1000, 10_000])('has exactly %i sample lines, and parses into as many samples', (series) => {
    const demo = createDemoExposition({ series, seed: 7 });
    const body = demo.render(3);
    const d = demo.describe();
    expect(d.series).toBe(series);
    expect(d.byType.counter + d.byType.gauge + d.byType.histogram + d.byType.summary).toBe(series);
    expect(sampleLines(body)).toHaveLength(series);
    expect(parseExposition(body).stats.samples).toBe(series);
    expect(body.length === 0 || body[body.length - 1] === 0x0a).toBe(true);
  });

  it('mixes counters, gauges, histograms and summaries, one HELP and TYPE per family', () => {
    const demo = createDemoExposition({ series: 10_000, seed: 1 });
    const d = demo.describe();
    for (const type of ['counter', 'gauge', 'histogram', 'summary'] as const) expect(d.byType[type]).toBeGreaterThan(500);
    const text = demo.render(0).toString('utf8');
    const types = text.split('\n').filter((l) => l.startsWith('# TYPE '));
    expect(types).toHaveLength(d.families);
    expect(new Set(types.map((l) => l.split(' ')[2])).size).toBe(d.families);
    expect(text.split('\n').filter((l) => l.startsWith('# HELP '))).toHaveLength(d.families);
  });

  it('gives every series 5 to 10 labels, bucket and quantile included, and unique label sets', () => {
    const all = samples(createDemoExposition({ series: 5000, seed: 3 }).render(0));
    const counts = all.map((s) => Object.keys(s.tags).length);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(5);
    expect(Math.max(...counts)).toBeLessThanOrEqual(10);
    expect(new Set(all.map((s) => key(s))).size).toBe(all.length);
    for (const name of ['namespace', 'pod', 'node', 'instance', 'job']) {
      expect(all.filter((s) => name in s.tags).length).toBeGreaterThan(all.length / 2);
    }
    expect(all.some((s) => 'method' in s.tags && 'code' in s.tags && 'path' in s.tags && 'container' in s.tags)).toBe(true);
  });

  it('writes escaped label values and UTF-8, which parse back to the raw values', () => {
    const body = createDemoExposition({ series: 200, seed: 1 }).render(0);
    const text = body.toString('utf8');
    expect(text).toContain('path="/search?q=\\"strata\\""');
    expect(text).toContain('path="C:\\\\Program Files\\\\strata"');
    expect(text).toContain('path="/multi\\nline"');
    expect(text).toMatch(/# HELP \S+ .*\\n.*C:\\\\k\\\\metrics/);
    const small = new Set(samples(body).flatMap((s) => (s.tags.path === undefined ? [] : [s.tags.path])));
    expect(small).toContain('/search?q="strata"');
    expect(small).toContain('C:\\Program Files\\strata');
    expect(small).toContain('/multi\nline');
    const big = createDemoExposition({ series: 10_000, seed: 1 }).render(0);
    const paths = new Set(samples(big).flatMap((s) => (s.tags.path === undefined ? [] : [s.tags.path])));
    expect(paths).toContain('/café/crème-brûlée');
    expect(paths).toContain('/日本語/検索');
    expect(paths).toContain('/emoji/🚀');
    // "A few": most series are plain ASCII.
    const special = sampleLines(big).filter((l) => /\\["\\n]|[^\x00-\x7f]/.test(l));
    expect(special.length).toBeGreaterThan(10);
    expect(special.length).toBeLessThan(500);
  });

  it('grows every counter, bucket, sum and count between scrapes, most of them every scrape', () => {
    const demo = createDemoExposition({ series: 3000, seed: 11 });
    const scrapes = [0, 1, 2, 3, 10, 100, 5000].map((n) => new Map(samples(demo.render(n)).map((s) => [key(s), s])));
    const first = scrapes[0] as Map<string, Sample>;
    let monotone = 0;
    let grew = 0;
    let gaugesMoved = 0;
    for (const [k, s] of first) {
      const values = scrapes.map((m) => (m.get(k) as Sample).value);
      const quantile = s.type === 'summary' && 'quantile' in s.tags;
      if (s.type === 'gauge' || quantile) {
        if (new Set(values).size > 1) gaugesMoved++;
        continue;
      }
      monotone++;
      for (let i = 1; i < values.length; i++) expect(values[i], k).toBeGreaterThanOrEqual(values[i - 1] as number);
      // Every counter but restarts grows every scrape.
      if (s.type === 'counter' && s.name !== 'kube_pod_container_status_restarts_total') {
        expect(values[1], k).toBeGreaterThan(values[0] as number);
        grew++;
      }
    }
    expect(monotone).toBeGreaterThan(1500);
    expect(grew).toBeGreaterThan(500);
    expect(gaugesMoved).toBeGreaterThan(500);
  });

  it('keeps histogram buckets cumulative, with +Inf equal to _count, over 10 buckets', () => {
    const demo = createDemoExposition({ series: 3000, seed: 5 });
    for (const n of [0, 1, 42]) {
      const groups = new Map<string, { buckets: [number, number][]; sum?: number; count?: number }>();
      for (const s of samples(demo.render(n))) {
        if (s.type !== 'histogram') continue;
        const isBucket = 'bucket' in s.tags;
        const base = isBucket ? s.name : s.name.replace(/_(sum|count)$/, '');
        const k = `${base}${JSON.stringify(Object.entries(s.tags).filter(([t]) => t !== 'bucket').sort())}`;
        const g = groups.get(k) ?? { buckets: [] };
        groups.set(k, g);
        if (isBucket) g.buckets.push([s.tags.bucket === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.tags.bucket), s.value]);
        else if (s.name.endsWith('_sum')) g.sum = s.value;
        else g.count = s.value;
      }
      expect(groups.size).toBeGreaterThan(20);
      for (const [k, g] of groups) {
        expect(g.buckets.length, k).toBeGreaterThanOrEqual(11);
        const sorted = [...g.buckets].sort((a, b) => a[0] - b[0]);
        expect(sorted.at(-1)?.[0]).toBe(Number.POSITIVE_INFINITY);
        for (let i = 1; i < sorted.length; i++) expect((sorted[i] as [number, number])[1]).toBeGreaterThanOrEqual((sorted[i - 1] as [number, number])[1]);
        expect(sorted.at(-1)?.[1], k).toBe(g.count);
        expect(g.sum).toBeGreaterThan(0);
        expect(Number.isInteger(g.count)).toBe(true);
      }
    }
  });

  it('writes summaries as ordered 0.5, 0.9, 0.99 quantiles with _sum and _count', () => {
    const all = samples(createDemoExposition({ series: 2000, seed: 2 }).render(9));
    const groups = new Map<string, Record<string, number>>();
    for (const s of all) {
      if (s.type !== 'summary') continue;
      const base = s.name.replace(/_(sum|count)$/, '');
      const k = `${base}${JSON.stringify(Object.entries(s.tags).filter(([t]) => t !== 'quantile').sort())}`;
      const g = groups.get(k) ?? {};
      groups.set(k, g);
      g[s.tags.quantile ?? (s.name.endsWith('_sum') ? 'sum' : 'count')] = s.value;
    }
    expect(groups.size).toBeGreaterThan(10);
    for (const g of groups.values()) {
      expect(Object.keys(g).sort()).toEqual(['0.5', '0.9', '0.99', 'count', 'sum']);
      expect(g['0.5']).toBeGreaterThan(0);
      expect(g['0.9']).toBeGreaterThanOrEqual(g['0.5'] as number);
      expect(g['0.99']).toBeGreaterThanOrEqual(g['0.9'] as number);
    }
  });

  it('is deterministic for a seed, whatever the order of renders, and differs between seeds', () => {
    const a = createDemoExposition({ series: 1500, seed: 42 });
    const b = createDemoExposition({ series: 1500, seed: 42 });
    const a5 = a.render(5);
    a.render(2);
    expect(b.render(9).equals(a.render(9))).toBe(true);
    expect(b.render(5).equals(a5)).toBe(true);
    expect(a.render(5).equals(a.render(6))).toBe(false);
    expect(createDemoExposition({ series: 1500, seed: 43 }).render(5).equals(a5)).toBe(false);
    expect(createDemoExposition({ series: 1500 }).render(0).equals(createDemoExposition({ series: 1500, seed: 1 }).render(0))).toBe(true);
  });

  it('renders into a caller buffer the same bytes as render()', () => {
    const demo = createDemoExposition({ series: 800, seed: 1 });
    const out = Buffer.alloc(demo.maxBytes, 0xff);
    const n = demo.renderInto(4, out);
    expect(out.subarray(0, n).equals(demo.render(4))).toBe(true);
    expect(() => demo.renderInto(4, Buffer.alloc(demo.maxBytes - 1))).toThrow(RangeError);
    expect(() => demo.render(-1)).toThrow(RangeError);
  });

  it.each([
    { input: -1, err: 'series: must be a non-negative integer, got -1' },
    { input: 1.5, err: 'series: must be a non-negative integer, got 1.5' },
    { input: Number.NaN, err: 'series: must be a non-negative integer, got NaN' },
  ])('rejects series $input', ({ input, err }) => {
    expect(() => createDemoExposition({ series: input })).toThrow(ConfigError);
    expect(() => createDemoExposition({ series: input })).toThrow(err);
  });
});
