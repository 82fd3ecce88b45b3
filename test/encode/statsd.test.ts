// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import { type Sample, SampleBatch, SampleType, Series, type Tags } from '../../src/sample.js';
import {
  StatsdEncoder,
  type StatsdEncoderOptions,
  statsdName,
  statsdValue,
} from '../../src/encode/statsd.js';

const decoder = new TextDecoder();

function sample(name: string, value: number, tags: Tags = {}, type: SampleType = SampleType.Gauge): Sample {
  return { name, tags, timestamp: null, type, value };
}

/** Encodes the samples and returns each message as a string. */
function encode(samples: readonly Sample[], options: StatsdEncoderOptions = {}): string[] {
  const encoder = new StatsdEncoder(options);
  return encoder.encode(SampleBatch.from(samples), 0).map((m) => decoder.decode(m));
}

/** Encodes one sample with no packing limits and returns its text. */
function line(s: Sample, options: StatsdEncoderOptions = {}): string {
  const messages = encode([s], options);
  expect(messages).toHaveLength(1);
  return messages[0] as string;
}

describe('StatsdEncoder line format', () => {
  const tags = { job: 'node', instance: 'host:9100' };
  const table: { name: string; input: Sample; options: StatsdEncoderOptions; want: string }[] = [
    {
      name: 'dogstatsd writes tags after |#',
      input: sample('up', 1, tags),
      options: {},
      want: 'up:1|g|#job:node,instance:host:9100',
    },
    {
      name: 'dogstatsd writes no |# without tags',
      input: sample('up', 1),
      options: { tagStyle: 'dogstatsd' },
      want: 'up:1|g',
    },
    {
      name: 'telegraf writes tags after the name',
      input: sample('up', 1, tags),
      options: { tagStyle: 'telegraf' },
      want: 'up,job=node,instance=host_9100:1|g',
    },
    {
      name: 'telegraf writes a bare name without tags',
      input: sample('up', 1),
      options: { tagStyle: 'telegraf' },
      want: 'up:1|g',
    },
    {
      name: 'none drops the tags',
      input: sample('up', 1, tags),
      options: { tagStyle: 'none' },
      want: 'up:1|g',
    },
    {
      name: 'a fractional value is written as is',
      input: sample('temp', 21.5),
      options: {},
      want: 'temp:21.5|g',
    },
  ];
  for (const { name, input, options, want } of table) {
    it(`${name}`, () => {
      expect(line(input, options)).toBe(want);
    });
  }
});

describe('StatsdEncoder metric types', () => {
  const table: { input: SampleType; counterAs: 'gauge' | 'counter' | undefined; want: string }[] = [
    { input: SampleType.Gauge, counterAs: undefined, want: 'm:3|g' },
    { input: SampleType.Untyped, counterAs: undefined, want: 'm:3|g' },
    { input: SampleType.Summary, counterAs: undefined, want: 'm:3|g' },
    { input: SampleType.Histogram, counterAs: undefined, want: 'm:3|g' },
    { input: SampleType.Counter, counterAs: undefined, want: 'm:3|g' },
    { input: SampleType.Counter, counterAs: 'gauge', want: 'm:3|g' },
    { input: SampleType.Counter, counterAs: 'counter', want: 'm:3|c' },
    { input: SampleType.Gauge, counterAs: 'counter', want: 'm:3|g' },
    { input: SampleType.Histogram, counterAs: 'counter', want: 'm:3|g' },
  ];
  for (const { input, counterAs, want } of table) {
    it(`writes a ${input} sample as ${want} when counterAs is ${counterAs ?? 'unset'}`, () => {
      const options: StatsdEncoderOptions = counterAs === undefined ? {} : { counterAs };
      expect(line(sample('m', 3, {}, input), options)).toBe(want);
    });
  }

  it('writes a negative gauge as a reset to zero then the value, so statsd does not read it as a delta', () => {
    expect(line(sample('m', -5, { a: 'b' }))).toBe('m:0|g|#a:b\nm:-5|g|#a:b');
    expect(line(sample('m', -5, { a: 'b' }), { tagStyle: 'telegraf' })).toBe('m,a=b:0|g\nm,a=b:-5|g');
  });

  it('writes a negative counter in counter mode as a plain delta', () => {
    expect(line(sample('m', -5, {}, SampleType.Counter), { counterAs: 'counter' })).toBe('m:-5|c');
  });

  it('writes negative zero as 0 with no reset', () => {
    expect(line(sample('m', -0))).toBe('m:0|g');
  });
});

