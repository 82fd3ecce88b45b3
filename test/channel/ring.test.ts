// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { TargetChannel, type TargetChannelOptions } from '../../src/channel/index.js';
import { ConfigError, EncodeError, ErrorCode } from '../../src/errors.js';

const encoder = new TextEncoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

function popText(channel: TargetChannel): string | null {
  return channel.tryPopString()?.text ?? null;
}

describe('TargetChannel order, full and empty', () => {
  it('pops records in the order they were pushed', () => {
    const channel = new TargetChannel({ capacity: 8, recordBytes: 32 });
    const sent = ['a', 'bb', 'ccc', '', 'http://10.0.0.1:9090/metrics', 'é🙂'];
    for (const text of sent) expect(channel.tryPushString(text)).toBe(true);
    const got: string[] = [];
    for (let text = popText(channel); text !== null; text = popText(channel)) got.push(text);
    expect(got).toEqual(sent);
  });

  it('returns null from tryPop when the channel is empty', () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8 });
    expect(channel.tryPop()).toBeNull();
    expect(channel.tryPopInto(new Uint8Array(8))).toBe(-1);
    expect(channel.tryPopString()).toBeNull();
    expect(channel.size).toBe(0);
  });

  it('holds exactly capacity records even when capacity is not a power of two', () => {
    const channel = new TargetChannel({ capacity: 5, recordBytes: 8 });
    for (let i = 0; i < 5; i++) expect(channel.tryPush(Uint8Array.of(i))).toBe(true);
    expect(channel.size).toBe(5);
    expect(channel.tryPush(Uint8Array.of(5))).toBe(false);
    expect(channel.tryPop()?.payload).toEqual(Uint8Array.of(0));
    expect(channel.tryPush(Uint8Array.of(5))).toBe(true);
    expect(channel.tryPush(Uint8Array.of(6))).toBe(false);
    expect(channel.drain().map((r) => r.payload[0])).toEqual([1, 2, 3, 4, 5]);
    expect(channel.size).toBe(0);
  });

  it('reports capacity and recordBytes as configured', () => {
    const channel = new TargetChannel({ capacity: 10_000, recordBytes: 300 });
    expect(channel.capacity).toBe(10_000);
    expect(channel.recordBytes).toBe(300);
    expect(channel.buffer.byteLength).toBe(TargetChannel.byteLength({ capacity: 10_000, recordBytes: 300 }));
  });

  it('stamps each record with the time it was pushed', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 4 });
    const before = performance.timeOrigin + performance.now();
    channel.tryPush(Uint8Array.of(1));
    const after = performance.timeOrigin + performance.now();
    const record = channel.tryPop();
    expect(record?.enqueuedAt).toBeGreaterThanOrEqual(before);
    expect(record?.enqueuedAt).toBeLessThanOrEqual(after);
    expect(Math.abs((record?.enqueuedAt ?? 0) - Date.now())).toBeLessThan(1000);
  });

  it('returns payload copies that do not alias shared memory or later records', () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 4 });
    channel.tryPush(Uint8Array.of(1, 2, 3));
    const record = channel.tryPop();
    channel.tryPush(Uint8Array.of(9, 9, 9));
    expect(record?.payload).toEqual(Uint8Array.of(1, 2, 3));
    expect(record?.payload.buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('copies into a caller buffer with tryPopInto and keeps the push time aside', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 8 });
    channel.tryPush(Uint8Array.of(7, 8, 9));
    const dest = new Uint8Array(8);
    expect(channel.tryPopInto(dest)).toBe(3);
    expect(dest.subarray(0, 3)).toEqual(Uint8Array.of(7, 8, 9));
    expect(channel.lastEnqueuedAt).toBeGreaterThan(0);
  });

  it('rejects a tryPopInto buffer shorter than recordBytes without consuming a record', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 8 });
    channel.tryPush(Uint8Array.of(1));
    expect(() => channel.tryPopInto(new Uint8Array(4))).toThrow(
      new ConfigError('dest', "is 4 bytes, shorter than the channel's recordBytes (8)"),
    );
    expect(channel.size).toBe(1);
  });
});

