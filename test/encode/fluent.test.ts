// SPDX-License-Identifier: Apache-2.0
/**
 * The fluent encoder, checked two ways:
 * - our messages decoded by an independent msgpack implementation (@msgpack/msgpack, with an
 *   EventTime extension), for the structure, every record field and the message limits;
 * - against what the fluent-logger package (v3) sends for the same events to a real TCP server.
 *   fluent-logger v3 has no plain Forward mode (its modes are Message, PackedForward and
 *   CompressedPackedForward; "Forward" is rejected as an unknown mode), so we compare with
 *   PackedForward, whose entries are the same `[time, record]` pairs packed into a binary
 *   string. The options differ by design of that package, and the tests pin the differences.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { decode, decodeMulti, decodeMultiStream, encode, ExtensionCodec } from '@msgpack/msgpack';
import fluentLogger from 'fluent-logger';
import { describe, expect, it } from 'vitest';
import { nonFiniteString } from '../../src/encode/encoder.js';
import { FluentDefaults, FluentEncoder, type FluentEncoderOptions } from '../../src/encode/fluent.js';
import { ConfigError, EncodeError, ErrorCode } from '../../src/errors.js';
import { SampleBatch, SampleType, Series, type Sample } from '../../src/sample.js';

// ---------------------------------------------------------------------------------------------
// Decoding helpers

interface EventTime {
  seconds: number;
  nanoseconds: number;
}

interface ForwardMessage {
  tag: string;
  entries: [EventTime, Record<string, unknown>][];
  option: Record<string, unknown>;
}

const codec = new ExtensionCodec();
codec.register({
  type: 0,
  encode: () => null,
  decode: (data: Uint8Array): EventTime => {
    if (data.byteLength !== 8) throw new Error(`EventTime of ${data.byteLength} bytes`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return { seconds: view.getUint32(0), nanoseconds: view.getUint32(4) };
  },
});

function asForward(raw: unknown): ForwardMessage {
  if (!Array.isArray(raw) || raw.length !== 3) throw new Error(`not a 3-array: ${String(raw)}`);
  const [tag, entries, option] = raw as [unknown, unknown, unknown];
  if (typeof tag !== 'string') throw new Error('tag is not a string');
  if (!Array.isArray(entries)) throw new Error('entries is not an array');
  if (typeof option !== 'object' || option === null) throw new Error('option is not a map');
  return {
    tag,
    entries: entries as ForwardMessage['entries'],
    option: option as Record<string, unknown>,
  };
}

function decodeMessage(bytes: Uint8Array): ForwardMessage {
  return asForward(decode(bytes, { extensionCodec: codec }));
}

function encodeAll(
  samples: readonly Sample[],
  options: FluentEncoderOptions = {},
  defaultTimestamp: number | null = null,
): { frames: Uint8Array[]; messages: ForwardMessage[] } {
  const frames = new FluentEncoder(options).encode(SampleBatch.from(samples), defaultTimestamp);
  return { frames, messages: frames.map(decodeMessage) };
}

/** The one record of a one-sample batch. */
function encodeOne(sample: Sample, defaultTimestamp: number | null = null): ForwardMessage['entries'][number] {
  const { messages } = encodeAll([sample], {}, defaultTimestamp);
  expect(messages).toHaveLength(1);
  expect(messages[0]?.entries).toHaveLength(1);
  return messages[0]?.entries[0] as ForwardMessage['entries'][number];
}

/** The byte that follows the first occurrence of the fixstr `key` in a frame. */
function byteAfterKey(frame: Uint8Array, key: string): number {
  const needle = [0xa0 | key.length, ...Buffer.from(key)];
  for (let i = 0; i + needle.length < frame.length; i++) {
    if (needle.every((b, j) => frame[i + j] === b)) return frame[i + needle.length] as number;
  }
  throw new Error(`key ${key} not found`);
}

function eventTimeOf(ms: number): EventTime {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanoseconds: Math.round((ms - seconds * 1000) * 1e6) };
}

function sample(overrides: Partial<Sample> = {}): Sample {
  return {
    name: 'http_requests_total',
    tags: { code: '200', method: 'get' },
    timestamp: 1_700_000_000_123,
    type: SampleType.Counter,
    value: 1027.5,
    ...overrides,
  };
}

