// SPDX-License-Identifier: Apache-2.0
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonEncoder, type JsonEncoderOptions } from '../../src/encode/json.js';
import { type Sample, SampleBatch, SampleType, Series } from '../../src/sample.js';

/** Property tests are time-boxed: FUZZ_SECONDS (default 3, as for the parser's). */
const SECONDS = Number(process.env.FUZZ_SECONDS ?? 3);

const text = (messages: Uint8Array[]): string[] => messages.map((m) => Buffer.from(m).toString('utf8'));

describe('the JSON encoder', () => {
  const cases: { name: string; input: Sample; want: string }[] = [
    {
      name: 'a counter with tags and a timestamp',
      input: { name: 'a_total', tags: { b: '2', a: 'x"y' }, timestamp: 1700000000000, type: 'counter', value: 3 },
      want: '{"name":"a_total","tags":{"b":"2","a":"x\\"y"},"timestamp":1700000000000,"type":"counter","value":3}\n',
    },
    {
      name: 'non-finite values as strings',
      input: { name: 'g', tags: {}, timestamp: 1, type: 'gauge', value: Infinity },
      want: '{"name":"g","tags":{},"timestamp":1,"type":"gauge","value":"+Inf"}\n',
    },
    { name: '-Inf', input: { name: 'g', tags: {}, timestamp: 1, type: 'gauge', value: -Infinity }, want: '{"name":"g","tags":{},"timestamp":1,"type":"gauge","value":"-Inf"}\n' },
    { name: 'NaN', input: { name: 'h', tags: {}, timestamp: 1, type: 'histogram', value: NaN }, want: '{"name":"h","tags":{},"timestamp":1,"type":"histogram","value":"NaN"}\n' },
    { name: 'a fraction and an exponent', input: { name: 'g', tags: {}, timestamp: 1, type: 'gauge', value: 1.5e-7 }, want: '{"name":"g","tags":{},"timestamp":1,"type":"gauge","value":1.5e-7}\n' },
    { name: 'UTF-8 and control characters', input: { name: 'g', tags: { c: 'Zürich\n' }, timestamp: 1, type: 'gauge', value: 0 }, want: '{"name":"g","tags":{"c":"Zürich\\n"},"timestamp":1,"type":"gauge","value":0}\n' },
  ];
  for (const { name, input, want } of cases) {
    it(`writes ${name}`, () => {
      const out = text(new JsonEncoder().encode(SampleBatch.from([input]), 0));
      expect(out).toEqual([want]);
      const parsed = JSON.parse(want) as Sample;
      expect(parsed.name).toBe(input.name);
    });
  }

  it('writes the default timestamp where a sample has none, or null', () => {
    const batch = SampleBatch.from([{ name: 'a', tags: {}, timestamp: null, type: 'untyped', value: 1 }]);
    expect(text(new JsonEncoder().encode(batch, 42))).toEqual(['{"name":"a","tags":{},"timestamp":42,"type":"untyped","value":1}\n']);
    expect(text(new JsonEncoder().encode(batch, null))).toEqual(['{"name":"a","tags":{},"timestamp":null,"type":"untyped","value":1}\n']);
  });

  const many = (n: number): SampleBatch =>
    SampleBatch.from(Array.from({ length: n }, (_, i) => ({ name: 'm', tags: { i: String(i % 10) }, timestamp: 1, type: 'gauge' as const, value: i })));

  it('gives one sample per message with maxSamples 1', () => {
    const out = new JsonEncoder({ maxSamples: 1 }).encode(many(5), 0);
    expect(out).toHaveLength(5);
    expect(text(out).every((m) => m.split('\n').length === 2)).toBe(true);
  });

  it('splits messages at maxSamples and keeps every sample in order', () => {
    const out = text(new JsonEncoder({ maxSamples: 3 }).encode(many(10), 0));
    expect(out.map((m) => m.split('\n').length - 1)).toEqual([3, 3, 3, 1]);
    const values = out.join('').trim().split('\n').map((l) => (JSON.parse(l) as Sample).value);
    expect(values).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('keeps messages within maxBytes, counting UTF-8 bytes', () => {
    const batch = SampleBatch.from(Array.from({ length: 20 }, (_, i) => ({ name: 'm', tags: { city: 'Zürich' }, timestamp: 1, type: 'gauge' as const, value: i })));
    const out = new JsonEncoder({ maxBytes: 200 }).encode(batch, 0);
    for (const m of out) expect(m.byteLength).toBeLessThanOrEqual(200);
    expect(text(out).join('').trim().split('\n')).toHaveLength(20);
  });

  it('sends a sample larger than maxBytes alone', () => {
    const out = new JsonEncoder({ maxBytes: 10 }).encode(many(2), 0);
    expect(out).toHaveLength(2);
  });

  it('renders a series once and reuses it across batches', () => {
    const enc = new JsonEncoder();
    const batch = many(2);
    enc.encode(batch, 0);
    const memo = batch.series[0]?.memo;
    enc.encode(batch, 0);
    expect(batch.series[0]?.memo).toBe(memo);
    const other = new JsonEncoder();
    other.encode(batch, 0);
    expect(batch.series[0]?.memoOwner).toBe(other);
  });

  const line = (value: number, timestamp: number | null = 1): string =>
    text(new JsonEncoder().encode(SampleBatch.from([{ name: 'g', tags: {}, timestamp, type: 'gauge', value }]), null))[0] as string;
  const numbers: { input: number; want: string }[] = [
    { input: 0, want: '0' },
    { input: -0, want: '0' },
    { input: 7, want: '7' },
    { input: -42, want: '-42' },
    { input: 99999999, want: '99999999' },
    { input: 100000000, want: '100000000' },
    { input: 2147483647, want: '2147483647' },
    { input: 2147483648, want: '2147483648' },
    { input: -2147483649, want: '-2147483649' },
    { input: 1700000000000, want: '1700000000000' },
    { input: 1700000000000.5, want: '1700000000000.5' },
    { input: 9007199254740991, want: '9007199254740991' },
    { input: -9007199254740991, want: '-9007199254740991' },
    { input: 9007199254740992, want: '9007199254740992' },
    { input: 123456789012345680000, want: '123456789012345680000' },
    { input: 1e21, want: '1e+21' },
    { input: -1.7976931348623157e308, want: '-1.7976931348623157e+308' },
    { input: 0.123, want: '0.123' },
    { input: 21.5, want: '21.5' },
    { input: -0.5, want: '-0.5' },
    { input: 123456.789012345, want: '123456.789012345' },
    { input: 999999.999999999, want: '999999.999999999' },
    { input: 1000000.5, want: '1000000.5' },
    { input: 0.000001, want: '0.000001' },
    { input: -0.0000015, want: '-0.0000015' },
    { input: 5e-7, want: '5e-7' },
    { input: 1.0000000001, want: '1.0000000001' },
    { input: 0.1 + 0.2, want: '0.30000000000000004' },
    { input: 5e-324, want: '5e-324' },
  ];
  for (const { input, want } of numbers) {
    it(`writes the number ${want} as a value and as a timestamp`, () => {
      expect(line(input)).toBe(`{"name":"g","tags":{},"timestamp":1,"type":"gauge","value":${want}}\n`);
      expect(line(1, input)).toBe(`{"name":"g","tags":{},"timestamp":${want},"type":"gauge","value":1}\n`);
    });
  }

  it('writes a changed value of a series afresh, in one call and across calls', () => {
    const series = new Series('g', SampleType.Gauge, {});
    const encoder = new JsonEncoder({ maxSamples: 1 });
    const sequence = [1234567.1, 1234568.1, 1234568.1, 1e-7, 1e-7, 2e-7, 0.1 + 0.2, 0.1 + 0.7, 1234567.1];
    const values = (batch: SampleBatch): number[] => text(encoder.encode(batch, 0)).map((m) => (JSON.parse(m) as Sample).value);
    const all = new SampleBatch();
    for (const v of sequence) {
      const one = new SampleBatch();
      one.push(series, v, 1);
      expect(values(one)).toEqual([v]);
      all.push(series, v, 1);
    }
    expect(values(all)).toEqual(sequence);
    expect(text(encoder.encode(all, 0)).map((m) => m.slice(m.lastIndexOf(':') + 1, -2))).toEqual(sequence.map(String));
  });

  /** The line the DESIGN format gives for a sample, built with String and JSON.stringify. */
  const referenceLine = (s: Sample): string => {
    const value = Number.isFinite(s.value) ? String(s.value) : JSON.stringify(s.value === Infinity ? '+Inf' : s.value === -Infinity ? '-Inf' : 'NaN');
    const timestamp = s.timestamp === null ? 'null' : String(s.timestamp);
    return `{"name":${JSON.stringify(s.name)},"tags":${JSON.stringify(s.tags)},"timestamp":${timestamp},"type":"${s.type}","value":${value}}\n`;
  };
  /** Lines packed greedily into messages of at most maxSamples lines and maxBytes bytes. */
  const referencePack = (lines: string[], { maxSamples = 1000, maxBytes = 1 << 20 }: JsonEncoderOptions): string[] => {
    const out: string[] = [];
    let msg = '';
    let count = 0;
    for (const l of lines) {
      if (count > 0 && (count >= maxSamples || Buffer.byteLength(msg + l) > maxBytes)) {
        out.push(msg);
        msg = '';
        count = 0;
      }
      msg += l;
      count++;
    }
    if (count > 0) out.push(msg);
    return out;
  };

  const shortDecimal = fc.tuple(fc.integer({ min: -(10 ** 15), max: 10 ** 15 }), fc.integer({ min: 0, max: 12 })).map(([m, k]) => m / 10 ** k);
  const number = fc.oneof(fc.double(), shortDecimal, fc.maxSafeInteger(), fc.integer(), fc.constantFrom(0, -0, 2 ** 31, 2 ** 53, 1e-6, 1e6, 5e-7));
  const finiteNumber = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), shortDecimal, fc.maxSafeInteger());

  it('writes every number exactly as String does (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(number, fc.option(finiteNumber)), { minLength: 1, maxLength: 200 }), fc.option(finiteNumber), (pairs, defaultTimestamp) => {
        // one series, so that its memo sees every number in turn
        const series = new Series('n', SampleType.Gauge, { a: 'b' });
        const batch = new SampleBatch();
        for (const [value, timestamp] of pairs) batch.push(series, value, timestamp ?? Number.NaN);
        const samples = batch.toSamples();
        const got = text(new JsonEncoder({ maxSamples: Infinity }).encode(batch, defaultTimestamp));
        const want = samples.map((s) => referenceLine({ ...s, timestamp: s.timestamp ?? defaultTimestamp }));
        expect(got).toEqual([want.join('')]);
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });

  it('packs lines into messages as a greedy packer by UTF-8 bytes does (property)', () => {
    const sample = fc.record({
      name: fc.constantFrom('a', 'http_requests_total', 'zürich_°C'),
      tags: fc.dictionary(fc.string({ maxLength: 5, unit: 'binary' }), fc.string({ maxLength: 30, unit: 'binary' }), { maxKeys: 8 }),
      timestamp: fc.option(fc.maxSafeInteger()),
      type: fc.constantFrom(...Object.values(SampleType)),
      value: number,
    });
    const limits = fc.record({ maxSamples: fc.integer({ min: 1, max: 12 }), maxBytes: fc.integer({ min: 1, max: 2000 }) });
    fc.assert(
      fc.property(fc.array(sample, { maxLength: 60 }), limits, (samples, options) => {
        const encoder = new JsonEncoder(options);
        const batch = SampleBatch.from(samples);
        const want = referencePack(samples.map((s) => referenceLine({ ...s, timestamp: s.timestamp ?? 5 })), options);
        expect(text(encoder.encode(batch, 5))).toEqual(want);
        // again, with the memos built
        expect(text(encoder.encode(batch, 5))).toEqual(want);
        // encodeTo hands out the same messages, each with its number of samples
        const emitted: [string, number][] = [];
        encoder.encodeTo(batch, 5, (message, count) => emitted.push([Buffer.from(message).toString('utf8'), count]));
        expect(emitted).toEqual(want.map((m) => [m, m.split('\n').length - 1]));
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });

  it('starts the next message with the line that would take a message past maxBytes', () => {
    const batch = many(4);
    const lines = text(new JsonEncoder().encode(batch, 0))[0]?.split(/(?<=\n)/) ?? [];
    expect(lines).toHaveLength(4);
    const maxBytes = Buffer.byteLength((lines[0] as string) + (lines[1] as string)) + 10;
    expect(text(new JsonEncoder({ maxBytes }).encode(batch, 0))).toEqual([lines[0]! + lines[1]!, lines[2]! + lines[3]!]);
  });

  it('sends a line larger than maxBytes alone between full messages', () => {
    const big: Sample = { name: 'big', tags: { x: 'y'.repeat(500) }, timestamp: 1, type: 'gauge', value: 1 };
    const small: Sample = { name: 's', tags: {}, timestamp: 1, type: 'gauge', value: 2 };
    const smallLine = '{"name":"s","tags":{},"timestamp":1,"type":"gauge","value":2}\n';
    const out = text(new JsonEncoder({ maxBytes: 200 }).encode(SampleBatch.from([small, small, big, small]), 0));
    expect(out).toEqual([smallLine + smallLine, referenceLine(big), smallLine]);
  });

  it('hands out messages that later calls do not overwrite', () => {
    const encoder = new JsonEncoder({ maxSamples: 2 });
    const first = encoder.encode(many(5), 0);
    const before = text(first);
    encoder.encode(SampleBatch.from([{ name: 'other', tags: { z: 'z'.repeat(70_000) }, timestamp: 9, type: 'counter', value: 0.5 }]), 3);
    encoder.encode(many(7), 1);
    expect(text(first)).toEqual(before);
  });

  it('appends to the array it is given', () => {
    const existing = Buffer.from('x');
    const out = new JsonEncoder().encode(many(1), 0, [existing]);
    expect(out).toHaveLength(2);
    expect(out[0]).toBe(existing);
  });

  it('memoises per series, not per name, type or encoder', () => {
    const tags = { a: '1' };
    const batch = new SampleBatch();
    batch.push(new Series('m', SampleType.Counter, tags), 1, Number.NaN);
    batch.push(new Series('m', SampleType.Gauge, tags), 2, Number.NaN);
    batch.push(new Series('m', SampleType.Counter, { a: '2' }), 3, Number.NaN);
    const want = [
      '{"name":"m","tags":{"a":"1"},"timestamp":0,"type":"counter","value":1}\n' +
        '{"name":"m","tags":{"a":"1"},"timestamp":0,"type":"gauge","value":2}\n' +
        '{"name":"m","tags":{"a":"2"},"timestamp":0,"type":"counter","value":3}\n',
    ];
    const one = new JsonEncoder();
    const two = new JsonEncoder();
    expect(text(one.encode(batch, 0))).toEqual(want);
    expect(text(two.encode(batch, 0))).toEqual(want);
    expect(text(one.encode(batch, 0))).toEqual(want);
    expect(batch.series[2]?.memoOwner).toBe(one);
  });
});


describe('the JSON encoder without memos', () => {
  it('writes the same bytes as with memos, and leaves the series alone', () => {
    const samples: Sample[] = [
      { name: 'a', tags: { q: 'x"y\\z\n', u: 'Zürich 📈', k: 'plain' }, timestamp: 5, type: 'counter', value: 1.5 },
      { name: 'b\u2028', tags: {}, timestamp: null, type: 'gauge', value: Number.NaN },
      { name: 'c', tags: { lone: '\ud800x' }, timestamp: 7, type: 'untyped', value: -3 },
    ];
    const memo = Buffer.concat(new JsonEncoder({ maxSamples: 2 }).encode(SampleBatch.from(samples), 99)).toString();
    const batch = SampleBatch.from(samples);
    const plain = Buffer.concat(new JsonEncoder({ maxSamples: 2, memoise: false }).encode(batch, 99)).toString();
    expect(plain).toBe(memo);
    expect(batch.series[0]?.memoOwner).toBeUndefined();
    for (const line of plain.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
  });
});

describe('the JSON encoder message pool', () => {
  const batchOf = (n: number, v: number): SampleBatch =>
    SampleBatch.from(Array.from({ length: n }, (_, i) => ({ name: 'm', tags: { i: String(i) }, timestamp: 1, type: 'gauge' as const, value: v })));

  it('reuses the memory of recycled messages for later ones, with the right contents', () => {
    const enc = new JsonEncoder({ maxSamples: 400, maxBytes: 1 << 20 });
    const first = enc.encode(batchOf(1200, 1), 0);
    const firstBuffers = new Set(first.map((m) => m.buffer));
    enc.recycle(first);
    const second = enc.encode(batchOf(1200, 2), 0);
    expect(second.every((m) => firstBuffers.has(m.buffer))).toBe(true);
    const lines = second.map((m) => Buffer.from(m).toString()).join('').trim().split('\n');
    expect(lines).toHaveLength(1200);
    expect(lines.every((l) => (JSON.parse(l) as Sample).value === 2)).toBe(true);
  });

  it('never hands out the same memory twice before it is recycled', () => {
    const enc = new JsonEncoder({ maxSamples: 400, maxBytes: 1 << 20 });
    const a = enc.encode(batchOf(1200, 1), 0);
    enc.recycle(a);
    enc.recycle(a); // recycling twice must not duplicate a buffer in the pool
    const b = enc.encode(batchOf(2400, 2), 0);
    expect(new Set(b.map((m) => m.buffer)).size).toBe(b.length);
  });
});
