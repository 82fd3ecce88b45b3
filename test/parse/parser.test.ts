// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/errors.js';
import { parseExposition, SeriesCache } from '../../src/parse/index.js';
import type { Sample } from '../../src/sample.js';
import { parseAllWays, parseErrorAllWays, s } from './helpers.js';

const C = 'counter';
const G = 'gauge';
const H = 'histogram';
const S = 'summary';

describe('Prometheus text format 0.0.4', () => {
  const cases: { name: string; input: string; want: Sample[] }[] = [
    { name: 'a bare sample', input: 'a 1\n', want: [s('a', {}, 1)] },
    { name: 'a last line without a newline', input: 'a 1\nb 2', want: [s('a', {}, 1), s('b', {}, 2)] },
    { name: 'an empty label set', input: 'a{} 1\n', want: [s('a', {}, 1)] },
    { name: 'a trailing comma in a label set', input: 'a{x="1",} 1\n', want: [s('a', { x: '1' }, 1)] },
    { name: 'blanks around label tokens', input: 'a { x = "1" , y="2" } 1\n', want: [s('a', { x: '1', y: '2' }, 1)] },
    { name: 'tags sorted by key', input: 'a{z="1",a="2",m="3"} 1\n', want: [s('a', { a: '2', m: '3', z: '1' }, 1)] },
    {
      name: 'escapes in label values',
      input: 'a{p="C:\\\\DIR\\\\F.TXT",e="no file:\\n\\"F\\""} 1\n',
      want: [s('a', { e: 'no file:\n"F"', p: 'C:\\DIR\\F.TXT' }, 1)],
    },
    { name: 'an unknown escape kept as written', input: 'a{x="a\\tb"} 1\n', want: [s('a', { x: 'a\\tb' }, 1)] },
    { name: 'UTF-8 label values', input: 'a{city="Zürich",emoji="📈"} 1\n', want: [s('a', { city: 'Zürich', emoji: '📈' }, 1)] },
    { name: 'label values with braces, spaces and hashes', input: 'a{x="} 5 # {",y=" "} 7\n', want: [s('a', { x: '} 5 # {', y: ' ' }, 7)] },
    { name: 'NaN untyped samples are dropped', input: 'a NaN\nb 1\n', want: [s('b', {}, 1)] },
    {
      name: 'infinities and exponents',
      input: 'a +Inf\nb -Inf\nc 1.5e-3\nd -2E+2\ne .5\nf 1.\ng inf\nh -Infinity\n',
      want: [
        s('a', {}, Infinity),
        s('b', {}, -Infinity),
        s('c', {}, 0.0015),
        s('d', {}, -200),
        s('e', {}, 0.5),
        s('f', {}, 1),
        s('g', {}, Infinity),
        s('h', {}, -Infinity),
      ],
    },
    { name: 'a millisecond timestamp', input: 'a 1 1395066363000\n', want: [s('a', {}, 1, 'untyped', 1395066363000)] },
    { name: 'blanks after the value and timestamp', input: 'a 1 \t\nb 2 3  \n', want: [s('a', {}, 1), s('b', {}, 2, 'untyped', 3)] },
    { name: 'blank lines and comments', input: '\n  \n# a comment\n#HELP not a keyword\na 1\n\n', want: [s('a', {}, 1)] },
    { name: 'a value right after the closing brace', input: 'a{x="1"}2\n', want: [s('a', { x: '1' }, 2)] },
    {
      name: 'typed counters and gauges',
      input: '# HELP a_total Requests.\n# TYPE a_total counter\na_total{m="get"} 3\n# TYPE b gauge\nb -1.5\n',
      want: [s('a_total', { m: 'get' }, 3, C), s('b', {}, -1.5, G)],
    },
    {
      name: 'a repeated TYPE line: the first wins',
      input: '# TYPE a gauge\n# TYPE a counter\na 1\n',
      want: [s('a', {}, 1, G)],
    },
    {
      name: 'a repeated HELP line',
      input: '# HELP a one\n# HELP a two\na 1\n',
      want: [s('a', {}, 1)],
    },
    {
      name: 'a TYPE line after its samples types only the later samples',
      input: 'a{x="1"} 1\n# TYPE a gauge\na{x="2"} 2\n',
      want: [s('a', { x: '1' }, 1), s('a', { x: '2' }, 2, G)],
    },
    {
      name: 'a histogram: one sample per bucket plus _sum and _count',
      input:
        '# TYPE h histogram\nh_bucket{le="0.05",m="x"} 1\nh_bucket{le="1.0"} 2.5\nh_bucket{le="1e1"} 3\nh_bucket{le="+Inf"} 4\nh_sum 10\nh_count 4\n',
      want: [
        s('h', { bucket: '0.05', m: 'x' }, 1, H),
        s('h', { bucket: '1' }, 2.5, H),
        s('h', { bucket: '10' }, 3, H),
        s('h', { bucket: '+Inf' }, 4, H),
        s('h_sum', {}, 10, H),
        s('h_count', {}, 4, H),
      ],
    },
    {
      name: 'histogram buckets, sums and counts keep NaN',
      input: '# TYPE h histogram\nh_bucket{le="1"} NaN\nh_sum NaN\nh_count NaN\n',
      want: [s('h', { bucket: '1' }, NaN, H), s('h_sum', {}, NaN, H), s('h_count', {}, NaN, H)],
    },
    {
      name: 'a summary: one sample per quantile plus _sum and _count; NaN quantiles dropped',
      input: '# TYPE r summary\nr{quantile="0.5"} 3\nr{quantile="0.99"} NaN\nr{quantile="1e0"} 7\nr_sum 1.7560473e+07\nr_count 2693\n',
      want: [
        s('r', { quantile: '0.5' }, 3, S),
        s('r', { quantile: '1' }, 7, S),
        s('r_sum', {}, 17560473, S),
        s('r_count', {}, 2693, S),
      ],
    },
    {
      name: 'bucket bounds in canonical Go float form',
      input: '# TYPE h histogram\nh_bucket{le="1000000"} 1\nh_bucket{le="0.00001"} 1\nh_bucket{le="123456"} 1\nh_bucket{le="2.5E+07"} 1\n',
      want: [s('h', { bucket: '1e+06' }, 1, H), s('h', { bucket: '1e-05' }, 1, H), s('h', { bucket: '123456' }, 1, H), s('h', { bucket: '2.5e+07' }, 1, H)],
    },
    {
      name: 'NaN counters and gauges are dropped',
      input: '# TYPE a counter\na NaN\n# TYPE b gauge\nb NaN\nb{x="y"} 1\n',
      want: [s('b', { x: 'y' }, 1, G)],
    },
    {
      // Prometheus 2.42 scrapes this target up: its lexer reads `# HELP` without a blank after
      // it as a comment.
      name: 'bare HELP and TYPE keywords as comments',
      input: '# HELP\n# TYPE\na 1\n# HELP\n',
      want: [s('a', {}, 1)],
    },
    {
      // Prometheus 2.42 stores h_bucket{x="1"} and h_bucket as they are.
      name: 'histogram buckets without le as ordinary series of the family, NaN kept',
      input: '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{x="1"} 2\nh_bucket 3\nh_bucket{x="2"} NaN\nh_sum 4\nh_count 3\n',
      want: [
        s('h', { bucket: '1' }, 1, H),
        s('h_bucket', { x: '1' }, 2, H),
        s('h_bucket', {}, 3, H),
        s('h_bucket', { x: '2' }, NaN, H),
        s('h_sum', {}, 4, H),
        s('h_count', {}, 3, H),
      ],
    },
    {
      name: 'a metric name with colons and underscores',
      input: '_a:b_c:d 1\n',
      want: [s('_a:b_c:d', {}, 1)],
    },
  ];
  for (const { name, input, want } of cases) {
    it(`parses ${name}`, () => {
      expect(parseAllWays(input)).toEqual(want);
    });
  }
});

