import { describe, expect, it } from 'vitest';
import { JsonEncoder } from '../../src/encode/json.js';
import { type Sample, SampleBatch } from '../../src/sample.js';

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
});
