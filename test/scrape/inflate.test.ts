// SPDX-License-Identifier: Apache-2.0
import { randomBytes } from 'node:crypto';
import { deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { INFLATE_OUTPUT_BYTES, InflateError, type Inflater, InflaterPool, type Compression } from '../../src/scrape/inflate.js';

/** ~2 MB of exposition-like text with incompressible label values. */
const TEXT = Buffer.from(
  Array.from({ length: 40_000 }, (_, i) => `metric_${i % 97}{pod="${randomBytes(6).toString('hex')}",i="${i}"} ${i * 1.5}\n`).join(''),
);

/** Feeds `input` to `inflater` in the given pieces and ends it; returns every emitted piece, copied. */
function feed(inflater: Inflater | undefined, out: Buffer, input: Buffer, cuts: number[]): Buffer[] {
  expect(inflater).toBeDefined();
  const pieces: Buffer[] = [];
  const emit = (piece: Buffer): void => {
    expect(piece.length).toBeGreaterThan(0);
    expect(piece.length).toBeLessThanOrEqual(out.length);
    expect(piece.buffer).toBe(out.buffer); // written into the shared buffer, not a new one
    pieces.push(Buffer.from(piece));
  };
  let at = 0;
  for (const cut of [...cuts, input.length]) {
    inflater?.write(input.subarray(at, cut), emit);
    at = cut;
  }
  inflater?.end(emit);
  return pieces;
}

/** An inflater whose handle is not kept for another body. */
const unpooled = (compression: Compression, out: Buffer): Inflater | undefined => new InflaterPool(out, 0).take(compression);

/** Inflates `input` fed in the given pieces with a new inflater; returns every emitted piece, copied. */
function inflate(compression: Compression, input: Buffer, cuts: number[], out = Buffer.alloc(INFLATE_OUTPUT_BYTES)): Buffer[] {
  return feed(unpooled(compression, out), out, input, cuts);
}

function randomCuts(length: number, n: number): number[] {
  return Array.from({ length: n }, () => Math.floor(Math.random() * length)).sort((a, b) => a - b);
}

describe('Inflater', () => {
  it('inflates gzip and deflate fed whole, byte by byte at the edges, and cut at random points', () => {
    for (const [compression, input] of [
      ['gzip', gzipSync(TEXT, { level: 1 })],
      ['deflate', deflateSync(TEXT)],
    ] as const) {
      expect(Buffer.concat(inflate(compression, input, [])).equals(TEXT)).toBe(true);
      const edges = [1, 2, 3, 4, 5, 10, 11, input.length - 9, input.length - 8, input.length - 4, input.length - 1];
      expect(Buffer.concat(inflate(compression, input, edges)).equals(TEXT)).toBe(true);
      for (let round = 0; round < 20; round++) {
        expect(Buffer.concat(inflate(compression, input, randomCuts(input.length, 1 + round * 5))).equals(TEXT)).toBe(true);
      }
    }
  });

  it('hands out pieces of at most the output buffer, whatever the size of the input chunk', () => {
    const pieces = inflate('gzip', gzipSync(TEXT), [], Buffer.alloc(4096));
    expect(pieces.length).toBeGreaterThanOrEqual(Math.ceil(TEXT.length / 4096));
    expect(Math.max(...pieces.map((p) => p.length))).toBe(4096);
  });

  it('stops at the output budget and hands back the input not yet taken, to be written again', () => {
    // Highly compressible: every input chunk inflates to many budgets.
    const text = Buffer.from('up{job="a"} 1\n'.repeat(200_000));
    const input = gzipSync(text, { level: 9 });
    const inflater = unpooled('gzip', Buffer.alloc(INFLATE_OUTPUT_BYTES));
    const pieces: Buffer[] = [];
    let calls = 0;
    let pending: Uint8Array | undefined = input;
    while (pending !== undefined) {
      calls++;
      let emitted = 0;
      pending = inflater?.write(pending, (piece) => {
        emitted += piece.length;
        pieces.push(Buffer.from(piece));
      }, 100_000);
      // Stops at the first piece that reaches the budget.
      expect(emitted).toBeLessThan(100_000 + INFLATE_OUTPUT_BYTES);
    }
    inflater?.end(() => {});
    expect(calls).toBeGreaterThanOrEqual(Math.floor(text.length / (100_000 + INFLATE_OUTPUT_BYTES)));
    expect(Buffer.concat(pieces).equals(text)).toBe(true);
  });

  it('inflates a multi-member gzip body whole, and ignores bytes after the last member', () => {
    const a = TEXT.subarray(0, 100_000);
    const b = TEXT.subarray(100_000);
    const members = Buffer.concat([gzipSync(a), gzipSync(b)]);
    expect(Buffer.concat(inflate('gzip', members, randomCuts(members.length, 7))).equals(TEXT)).toBe(true);
    const trailing = Buffer.concat([gzipSync(a), Buffer.from('\0\0garbage')]);
    expect(Buffer.concat(inflate('gzip', trailing, [])).equals(a)).toBe(true);
  });

  it('fails a truncated body at the end, with zlib\'s message', () => {
    const input = gzipSync(TEXT);
    const inflater = unpooled('gzip', Buffer.alloc(INFLATE_OUTPUT_BYTES));
    let bytes = 0;
    const emit = (piece: Buffer): void => {
      bytes += piece.length;
    };
    inflater?.write(input.subarray(0, input.length - 100), emit);
    expect(bytes).toBeGreaterThan(0);
    expect(() => inflater?.end(emit)).toThrow(new InflateError('unexpected end of file', 'Z_BUF_ERROR'));
  });

  it('fails corrupt data as it arrives, with zlib\'s message and code', () => {
    const inflater = unpooled('gzip', Buffer.alloc(INFLATE_OUTPUT_BYTES));
    let thrown: unknown;
    try {
      inflater?.write(Buffer.from('this is not gzip at all'), () => {});
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(InflateError);
    expect((thrown as InflateError).code).toBe('Z_DATA_ERROR');
    expect((thrown as InflateError).message).toBe('incorrect header check');
    inflater?.close();
  });

  it('stops inflating when emit throws (how the scraper stops at its body limit)', () => {
    // 64 MiB of zeros in ~64 KB: the one chunk would inflate to 64 MiB.
    const bomb = gzipSync(Buffer.alloc(64 << 20), { level: 9 });
    const inflater = unpooled('gzip', Buffer.alloc(INFLATE_OUTPUT_BYTES));
    const stop = new Error('over the limit');
    let bytes = 0;
    expect(() =>
      inflater?.write(bomb, (piece) => {
        bytes += piece.length;
        if (bytes > 1 << 20) throw stop;
      }),
    ).toThrow(stop);
    expect(bytes).toBeLessThanOrEqual((1 << 20) + INFLATE_OUTPUT_BYTES);
    inflater?.close();
    expect(() => inflater?.write(bomb, () => {})).toThrow(/after close/);
  });
});

describe('InflaterPool', () => {
  /** Inflates `input` with an inflater taken from `pool`; the pieces, joined. */
  function inflateWith(pool: InflaterPool, compression: Compression, input: Buffer, cuts: number[] = []): Buffer {
    return Buffer.concat(feed(pool.take(compression), pool.out, input, cuts));
  }

  const a = TEXT.subarray(0, 300_000);
  const b = TEXT.subarray(300_000, 900_000);

  it('keeps a handle that ended cleanly and inflates the next bodies with it, gzip and deflate apart', () => {
    const pool = new InflaterPool(Buffer.alloc(INFLATE_OUTPUT_BYTES));
    expect(inflateWith(pool, 'gzip', gzipSync(a)).equals(a)).toBe(true);
    expect(pool.idle).toEqual({ gzip: 1, deflate: 0 });
    // Several bodies in turn on the one kept handle, cut at random points, and a multi-member one.
    for (let round = 0; round < 5; round++) {
      const input = gzipSync(round % 2 === 0 ? b : a);
      expect(inflateWith(pool, 'gzip', input, randomCuts(input.length, 5)).equals(round % 2 === 0 ? b : a)).toBe(true);
      expect(pool.idle.gzip).toBe(1);
    }
    expect(inflateWith(pool, 'gzip', Buffer.concat([gzipSync(a), gzipSync(b)])).equals(Buffer.concat([a, b]))).toBe(true);
    expect(inflateWith(pool, 'deflate', deflateSync(b)).equals(b)).toBe(true);
    expect(inflateWith(pool, 'deflate', deflateSync(a)).equals(a)).toBe(true);
    expect(pool.idle).toEqual({ gzip: 1, deflate: 1 });
    pool.close();
    expect(pool.idle).toEqual({ gzip: 0, deflate: 0 });
  });

  it('does not keep a handle whose body failed or was abandoned, and the next body inflates whole', () => {
    const pool = new InflaterPool(Buffer.alloc(INFLATE_OUTPUT_BYTES));
    const corrupt = pool.take('gzip');
    expect(() => corrupt?.write(Buffer.from('this is not gzip at all'), () => {})).toThrow(/incorrect header check/);
    corrupt?.close();
    expect(pool.idle.gzip).toBe(0);

    const input = gzipSync(a);
    const truncated = pool.take('gzip');
    truncated?.write(input.subarray(0, input.length - 100), () => {});
    expect(() => truncated?.end(() => {})).toThrow(new InflateError('unexpected end of file', 'Z_BUF_ERROR'));
    expect(pool.idle.gzip).toBe(0);

    const abandoned = pool.take('gzip');
    abandoned?.write(input.subarray(0, 1000), () => {}); // the scrape failed mid-body (a limit, a reset)
    abandoned?.close();
    expect(pool.idle.gzip).toBe(0);

    expect(inflateWith(pool, 'gzip', input).equals(a)).toBe(true);
    expect(pool.idle.gzip).toBe(1);
    // A clean end after a failed body on a kept handle: its state was reset, not carried over.
    const halfway = pool.take('gzip');
    halfway?.write(input.subarray(0, input.length >> 1), () => {});
    halfway?.close();
    expect(inflateWith(pool, 'gzip', gzipSync(b)).equals(b)).toBe(true);
  });

  it('keeps at most `max` idle handles of each kind, and none once closed', () => {
    const pool = new InflaterPool(Buffer.alloc(INFLATE_OUTPUT_BYTES), 2);
    const input = gzipSync(a);
    const three = [pool.take('gzip'), pool.take('gzip'), pool.take('gzip')];
    for (const inflater of three) {
      inflater?.write(input, () => {});
      inflater?.end(() => {});
      inflater?.close(); // after end: nothing (the handle may be in the pool already)
    }
    expect(pool.idle.gzip).toBe(2);
    expect(inflateWith(pool, 'gzip', input).equals(a)).toBe(true); // close() above closed no kept handle
    pool.close();
    const late = new InflaterPool(Buffer.alloc(INFLATE_OUTPUT_BYTES));
    const inflater = late.take('gzip');
    late.close();
    inflater?.write(input, () => {});
    inflater?.end(() => {});
    expect(late.idle.gzip).toBe(0);
  });
});