describe('Prometheus text format errors', () => {
  const cases: { name: string; input: string | Uint8Array; err: string }[] = [
    { name: 'CRLF line ends', input: 'a 1\r\nb 2\r\n', err: 'line 1: line ends with a carriage return (CRLF line endings are not supported)' },
    { name: 'a negative timestamp', input: 'a 1\nb 1 -5\n', err: 'line 2: negative timestamp "-5": Prometheus refuses samples before 1970' },
    { name: 'a duplicate label name', input: 'a{x="1",x="2"} 1\n', err: 'line 1: duplicate label name "x"' },
    { name: '__name__ as a label name', input: 'a{__name__="b"} 1\n', err: 'line 1: label name "__name__" is reserved and may not appear in a label set' },
    { name: 'invalid UTF-8 in a label value', input: Buffer.concat([Buffer.from('a{x="'), Buffer.from([0xff, 0xfe]), Buffer.from('"} 1\n')]), err: 'line 1: value of label "x" is not valid UTF-8: "\\xff\\xfe"' },
    { name: 'invalid UTF-8 in HELP text', input: Buffer.concat([Buffer.from('# HELP a '), Buffer.from([0xc3]), Buffer.from('\na 1\n')]), err: 'line 1: HELP text is not valid UTF-8: "\\xc3"' },
    { name: 'a hexadecimal value', input: 'a 0x10\n', err: 'line 1: invalid value "0x10": expected a float, "NaN", "+Inf" or "-Inf"' },
    { name: 'a value with trailing junk', input: 'a 1abc\n', err: 'line 1: invalid value "1abc": expected a float, "NaN", "+Inf" or "-Inf"' },
    { name: 'a missing value', input: 'a\n', err: 'line 1: missing value after "a"' },
    { name: 'a missing value after labels', input: 'a{x="1"}\n', err: 'line 1: missing value after "a{x=\\"1\\"}"' },
    { name: 'a fractional timestamp', input: 'a 1 1.5\n', err: 'line 1: invalid timestamp "1.5": expected integer milliseconds since the epoch' },
    { name: 'text after the timestamp', input: 'a 1 2 3\n', err: 'line 1: unexpected text after the timestamp at "3"' },
    { name: 'an unterminated label value', input: 'a{x="1} 1\n', err: 'line 1: unterminated value of label "x": missing closing \'"\'' },
    { name: 'an unterminated label set', input: 'a{x="1" 1\n', err: 'line 1: expected "," or "}" after the value of label "x" at "1"' },
    { name: 'an unquoted label value', input: 'a{x=1} 1\n', err: 'line 1: expected \'"\' to open the value of label "x" at "1} 1"' },
    { name: 'an invalid label name', input: 'a{1x="1"} 1\n', err: 'line 1: invalid label name: expected a letter or "_" at "1x=\\"1\\"} 1"' },
    { name: 'an invalid metric name', input: '1a 1\n', err: 'line 1: invalid metric name: expected a letter, "_" or ":" at "1a 1"' },
    { name: 'an invalid metric type', input: '# TYPE a timer\n', err: 'line 1: invalid metric type "timer": expected one of counter, gauge, histogram, summary, untyped' },
    { name: 'a TYPE line without a type', input: '# TYPE a\n', err: 'line 1: TYPE line without a type: "# TYPE a"' },
    // Prometheus 2.42 fails these scrapes: "expected metric name after HELP, got INVALID".
    { name: 'a HELP keyword followed by a blank and no name', input: '# HELP \na 1\n', err: 'line 1: HELP line without a metric name: "# HELP"' },
    { name: 'a HELP keyword followed by a tab and no name', input: '# HELP\t\na 1\n', err: 'line 1: HELP line without a metric name: "# HELP"' },
    { name: 'a TYPE keyword followed by a blank and no name', input: '# TYPE \na 1\n', err: 'line 1: TYPE line without a metric name: "# TYPE"' },
    { name: 'a HELP line whose name is not a name', input: '# HELP #\na 1\n', err: 'line 1: invalid metric name in HELP line at "#"' },
    { name: 'a bucket whose le is not a float', input: '# TYPE h histogram\nh_bucket{le="big"} 1\n', err: 'line 2: label "le" of "h_bucket" is not a float: "big"' },
    { name: 'a quantile that is not a float', input: '# TYPE r summary\nr{quantile="x"} 1\n', err: 'line 2: label "quantile" of "r" is not a float: "x"' },
    { name: 'an empty value after labels with a space', input: 'a{x="1"} \n', err: 'line 1: missing value after "a{x=\\"1\\"}"' },
  ];
  for (const { name, input, err } of cases) {
    it(`rejects ${name}`, () => {
      expect(parseErrorAllWays(input)).toBe(err);
    });
  }

  it('keeps no sample of a malformed body', () => {
    expect(() => parseExposition(Buffer.from('a 1\nb 2\nc x\n'))).toThrow(ParseError);
    try {
      parseExposition(Buffer.from('a 1\nb 2\nc x\n'));
    } catch (e) {
      expect((e as ParseError).line).toBe(3);
      expect((e as ParseError).code).toBe('STRATA_E_PARSE');
    }
  });

  it('rejects a line over maxLineBytes with a limit error, whole or streamed', () => {
    const input = `a 1\nb{x="${'y'.repeat(200)}"} 1\n`;
    expect(parseErrorAllWays(input, { maxLineBytes: 100 })).toBe('line 2: line is over the limit of 100 bytes (maxLineBytes)');
  });

  it('rejects a body over maxBodyBytes', () => {
    expect(() => parseExposition(Buffer.from('a 1\n'.repeat(100)), { maxBodyBytes: 50 })).toThrow(/over the limit of 50 bytes \(maxBodyBytes\)/);
  });
});