function samples(n: number, overrides: Partial<Sample> = {}): Sample[] {
  return Array.from({ length: n }, (_, i) =>
    sample({ name: `metric_${i}`, tags: { i: String(i) }, value: i + 0.25, timestamp: 1_700_000_000_000 + i, ...overrides }),
  );
}

const T0 = 1_700_000_000_123;

// ---------------------------------------------------------------------------------------------

describe('FluentEncoder message format', () => {
  it('has kind fluent and the documented defaults', () => {
    const encoder = new FluentEncoder();
    expect(encoder.kind).toBe('fluent');
    expect({
      tag: encoder.tag,
      requireAck: encoder.requireAck,
      maxSamples: encoder.maxSamples,
      maxBytes: encoder.maxBytes,
    }).toEqual({ tag: 'strata', requireAck: false, maxSamples: 1000, maxBytes: 1024 * 1024 });
    expect(FluentDefaults.maxBytes).toBe(1048576);
  });

  it('writes a message as [tag, [[time, record], ...], {size}] with the entries in batch order', () => {
    const input = [
      sample(),
      sample({ name: 'up', tags: {}, type: SampleType.Gauge, value: 1, timestamp: T0 + 1 }),
      sample({ name: 'temp', tags: { room: 'a' }, type: SampleType.Untyped, value: -3.5, timestamp: T0 + 2 }),
    ];
    const { frames, messages } = encodeAll(input, { tag: 'metrics.k8s' });
    expect(frames).toHaveLength(1);
    expect(frames[0]?.[0]).toBe(0x93);
    expect(messages[0]).toEqual({
      tag: 'metrics.k8s',
      entries: input.map((s) => [eventTimeOf(s.timestamp as number), { ...s }]),
      option: { size: 3 },
    });
  });

  it('writes record keys in the order name, tags, timestamp, type, value', () => {
    const [, record] = encodeOne(sample({ tags: { z: '1', a: '2' } }));
    expect(Object.keys(record)).toEqual(['name', 'tags', 'timestamp', 'type', 'value']);
    expect(Object.keys(record['tags'] as object)).toEqual(['z', 'a']);
  });

  it('writes EventTime as fixext8 type 0 with big-endian seconds and nanoseconds', () => {
    const ms = 0x01020304 * 1000 + 5;
    const frames = new FluentEncoder({ tag: 't' }).encode(SampleBatch.from([sample({ timestamp: ms })]), null);
    const frame = frames[0] as Uint8Array;
    // 0x93, fixstr "t", fixarray(1), then the entry: fixarray(2), fixext8, type 0, 8 bytes.
    const entry = 1 + 2 + 1;
    const want = [0x92, 0xd7, 0x00, 0x01, 0x02, 0x03, 0x04, 0x00, 0x4c, 0x4b, 0x40]; // 5_000_000 ns
    expect([...frame.subarray(entry, entry + want.length)]).toEqual(want);
  });

  const eventTimes: { input: number; want: EventTime }[] = [
    { input: 0, want: { seconds: 0, nanoseconds: 0 } },
    { input: 999, want: { seconds: 0, nanoseconds: 999_000_000 } },
    { input: 1_700_000_000_123, want: { seconds: 1_700_000_000, nanoseconds: 123_000_000 } },
    { input: 1_700_000_000_000.5, want: { seconds: 1_700_000_000, nanoseconds: 500_000 } },
    { input: 4_294_967_295_999, want: { seconds: 4_294_967_295, nanoseconds: 999_000_000 } },
  ];
  it.each(eventTimes)('turns timestamp $input ms into EventTime $want.seconds s $want.nanoseconds ns', ({ input, want }) => {
    const [time, record] = encodeOne(sample({ timestamp: input }));
    expect(time).toEqual(want);
    expect(record['timestamp']).toBe(input);
  });

  const timestampBytes: { input: number; want: number }[] = [
    { input: 5, want: 0x05 }, // positive fixint
    { input: 200, want: 0xcc },
    { input: 60_000, want: 0xcd },
    { input: 4_000_000_000, want: 0xce },
    { input: 1_700_000_000_123, want: 0xcf }, // uint64, not float64
    { input: 1_700_000_000_000.5, want: 0xcb }, // fractional milliseconds stay a float
  ];
  it.each(timestampBytes)('writes record timestamp $input with msgpack type byte $want', ({ input, want }) => {
    const frame = new FluentEncoder().encode(SampleBatch.from([sample({ timestamp: input })]), null)[0] as Uint8Array;
    expect(byteAfterKey(frame, 'timestamp')).toBe(want);
  });

  const finiteValues: { input: number }[] = [
    { input: 0 },
    { input: 1 },
    { input: 42 },
    { input: -7 },
    { input: 0.1 },
    { input: -0 },
    { input: Number.MAX_VALUE },
    { input: Number.MIN_VALUE },
    { input: 2 ** 60 },
  ];
  it.each(finiteValues)('writes value $input as a float64 that decodes to the same number', ({ input }) => {
    const frame = new FluentEncoder().encode(SampleBatch.from([sample({ value: input })]), null)[0] as Uint8Array;
    expect(byteAfterKey(frame, 'value')).toBe(0xcb);
    const record = decodeMessage(frame).entries[0]?.[1];
    expect(Object.is(record?.['value'], input)).toBe(true);
  });

  const nonFinite: { input: number; want: string }[] = [
    { input: Number.NaN, want: 'NaN' },
    { input: Number.POSITIVE_INFINITY, want: '+Inf' },
    { input: Number.NEGATIVE_INFINITY, want: '-Inf' },
  ];
  it.each(nonFinite)('writes non-finite value $input as the string "$want"', ({ input, want }) => {
    const [, record] = encodeOne(sample({ value: input }));
    expect(record['value']).toBe(want);
    expect(record['value']).toBe(nonFiniteString(input));
  });

  it('keeps names, tags and types byte for byte, including non-ASCII and long strings', () => {
    const tags: Record<string, string> = { 'pod': 'café-☕-0', 'zone': 'x'.repeat(300), '': 'empty key' };
    for (let i = 0; i < 20; i++) tags[`label_${String(i).padStart(2, '0')}`] = `v${i}`; // a map16
    const input = [
      sample({ name: 'naïve_µs_total', tags, type: SampleType.Summary }),
      sample({ name: 'n'.repeat(70_000), tags: {}, type: SampleType.Histogram }),
    ];
    const { messages } = encodeAll(input);
    expect(messages[0]?.entries.map(([, r]) => r)).toEqual(input.map((s) => ({ ...s })));
  });

  it('writes 16 and 65536 entries with array16 and array32 headers', () => {
    const series = new Series('m', SampleType.Gauge, { k: 'v' });
    for (const { n, want } of [
      { n: 15, want: 0x9f },
      { n: 16, want: 0xdc },
      { n: 65_535, want: 0xdc },
      { n: 65_536, want: 0xdd },
    ]) {
      const batch = new SampleBatch(n);
      for (let i = 0; i < n; i++) batch.push(series, i, T0 + i);
      const frames = new FluentEncoder({ maxSamples: n, maxBytes: 64 * 1024 * 1024 }).encode(batch, null);
      expect(frames).toHaveLength(1);
      expect((frames[0] as Uint8Array)[1 + 1 + 'strata'.length]).toBe(want);
      const message = decodeMessage(frames[0] as Uint8Array);
      expect(message.entries).toHaveLength(n);
      expect(message.option).toEqual({ size: n });
      expect(message.entries[n - 1]).toEqual([
        eventTimeOf(T0 + n - 1),
        { name: 'm', tags: { k: 'v' }, timestamp: T0 + n - 1, type: 'gauge', value: n - 1 },
      ]);
    }
  });

  it('returns no messages for an empty batch', () => {
    expect(new FluentEncoder().encode(new SampleBatch(), 0)).toEqual([]);
  });

  it('appends messages to the given array and returns it', () => {
    const out: Uint8Array[] = [Uint8Array.of(1)];
    const got = new FluentEncoder().encode(SampleBatch.from([sample()]), null, out);
    expect(got).toBe(out);
    expect(out).toHaveLength(2);
    expect(decodeMessage(out[1] as Uint8Array).entries).toHaveLength(1);
  });

  it('gives every message its own buffer, not a view of scratch memory', () => {
    const encoder = new FluentEncoder({ maxSamples: 1 });
    const frames = encoder.encode(SampleBatch.from(samples(3)), null);
    const copies = frames.map((f) => Uint8Array.from(f));
    encoder.encode(SampleBatch.from(samples(50, { name: 'other' })), null);
    expect(frames).toEqual(copies);
    expect(new Set(frames.map((f) => f.buffer)).size).toBe(3);
    for (const f of frames) expect(f.byteLength).toBe(f.buffer.byteLength);
  });
});