describe('statsdValue', () => {
  const table: { input: number; want: string }[] = [
    { input: 0, want: '0' },
    { input: -0, want: '0' },
    { input: 1, want: '1' },
    { input: -1.5, want: '-1.5' },
    { input: 0.1, want: '0.1' },
    { input: 123456789012, want: '123456789012' },
    { input: 1e20, want: '100000000000000000000' },
    { input: 1e21, want: '1000000000000000000000' },
    { input: -1e21, want: '-1000000000000000000000' },
    { input: 1.5e22, want: '15000000000000000000000' },
    { input: 1.2345678e25, want: '12345678000000000000000000' },
    { input: 0.000001, want: '0.000001' },
    { input: 1e-7, want: '0.0000001' },
    { input: -1e-7, want: '-0.0000001' },
    { input: 1.5e-7, want: '0.00000015' },
    { input: 1.2345e-10, want: '0.00000000012345' },
    { input: 5e-324, want: `0.${'0'.repeat(323)}5` },
    { input: Number.MAX_VALUE, want: `17976931348623157${'0'.repeat(292)}` },
  ];
  for (const { input, want } of table) {
    it(`writes ${input} as ${want.length > 30 ? `${want.slice(0, 30)}…` : want}`, () => {
      expect(statsdValue(input)).toBe(want);
    });
  }

  it('writes decimals that read back as the same double, never with an exponent', () => {
    const values = [1e21, 1.7976931348623157e308, 2.2250738585072014e-308, 5e-324, 1 / 3, -2 / 3e30, 9.999e-7];
    for (const v of values) {
      const text = statsdValue(v);
      expect(text).toMatch(/^-?[0-9]+(\.[0-9]+)?$/);
      expect(Number(text)).toBe(v);
    }
  });
});