describe('OpenMetrics 1.0 text', () => {
  const om = { format: 'openmetrics' } as const;
  it('is chosen by the Content-Type', () => {
    const body = '# TYPE a counter\na_total 1\n# EOF\n';
    const r = parseExposition(Buffer.from(body), { contentType: 'application/openmetrics-text; version=1.0.0; charset=utf-8' });
    expect(r.format).toBe('openmetrics');
    expect(r.batch.toSamples(null)).toEqual([s('a_total', {}, 1, C)]);
    expect(parseExposition(Buffer.from('a 1\n'), { contentType: 'text/plain; version=0.0.4' }).format).toBe('prometheus');
  });

  const cases: { name: string; input: string; want: Sample[] }[] = [
    {
      name: 'counters with _total and _created (skipped), units and exemplars',
      input:
        '# TYPE req counter\n# UNIT req requests\n# HELP req Requests.\nreq_total{m="a"} 3 # {trace_id="abc"} 1.0 1520879607.789\nreq_created{m="a"} 1520430000.123\n# EOF\n',
      want: [s('req_total', { m: 'a' }, 3, C)],
    },
    {
      name: 'timestamps in seconds',
      input: '# TYPE g gauge\ng 1 1520879607.789\n# EOF\n',
      want: [s('g', {}, 1, G, 1520879607789)],
    },
    {
      name: 'histograms with exemplars on buckets',
      input:
        '# TYPE h histogram\nh_bucket{le="0.1"} 8 # {id="x"} 0.05\nh_bucket{le="+Inf"} 17\nh_count 17\nh_sum 324789.3\nh_created 1520430000.123\n# EOF\n',
      want: [s('h', { bucket: '0.1' }, 8, H), s('h', { bucket: '+Inf' }, 17, H), s('h_count', {}, 17, H), s('h_sum', {}, 324789.3, H)],
    },
    {
      name: 'info, stateset, gaugehistogram and unknown',
      input:
        '# TYPE b info\nb_info{v="1"} 1\n# TYPE st stateset\nst{st="a"} 1\n# TYPE gh gaugehistogram\ngh_bucket{le="1"} 2\ngh_gcount 2\ngh_gsum 3\n# TYPE u unknown\nu 4\n# EOF',
      want: [
        s('b_info', { v: '1' }, 1, G),
        s('st', { st: 'a' }, 1, G),
        s('gh', { bucket: '1' }, 2, H),
        s('gh_gcount', {}, 2, H),
        s('gh_gsum', {}, 3, H),
        s('u', {}, 4),
      ],
    },
  ];
  for (const { name, input, want } of cases) {
    it(`parses ${name}`, () => {
      expect(parseAllWays(input, om)).toEqual(want);
    });
  }

  const errors: { name: string; input: string; err: string }[] = [
    { name: 'a missing # EOF', input: 'a 1\n', err: 'line 2: missing "# EOF" at the end of an OpenMetrics exposition' },
    { name: 'content after # EOF', input: 'a 1\n# EOF\nb 2\n', err: 'line 3: unexpected content after "# EOF": "b 2"' },
    { name: 'a blank line', input: 'a 1\n\n# EOF\n', err: 'line 2: blank lines are not allowed in OpenMetrics' },
    { name: 'a free comment', input: '# hello\n# EOF\n', err: 'line 1: invalid comment "# hello": OpenMetrics allows only HELP, TYPE, UNIT and EOF' },
    { name: 'a malformed exemplar', input: 'a 1 # x\n# EOF\n', err: 'line 1: invalid exemplar: expected "{" at "x"' },
    { name: 'a HELP line without a name (OpenMetrics requires one)', input: '# HELP\n# EOF\n', err: 'line 1: HELP line without a metric name: "# HELP"' },
  ];
  for (const { name, input, err } of errors) {
    it(`rejects ${name}`, () => {
      expect(parseErrorAllWays(input, om)).toBe(err);
    });
  }
});