describe('TargetChannel limits', () => {
  const limitCases: { name: string; push: (c: TargetChannel) => boolean; err: string }[] = [
    {
      name: 'a payload one byte over the limit',
      push: (c) => c.tryPush(bytes('http://a.example:9090/metrics')),
      err: 'channel record of 29 bytes exceeds the channel\'s recordBytes limit of 28 bytes: "http://a.example:9090/metrics"',
    },
    {
      name: 'a long payload, quoted capped',
      push: (c) => c.tryPush(new Uint8Array(100).fill(0x41)),
      err: `channel record of 100 bytes exceeds the channel's recordBytes limit of 28 bytes: "${'A'.repeat(64)}"…`,
    },
    {
      name: 'a string whose UTF-8 form is over the limit though it has fewer characters',
      push: (c) => c.tryPushString('é'.repeat(15)),
      err: `channel record of 30 bytes exceeds the channel's recordBytes limit of 28 bytes: "${'\\xc3\\xa9'.repeat(15)}"`,
    },
  ];
  for (const { name, push, err } of limitCases) {
    it(`throws an EncodeError naming the limit for ${name}`, () => {
      const channel = new TargetChannel({ capacity: 2, recordBytes: 28 });
      let caught: unknown;
      try {
        push(channel);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(EncodeError);
      expect((caught as EncodeError).code).toBe(ErrorCode.Encode);
      expect((caught as EncodeError).retryable).toBe(false);
      expect((caught as EncodeError).message).toBe(err);
      expect(channel.size).toBe(0);
    });
  }

  it('accepts payloads of exactly recordBytes and of zero bytes', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 28 });
    expect(channel.tryPush(new Uint8Array(28).fill(1))).toBe(true);
    expect(channel.tryPush(new Uint8Array(0))).toBe(true);
    expect(channel.tryPop()?.payload.length).toBe(28);
    expect(channel.tryPop()?.payload.length).toBe(0);
  });

  const optionCases: { input: TargetChannelOptions; err: [field: string, reason: string] }[] = [
    { input: { capacity: 0, recordBytes: 8 }, err: ['capacity', 'must be an integer from 1 to 268435456, got 0'] },
    { input: { capacity: 1.5, recordBytes: 8 }, err: ['capacity', 'must be an integer from 1 to 268435456, got 1.5'] },
    { input: { capacity: 4, recordBytes: 0 }, err: ['recordBytes', 'must be an integer from 1 to 67108864, got 0'] },
    {
      input: { capacity: 4, recordBytes: 8, byteOffset: 4 },
      err: ['byteOffset', 'must be a non-negative multiple of 8, got 4'],
    },
    { input: { capacity: 4, recordBytes: 8, pollMs: 0 }, err: ['pollMs', 'must be a finite number of ms above 0, got 0'] },
    {
      input: { capacity: 2 ** 28, recordBytes: 64 },
      err: [
        'capacity',
        '268435456 records of 64 bytes need 22548578624 bytes of shared memory, ' +
          'over the channel limit of 2147483640 bytes; lower capacity or recordBytes',
      ],
    },
    {
      input: { capacity: 4, recordBytes: 8, buffer: new SharedArrayBuffer(64) },
      err: ['buffer', 'is 64 bytes; a channel of 432 bytes at byteOffset 0 needs 432'],
    },
  ];
  for (const { input, err } of optionCases) {
    it(`rejects options with a ConfigError naming the field: ${err[0]}: ${err[1]}`, () => {
      let caught: unknown;
      try {
        new TargetChannel(input);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect({ field: (caught as ConfigError).field, message: (caught as ConfigError).message }).toEqual({
        field: err[0],
        message: `${err[0]}: ${err[1]}`,
      });
    });
  }
});

