// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { compileFilters, type FilterConfig, type FilterStats } from '../../src/filter/index.js';
import { type Sample, SampleBatch } from '../../src/sample.js';

const g = (value: number): Sample => ({ name: 'g', tags: {}, timestamp: 1, type: 'gauge', value });
const c = (value: number): Sample => ({ name: 'c', tags: {}, timestamp: 2, type: 'counter', value });
const u = (value: number): Sample => ({ name: 'u', tags: {}, timestamp: 3, type: 'untyped', value });
const h = (value: number): Sample => ({ name: 'h', tags: { bucket: '1' }, timestamp: 4, type: 'histogram', value });
const q = (value: number): Sample => ({ name: 'q', tags: { quantile: '0.5' }, timestamp: 5, type: 'summary', value });

function run(config: FilterConfig, input: Sample[]): { out: Sample[]; stats: FilterStats } {
  const batch = SampleBatch.from(input);
  const stats = { filtered: 0, clamped: 0 };
  compileFilters(config)(batch, stats);
  return { out: batch.toSamples(null), stats };
}

describe('filters', () => {
  const cases: { name: string; config: FilterConfig; input: Sample[]; want: Sample[]; filtered: number; clamped: number }[] = [
    { name: 'no filters pass everything', config: {}, input: [g(1), c(2)], want: [g(1), c(2)], filtered: 0, clamped: 0 },
    { name: 'exclude drops listed values', config: { exclude: { values: [0, 5] } }, input: [g(0), g(1), c(5), c(6)], want: [g(1), c(6)], filtered: 2, clamped: 0 },
    { name: 'exclude matches NaN when listed', config: { exclude: { values: [NaN] } }, input: [g(NaN), g(1)], want: [g(1)], filtered: 1, clamped: 0 },
    {
      name: 'exclude with many values uses the same semantics',
      config: { exclude: { values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] } },
      input: [g(10), g(11), c(1), c(-0)],
      want: [g(11), c(-0)],
      filtered: 2,
      clamped: 0,
    },
    { name: 'exclude treats -0 as 0', config: { exclude: { values: [0] } }, input: [g(-0)], want: [], filtered: 1, clamped: 0 },
    { name: 'clip drops values outside the range', config: { clip: { min: 0, max: 10 } }, input: [g(-1), g(5), g(11)], want: [g(5)], filtered: 2, clamped: 0 },
    { name: 'clip drops values equal to a bound by default', config: { clip: { min: 0, max: 10 } }, input: [g(0), g(10), g(0.1)], want: [g(0.1)], filtered: 2, clamped: 0 },
    { name: 'clip inclusive keeps values equal to a bound', config: { clip: { min: 0, max: 10, inclusive: true } }, input: [g(0), g(10), g(10.5)], want: [g(0), g(10)], filtered: 1, clamped: 0 },
    {
      name: 'clip with an unset min keeps zero and negative values (the original dropped them)',
      config: { clip: { max: 100 } },
      input: [g(0), g(-5), c(-1e300), g(100)],
      want: [g(0), g(-5), c(-1e300)],
      filtered: 1,
      clamped: 0,
    },
    { name: 'clip with an unset max keeps large values', config: { clip: { min: 0 } }, input: [g(1e308), g(0)], want: [g(1e308)], filtered: 1, clamped: 0 },
    {
      name: 'clip: an unset bound is infinite, so exclusive clip drops infinities',
      config: { clip: {} },
      input: [g(Infinity), g(-Infinity), g(1)],
      want: [g(1)],
      filtered: 2,
      clamped: 0,
    },
    { name: 'clip inclusive with unset bounds keeps infinities', config: { clip: { inclusive: true } }, input: [g(Infinity), g(-Infinity)], want: [g(Infinity), g(-Infinity)], filtered: 0, clamped: 0 },
    { name: 'clamp pins values and drops nothing', config: { clamp: { min: 0, max: 10 } }, input: [g(-3), g(5), c(20)], want: [g(0), g(5), c(10)], filtered: 0, clamped: 2 },
    { name: 'clamp leaves values equal to a bound alone', config: { clamp: { min: 0, max: 10 } }, input: [g(0), g(10)], want: [g(0), g(10)], filtered: 0, clamped: 0 },
    { name: 'clamp with one bound', config: { clamp: { max: 1 } }, input: [g(-100), g(2)], want: [g(-100), g(1)], filtered: 0, clamped: 1 },
    {
      name: 'untyped, summary and histogram samples pass untouched',
      config: { exclude: { values: [1] }, clip: { min: 5, max: 6 }, clamp: { min: 5.5, max: 5.6 } },
      input: [u(1), h(1), q(100), u(-1)],
      want: [u(1), h(1), q(100), u(-1)],
      filtered: 0,
      clamped: 0,
    },
    {
      name: 'exclude, then clip, then clamp',
      config: { exclude: { values: [3] }, clip: { min: 0, max: 100 }, clamp: { min: 2, max: 50 } },
      input: [g(3), g(1), g(75), g(200), g(-1), c(10)],
      want: [g(2), g(50), c(10)],
      filtered: 3,
      clamped: 2,
    },
  ];
  for (const t of cases) {
    it(t.name, () => {
      const { out, stats } = run(t.config, t.input);
      expect(out).toEqual(t.want);
      expect(stats).toEqual({ filtered: t.filtered, clamped: t.clamped });
    });
  }

  it('keeps order and timestamps while compacting', () => {
    const input = [g(1), c(-1), g(2), u(9), c(-2), g(3)];
    const { out } = run({ clip: { min: 0 } }, input);
    expect(out.map((s) => [s.name, s.value, s.timestamp])).toEqual([
      ['g', 1, 1],
      ['g', 2, 1],
      ['u', 9, 3],
      ['g', 3, 1],
    ]);
  });

  it('adds to the stats it is given', () => {
    const f = compileFilters({ clip: { min: 0 } });
    const stats = { filtered: 5, clamped: 1 };
    f(SampleBatch.from([g(-1)]), stats);
    expect(stats).toEqual({ filtered: 6, clamped: 1 });
  });
});

describe('filter configuration errors', () => {
  const cases: { config: unknown; err: string }[] = [
    { config: { clip: { min: 5, max: 1 } }, err: 'filters.clip.min: must not be greater than max (5 > 1)' },
    { config: { clamp: { min: 5, max: 1 } }, err: 'filters.clamp.min: must not be greater than max (5 > 1)' },
    { config: { clip: { min: '1' } }, err: 'filters.clip.min: must be a number, got "1"' },
    { config: { clip: { max: NaN } }, err: 'filters.clip.max: must not be NaN' },
    { config: { clip: { inclusive: 'yes' } }, err: 'filters.clip.inclusive: must be true or false, got "yes"' },
    { config: { exclude: {} }, err: 'filters.exclude.values: must be a list of numbers' },
    { config: { exclude: { values: [1, 'x'] } }, err: 'filters.exclude.values[1]: must be a number, got "x"' },
    { config: { cut: {} }, err: 'filters.cut: unknown filter: expected exclude, clip, clamp, dropSeries, keepSeries or dropLabels' },
  ];
  for (const { config, err } of cases) {
    it(`rejects ${JSON.stringify(config)}`, () => {
      let caught: unknown;
      try {
        compileFilters(config as FilterConfig);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).message).toBe(err);
    });
  }
});
