// SPDX-License-Identifier: Apache-2.0
/**
 * Series filters (`dropSeries`, `keepSeries`, `dropLabels`): what is dropped and kept, what the
 * kept series look like, the per-matcher counters, the decision stored on the cached series, the
 * regex semantics (anchored RE2, linear time) and the validation messages.
 */
import { describe, expect, it } from 'vitest';
import { doc, parse } from '../config/helpers.js';
import { ConfigError } from '../../src/errors.js';
import { compileSeriesFilter, type FilterConfig, LabelRegex, SeriesFilter, validateFilterConfig } from '../../src/filter/index.js';
import { ExpositionParser, parseExposition, SeriesCache } from '../../src/parse/index.js';
import type { Sample } from '../../src/sample.js';
import { parseAllWays, s } from '../parse/helpers.js';

const H = 'histogram';

function filtered(config: FilterConfig, input: string, targetTags?: Record<string, string>): { samples: Sample[]; filtered: number; stats: ReturnType<SeriesFilter['matcherStats']> } {
  const filter = compileSeriesFilter(config) as SeriesFilter;
  const r = parseExposition(Buffer.from(input), { seriesFilter: filter, ...(targetTags === undefined ? {} : { targetTags }) });
  return { samples: r.batch.toSamples(null), filtered: r.stats.filtered, stats: filter.matcherStats() };
}