describe('TargetChannel close and pop', () => {
  it('wakes a blocked pop when a record is pushed, through the notify and not the poll', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8, pollMs: 60_000 });
    const started = performance.now();
    const pending = channel.pop(60_000);
    setTimeout(() => channel.tryPush(Uint8Array.of(42)), 20);
    const record = await pending;
    expect(record?.payload).toEqual(Uint8Array.of(42));
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('wakes a blocked pop with null when the channel is closed', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8, pollMs: 60_000 });
    const started = performance.now();
    const pending = channel.pop(60_000);
    setTimeout(() => channel.close(), 20);
    expect(await pending).toBeNull();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(channel.closed).toBe(true);
  });

  it('wakes every blocked pop when the channel is closed', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8, pollMs: 60_000 });
    const pending = [channel.pop(60_000), channel.pop(60_000), channel.pop(60_000)];
    setTimeout(() => channel.close(), 20);
    expect(await Promise.all(pending)).toEqual([null, null, null]);
  });

  it('drains a closed channel that still holds records, then returns null at once', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8 });
    channel.tryPushString('a');
    channel.tryPushString('b');
    channel.tryPushString('c');
    channel.close();
    expect(channel.tryPushString('d')).toBe(false);
    expect(channel.size).toBe(3);
    const first = await channel.pop(1_000);
    expect(new TextDecoder().decode(first?.payload)).toBe('a');
    expect(channel.drain().map((r) => new TextDecoder().decode(r.payload))).toEqual(['b', 'c']);
    const started = performance.now();
    expect(await channel.pop(10_000)).toBeNull();
    expect(performance.now() - started).toBeLessThan(100);
  });

  it('returns null from pop after the timeout when nothing arrives', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8, pollMs: 10 });
    const started = performance.now();
    expect(await channel.pop(60)).toBeNull();
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(55);
    expect(elapsed).toBeLessThan(1_000);
  });

  it('returns null from pop when its signal aborts', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8, pollMs: 60_000 });
    const controller = new AbortController();
    const pending = channel.pop(60_000, controller.signal);
    setTimeout(() => controller.abort(), 20);
    expect(await pending).toBeNull();
    expect(channel.closed).toBe(false);
  });

  it('returns a ready record from pop even when the timeout is zero', async () => {
    const channel = new TargetChannel({ capacity: 4, recordBytes: 8 });
    channel.tryPush(Uint8Array.of(1));
    expect((await channel.pop(0))?.payload).toEqual(Uint8Array.of(1));
    expect(await channel.pop(0)).toBeNull();
  });

  it('pushes at once with push when there is space', async () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 8 });
    expect(await channel.push(Uint8Array.of(1), 0)).toBe(true);
    expect(await channel.push(Uint8Array.of(2), 0)).toBe(false);
  });

  it('wakes a push waiting on a full channel when a record is popped, through the notify', async () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 8, pollMs: 60_000 });
    channel.tryPush(Uint8Array.of(1));
    channel.tryPush(Uint8Array.of(2));
    const started = performance.now();
    const pending = channel.push(Uint8Array.of(3), 60_000);
    setTimeout(() => channel.tryPop(), 20);
    expect(await pending).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(channel.drain().map((r) => r.payload[0])).toEqual([2, 3]);
  });

  it('gives up a push on a full channel after the timeout, pushing nothing', async () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 8, pollMs: 10 });
    channel.tryPush(Uint8Array.of(1));
    expect(await channel.push(Uint8Array.of(2), 40)).toBe(false);
    expect(channel.drain().map((r) => r.payload[0])).toEqual([1]);
  });

  it('wakes a push waiting on a full channel with false when the channel is closed', async () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 8, pollMs: 60_000 });
    channel.tryPush(Uint8Array.of(1));
    const pending = channel.push(Uint8Array.of(2), 60_000);
    setTimeout(() => channel.close(), 20);
    expect(await pending).toBe(false);
    expect(channel.size).toBe(1);
  });

  it('rejects a push of a payload over the limit', async () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 2 });
    await expect(channel.push(Uint8Array.of(1, 2, 3), 10)).rejects.toThrow(
      "channel record of 3 bytes exceeds the channel's recordBytes limit of 2 bytes: \"\\x01\\x02\\x03\"",
    );
  });

  it('rejects a negative or NaN timeout', async () => {
    const channel = new TargetChannel({ capacity: 1, recordBytes: 8 });
    await expect(channel.pop(-1)).rejects.toThrow(
      new ConfigError('timeoutMs', 'must be a number of ms ≥ 0 or Infinity, got -1'),
    );
    await expect(channel.push(Uint8Array.of(1), Number.NaN)).rejects.toThrow(
      new ConfigError('timeoutMs', 'must be a number of ms ≥ 0 or Infinity, got NaN'),
    );
  });

  it('limits drain to max records', () => {
    const channel = new TargetChannel({ capacity: 8, recordBytes: 8 });
    for (let i = 0; i < 5; i++) channel.tryPush(Uint8Array.of(i));
    expect(channel.drain(2)).toHaveLength(2);
    expect(channel.size).toBe(3);
  });
});

describe('TargetChannel counter wrap-around', () => {
  const starts = [
    { name: 'the int32 overflow at 2^31', start: 2 ** 31 - 5 },
    { name: 'the uint32 wrap at 2^32', start: 2 ** 32 - 5 },
    { name: 'the wrap from -1 to 0', start: -5 },
  ];
  for (const { name, start } of starts) {
    it(`keeps order, size and the full check across ${name}`, () => {
      const channel = new TargetChannel({ capacity: 3, recordBytes: 8, startPosition: start });
      let next = 0;
      let expected = 0;
      for (let round = 0; round < 12; round++) {
        // Fill to capacity, check full, then pop a varying number of records.
        while (channel.size < 3) {
          const view = new DataView(new ArrayBuffer(4));
          view.setUint32(0, next++, true);
          expect(channel.tryPush(new Uint8Array(view.buffer))).toBe(true);
        }
        expect(channel.tryPush(Uint8Array.of(0))).toBe(false);
        expect(channel.size).toBe(3);
        for (let k = 0; k <= round % 3; k++) {
          const record = channel.tryPop();
          expect(record).not.toBeNull();
          const got = new DataView(record?.payload.buffer ?? new ArrayBuffer(4)).getUint32(0, true);
          expect(got).toBe(expected++);
        }
        expect(channel.size).toBe(next - expected);
      }
      expect(next).toBeGreaterThan(10); // well past the wrap: 4 slots, start 5 before it
    });
  }

  it('rejects a start position outside int32 and uint32', () => {
    expect(() => new TargetChannel({ capacity: 2, recordBytes: 8, startPosition: 2 ** 32 })).toThrow(
      new ConfigError('startPosition', 'must be an int32 or uint32 integer, got 4294967296'),
    );
  });
});