describe('a histogram bucket without le', () => {
  it('goes back to remote write under its own name, not as a bucket', async () => {
    const { exposedLabels } = await import('../../src/encode/remote-write.js');
    const r = parseExposition(Buffer.from('# TYPE h histogram\nh_bucket{bucket="x"} 1\nh_bucket{le="1"} 2\n'));
    expect(exposedLabels(r.batch.series[0] as never)).toEqual([['__name__', 'h_bucket'], ['bucket', 'x']]);
    expect(exposedLabels(r.batch.series[1] as never)).toEqual([['__name__', 'h_bucket'], ['le', '1']]);
  });
});

describe('target tags', () => {
  it('adds target tags under the sample labels, which win', () => {
    const r = parseExposition(Buffer.from('a{job="own",x="1"} 1\n'), { targetTags: { job: 'target', pod: 'p-1' } });
    expect(r.batch.toSamples(null)).toEqual([s('a', { job: 'own', pod: 'p-1', x: '1' }, 1)]);
  });
});

describe('the series cache', () => {
  const first = '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n# TYPE g gauge\ng{x="a"} 5\n';
  const second = '# TYPE h histogram\nh_bucket{le="1"} 10\nh_bucket{le="+Inf"} 20\nh_sum 30\nh_count 20\n# TYPE g gauge\ng{x="a"} 50\n';

  it('skips label parsing for series seen before and reads only the new values', () => {
    const cache = new SeriesCache();
    const a = parseExposition(Buffer.from(first), { cache });
    expect(a.stats.cacheMisses).toBe(5);
    const b = parseExposition(Buffer.from(second), { cache });
    expect(b.stats.cacheHits).toBe(5);
    expect(b.stats.cacheMisses).toBe(0);
    expect(b.batch.toSamples(null)).toEqual(parseExposition(Buffer.from(second)).batch.toSamples(null));
  });

  it('reuses the same Series objects across scrapes', () => {
    const cache = new SeriesCache();
    const a = parseExposition(Buffer.from(first), { cache }).batch.series[0];
    const b = parseExposition(Buffer.from(second), { cache }).batch.series[0];
    expect(b).toBe(a);
  });

  it('re-resolves a cached series when its TYPE changed', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('# TYPE a gauge\na 1\n'), { cache });
    const r = parseExposition(Buffer.from('# TYPE a counter\na 1\n'), { cache });
    expect(r.batch.toSamples(null)).toEqual([s('a', {}, 1, C)]);
    const u = parseExposition(Buffer.from('a 1\n'), { cache });
    expect(u.batch.toSamples(null)).toEqual([s('a', {}, 1)]);
    const h = parseExposition(Buffer.from('# TYPE h histogram\nh_sum 1\n'), { cache });
    expect(h.batch.toSamples(null)).toEqual([s('h_sum', {}, 1, H)]);
    const h2 = parseExposition(Buffer.from('h_sum 1\n'), { cache });
    expect(h2.batch.toSamples(null)).toEqual([s('h_sum', {}, 1)]);
  });

  it('forgets series that stopped appearing', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('a 1\nb 1\nc 1\n'), { cache });
    expect(cache.size).toBe(3);
    parseExposition(Buffer.from('a 1\n'), { cache });
    expect(cache.size).toBe(1);
  });

  it('forgets nothing when a scrape fails', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('a 1\nb 1\nc 1\n'), { cache });
    expect(() => parseExposition(Buffer.from('a 1\nx y\n'), { cache })).toThrow(ParseError);
    expect(parseExposition(Buffer.from('a 1\nb 1\nc 1\n'), { cache }).stats.cacheHits).toBe(3);
  });

  it('is bounded by maxSeries and still parses series past the bound', () => {
    const cache = new SeriesCache({ maxSeries: 2 });
    const r = parseExposition(Buffer.from('a 1\nb 2\nc 3\nd 4\n'), { cache });
    expect(r.batch.length).toBe(4);
    expect(cache.size).toBe(2);
  });

  it('a cache hit still rejects an invalid value', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('a{x="1"} 1\n'), { cache });
    expect(() => parseExposition(Buffer.from('a{x="1"} zz\n'), { cache })).toThrow('line 1: invalid value "zz"');
  });

  it('keeps no reference to the scrape body: the body can be overwritten after the scrape', () => {
    const cache = new SeriesCache();
    const body = Buffer.from(first);
    parseExposition(body, { cache });
    body.fill(0x78); // 'x': the previous scrape's memory reused for something else
    const b = parseExposition(Buffer.from(second), { cache });
    expect(b.stats.cacheHits).toBe(5);
    expect(b.batch.toSamples(null)).toEqual(parseExposition(Buffer.from(second)).batch.toSamples(null));
  });

  it('stores each series once and stays bounded while series come and go', () => {
    const cache = new SeriesCache();
    const body = (gen: number): Buffer => {
      const lines: string[] = [];
      for (let i = 0; i < 2000; i++) lines.push(`m{pod="pod-${i}",gen="${i < 1000 ? 0 : gen}",long="${'v'.repeat(60)}"} ${gen}`);
      return Buffer.from(`${lines.join('\n')}\n`);
    };
    const seriesBytes = (b: Buffer): number => b.toString().split('\n').filter((l) => l !== '').reduce((n, l) => n + l.lastIndexOf(' '), 0);
    let maxArena = 0;
    for (let gen = 1; gen <= 30; gen++) {
      const b = body(gen);
      const r = parseExposition(b, { cache });
      // Half the series are the same every scrape, half are new.
      expect(r.stats.cacheHits).toBe(gen === 1 ? 0 : 1000);
      expect(r.batch.toSamples(null)).toEqual(parseExposition(b).batch.toSamples(null));
      maxArena = Math.max(maxArena, cache.arenaBytes);
      if (gen === 1) expect(cache.arenaBytes).toBeLessThan(1.5 * seriesBytes(b) + 128 * 1024);
    }
    // Vanished series do not pile up: the arena stays within a small multiple of one scrape's series.
    expect(maxArena).toBeLessThan(3 * seriesBytes(body(1)) + 256 * 1024);
  });

  it('empties itself when the target tags change', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('a 1\n'), { cache, targetTags: { pod: 'x' } });
    const r = parseExposition(Buffer.from('a 1\n'), { cache, targetTags: { pod: 'y' } });
    expect(r.batch.toSamples(null)).toEqual([s('a', { pod: 'y' }, 1)]);
  });
});