describe('series filters', () => {
  const body = [
    '# TYPE go_goroutines gauge',
    'go_goroutines 10',
    'go_threads 4',
    'http_requests_total{namespace="kube-system",code="200"} 1',
    'http_requests_total{namespace="monitoring",code="500"} 2',
    'http_requests_total{namespace="shop",code="200"} 3',
    'up 1',
    '',
  ].join('\n');

  const cases: {
    name: string;
    config: FilterConfig;
    targetTags?: Record<string, string>;
    input?: string;
    want: Sample[];
    counts: { matcher: string; dropped: number }[];
  }[] = [
    {
      name: 'drops series whose name matches, anchored at both ends',
      config: { dropSeries: [{ name: 'go_.*' }, { name: 'requests' }] },
      want: [
        s('http_requests_total', { code: '200', namespace: 'kube-system' }, 1),
        s('http_requests_total', { code: '500', namespace: 'monitoring' }, 2),
        s('http_requests_total', { code: '200', namespace: 'shop' }, 3),
        s('up', {}, 1),
      ],
      counts: [
        { matcher: 'filters.dropSeries[0]', dropped: 2 },
        { matcher: 'filters.dropSeries[1]', dropped: 0 },
      ],
    },
    {
      name: 'drops series whose labels all match, name and labels together',
      config: { dropSeries: [{ name: 'http_.*', labels: { namespace: 'kube-system|monitoring', code: '2..' } }] },
      want: [
        s('go_goroutines', {}, 10, 'gauge'),
        s('go_threads', {}, 4),
        s('http_requests_total', { code: '500', namespace: 'monitoring' }, 2),
        s('http_requests_total', { code: '200', namespace: 'shop' }, 3),
        s('up', {}, 1),
      ],
      counts: [{ matcher: 'filters.dropSeries[0]', dropped: 1 }],
    },
    {
      name: 'reads an absent label as the empty value',
      config: { dropSeries: [{ labels: { namespace: '' } }] },
      want: [
        s('http_requests_total', { code: '200', namespace: 'kube-system' }, 1),
        s('http_requests_total', { code: '500', namespace: 'monitoring' }, 2),
        s('http_requests_total', { code: '200', namespace: 'shop' }, 3),
      ],
      counts: [{ matcher: 'filters.dropSeries[0]', dropped: 3 }],
    },
    {
      name: 'keeps only what keepSeries matches, and drop wins over keep',
      config: { keepSeries: [{ name: 'up' }, { name: 'http_.+' }], dropSeries: [{ labels: { namespace: 'shop' } }] },
      want: [s('http_requests_total', { code: '200', namespace: 'kube-system' }, 1), s('http_requests_total', { code: '500', namespace: 'monitoring' }, 2), s('up', {}, 1)],
      counts: [
        { matcher: 'filters.dropSeries[0]', dropped: 1 },
        { matcher: 'filters.keepSeries', dropped: 2 },
      ],
    },
    {
      name: 'sees target tags, shadowed by the series own label of the same name',
      config: { dropSeries: [{ labels: { namespace: 'prod' } }] },
      targetTags: { namespace: 'prod' },
      input: 'a 1\nb{namespace="dev"} 2\n',
      want: [s('b', { namespace: 'dev' }, 2)],
      counts: [{ matcher: 'filters.dropSeries[0]', dropped: 1 }],
    },
    {
      name: 'matches histogram series by their names and labels as exposed',
      config: { dropSeries: [{ name: 'h_bucket', labels: { le: '0.50' } }, { name: 'h_sum' }] },
      input: '# TYPE h histogram\nh_bucket{le="0.50"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n',
      want: [s('h', { bucket: '+Inf' }, 2, H), s('h_count', {}, 2, H)],
      counts: [
        { matcher: 'filters.dropSeries[0]', dropped: 1 },
        { matcher: 'filters.dropSeries[1]', dropped: 1 },
      ],
    },
    {
      name: 'drops labels by name or regex, target tags too, but never le or quantile',
      config: { dropLabels: ['pod', 'kubernetes_.*', 'le', 'quantile'] },
      targetTags: { kubernetes_namespace: 'shop', job: 'api' },
      input: '# TYPE h histogram\nh_bucket{le="1",pod="p-1"} 1\n# TYPE r summary\nr{quantile="0.5",pod="p-2"} 2\nx{pod="p-3",kubernetes_pod_name="p",keep="y"} 3\n',
      want: [s('h', { bucket: '1', job: 'api' }, 1, H), s('r', { job: 'api', quantile: '0.5' }, 2, 'summary'), s('x', { job: 'api', keep: 'y' }, 3)],
      counts: [],
    },
    {
      name: 'keeps both series when dropping labels makes them one',
      config: { dropLabels: ['pod'] },
      input: 'x{pod="a"} 1\nx{pod="b"} 2\n',
      want: [s('x', {}, 1), s('x', {}, 2)],
      counts: [],
    },
  ];
  for (const { name, config, targetTags, input, want, counts } of cases) {
    it(name, () => {
      const filter = compileSeriesFilter(config) as SeriesFilter;
      const options = { seriesFilter: filter, ...(targetTags === undefined ? {} : { targetTags }) };
      // Whole, byte by byte and split at random points (three scrapes: the counters triple).
      expect(parseAllWays(input ?? body, options)).toEqual(want);
      expect(filter.matcherStats()).toEqual(counts.map((c) => ({ ...c, dropped: 3 * c.dropped })));
    });
  }

  it('counts dropped samples as filtered, not as NaN or _created drops', () => {
    const om = '# TYPE c counter\nc_total 1\nc_created 5\nd NaN\n# EOF\n';
    const filter = compileSeriesFilter({ dropSeries: [{ name: 'c_.*|d' }] }) as SeriesFilter;
    const r = parseExposition(Buffer.from(om), { format: 'openmetrics', seriesFilter: filter });
    expect(r.batch.length).toBe(0);
    expect(r.stats.filtered).toBe(2);
    expect(r.stats.createdSkipped).toBe(1);
    expect(r.stats.nanDropped).toBe(0);
  });

  it('decides once per series: a warm scrape reuses the decision stored on the cached series', () => {
    const filter = compileSeriesFilter({ dropSeries: [{ labels: { namespace: 'kube-system|monitoring' } }], dropLabels: ['code'] }) as SeriesFilter;
    const cache = new SeriesCache();
    const first = parseExposition(Buffer.from(body), { cache, seriesFilter: filter });
    const second = parseExposition(Buffer.from(body), { cache, seriesFilter: filter });
    expect(second.stats.cacheHits).toBe(6);
    expect(second.stats.cacheMisses).toBe(0);
    expect(second.stats.filtered).toBe(2);
    expect(second.batch.toSamples(null)).toEqual(first.batch.toSamples(null));
    expect(second.batch.series[2]).toBe(first.batch.series[2]);
    expect(second.batch.toSamples(null)[2]).toEqual(s('http_requests_total', { namespace: 'shop' }, 3));
    expect(filter.matcherStats()).toEqual([{ matcher: 'filters.dropSeries[0]', dropped: 4 }]);
  });

  it('adds nothing to the counters for a scrape that fails', () => {
    const filter = compileSeriesFilter({ dropSeries: [{ name: 'go_.*' }] }) as SeriesFilter;
    expect(() => parseExposition(Buffer.from(`${body}bad line here\n`), { seriesFilter: filter })).toThrow();
    const parser = new ExpositionParser({ seriesFilter: filter });
    parser.push(Buffer.from(body));
    parser.abort();
    expect(filter.matcherStats()).toEqual([{ matcher: 'filters.dropSeries[0]', dropped: 0 }]);
  });

  it('starts the cache over when the filter changes', () => {
    const cache = new SeriesCache();
    const dropGo = compileSeriesFilter({ dropSeries: [{ name: 'go_.*' }] });
    const dropUp = compileSeriesFilter({ dropSeries: [{ name: 'up' }] });
    expect(parseExposition(Buffer.from(body), { cache, seriesFilter: dropGo }).batch.length).toBe(4);
    const r = parseExposition(Buffer.from(body), { cache, seriesFilter: dropUp });
    expect(r.stats.cacheHits).toBe(0);
    expect(r.batch.toSamples(null).map((x) => x.name)).toEqual(['go_goroutines', 'go_threads', 'http_requests_total', 'http_requests_total', 'http_requests_total']);
    expect(parseExposition(Buffer.from(body), { cache }).batch.length).toBe(6);
  });

  it('is null for a config without series filters', () => {
    expect(compileSeriesFilter({})).toBeNull();
    expect(compileSeriesFilter({ clip: { min: 0 }, dropSeries: [] })).toBeNull();
  });

  it('reports a dropped count per matcher in the order written', () => {
    const { stats, filtered: n } = filtered({ dropSeries: [{ name: 'up' }, { name: 'up|go_threads' }] }, body);
    expect(n).toBe(2);
    expect(stats).toEqual([
      { matcher: 'filters.dropSeries[0]', dropped: 1 },
      { matcher: 'filters.dropSeries[1]', dropped: 1 },
    ]);
  });
});

