// SPDX-License-Identifier: Apache-2.0
/**
 * Layout version 2: a record's first INLINE_BYTES bytes live in its slot and only a longer
 * record spills into the slot's area of a separate overflow region, so a channel of small
 * records never touches (never makes resident) most of its SharedArrayBuffer. These tests check
 * the layout arithmetic, round trips on both sides of the inline boundary through every push
 * and pop, that the overflow region stays zero (untouched) under small records, that attaching
 * validates the new header words, and a worker-thread run whose records cross the boundary.
 */
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { TargetChannel } from '../../src/channel/index.js';
import {
  computeLayout,
  guardRanges,
  INLINE_BYTES,
  type Layout,
  MAGIC,
  VERSION,
  Word,
} from '../../src/channel/layout.js';
import { ConfigError, ErrorCode } from '../../src/errors.js';
import type { ConsumerData, ConsumerReport, ProducerData, ProducerReport } from './fixtures/records.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const PAGE = 4096;

/** `length` bytes that depend on `salt`; never zero, so a written byte shows in shared memory. */
function binary(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 1 + ((i * 31 + salt * 17) % 255);
  return out;
}

/** `length` bytes of printable ASCII that depend on `salt` (UTF-8 length = length). */
function ascii(length: number, salt: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 0x21 + ((i * 7 + salt) % 94);
  return out;
}

/** First and last offset and count of the non-zero bytes of `raw[start, end)`; null if none. */
function nonZero(raw: Uint8Array, start: number, end: number): { first: number; last: number; count: number } | null {
  let first = -1;
  let last = -1;
  let count = 0;
  for (let o = start; o < end; o++) {
    if (raw[o] !== 0) {
      if (first < 0) first = o;
      last = o;
      count++;
    }
  }
  return first < 0 ? null : { first, last, count };
}

describe('channel layout version 2', () => {
  const cases: {
    input: { capacity: number; recordBytes: number; guards: boolean };
    want: Pick<
      Layout,
      'slots' | 'inlineBytes' | 'stride' | 'overflowStride' | 'slotBase' | 'overflowBase' | 'byteLength'
    >;
  }[] = [
    {
      // Production: the slots region is 4 MiB, the rest of the 32 MiB is the sparse overflow.
      input: { capacity: 10_000, recordBytes: 2048, guards: false },
      want: {
        slots: 16_384,
        inlineBytes: 240,
        stride: 256,
        overflowStride: 1808,
        slotBase: 65_856,
        overflowBase: 65_856 + 16_384 * 256,
        byteLength: 65_856 + 16_384 * 256 + 16_384 * 1808,
      },
    },
    {
      input: { capacity: 10_000, recordBytes: 2048, guards: true },
      want: {
        slots: 16_384,
        inlineBytes: 240,
        stride: 264,
        overflowStride: 1816,
        slotBase: 65_864,
        overflowBase: 65_864 + 16_384 * 264,
        byteLength: 65_864 + 16_384 * 264 + 16_384 * 1816,
      },
    },
    {
      input: { capacity: 5, recordBytes: 100, guards: false },
      want: {
        slots: 8,
        inlineBytes: 100,
        stride: 120,
        overflowStride: 0,
        slotBase: 352,
        overflowBase: 1312,
        byteLength: 1312,
      },
    },
    {
      input: { capacity: 4, recordBytes: INLINE_BYTES, guards: false },
      want: {
        slots: 4,
        inlineBytes: 240,
        stride: 256,
        overflowStride: 0,
        slotBase: 336,
        overflowBase: 1360,
        byteLength: 1360,
      },
    },
    {
      input: { capacity: 4, recordBytes: INLINE_BYTES + 1, guards: true },
      want: {
        slots: 4,
        inlineBytes: 240,
        stride: 264,
        overflowStride: 16,
        slotBase: 344,
        overflowBase: 1400,
        byteLength: 1464,
      },
    },
  ];
  for (const { input, want } of cases) {
    const what = `${input.capacity} records of ${input.recordBytes} bytes${input.guards ? ' with guards' : ''}`;
    it(`lays out ${what} as a dense slots region and a sparse overflow region`, () => {
      const layout = computeLayout(input.capacity, input.recordBytes, input.guards);
      expect({
        slots: layout.slots,
        inlineBytes: layout.inlineBytes,
        stride: layout.stride,
        overflowStride: layout.overflowStride,
        slotBase: layout.slotBase,
        overflowBase: layout.overflowBase,
        byteLength: layout.byteLength,
      }).toEqual(want);
      expect(TargetChannel.byteLength(input)).toBe(want.byteLength);
    });
  }

  it('exports an inline size that makes a 256-byte slot', () => {
    expect(INLINE_BYTES).toBe(240);
    expect(VERSION).toBe(2);
  });

  it('counts the overflow region against the channel size limit', () => {
    // The slots region alone (268 MB) would fit; with the overflow region it does not.
    expect(() => new TargetChannel({ capacity: 2 ** 20, recordBytes: 2048 })).toThrow(
      new ConfigError(
        'capacity',
        '1048576 records of 2048 bytes need 2168455488 bytes of shared memory, ' +
          'over the channel limit of 2147483640 bytes; lower capacity or recordBytes',
      ),
    );
  });

  it('lists guard bytes after every inline payload and every overflow area, and nowhere else in the regions', () => {
    const layout = computeLayout(4, 250, true); // overflow part 10 bytes: area 24 with its guard
    const ranges = guardRanges(layout).filter(([start]) => start >= layout.slotBase);
    const slotGuards = [0, 1, 2, 3].flatMap((i) => {
      const slot = layout.slotBase + i * 264;
      return [
        [slot + 12, slot + 16],
        [slot + 16 + 240, slot + 264],
      ];
    });
    const overflowGuards = [0, 1, 2, 3].map((i) => {
      const area = layout.overflowBase + i * 24;
      return [area + 10, area + 24];
    });
    expect(ranges).toEqual([...slotGuards, ...overflowGuards]);
    expect(layout.byteLength).toBe(layout.overflowBase + 4 * 24);
  });
});