describe('StatsdEncoder sanitising', () => {
  const names: { input: string; prefix?: string; want: string }[] = [
    { input: 'http_requests_total', want: 'http_requests_total' },
    { input: 'job:rate5m', want: 'job_rate5m' },
    { input: 'a b/c', want: 'a_b_c' },
    { input: 'a-b.c', want: 'a-b.c' },
    { input: '.a..b.', want: 'a.b' },
    { input: 'température', want: 'temp_rature' },
    { input: 'emoji😀x', want: 'emoji_x' },
    { input: '...', want: '_' },
    { input: 'up', prefix: 'app', want: 'app.up' },
    { input: 'up', prefix: 'app.', want: 'app.up' },
    { input: 'up', prefix: 'my app:prod', want: 'my_app_prod.up' },
    { input: 'up', prefix: '', want: 'up' },
  ];
  for (const { input, prefix, want } of names) {
    it(`writes the name ${JSON.stringify(input)} with prefix ${JSON.stringify(prefix ?? null)} as ${want}`, () => {
      expect(statsdName(input, prefix)).toBe(want);
      const options: StatsdEncoderOptions = prefix === undefined ? {} : { prefix };
      expect(line(sample(input, 1), options)).toBe(`${want}:1|g`);
    });
  }

  const dogstatsd: { input: Tags; want: string }[] = [
    { input: { 'a,b': 'v' }, want: 'm:1|g|#a_b:v' },
    { input: { 'a|b': 'v' }, want: 'm:1|g|#a_b:v' },
    { input: { 'a#b': 'v' }, want: 'm:1|g|#a_b:v' },
    { input: { 'a:b': 'v' }, want: 'm:1|g|#a_b:v' },
    { input: { 'a\nb': 'v' }, want: 'm:1|g|#a_b:v' },
    { input: { k: 'x,y' }, want: 'm:1|g|#k:x_y' },
    { input: { k: 'x|y' }, want: 'm:1|g|#k:x_y' },
    { input: { k: 'x#y' }, want: 'm:1|g|#k:x_y' },
    { input: { k: 'x\ny\r' }, want: 'm:1|g|#k:x_y_' },
    { input: { k: 'x:y' }, want: 'm:1|g|#k:x:y' },
    { input: { k: 'x=y z@' }, want: 'm:1|g|#k:x=y z@' },
    { input: { k: 'ünïcødé' }, want: 'm:1|g|#k:ünïcødé' },
    { input: { k: '' }, want: 'm:1|g' },
    { input: { a: '', b: 'v' }, want: 'm:1|g|#b:v' },
    { input: { '': 'v' }, want: 'm:1|g' },
  ];
  for (const { input, want } of dogstatsd) {
    it(`writes dogstatsd tags ${JSON.stringify(input)} as ${JSON.stringify(want)}`, () => {
      expect(line(sample('m', 1, input), { tagStyle: 'dogstatsd' })).toBe(want);
    });
  }

  const telegraf: { input: Tags; want: string }[] = [
    { input: { 'a,b': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { 'a=b': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { 'a b': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { 'a:b': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { 'a|b': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { 'a\nb': 'v' }, want: 'm,a_b=v:1|g' },
    { input: { k: 'x,y' }, want: 'm,k=x_y:1|g' },
    { input: { k: 'x=y' }, want: 'm,k=x_y:1|g' },
    { input: { k: 'x y' }, want: 'm,k=x_y:1|g' },
    { input: { k: 'x:y' }, want: 'm,k=x_y:1|g' },
    { input: { k: 'x|y' }, want: 'm,k=x_y:1|g' },
    { input: { k: 'x\r\ny' }, want: 'm,k=x__y:1|g' },
    { input: { k: 'x#y' }, want: 'm,k=x#y:1|g' },
    { input: { k: '' }, want: 'm:1|g' },
    { input: { a: '', b: 'v' }, want: 'm,b=v:1|g' },
  ];
  for (const { input, want } of telegraf) {
    it(`writes telegraf tags ${JSON.stringify(input)} as ${JSON.stringify(want)}`, () => {
      expect(line(sample('m', 1, input), { tagStyle: 'telegraf' })).toBe(want);
    });
  }
});

describe('StatsdEncoder non-finite values', () => {
  it('skips NaN and ±Inf and counts them per call and in total', () => {
    const encoder = new StatsdEncoder();
    const batch = SampleBatch.from([
      sample('a', Number.NaN),
      sample('b', 1),
      sample('c', Number.POSITIVE_INFINITY),
      sample('d', Number.NEGATIVE_INFINITY),
      sample('e', 2),
    ]);
    const messages = encoder.encode(batch, null).map((m) => decoder.decode(m));
    expect(messages).toEqual(['b:1|g\ne:2|g']);
    expect(encoder.lastSkippedNonFinite).toBe(3);
    expect(encoder.skippedNonFinite).toBe(3);

    encoder.encode(SampleBatch.from([sample('a', Number.NaN)]), null);
    expect(encoder.lastSkippedNonFinite).toBe(1);
    expect(encoder.skippedNonFinite).toBe(4);

    encoder.encode(SampleBatch.from([sample('a', 1)]), null);
    expect(encoder.lastSkippedNonFinite).toBe(0);
    expect(encoder.skippedNonFinite).toBe(4);
  });

  it('writes no message when every sample is skipped', () => {
    const encoder = new StatsdEncoder();
    expect(encoder.encode(SampleBatch.from([sample('a', Number.NaN)]), null)).toEqual([]);
  });

  it('writes no message for an empty batch', () => {
    expect(new StatsdEncoder().encode(new SampleBatch(), null)).toEqual([]);
  });
});

describe('StatsdEncoder packing', () => {
  const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

  it('joins lines with newlines and writes no trailing newline', () => {
    expect(encode([sample('a', 1), sample('b', 2), sample('c', 3)])).toEqual(['a:1|g\nb:2|g\nc:3|g']);
  });

  const byBytes: { name: string; input: Sample[]; maxBytes: number; want: string[] }[] = [
    {
      name: 'fills a message exactly to maxBytes',
      // each line is 5 bytes; two lines and a newline are 11
      input: [sample('a', 1), sample('b', 2), sample('c', 3)],
      maxBytes: 11,
      want: ['a:1|g\nb:2|g', 'c:3|g'],
    },
    {
      name: 'starts a new message one byte before a line would overflow',
      input: [sample('a', 1), sample('b', 2), sample('c', 3)],
      maxBytes: 10,
      want: ['a:1|g', 'b:2|g', 'c:3|g'],
    },
    {
      name: 'counts UTF-8 bytes, not UTF-16 code units, of tag values',
      // 'm:1|g|#k:é' is 10 code units but 11 bytes; two lines are 23 bytes
      input: [sample('m', 1, { k: 'é' }), sample('m', 2, { k: 'é' })],
      maxBytes: 22,
      want: ['m:1|g|#k:é', 'm:2|g|#k:é'],
    },
    {
      name: 'packs multi-byte lines together when their bytes fit',
      input: [sample('m', 1, { k: 'é' }), sample('m', 2, { k: 'é' })],
      maxBytes: 23,
      want: ['m:1|g|#k:é\nm:2|g|#k:é'],
    },
    {
      name: 'counts four-byte characters as four bytes',
      // 'm:1|g|#k:😀' is 13 bytes; two lines are 27 bytes
      input: [sample('m', 1, { k: '😀' }), sample('m', 2, { k: '😀' })],
      maxBytes: 26,
      want: ['m:1|g|#k:😀', 'm:2|g|#k:😀'],
    },
    {
      name: 'sends a line longer than maxBytes alone in its own message',
      input: [sample('a', 1), sample('long_name_here', 1), sample('b', 2), sample('c', 3)],
      maxBytes: 11,
      want: ['a:1|g', 'long_name_here:1|g', 'b:2|g\nc:3|g'],
    },
    {
      name: 'keeps a negative gauge and its reset in one message',
      // 'a:1|g' (5) + '\n' + 'b:0|g\nb:-1|g' (12) = 18 > 17
      input: [sample('a', 1), sample('b', -1)],
      maxBytes: 17,
      want: ['a:1|g', 'b:0|g\nb:-1|g'],
    },
  ];
  for (const { name, input, maxBytes, want } of byBytes) {
    it(name, () => {
      const got = encode(input, { maxBytes });
      expect(got).toEqual(want);
      // only a lone line may exceed maxBytes
      for (const m of got) if (bytes(m) > maxBytes) expect(m).not.toContain('\n');
    });
  }

  it('returns message buffers whose length is the UTF-8 byte length', () => {
    const encoder = new StatsdEncoder({ maxBytes: 23 });
    const out = encoder.encode(SampleBatch.from([sample('m', 1, { k: 'é' }), sample('m', 2, { k: 'é' })]), null);
    expect(out.map((m) => m.length)).toEqual([23]);
  });

  const bySamples: { input: number; maxSamples: number; want: number[] }[] = [
    { input: 5, maxSamples: 1, want: [1, 1, 1, 1, 1] },
    { input: 5, maxSamples: 2, want: [2, 2, 1] },
    { input: 5, maxSamples: 5, want: [5] },
    { input: 5, maxSamples: 10, want: [5] },
  ];
  for (const { input, maxSamples, want } of bySamples) {
    it(`packs ${input} samples with maxSamples ${maxSamples} into messages of ${want.join(', ')} lines`, () => {
      const samples = Array.from({ length: input }, (_, i) => sample(`m${i}`, i));
      const got = encode(samples, { maxSamples });
      expect(got.map((m) => m.split('\n').length)).toEqual(want);
    });
  }

  it('counts a negative gauge and its reset as one sample', () => {
    expect(encode([sample('a', -1), sample('b', 1)], { maxSamples: 1 })).toEqual(['a:0|g\na:-1|g', 'b:1|g']);
  });

  it('applies whichever of maxBytes and maxSamples is reached first', () => {
    const samples = Array.from({ length: 6 }, (_, i) => sample(`m${i}`, i));
    // each line is 6 bytes: three lines and two newlines are 20 bytes
    expect(encode(samples, { maxSamples: 4, maxBytes: 19 }).map((m) => m.split('\n').length)).toEqual([2, 2, 2]);
    expect(encode(samples, { maxSamples: 2, maxBytes: 1000 }).map((m) => m.split('\n').length)).toEqual([2, 2, 2]);
  });

  it('keeps messages within the default 1432 bytes', () => {
    const samples = Array.from({ length: 1000 }, (_, i) =>
      sample(`metric_${i}`, i * 1.5, { job: 'node', instance: `host-${i}:9100`, zone: 'ümlaut' }),
    );
    const encoder = new StatsdEncoder();
    const out = encoder.encode(SampleBatch.from(samples), null);
    expect(out.length).toBeGreaterThan(1);
    for (const m of out) expect(m.length).toBeLessThanOrEqual(1432);
    const lines = out.flatMap((m) => decoder.decode(m).split('\n'));
    expect(lines).toHaveLength(1000);
  });
});

describe('StatsdEncoder line grammar', () => {
  const GRAMMAR = /^[^:|@#]+:[-+]?[0-9.]+\|(g|c)(\|#.*)?$/;
  const awkward = ['', 'a', 'x,y', 'x|y', 'x#y', 'x:y', 'x@y', 'x\ny', 'x\r', 'ü', '😀', ' ', '=', '|#'];
  const values = [0, -0, 1, -1, 0.5, -2.25, 1e21, -1e-7, 5e-324, 1.7976931348623157e308, 123456.789];

  it('writes dogstatsd lines that all match the statsd grammar, whatever the names, tags and values', () => {
    const samples: Sample[] = [];
    for (const [i, a] of awkward.entries()) {
      const tags: Record<string, string> = { [`k${a}`]: a, [a]: `v${a}`, plain: 'value' };
      for (const [j, v] of values.entries()) {
        const type = j % 2 === 0 ? SampleType.Counter : SampleType.Gauge;
        samples.push(sample(`name${a}:${i}`, v, tags, type));
      }
    }
    for (const counterAs of ['gauge', 'counter'] as const) {
      const lines = encode(samples, { counterAs, maxBytes: 200 }).flatMap((m) => m.split('\n'));
      expect(lines.length).toBeGreaterThanOrEqual(samples.length);
      for (const l of lines) expect(l).toMatch(GRAMMAR);
    }
  });
});

describe('StatsdEncoder memoisation', () => {
  it('memoises the rendered series and writes the same lines on reuse', () => {
    const series = new Series('up', SampleType.Gauge, { job: 'node' });
    const batch = new SampleBatch();
    batch.push(series, 1, Number.NaN);
    batch.push(series, 2, Number.NaN);
    const encoder = new StatsdEncoder();
    const first = encoder.encode(batch, null).map((m) => decoder.decode(m));
    expect(series.memoOwner).toBe(encoder);
    const second = encoder.encode(batch, null).map((m) => decoder.decode(m));
    expect(first).toEqual(['up:1|g|#job:node\nup:2|g|#job:node']);
    expect(second).toEqual(first);
  });

  it('never reads another encoder’s memo of a shared series', () => {
    const series = new Series('up', SampleType.Counter, { job: 'node' });
    const batch = new SampleBatch();
    batch.push(series, 1, Number.NaN);
    const dog = new StatsdEncoder();
    const telegraf = new StatsdEncoder({ tagStyle: 'telegraf', counterAs: 'counter', prefix: 'p' });
    const read = (e: StatsdEncoder): string[] => e.encode(batch, null).map((m) => decoder.decode(m));
    expect(read(dog)).toEqual(['up:1|g|#job:node']);
    expect(read(telegraf)).toEqual(['p.up,job=node:1|c']);
    expect(read(dog)).toEqual(['up:1|g|#job:node']);
  });

  it('appends messages to the out array it is given', () => {
    const out: Uint8Array[] = [new Uint8Array([1])];
    const got = new StatsdEncoder().encode(SampleBatch.from([sample('a', 1)]), null, out);
    expect(got).toBe(out);
    expect(got).toHaveLength(2);
  });
});

describe('StatsdEncoder buffers', () => {
  it('writes messages larger than its initial 64 KiB scratch buffer whole', () => {
    const samples = Array.from({ length: 2000 }, (_, i) => sample(`metric_${i}`, i, { instance: `host-${i}` }));
    const want = samples.map((s) => `${s.name}:${s.value}|g|#instance:${s.tags['instance']}`).join('\n');
    expect(Buffer.byteLength(want)).toBeGreaterThan(64 * 1024);
    expect(encode(samples, { maxBytes: 1_000_000 })).toEqual([want]);
  });

  it('writes a lone line larger than its scratch buffer whole', () => {
    const big = 'v'.repeat(5000);
    expect(encode([sample('a', 1), sample('b', 2, { k: big }), sample('c', 3)], { maxBytes: 100 })).toEqual([
      'a:1|g',
      `b:2|g|#k:${big}`,
      'c:3|g',
    ]);
  });

  it('returns messages that later calls do not overwrite', () => {
    const encoder = new StatsdEncoder();
    const first = encoder.encode(SampleBatch.from([sample('a', 1)]), null);
    encoder.encode(SampleBatch.from([sample('b', 2)]), null);
    expect(first.map((m) => decoder.decode(m))).toEqual(['a:1|g']);
  });

  it('writes each value of a series right when values repeat and change', () => {
    const series = new Series('m', SampleType.Gauge, {});
    const batch = new SampleBatch();
    for (const v of [1, 1, 2.5, 1, -3, -3, 0, -0, 1e21, 1e21]) batch.push(series, v, Number.NaN);
    const got = new StatsdEncoder().encode(batch, null).map((m) => decoder.decode(m));
    expect(got).toEqual([
      [
        'm:1|g',
        'm:1|g',
        'm:2.5|g',
        'm:1|g',
        'm:0|g',
        'm:-3|g',
        'm:0|g',
        'm:-3|g',
        'm:0|g',
        'm:0|g',
        'm:1000000000000000000000|g',
        'm:1000000000000000000000|g',
      ].join('\n'),
    ]);
  });
});

describe('StatsdEncoder options', () => {
  it('has kind statsd and the documented defaults', () => {
    const e = new StatsdEncoder();
    expect(e.kind).toBe('statsd');
    expect([e.tagStyle, e.counterAs, e.prefix, e.maxBytes, e.maxSamples]).toEqual([
      'dogstatsd',
      'gauge',
      '',
      1432,
      Number.POSITIVE_INFINITY,
    ]);
  });

  const invalid: { input: StatsdEncoderOptions; err: string }[] = [
    { input: { maxBytes: 0 }, err: 'encoder.maxBytes: must be an integer ≥ 1, got 0' },
    { input: { maxBytes: 1.5 }, err: 'encoder.maxBytes: must be an integer ≥ 1, got 1.5' },
    { input: { maxBytes: Number.NaN }, err: 'encoder.maxBytes: must be an integer ≥ 1, got NaN' },
    { input: { maxSamples: 0 }, err: 'encoder.maxSamples: must be an integer ≥ 1, got 0' },
    { input: { maxSamples: -3 }, err: 'encoder.maxSamples: must be an integer ≥ 1, got -3' },
    {
      input: { tagStyle: 'influx' as never },
      err: 'encoder.tagStyle: must be one of dogstatsd, telegraf, none, got "influx"',
    },
    {
      input: { counterAs: 'delta' as never },
      err: 'encoder.counterAs: must be one of gauge, counter, got "delta"',
    },
  ];
  for (const { input, err } of invalid) {
    it(`rejects ${JSON.stringify(input)} with a config error`, () => {
      let caught: unknown;
      try {
        new StatsdEncoder(input);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as ConfigError).code).toBe(ErrorCode.Config);
      expect((caught as ConfigError).message).toBe(err);
    });
  }
});