describe('label regexes', () => {
  it.each([
    { re: 'foo', value: 'foo', want: true },
    { re: 'foo', value: 'xfoo', want: false },
    { re: 'foo', value: 'foox', want: false },
    { re: 'a|b|', value: '', want: true },
    { re: 'a|b', value: 'ab', want: false },
    { re: '.*', value: 'any\nthing', want: true },
    { re: '.+', value: '', want: false },
    { re: '', value: '', want: true },
    { re: '', value: 'x', want: false },
    { re: 'a.c', value: 'a\nc', want: true },
    { re: '(?i)ABC', value: 'abc', want: true },
    { re: 'ns-[0-9]+', value: 'ns-42', want: true },
    { re: 'ns-[0-9]+', value: 'ns-42x', want: false },
    { re: 'a)|(b', value: 'a)|(b', want: false },
    { re: 'é+', value: 'éé', want: true },
    { re: '[^/]+/[^/]+', value: 'a/b', want: true },
  ])('$re on $value is $want (anchored, dot matches newline, as Prometheus)', ({ re, value, want }) => {
    if (re === 'a)|(b') {
      // Not a pattern on its own: validation refuses it before anything is compiled.
      expect(() => validateFilterConfig({ dropLabels: [re] })).toThrow(ConfigError);
      return;
    }
    const r = new LabelRegex(re);
    expect(r.test(value)).toBe(want);
    expect(r.test(value)).toBe(want); // memoised answer
  });

  it('matches hostile values in linear time: nested quantifiers do not backtrack', () => {
    const r = new LabelRegex('(a+)+b');
    const hostile = `${'a'.repeat(100_000)}!`;
    // A backtracking engine takes about 2^n steps here (n = 30 already takes minutes).
    expect(r.test(hostile)).toBe(false);
    expect(r.test(`${'a'.repeat(100_000)}b`)).toBe(true);
    expect(new LabelRegex('(x+x+)+y').test('x'.repeat(50_000))).toBe(false);
  }, 60_000);
});

