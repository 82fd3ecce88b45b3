// SPDX-License-Identifier: Apache-2.0
/**
 * Per-target label limits (`scrape.labelLimit`, `labelNameLengthLimit`, `labelValueLengthLimit`):
 * what is counted (as Prometheus 2.42 counts it: `__name__` and the target's labels included,
 * the metric name as a value, UTF-8 bytes), the exact messages, the whole scrape failing, and
 * the check living on the series cache's miss path.
 */
import { describe, expect, it } from 'vitest';
import { LabelLimitError, ParseError } from '../../src/errors.js';
import { compileSeriesFilter } from '../../src/filter/index.js';
import { type LabelLimits, parseExposition, SeriesCache } from '../../src/parse/index.js';
import { parseAllWays, parseErrorAllWays, s } from './helpers.js';

describe('label limits', () => {
  const errors: { name: string; limits: LabelLimits; targetTags?: Record<string, string>; input: string; err: string }[] = [
    {
      name: 'too many labels, __name__ and the target tags counted',
      limits: { labelLimit: 4 },
      targetTags: { job: 'api', instance: 'x:1' },
      input: 'ok{a="1"} 1\nbad{a="1",b="2"} 2\n',
      err: 'line 2: series "bad{a=\\"1\\",b=\\"2\\"}" has 5 labels (with __name__ and the target\'s), over the limit of 4 (scrape.labelLimit)',
    },
    {
      name: 'a label name too long',
      limits: { labelNameLengthLimit: 10 },
      input: 'a{abcdefghij="1"} 1\na{abcdefghijk="1"} 1\n',
      err: 'line 2: label name "abcdefghijk" of series "a{abcdefghijk=\\"1\\"}" is 11 bytes, over the limit of 10 (scrape.labelNameLengthLimit)',
    },
    {
      name: 'a target tag name too long',
      limits: { labelNameLengthLimit: 10 },
      targetTags: { 'app.kubernetes.io/name': 'x' },
      input: 'a 1\n',
      err: 'line 1: label name "app.kubernetes.io/name" of series "a" is 22 bytes, over the limit of 10 (scrape.labelNameLengthLimit)',
    },
    {
      name: 'a label value too long, in UTF-8 bytes',
      limits: { labelValueLengthLimit: 10 },
      input: 'a{b="ééééé"} 1\na{b="éééééé"} 1\n',
      err: 'line 2: value of label "b" of series "a{b=\\"\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\xc3\\xa9\\"}" is 12 bytes, over the limit of 10 (scrape.labelValueLengthLimit): "éééééé"',
    },
    {
      name: 'a metric name too long, as the value of __name__',
      limits: { labelValueLengthLimit: 10 },
      input: 'abcdefghij 1\nabcdefghijklmnop 1\n',
      err: 'line 2: value of label "__name__" of series "abcdefghijklmnop" is 16 bytes, over the limit of 10 (scrape.labelValueLengthLimit): "abcdefghijklmnop"',
    },
    {
      name: 'a long value, capped in the message',
      limits: { labelValueLengthLimit: 100 },
      input: `a{b="${'v'.repeat(200)}"} 1\n`,
      err: `line 1: value of label "b" of series "a{b=\\"${'v'.repeat(59)}"… is 200 bytes, over the limit of 100 (scrape.labelValueLengthLimit): "${'v'.repeat(64)}"…`,
    },
  ];
  for (const { name, limits, targetTags, input, err } of errors) {
    it(`fails the scrape on ${name}`, () => {
      expect(parseErrorAllWays(input, { labelLimits: limits, ...(targetTags === undefined ? {} : { targetTags }) })).toBe(err);
    });
  }

  const passes: { name: string; limits: LabelLimits; input: string }[] = [
    { name: 'a series at every limit exactly', limits: { labelLimit: 3, labelNameLengthLimit: 5, labelValueLengthLimit: 5 }, input: 'abcde{abcde="abcde",b="é"} 1\n' },
    { name: 'zero limits (none)', limits: { labelLimit: 0, labelNameLengthLimit: 0, labelValueLengthLimit: 0 }, input: `a{${'x'.repeat(300)}="${'y'.repeat(3000)}"} 1\n` },
  ];
  for (const { name, limits, input } of passes) {
    it(`accepts ${name}`, () => {
      expect(parseAllWays(input, { labelLimits: limits })).toHaveLength(1);
    });
  }

  it('throws a LabelLimitError: a ParseError with its own code and the setting', () => {
    try {
      parseExposition(Buffer.from('a{b="1",c="2"} 1\n'), { labelLimits: { labelLimit: 2 } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(LabelLimitError);
      expect(e).toBeInstanceOf(ParseError);
      expect((e as LabelLimitError).code).toBe('STRATA_E_LABEL_LIMIT');
      expect((e as LabelLimitError).setting).toBe('scrape.labelLimit');
      expect((e as LabelLimitError).line).toBe(1);
    }
  });

  it('checks what is kept: dropped series are not checked, dropped labels not counted', () => {
    const seriesFilter = compileSeriesFilter({ dropSeries: [{ name: 'wide' }], dropLabels: ['pod'] });
    const input = 'wide{a="1",b="2",c="3"} 1\nnarrow{a="1",pod="p"} 2\n';
    expect(parseAllWays(input, { seriesFilter, labelLimits: { labelLimit: 2, labelValueLengthLimit: 6 } })).toEqual([s('narrow', { a: '1' }, 2)]);
  });

  it('keeps nothing of a scrape over a limit, and the cache keeps the previous scrape', () => {
    const cache = new SeriesCache();
    const labelLimits = { labelValueLengthLimit: 8 };
    parseExposition(Buffer.from('a{b="short"} 1\n'), { cache, labelLimits });
    expect(() => parseExposition(Buffer.from('a{b="short"} 1\na{b="much too long"} 2\n'), { cache, labelLimits })).toThrow(LabelLimitError);
    const again = parseExposition(Buffer.from('a{b="short"} 3\n'), { cache, labelLimits });
    expect(again.stats.cacheHits).toBe(1);
    expect(again.batch.toSamples(null)).toEqual([s('a', { b: 'short' }, 3)]);
  });

  it('checks a series once, when the cache first sees it, and again when the limits change', () => {
    const cache = new SeriesCache();
    const body = Buffer.from('a{b="123456"} 1\n');
    parseExposition(body, { cache, labelLimits: { labelValueLengthLimit: 10 } });
    const warm = parseExposition(body, { cache, labelLimits: { labelValueLengthLimit: 10 } });
    expect(warm.stats.cacheHits).toBe(1);
    expect(() => parseExposition(body, { cache, labelLimits: { labelValueLengthLimit: 5 } })).toThrow(
      'line 1: value of label "b" of series "a{b=\\"123456\\"}" is 6 bytes, over the limit of 5 (scrape.labelValueLengthLimit): "123456"',
    );
  });
});
