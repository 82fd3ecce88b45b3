// SPDX-License-Identifier: Apache-2.0
/**
 * Label precedence between a sample's own labels and the target's tags: `honorLabels` true (the
 * default) keeps the sample's and drops the target's; false keeps the target's and the sample's as
 * `exported_<name>`, as Prometheus' honor_labels does. Decided once per series: a warm scrape
 * gives the same tags.
 */
import { describe, expect, it } from 'vitest';
import { ExpositionParser, SeriesCache } from '../../src/parse/index.js';

function tagsOf(body: string, honorLabels: boolean | undefined, cache = new SeriesCache()): Record<string, string>[] {
  const parser = new ExpositionParser({ cache, targetTags: { job: 'from-target', zone: 'a' }, ...(honorLabels === undefined ? {} : { honorLabels }) });
  parser.push(Buffer.from(body));
  const { batch } = parser.end();
  return batch.series.slice(0, batch.length).map((s) => ({ ...s.tags }));
}

describe('honorLabels', () => {
  it('keeps the sample label by default and drops the target tag of the same name', () => {
    expect(tagsOf('m{job="from-sample"} 1\nn 2\n', undefined)).toEqual([
      { job: 'from-sample', zone: 'a' },
      { job: 'from-target', zone: 'a' },
    ]);
  });

  it('with false, keeps the target tag and the sample label as exported_<name>', () => {
    expect(tagsOf('m{job="from-sample"} 1\nn 2\n', false)).toEqual([
      { exported_job: 'from-sample', job: 'from-target', zone: 'a' },
      { job: 'from-target', zone: 'a' },
    ]);
  });

  it('gives the same tags on a warm scrape, and re-decides when the setting changes', () => {
    const cache = new SeriesCache();
    const body = 'm{job="s"} 1\n';
    expect(tagsOf(body, false, cache)).toEqual([{ exported_job: 's', job: 'from-target', zone: 'a' }]);
    expect(tagsOf(body, false, cache)).toEqual([{ exported_job: 's', job: 'from-target', zone: 'a' }]);
    expect(tagsOf(body, true, cache)).toEqual([{ job: 's', zone: 'a' }]);
  });

  it('refuses a series that already has the exported_ label it would need, naming both', () => {
    expect(() => tagsOf('m{job="s",exported_job="x"} 1\n', false)).toThrow('duplicate label name "exported_job" (honorLabels: false renames "job" to it)');
  });
});