interface Variant {
  readonly name: string;
  /** Whether payloads must be UTF-8 text (the string variants). */
  readonly text: boolean;
  push(channel: TargetChannel, payload: Uint8Array): boolean | Promise<boolean>;
  /** Pops every queued record, in order. */
  popAll(channel: TargetChannel): Uint8Array[] | Promise<Uint8Array[]>;
}

function popEach(pop: (channel: TargetChannel) => Uint8Array | null): (channel: TargetChannel) => Uint8Array[] {
  return (channel) => {
    const out: Uint8Array[] = [];
    for (let p = pop(channel); p !== null; p = pop(channel)) out.push(p);
    return out;
  };
}

const variants: Variant[] = [
  {
    name: 'tryPush and tryPop',
    text: false,
    push: (c, p) => c.tryPush(p),
    popAll: popEach((c) => c.tryPop()?.payload ?? null),
  },
  {
    name: 'tryPush and tryPopInto',
    text: false,
    push: (c, p) => c.tryPush(p),
    popAll: popEach((c) => {
      // Reused and pre-filled, so a short copy or a copy to the wrong offset shows.
      const dest = new Uint8Array(c.recordBytes + 3).fill(0xee);
      const length = c.tryPopInto(dest);
      if (length < 0) return null;
      expect(dest.subarray(length).every((b) => b === 0xee)).toBe(true);
      return dest.slice(0, length);
    }),
  },
  {
    name: 'tryPushString and tryPopString',
    text: true,
    push: (c, p) => c.tryPushString(decoder.decode(p)),
    popAll: popEach((c) => {
      const record = c.tryPopString();
      return record === null ? null : encoder.encode(record.text);
    }),
  },
  {
    name: 'push and pop',
    text: false,
    push: (c, p) => c.push(p, 0),
    popAll: async (c) => {
      const out: Uint8Array[] = [];
      for (let r = await c.pop(0); r !== null; r = await c.pop(0)) out.push(r.payload);
      return out;
    },
  },
  {
    name: 'tryPush and drain',
    text: false,
    push: (c, p) => c.tryPush(p),
    popAll: (c) => c.drain().map((r) => r.payload),
  },
];