describe('series filter validation', () => {
  const cases: { config: unknown; err: string }[] = [
    { config: { dropSeries: {} }, err: 'filters.dropSeries: must be a list of matchers {name, labels}' },
    { config: { dropSeries: ['x'] }, err: 'filters.dropSeries[0]: must be a matcher {name, labels}' },
    { config: { dropSeries: [{}] }, err: 'filters.dropSeries[0]: must have a name or at least one label (a matcher of nothing would match every series)' },
    { config: { keepSeries: [{ labels: {} }] }, err: 'filters.keepSeries[0]: must have a name or at least one label (a matcher of nothing would match every series)' },
    { config: { dropSeries: [{ name: 'a', value: 1 }] }, err: 'filters.dropSeries[0].value: unknown field: expected name or labels' },
    { config: { dropSeries: [{ name: 1 }] }, err: 'filters.dropSeries[0].name: must be a regex (a string), got 1' },
    {
      config: { dropSeries: [{ name: 'ok' }, { name: 'x', labels: { job: '(a' } }] },
      err: 'filters.dropSeries[1].labels.job: invalid regex "(a" (RE2 syntax, no backreferences or lookaround): error parsing regexp: missing closing ): `(a`',
    },
    {
      config: { keepSeries: [{ labels: { 'app.kubernetes.io/name': '(a)\\1' } }] },
      err: 'filters.keepSeries[0].labels["app.kubernetes.io/name"]: invalid regex "(a)\\\\1" (RE2 syntax, no backreferences or lookaround): error parsing regexp: invalid escape sequence: `\\1`',
    },
    {
      config: { dropSeries: [{ name: '(?=x)x' }] },
      err: 'filters.dropSeries[0].name: invalid regex "(?=x)x" (RE2 syntax, no backreferences or lookaround): error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    },
    { config: { dropSeries: [{ labels: { job: 3 } }] }, err: 'filters.dropSeries[0].labels.job: must be a regex (a string), got 3' },
    { config: { dropSeries: [{ labels: [] }] }, err: 'filters.dropSeries[0].labels: must be an object of label name → regex' },
    { config: { dropLabels: 'pod' }, err: 'filters.dropLabels: must be a list of label names or regexes' },
    {
      config: { dropLabels: ['pod', 'a{2,1}'] },
      err: 'filters.dropLabels[1]: invalid regex "a{2,1}" (RE2 syntax, no backreferences or lookaround): error parsing regexp: invalid repeat count: `{2,1}`',
    },
  ];
  it.each(cases)('rejects $config', ({ config, err }) => {
    expect(() => validateFilterConfig(config as FilterConfig)).toThrow(err);
    expect(() => compileSeriesFilter(config as FilterConfig)).toThrow(ConfigError);
  });

  it('reports the field path through the Collector resource', () => {
    const yaml = doc('Collector', 'filters:\n  dropSeries:\n    - name: up\n      labels: {job: "(?<=a)b"}\n  dropLabels: [pod]');
    const { errors } = parse(yaml);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^spec\.filters\.dropSeries\[0\]\.labels\.job: invalid regex "\(\?<=a\)b" \(RE2 syntax/);
  });

  it('accepts a valid Collector resource with series filters and label limits', () => {
    const yaml = doc(
      'Collector',
      'filters:\n  dropSeries: [{name: "go_.*"}, {labels: {namespace: "kube-system"}}]\n  keepSeries: [{name: "http_.*"}]\n  dropLabels: [pod, "kubernetes_.*"]\nscrape:\n  labelLimit: 30\n  labelNameLengthLimit: 128\n  labelValueLengthLimit: 1024',
    );
    const { resources, errors } = parse(yaml);
    expect(errors).toEqual([]);
    const spec = resources[0]?.spec as { filters: FilterConfig; scrape: Record<string, unknown> };
    expect(spec.filters.dropLabels).toEqual(['pod', 'kubernetes_.*']);
    expect(spec.scrape).toMatchObject({ labelLimit: 30, labelNameLengthLimit: 128, labelValueLengthLimit: 1024 });
    expect(compileSeriesFilter(spec.filters)?.counterCount).toBe(3);
  });
});