describe('TargetChannel attach', () => {
  it('sees the records of the channel it attaches to, in both directions', () => {
    const owner = new TargetChannel({ capacity: 6, recordBytes: 40 });
    owner.tryPushString('one');
    owner.tryPushString('two');
    const attached = TargetChannel.attach(owner.buffer);
    expect(attached.capacity).toBe(6);
    expect(attached.recordBytes).toBe(40);
    expect(attached.size).toBe(2);
    expect(popText(attached)).toBe('one');
    attached.tryPushString('three');
    expect(popText(owner)).toBe('two');
    expect(popText(owner)).toBe('three');
    expect(owner.size).toBe(0);
    owner.close();
    expect(attached.closed).toBe(true);
  });

  it('attaches at a byte offset inside a larger buffer', () => {
    const size = TargetChannel.byteLength({ capacity: 2, recordBytes: 16 });
    const buffer = new SharedArrayBuffer(size + 128);
    const owner = new TargetChannel({ capacity: 2, recordBytes: 16, buffer, byteOffset: 128 });
    owner.tryPushString('x');
    const attached = TargetChannel.attach(buffer, { byteOffset: 128 });
    expect(popText(attached)).toBe('x');
  });

  it('refuses a buffer that holds no channel', () => {
    expect(() => TargetChannel.attach(new SharedArrayBuffer(1024))).toThrow(
      new ConfigError('buffer', 'holds no target channel at byteOffset 0 (bad magic number)'),
    );
    expect(() => TargetChannel.attach(new SharedArrayBuffer(16))).toThrow(
      new ConfigError('buffer', 'is 16 bytes, too small to hold a channel header at byteOffset 0'),
    );
  });

  it('refuses a buffer cut shorter than the channel its header describes', () => {
    const owner = new TargetChannel({ capacity: 4, recordBytes: 8 });
    const copy = new SharedArrayBuffer(owner.byteLength - 8);
    new Uint8Array(copy).set(new Uint8Array(owner.buffer, 0, copy.byteLength));
    expect(() => TargetChannel.attach(copy)).toThrow(
      new ConfigError('buffer', 'is 424 bytes past byteOffset, smaller than the 432 bytes of its channel'),
    );
  });
});

describe('TargetChannel canaries', () => {
  it('never writes outside its own bytes of a larger buffer, or over its guard bytes', () => {
    const capacity = 5;
    const recordBytes = 13; // odd, so payload ends are not 8-byte aligned
    const size = TargetChannel.byteLength({ capacity, recordBytes, guards: true });
    const before = 64;
    const after = 64;
    const buffer = new SharedArrayBuffer(before + size + after);
    const all = new Uint8Array(buffer);
    const pattern = (i: number): number => (i * 37 + 11) & 0xff;
    for (let i = 0; i < all.length; i++) all[i] = pattern(i);
    const channel = new TargetChannel({ capacity, recordBytes, buffer, byteOffset: before, guards: true });
    const attached = TargetChannel.attach(buffer, { byteOffset: before });

    // Many laps of full-size payloads of 0xff (and a few other lengths) through both handles.
    for (let lap = 0; lap < 50; lap++) {
      const pusher = lap % 2 === 0 ? channel : attached;
      while (pusher.tryPush(new Uint8Array(lap % 7 === 0 ? 1 : recordBytes).fill(0xff)));
      const popper = lap % 2 === 0 ? attached : channel;
      expect(popper.drain()).toHaveLength(capacity);
    }
    channel.close();

    for (let i = 0; i < before; i++) expect(all[i]).toBe(pattern(i));
    for (let i = before + size; i < all.length; i++) expect(all[i]).toBe(pattern(i));
    expect(channel.checkGuards()).toEqual([]);
  });

  it('reports a guard byte that was overwritten', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 13, guards: true });
    expect(channel.checkGuards()).toEqual([]);
    // Overwrite the byte just past slot 0's payload, as an off-by-one copy would.
    const slotBase = 320 + 2 * 4 + 8;
    const offset = slotBase + 16 + 13;
    const raw = new Uint8Array(channel.buffer);
    raw[offset] = (raw[offset] as number) ^ 0xff;
    expect(channel.checkGuards()).toEqual([offset]);
  });

  it('refuses to check guards on a channel created without them', () => {
    const channel = new TargetChannel({ capacity: 2, recordBytes: 8 });
    expect(() => channel.checkGuards()).toThrow(new ConfigError('guards', 'the channel was created without guards'));
  });
});