describe('TargetChannel records on both sides of the inline boundary', () => {
  const recordBytes = 613; // overflow part 373 bytes, so an overflow area's end is not 8-aligned
  const lengths = [0, 1, INLINE_BYTES - 1, INLINE_BYTES, INLINE_BYTES + 1, recordBytes];

  for (const guards of [false, true]) {
    for (const variant of variants) {
      const how = `${variant.name}${guards ? ', with guards intact' : ''}`;
      it(`round-trips records of ${lengths.join(', ')} bytes through ${how}`, async () => {
        const capacity = 8;
        const size = TargetChannel.byteLength({ capacity, recordBytes, guards });
        const before = 64;
        const after = 64;
        const buffer = new SharedArrayBuffer(before + size + after);
        const all = new Uint8Array(buffer);
        const canary = (i: number): number => (i * 37 + 11) & 0xff;
        for (let i = 0; i < all.length; i++) all[i] = canary(i);
        const channel = new TargetChannel({ capacity, recordBytes, guards, buffer, byteOffset: before });

        // Three rounds of six records over eight slots: every slot, the last one (whose
        // overflow area ends the channel) included, holds records of several lengths.
        for (let round = 0; round < 3; round++) {
          const sent = lengths.map((length, k) =>
            variant.text ? ascii(length, round * 10 + k) : binary(length, round * 10 + k),
          );
          for (const payload of sent) expect(await variant.push(channel, payload)).toBe(true);
          const got = await variant.popAll(channel);
          expect(got.map((p) => p.length)).toEqual(lengths);
          expect(got).toEqual(sent);
        }

        for (let i = 0; i < before; i++) expect(all[i]).toBe(canary(i));
        for (let i = before + size; i < all.length; i++) expect(all[i]).toBe(canary(i));
        if (guards) expect(channel.checkGuards()).toEqual([]);
      });
    }
  }

  it('round-trips UTF-8 text whose multi-byte characters straddle the inline boundary', () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 300, guards: true });
    const texts = [
      `${'a'.repeat(INLINE_BYTES - 1)}é${'b'.repeat(10)}`, // é is bytes 239 and 240
      `${'a'.repeat(INLINE_BYTES - 2)}🙂z`, // 🙂 is bytes 238 to 241
      `${'a'.repeat(INLINE_BYTES - 1)}é`, // ends one byte into the overflow area
    ];
    for (const text of texts) expect(channel.tryPushString(text)).toBe(true);
    expect([0, 1, 2].map(() => channel.tryPopString()?.text)).toEqual(texts);
    for (const text of texts) expect(channel.tryPushString(text)).toBe(true);
    expect(channel.drain().map((r) => decoder.decode(r.payload))).toEqual(texts);
    expect(channel.checkGuards()).toEqual([]);
  });

  it('keeps the inline part and the overflow part of neighbouring slots apart', () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 2048 });
    const sent = [binary(2048, 1), binary(5, 2), binary(2048, 3), binary(INLINE_BYTES + 1, 4)];
    for (const p of sent) expect(channel.tryPush(p)).toBe(true);
    expect(channel.drain().map((r) => r.payload)).toEqual(sent);
  });
});

