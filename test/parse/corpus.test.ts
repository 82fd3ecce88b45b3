// SPDX-License-Identifier: Apache-2.0
/**
 * The parser against real expositions (`test/fixtures/corpus/`, see its README) whose expected
 * samples come from an independent reference (`test/fixtures/reference/flatten.ts`).
 *
 * Samples are compared as a multiset: order is not part of the contract, and values are
 * compared as numbers (NaN equals NaN, -0 equals 0; non-finite values as the JSON encoder's
 * strings). The parser is imported inside its tests so that the checks of the generated files
 * do not depend on it loading.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalFloat, jsonValue, parseFloatStrict, referenceSamples, type RefFormat, type RefSample } from '../fixtures/reference/flatten.js';
import { CORPUS_DIR, EXPECTED_SUFFIX, corpusEntries, formatOf, renderExpected } from '../fixtures/reference/generate.js';

const entries = corpusEntries();

interface Comparable {
  name: string;
  tags: Record<string, string>;
  timestamp: number | null;
  type: string;
  value: number | string;
}

interface AnySample {
  readonly name: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly timestamp: number | null;
  readonly type: string;
  readonly value: number | string;
}

/** One line per sample: name, sorted tags, type, timestamp and value, for a multiset diff. */
function sampleKey(sample: AnySample): string {
  const tags = Object.entries(sample.tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const value = typeof sample.value === 'number' ? jsonValue(sample.value) : sample.value;
  return JSON.stringify([sample.name, Object.fromEntries(tags), sample.type, sample.timestamp, value]);
}

/** What `got` lacks and what it has too much of, compared with `want` as multisets. */
function multisetDiff(got: readonly AnySample[], want: readonly AnySample[]): { missing: string[]; unexpected: string[] } {
  const counts = new Map<string, number>();
  for (const sample of want) counts.set(sampleKey(sample), (counts.get(sampleKey(sample)) ?? 0) + 1);
  const unexpected: string[] = [];
  for (const sample of got) {
    const key = sampleKey(sample);
    const left = counts.get(key) ?? 0;
    if (left === 0) unexpected.push(key);
    else counts.set(key, left - 1);
  }
  const missing: string[] = [];
  for (const [key, left] of counts) for (let i = 0; i < left; i++) missing.push(key);
  return { missing: missing.sort(), unexpected: unexpected.sort() };
}

function readExpected(path: string): { generatedBy: string; samples: Comparable[] } {
  return JSON.parse(readFileSync(path, 'utf8')) as { generatedBy: string; samples: Comparable[] };
}

describe('corpus expected files', () => {
  it('the corpus holds Prometheus text and OpenMetrics captures', () => {
    expect(entries.map((e) => e.format)).toContain('prometheus');
    expect(entries.map((e) => e.format)).toContain('openmetrics');
  });

  it.each(entries)('generated files match their source: $file', ({ path, format, expectedPath }) => {
    const committed = readFileSync(expectedPath, 'utf8');
    expect(committed).toBe(renderExpected(readFileSync(path, 'utf8'), format));
  });

  it('every expected file belongs to a corpus file', () => {
    const orphans = readdirSync(CORPUS_DIR)
      .filter((file) => file.endsWith(EXPECTED_SUFFIX))
      .filter((file) => formatOf(file.slice(0, -EXPECTED_SUFFIX.length)) === null || !entries.some((e) => e.file + EXPECTED_SUFFIX === file));
    expect(orphans).toEqual([]);
  });
});

describe('the reference flattener', () => {
  it.each([
    { input: '1.0', want: '1' },
    { input: '1e0', want: '1' },
    { input: '0.5', want: '0.5' },
    { input: '0.50', want: '0.5' },
    { input: '1e6', want: '1e+06' },
    { input: '100000', want: '100000' },
    { input: '0.0001', want: '0.0001' },
    { input: '1e-05', want: '1e-05' },
    { input: '2.62144e+07', want: '2.62144e+07' },
    { input: '1e21', want: '1e+21' },
    { input: '1e100', want: '1e+100' },
    { input: '+Inf', want: '+Inf' },
    { input: '-Inf', want: '-Inf' },
  ])('writes the float $input in canonical form as $want', ({ input, want }) => {
    expect(canonicalFloat(parseFloatStrict(input))).toBe(want);
  });

  const sample = (
    name: string,
    tags: Record<string, string>,
    type: RefSample['type'],
    value: number | string,
    timestamp: number | null = null,
  ): RefSample => ({ name, tags, timestamp, type, value });

  const cases: { what: string; format: RefFormat; input: string; want: RefSample[] }[] = [
    {
      what: 'keeps every label of labelled histogram buckets, sums and counts',
      format: 'prometheus',
      input: [
        '# TYPE http_seconds histogram',
        'http_seconds_bucket{handler="/a",le="0.5"} 1',
        'http_seconds_bucket{handler="/a",le="+Inf"} 2',
        'http_seconds_sum{handler="/a"} 0.75',
        'http_seconds_count{handler="/a"} 2',
        'http_seconds_bucket{handler="/b",le="0.5"} 0',
        'http_seconds_bucket{handler="/b",le="+Inf"} 0',
        'http_seconds_sum{handler="/b"} NaN',
        'http_seconds_count{handler="/b"} 0',
        '',
      ].join('\n'),
      want: [
        sample('http_seconds', { bucket: '0.5', handler: '/a' }, 'histogram', 1),
        sample('http_seconds', { bucket: '+Inf', handler: '/a' }, 'histogram', 2),
        sample('http_seconds_sum', { handler: '/a' }, 'histogram', 0.75),
        sample('http_seconds_count', { handler: '/a' }, 'histogram', 2),
        sample('http_seconds', { bucket: '0.5', handler: '/b' }, 'histogram', 0),
        sample('http_seconds', { bucket: '+Inf', handler: '/b' }, 'histogram', 0),
        sample('http_seconds_sum', { handler: '/b' }, 'histogram', 'NaN'),
        sample('http_seconds_count', { handler: '/b' }, 'histogram', 0),
      ],
    },
    {
      what: 'flattens summaries, drops NaN quantiles and gauges, unescapes labels, reads timestamps',
      format: 'prometheus',
      input: [
        '# TYPE rpc_seconds summary',
        'rpc_seconds{service="x",quantile="0.50"} 3',
        'rpc_seconds{service="x",quantile="1.0"} NaN',
        'rpc_seconds_sum{service="x"} 10',
        'rpc_seconds_count{service="x"} 4',
        '# TYPE temp gauge',
        'temp{room="a\\"b\\\\c\\nd"} NaN',
        'temp{room="e"} -Inf',
        'no_type_line 1e6 1700000000123', // no final newline
      ].join('\n'),
      want: [
        sample('rpc_seconds', { quantile: '0.5', service: 'x' }, 'summary', 3),
        sample('rpc_seconds_sum', { service: 'x' }, 'summary', 10),
        sample('rpc_seconds_count', { service: 'x' }, 'summary', 4),
        sample('temp', { room: 'e' }, 'gauge', '-Inf'),
        sample('no_type_line', {}, 'untyped', 1e6, 1700000000123),
      ],
    },
    {
      what: 'reads OpenMetrics counters, info, stateset, gaugehistogram and unknown families',
      format: 'openmetrics',
      input: [
        '# TYPE jobs counter',
        '# HELP jobs Jobs run.',
        'jobs_total{kind="a"} 3 1700000000.5 # {trace_id="x"} 1 1700000000.4',
        'jobs_created{kind="a"} 1699999999',
        '# TYPE build info',
        'build_info{version="1.0"} 1',
        '# TYPE state stateset',
        'state{state="up"} 1',
        'state{state="down"} 0',
        '# TYPE queue_bytes gaugehistogram',
        '# UNIT queue_bytes bytes',
        'queue_bytes_bucket{le="1e3"} 2',
        'queue_bytes_bucket{le="+Inf"} 5',
        'queue_bytes_gcount 5',
        'queue_bytes_gsum 1234.5',
        '# TYPE mystery unknown',
        'mystery NaN',
        'stray{path="/say\\"hi\\"\\\\there"} 7',
        '# EOF',
        '',
      ].join('\n'),
      want: [
        sample('jobs_total', { kind: 'a' }, 'counter', 3, 1700000000500),
        sample('build_info', { version: '1.0' }, 'gauge', 1),
        sample('state', { state: 'up' }, 'gauge', 1),
        sample('state', { state: 'down' }, 'gauge', 0),
        sample('queue_bytes', { bucket: '1000' }, 'histogram', 2),
        sample('queue_bytes', { bucket: '+Inf' }, 'histogram', 5),
        sample('queue_bytes_count', {}, 'histogram', 5),
        sample('queue_bytes_sum', {}, 'histogram', 1234.5),
        sample('stray', { path: '/say"hi"\\there' }, 'untyped', 7),
      ],
    },
  ];
  for (const { what, format, input, want } of cases) {
    it(what, () => {
      expect(referenceSamples(input, format)).toEqual(want);
    });
  }

  it('rejects OpenMetrics text without # EOF', () => {
    expect(() => referenceSamples('up 1\n', 'openmetrics')).toThrow('OpenMetrics text must end with "# EOF"');
  });
});

describe('parseExposition on the real corpus', () => {
  it.each(entries)('yields exactly the reference samples for $file', async ({ path, format, expectedPath }) => {
    const { parseExposition } = await import('../../src/parse/index.js');
    const bytes = new Uint8Array(readFileSync(path));
    const { batch } = parseExposition(bytes, { format });
    const got = batch.toSamples(null);
    const want = readExpected(expectedPath).samples;
    expect(multisetDiff(got, want)).toEqual({ missing: [], unexpected: [] });
    expect(got).toHaveLength(want.length);
  });
});