describe('FluentEncoder timestamps', () => {
  it('uses the default timestamp for both EventTime and record when a sample has none', () => {
    const [time, record] = encodeOne(sample({ timestamp: null }), 1_600_000_000_250);
    expect(time).toEqual({ seconds: 1_600_000_000, nanoseconds: 250_000_000 });
    expect(record['timestamp']).toBe(1_600_000_000_250);
  });

  it('keeps a sample’s own timestamp over the default', () => {
    const [time, record] = encodeOne(sample({ timestamp: T0 }), 1_600_000_000_250);
    expect(time).toEqual(eventTimeOf(T0));
    expect(record['timestamp']).toBe(T0);
  });

  it('writes a nil timestamp and an EventTime of now when there is no timestamp and no default', () => {
    const before = Date.now();
    const { messages } = encodeAll([sample({ timestamp: null }), sample({ timestamp: null, name: 'b' })]);
    const after = Date.now();
    const entries = messages[0]?.entries ?? [];
    expect(entries).toHaveLength(2);
    for (const [time, record] of entries) {
      expect(record['timestamp']).toBeNull();
      const ms = time.seconds * 1000 + time.nanoseconds / 1e6;
      expect(ms).toBeGreaterThanOrEqual(before);
      expect(ms).toBeLessThanOrEqual(after);
    }
    expect(entries[0]?.[0]).toEqual(entries[1]?.[0]);
  });

  const outOfRange: { input: number | null; defaultTimestamp: number | null; err: string }[] = [
    {
      input: -1,
      defaultTimestamp: null,
      err:
        'sample of series "http_requests_total" has timestamp -1 ms, outside what a Fluent EventTime ' +
        'holds (0 to 4294967295 seconds since the epoch, uint32)',
    },
    {
      input: 4_294_967_296_000,
      defaultTimestamp: null,
      err:
        'sample of series "http_requests_total" has timestamp 4294967296000 ms, outside what a Fluent ' +
        'EventTime holds (0 to 4294967295 seconds since the epoch, uint32)',
    },
    {
      input: null,
      defaultTimestamp: Number.POSITIVE_INFINITY,
      err:
        'sample of series "http_requests_total" has timestamp Infinity ms, outside what a Fluent ' +
        'EventTime holds (0 to 4294967295 seconds since the epoch, uint32)',
    },
  ];
  it.each(outOfRange)('rejects timestamp $input (default $defaultTimestamp) with EncodeError', ({ input, defaultTimestamp, err }) => {
    const encoder = new FluentEncoder();
    const batch = SampleBatch.from([sample({ timestamp: input })]);
    let caught: unknown;
    try {
      encoder.encode(batch, defaultTimestamp);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(EncodeError);
    expect((caught as EncodeError).code).toBe(ErrorCode.Encode);
    expect((caught as EncodeError).message).toBe(err);
    // The encoder is usable right after an error.
    expect(encoder.encode(SampleBatch.from([sample()]), null)).toHaveLength(1);
  });

  it('leaves out as it was when a later sample of the batch fails', () => {
    const encoder = new FluentEncoder({ maxSamples: 1 });
    const kept = Uint8Array.of(1, 2, 3);
    const out = [kept];
    const batch = SampleBatch.from([sample(), sample(), sample({ timestamp: -5000 })]);
    expect(() => encoder.encode(batch, null, out)).toThrow(EncodeError);
    expect(out).toEqual([kept]);
  });
});

describe('FluentEncoder options and acks', () => {
  it('adds a chunk of 16 random bytes in base64, different for every message, when acks are required', () => {
    const { messages } = encodeAll(samples(5), { requireAck: true, maxSamples: 2 });
    expect(messages.map((m) => Object.keys(m.option))).toEqual([
      ['size', 'chunk'],
      ['size', 'chunk'],
      ['size', 'chunk'],
    ]);
    const chunks = messages.map((m) => m.option['chunk'] as string);
    for (const chunk of chunks) {
      expect(chunk).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      expect(Buffer.from(chunk, 'base64')).toHaveLength(16);
    }
    expect(new Set(chunks).size).toBe(3);
    expect(messages.map((m) => m.option['size'])).toEqual([2, 2, 1]);
  });

  it('writes only size in the option without acks', () => {
    const { messages } = encodeAll(samples(2));
    expect(messages[0]?.option).toEqual({ size: 2 });
  });

  const invalid: { input: FluentEncoderOptions; err: string }[] = [
    { input: { tag: '' }, err: 'encoder.tag: must be a non-empty string, got ""' },
    { input: { maxSamples: 0 }, err: 'encoder.maxSamples: must be an integer from 1 to 4294967295, got 0' },
    { input: { maxSamples: 1.5 }, err: 'encoder.maxSamples: must be an integer from 1 to 4294967295, got 1.5' },
    { input: { maxSamples: Number.NaN }, err: 'encoder.maxSamples: must be an integer from 1 to 4294967295, got NaN' },
    { input: { maxBytes: 0 }, err: 'encoder.maxBytes: must be an integer ≥ 1, got 0' },
    { input: { maxBytes: Number.POSITIVE_INFINITY }, err: 'encoder.maxBytes: must be an integer ≥ 1, got Infinity' },
  ];
  it.each(invalid)('rejects options $input with ConfigError', ({ input, err }) => {
    expect(() => new FluentEncoder(input)).toThrow(ConfigError);
    expect(() => new FluentEncoder(input)).toThrow(err);
  });
});

describe('FluentEncoder message limits', () => {
  it('splits a batch into messages of at most maxSamples entries', () => {
    const input = samples(2500);
    const { messages } = encodeAll(input);
    expect(messages.map((m) => m.entries.length)).toEqual([1000, 1000, 500]);
    expect(messages.map((m) => m.option['size'])).toEqual([1000, 1000, 500]);
    expect(messages.flatMap((m) => m.entries.map(([, r]) => r['name']))).toEqual(input.map((s) => s.name));
  });

  it('gives one sample per message with maxSamples 1', () => {
    const input = samples(4);
    const { messages } = encodeAll(input, { maxSamples: 1, requireAck: true });
    expect(messages).toHaveLength(4);
    messages.forEach((m, i) => {
      expect(m.entries).toHaveLength(1);
      expect(m.option['size']).toBe(1);
      expect(m.entries[0]?.[1]['name']).toBe(input[i]?.name);
    });
  });

  for (const requireAck of [false, true]) {
    it(`fills each message as far as maxBytes allows and no further (requireAck ${requireAck})`, () => {
      const input = Array.from({ length: 300 }, (_, i) =>
        sample({ name: `m_${'x'.repeat(i % 37)}`, tags: { i: String(i) }, value: i, timestamp: T0 + i }),
      );
      for (const maxBytes of [200, 257, 1000, 4096, 20_000]) {
        const encoder = new FluentEncoder({ maxBytes, requireAck, maxSamples: 100_000 });
        const frames = encoder.encode(SampleBatch.from(input), null);
        const messages = frames.map(decodeMessage);
        expect(messages.flatMap((m) => m.entries.map(([, r]) => r['name']))).toEqual(input.map((s) => s.name));
        let start = 0;
        frames.forEach((frame, k) => {
          const n = messages[k]?.entries.length ?? 0;
          expect(messages[k]?.option['size']).toBe(n);
          expect(frame.length).toBeLessThanOrEqual(maxBytes);
          if (start + n < input.length) {
            // One more entry would have gone over the limit.
            const unlimited = new FluentEncoder({ maxBytes: 1 << 30, requireAck, maxSamples: 100_000 });
            const bigger = unlimited.encode(SampleBatch.from(input.slice(start, start + n + 1)), null);
            expect(bigger).toHaveLength(1);
            expect(bigger[0]?.length).toBeGreaterThan(maxBytes);
          }
          start += n;
        });
      }
    });
  }

  it('sends a sample larger than maxBytes alone in its own message', () => {
    const input = [sample({ name: 'a' }), sample({ name: 'b'.repeat(500) }), sample({ name: 'c' }), sample({ name: 'd' })];
    const { frames, messages } = encodeAll(input, { maxBytes: 200 });
    expect(messages.map((m) => m.entries.map(([, r]) => (r['name'] as string)[0]))).toEqual([['a'], ['b'], ['c', 'd']]);
    expect(frames[1]?.length).toBeGreaterThan(200);
    expect(messages[1]?.option).toEqual({ size: 1 });
  });

  it('sends every sample alone when maxBytes is below any message size', () => {
    const { messages } = encodeAll(samples(3), { maxBytes: 1 });
    expect(messages.map((m) => m.entries.length)).toEqual([1, 1, 1]);
  });
});

describe('FluentEncoder series memo', () => {
  it('memoises series bytes on the Series and gives the same output on reuse', () => {
    const s = new Series('cpu_seconds_total', SampleType.Counter, { cpu: '0', mode: 'idle' });
    const batch = new SampleBatch();
    batch.push(s, 1.5, T0);
    batch.push(s, 2.5, T0 + 1000);
    const encoder = new FluentEncoder();
    const first = encoder.encode(batch, null);
    expect(s.memoOwner).toBeDefined();
    const memo = s.memo;
    const second = encoder.encode(batch, null);
    expect(second).toEqual(first);
    expect(s.memo).toBe(memo);
    // Another fluent encoder, with other options, reuses the same memo.
    const other = new FluentEncoder({ tag: 'other', requireAck: true }).encode(batch, null);
    expect(s.memo).toBe(memo);
    expect(decodeMessage(other[0] as Uint8Array).entries).toEqual(decodeMessage(first[0] as Uint8Array).entries);
  });

  it('ignores and replaces a memo written by another encoder', () => {
    const s = new Series('up', SampleType.Gauge, { job: 'node' });
    const foreign = {};
    s.memoOwner = foreign;
    s.memo = { head: Uint8Array.of(0xc1), tail: Uint8Array.of(0xc1) };
    const batch = new SampleBatch();
    batch.push(s, 1, T0);
    const [, record] = decodeMessage(new FluentEncoder().encode(batch, null)[0] as Uint8Array).entries[0] ?? [];
    expect(record).toEqual({ name: 'up', tags: { job: 'node' }, timestamp: T0, type: 'gauge', value: 1 });
    expect(s.memoOwner).not.toBe(foreign);
  });
});

// ---------------------------------------------------------------------------------------------
// Against fluent-logger

interface FluentLoggerEventTime {
  readonly epoch: number;
  readonly nano: number;
}
// fluent-logger's typings declare EventTime as an instance and timestamps as number | Date;
// at runtime it is a class and emit() accepts its instances.
const LoggerEventTime = fluentLogger.EventTime as unknown as new (epoch: number, nano: number) => FluentLoggerEventTime;
type LoggerOptions = fluentLogger.Options & { enableReconnect: boolean };

const silent: fluentLogger.Logger = { info: () => undefined, error: () => undefined };

/** The records the JSON format and fluent-logger users would build for these samples. */
function records(batch: SampleBatch, defaultTimestamp: number): { time: EventTime; record: Record<string, unknown> }[] {
  return batch.toSamples(defaultTimestamp).map((s) => ({
    time: eventTimeOf(s.timestamp as number),
    record: {
      name: s.name,
      tags: s.tags,
      timestamp: s.timestamp,
      type: s.type,
      value: Number.isFinite(s.value) ? s.value : nonFiniteString(s.value),
    },
  }));
}

/**
 * Sends `events` with fluent-logger in PackedForward mode to a server on 127.0.0.1 and returns
 * the messages the server decoded. With `requireAck` the server answers `{ack: chunk}` and the
 * emit callbacks must all succeed.
 */
async function sendWithFluentLogger(
  tag: string,
  events: readonly { time: EventTime; record: Record<string, unknown> }[],
  requireAck: boolean,
): Promise<unknown[]> {
  const received: unknown[] = [];
  const sockets = new Set<Socket>();
  let entries = 0;
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const allReceived = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const server = createServer((socket) => {
    sockets.add(socket);
    void (async () => {
      for await (const raw of decodeMultiStream(socket, { extensionCodec: codec })) {
        received.push(raw);
        const [, packed, option] = raw as [string, Uint8Array, { chunk: string }];
        if (requireAck) socket.write(encode({ ack: option.chunk }));
        entries += [...decodeMulti(packed, { extensionCodec: codec })].length;
        if (entries >= events.length) done();
      }
    })().catch(fail);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const options: LoggerOptions = {
    host: '127.0.0.1',
    port,
    eventMode: 'PackedForward',
    flushInterval: 5,
    requireAckResponse: requireAck,
    ackResponseTimeout: 2000,
    enableReconnect: false,
    internalLogger: silent,
  };
  const sender = fluentLogger.createFluentSender<Record<string, unknown>>(tag, options);
  try {
    const emitted = events.map(
      ({ time, record }) =>
        new Promise<void>((resolve, reject) => {
          const eventTime = new LoggerEventTime(time.seconds, time.nanoseconds);
          sender.emit(record, eventTime as unknown as Date, (err) => (err ? reject(err) : resolve()));
        }),
    );
    const timeout = setTimeout(() => fail(new Error(`received ${entries} of ${events.length} events`)), 2000);
    try {
      await Promise.all([allReceived, ...emitted]);
    } finally {
      clearTimeout(timeout);
    }
    return received;
  } finally {
    await new Promise<void>((resolve) => sender.end(undefined as unknown as string, undefined as unknown as Record<string, unknown>, () => resolve()));
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  }
}

describe('FluentEncoder against fluent-logger', () => {
  const defaultTimestamp = 1_650_000_000_500;
  const input = [
    sample(),
    sample({ name: 'up', tags: {}, type: SampleType.Gauge, value: 1, timestamp: null }),
    sample({ name: 'latency_seconds', tags: { quantile: '0.99' }, type: SampleType.Summary, value: 0.125 }),
    sample({ name: 'bad', tags: { a: 'b' }, type: SampleType.Untyped, value: Number.NaN, timestamp: 0 }),
    sample({ name: 'hot', type: SampleType.Gauge, value: Number.POSITIVE_INFINITY, timestamp: T0 + 999 }),
    sample({ name: 'cold', type: SampleType.Gauge, value: Number.NEGATIVE_INFINITY, timestamp: 4_294_967_295_000 }),
    sample({ name: 'café', tags: { 'ключ': 'значение' }, type: SampleType.Histogram, value: -12, timestamp: 1 }),
  ];

  for (const requireAck of [false, true]) {
    it(`sends the same tag and entries as fluent-logger in PackedForward mode (requireAck ${requireAck})`, async () => {
      const tag = 'strata.metrics';
      const batch = SampleBatch.from(input);
      const ours = new FluentEncoder({ tag, requireAck }).encode(batch, defaultTimestamp).map(decodeMessage);
      expect(ours).toHaveLength(1);
      const mine = ours[0] as ForwardMessage;

      const events = records(batch, defaultTimestamp);
      const received = await sendWithFluentLogger(tag, events, requireAck);
      expect(received).toHaveLength(1);
      const [theirTag, packed, theirOption] = received[0] as [string, Uint8Array, Record<string, unknown>];
      const theirEntries = [...decodeMulti(packed, { extensionCodec: codec })] as ForwardMessage['entries'];

      expect(mine.tag).toBe(theirTag);
      expect(mine.entries).toEqual(theirEntries);
      mine.entries.forEach(([, record], i) => {
        expect(Object.keys(record)).toEqual(Object.keys(theirEntries[i]?.[1] ?? {}));
      });
      expect(mine.entries.map(([time, record]) => ({ time, record }))).toEqual(events);

      // Options. With acks both carry a chunk. fluent-logger's PackedForward always sends one
      // (and so is answered by a server whether or not it waits), and its `size` counts the bytes
      // of the packed entries, where the spec and we count the events.
      expect('chunk' in theirOption).toBe(true);
      expect('chunk' in mine.option).toBe(requireAck);
      expect(theirOption['size']).toBe(packed.byteLength);
      expect(mine.option['size']).toBe(input.length);
      expect(Object.keys(theirOption).sort()).toEqual(['chunk', 'compressed', 'eventEntryDataSize', 'size']);
    });
  }
});