describe('TargetChannel resident memory', () => {
  const capacity = 64;
  const recordBytes = 2048;

  /**
   * Pushes and pops `laps` laps of records of 0 to INLINE_BYTES bytes through every push and
   * pop variant in turn; returns how many records went through.
   */
  function cycleSmallRecords(channel: TargetChannel, laps: number): number {
    const dest = new Uint8Array(recordBytes);
    let n = 0;
    for (let lap = 0; lap < laps; lap++) {
      const sent: Uint8Array[] = [];
      for (let k = 0; k < capacity; k++) {
        // 241 is prime, so the lengths run through every value from 0 to INLINE_BYTES. ASCII,
        // so tryPopString reads them too; never zero, so every written byte shows.
        const payload = ascii((n * 37) % (INLINE_BYTES + 1), n);
        n++;
        if (k % 2 === 0) expect(channel.tryPush(payload)).toBe(true);
        else expect(channel.tryPushString(decoder.decode(payload))).toBe(true);
        sent.push(payload);
      }
      const got: Uint8Array[] = [];
      for (let k = 0; k < capacity; k++) {
        switch (k % 3) {
          case 0:
            got.push(channel.tryPop()?.payload ?? new Uint8Array(0));
            break;
          case 1: {
            const length = channel.tryPopInto(dest);
            got.push(dest.slice(0, length));
            break;
          }
          default:
            got.push(encoder.encode(channel.tryPopString()?.text ?? ''));
        }
      }
      expect(got).toEqual(sent);
    }
    return n;
  }

  it('never writes the overflow region while records fit inline; one long record writes only its own area', () => {
    const layout = computeLayout(capacity, recordBytes, false);
    const channel = new TargetChannel({ capacity, recordBytes });
    const raw = new Uint8Array(channel.buffer);

    const pushed = cycleSmallRecords(channel, 20);
    expect(pushed).toBeGreaterThan(INLINE_BYTES + 1); // every length up to INLINE_BYTES, twice over
    expect(nonZero(raw, layout.slotBase, layout.overflowBase)).not.toBeNull(); // the records did land
    expect(nonZero(raw, layout.overflowBase, layout.byteLength)).toBeNull();

    // One long record: its tail lands in its own slot's overflow area and nowhere else.
    const index = pushed & (layout.slots - 1);
    const area = layout.overflowBase + index * layout.overflowStride;
    const long = binary(recordBytes, 99);
    expect(channel.tryPush(long)).toBe(true);
    expect(channel.tryPop()?.payload).toEqual(long);
    expect(nonZero(raw, layout.overflowBase, layout.byteLength)).toEqual({
      first: area,
      last: area + recordBytes - INLINE_BYTES - 1,
      count: recordBytes - INLINE_BYTES,
    });
    const pages = new Set<number>();
    for (let o = layout.overflowBase; o < layout.byteLength; o++) if (raw[o] !== 0) pages.add(Math.floor(o / PAGE));
    expect(pages.size).toBeLessThanOrEqual(2);
    expect(Math.ceil((layout.byteLength - layout.overflowBase) / PAGE)).toBeGreaterThan(25);
  });

  it('leaves every overflow byte but the guard bytes zero while records fit inline, with guards on', () => {
    const layout = computeLayout(capacity, recordBytes, true);
    const channel = new TargetChannel({ capacity, recordBytes, guards: true });
    const raw = new Uint8Array(channel.buffer);
    cycleSmallRecords(channel, 5);
    const guard = new Uint8Array(layout.byteLength);
    for (const [start, end] of guardRanges(layout)) guard.fill(1, start, end);
    let written = 0;
    for (let o = layout.overflowBase; o < layout.byteLength; o++) if (guard[o] === 0 && raw[o] !== 0) written++;
    expect(written).toBe(0);
    expect(channel.checkGuards()).toEqual([]);
  });
});

describe('TargetChannel attach to a version 2 header', () => {
  it('refuses a version-1 channel with a ConfigError naming both versions', () => {
    // A genuine version-1 header: 4 records of 2048 bytes, slot stride 16 + 2048.
    const buffer = new SharedArrayBuffer(336 + 4 * 2064);
    const i32 = new Int32Array(buffer);
    i32[Word.Version] = 1;
    i32[Word.Capacity] = 4;
    i32[Word.Slots] = 4;
    i32[Word.RecordBytes] = 2048;
    i32[Word.Stride] = 2064;
    Atomics.store(i32, Word.Magic, MAGIC);
    let caught: unknown;
    try {
      TargetChannel.attach(buffer);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).code).toBe(ErrorCode.Config);
    expect((caught as ConfigError).field).toBe('buffer');
    expect((caught as ConfigError).message).toBe(
      'buffer: holds a channel of layout version 1; this build reads version 2',
    );
  });

  const header = 'holds a channel header whose';
  const imply = 'that its capacity (4), recordBytes (2048) and guards imply';
  const corruptions: { name: string; word: Word; value: number; err: string }[] = [
    { name: 'slot count', word: Word.Slots, value: 8, err: `${header} slot count is 8, not the 4 ${imply}` },
    { name: 'slot stride', word: Word.Stride, value: 2064, err: `${header} slot stride is 2064, not the 256 ${imply}` },
    {
      name: 'inline bytes',
      word: Word.InlineBytes,
      value: 2048,
      err: `${header} inline bytes is 2048, not the 240 ${imply}`,
    },
    {
      name: 'overflow stride',
      word: Word.OverflowStride,
      value: 0,
      err: `${header} overflow stride is 0, not the 1808 ${imply}`,
    },
  ];
  for (const { name, word, value, err } of corruptions) {
    it(`refuses a header whose ${name} does not match its record size`, () => {
      const owner = new TargetChannel({ capacity: 4, recordBytes: 2048 });
      new Int32Array(owner.buffer)[word] = value;
      expect(() => TargetChannel.attach(owner.buffer)).toThrow(new ConfigError('buffer', err));
    });
  }

  it('records the inline size and overflow stride in the header, and attaches from them', () => {
    const owner = new TargetChannel({ capacity: 4, recordBytes: 2048, guards: true });
    const i32 = new Int32Array(owner.buffer);
    expect([i32[Word.Version], i32[Word.InlineBytes], i32[Word.OverflowStride]]).toEqual([2, 240, 1816]);
    const long = binary(2000, 5);
    owner.tryPush(long);
    expect(TargetChannel.attach(owner.buffer).tryPop()?.payload).toEqual(long);
    expect(owner.checkGuards()).toEqual([]);
  });

  it('refuses a buffer that holds the slots region but not the whole overflow region', () => {
    const owner = new TargetChannel({ capacity: 4, recordBytes: 2048 });
    const copy = new SharedArrayBuffer(owner.byteLength - 8);
    new Uint8Array(copy).set(new Uint8Array(owner.buffer, 0, copy.byteLength));
    expect(() => TargetChannel.attach(copy)).toThrow(
      new ConfigError('buffer', 'is 8584 bytes past byteOffset, smaller than the 8592 bytes of its channel'),
    );
  });
});

// Real workers, as in stress.test.ts, with records that cross the inline boundary.
const BOOT = fileURLToPath(new URL('./fixtures/tsx-worker.cjs', import.meta.url));
const PRODUCER = fileURLToPath(new URL('./fixtures/producer.ts', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url));
const live = new Set<Worker>();

afterEach(async () => {
  // Only a failed test leaves workers running; its channel is garbage, so terminating is safe.
  await Promise.all([...live].map((w) => w.terminate()));
  live.clear();
});

function run<R>(data: ProducerData | ConsumerData): Promise<R> {
  const worker = new Worker(BOOT, { workerData: data });
  live.add(worker);
  return new Promise<R>((resolve, reject) => {
    let report: R | undefined;
    worker.on('message', (m: R) => {
      report = m;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      live.delete(worker);
      if (code !== 0 || report === undefined) reject(new Error(`worker exited with code ${code} and no report`));
      else resolve(report);
    });
  });
}

describe('TargetChannel split records with real worker threads', { timeout: 60_000 }, () => {
  it('delivers records of 8 to 600 bytes from 2 producers to 2 consumers exactly once and intact', async () => {
    const producers = 2;
    const perProducer = 40_000;
    // Record lengths are spread over 8..600, so about 60% of them spill past the inline part.
    const channel = new TargetChannel({
      capacity: 100,
      recordBytes: 600,
      guards: true,
      startPosition: 2 ** 31 - 30_000, // crosses the int32 wrap
    });
    const seenBuffer = new SharedArrayBuffer(producers * perProducer);
    const progress = new SharedArrayBuffer(4);
    const shared = { buffer: channel.buffer, seen: seenBuffer, progress, producers, perProducer };
    const consumers = [0, 1].map((consumerId) => run<ConsumerReport>({ script: CONSUMER, consumerId, ...shared }));
    const pushed = [0, 1].map((producerId) =>
      run<ProducerReport>({
        script: PRODUCER,
        buffer: channel.buffer,
        producerId,
        count: perProducer,
        seed: 0x5eed + producerId,
        waitForSpace: producerId === 0,
      }),
    );
    await Promise.all(pushed);
    channel.close();
    const reports = await Promise.all(consumers);
    const seen = new Uint8Array(seenBuffer);
    expect(seen.every((n) => n === 1)).toBe(true);
    expect({
      consumed: reports.reduce((s, r) => s + r.consumed, 0),
      corrupt: reports.reduce((s, r) => s + r.corrupt, 0),
      orderViolations: reports.reduce((s, r) => s + r.orderViolations, 0),
    }).toEqual({ consumed: producers * perProducer, corrupt: 0, orderViolations: 0 });
    expect(channel.checkGuards()).toEqual([]);
  });
});
