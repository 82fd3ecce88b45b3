// SPDX-License-Identifier: Apache-2.0
/**
 * The disk spool (src/buffer/spool.ts): round trips, order across segments, the acknowledged
 * position across reopen, the `maxBytes` bound, recovery from hand-made damage (a flipped CRC, a
 * cut file, empty and half-made segments), call interleaving, a fast-check property against an
 * in-memory model, and real crashes: a child process appending in a loop is killed with SIGKILL
 * while a write is in progress, and what it wrote is read back whole and in order.
 *
 * Property tests are time-boxed: FUZZ_SECONDS (default 3).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { crc32, crc32Js } from '../../src/buffer/crc32.js';
import { frameBytes, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentName, Spool, type SpoolRecord } from '../../src/buffer/spool.js';
import { ConfigError } from '../../src/errors.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 3);
const ROOT = resolve(import.meta.dirname, '../..');

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-spool-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Record `i`: its message is `size` bytes of a pattern derived from i. */
function rec(i: number, size = 100, id = `m-${i}`): SpoolRecord {
  const message = new Uint8Array(size);
  for (let k = 0; k < size; k++) message[k] = (i * 31 + k) & 0xff;
  return { id, samples: i % 7, createdAt: 1_700_000_000_000 + i, message };
}
const recs = (from: number, to: number, size = 100): SpoolRecord[] => Array.from({ length: to - from }, (_, k) => rec(from + k, size));
const plain = (r: SpoolRecord): { id: string; samples: number; createdAt: number; message: number[] } => ({
  id: r.id,
  samples: r.samples,
  createdAt: r.createdAt,
  message: [...r.message],
});
const ids = (rs: readonly SpoolRecord[]): string[] => rs.map((r) => r.id);

async function segments(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
}
async function diskBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const n of await segments(dir)) sum += (await stat(join(dir, n))).size;
  return sum;
}

describe('Spool', () => {
  it('reads back every field of what it stored, and again after a reopen', async () => {
    const dir = tempDir();
    const stored: SpoolRecord[] = [
      rec(1, 0),
      { id: 'ünïcödé-☃', samples: 4_294_967_295, createdAt: -1.5, message: Uint8Array.of(0, 255, 10) },
      rec(3, 70_000, ''),
      rec(4, 1),
    ];
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(spool.recovered).toEqual({ records: 0, samples: 0, tornRecords: 0, tornBytes: 0 });
    expect(await spool.append(stored)).toBe(true);
    const want = stored.map(plain);
    expect((await spool.peek(10)).map(plain)).toEqual(want);
    expect(spool.records).toBe(4);
    expect(spool.samples).toBe(stored.reduce((s, r) => s + r.samples, 0));
    expect(spool.bytes).toBe(SEGMENT_HEADER_BYTES + stored.reduce((s, r) => s + frameBytes(r), 0));
    expect(spool.bytes).toBe(await diskBytes(dir));
    await spool.close();

    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toEqual({ records: 4, samples: spool.samples, tornRecords: 0, tornBytes: 0 });
    expect((await again.peek(2)).map(plain)).toEqual(want.slice(0, 2));
    expect((await again.peek(10)).map(plain)).toEqual(want);
    await again.close();
  });

  it('keeps append order across segments and across appends, acks included', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000 });
    for (let i = 0; i < 50; i += 5) expect(await spool.append(recs(i, i + 5))).toBe(true);
    expect((await segments(dir)).length).toBeGreaterThanOrEqual(7);
    expect(ids(await spool.peek(100))).toEqual(recs(0, 50).map((r) => r.id));
    await spool.ack(17);
    expect(ids(await spool.peek(3))).toEqual(['m-17', 'm-18', 'm-19']);
    expect(await spool.append(recs(50, 53))).toBe(true);
    expect(ids(await spool.peek(1000))).toEqual(recs(17, 53).map((r) => r.id));
    expect(spool.records).toBe(36);
    await spool.close();
  });

  it('rolls segments over at segmentBytes, and gives a larger record a segment of its own', async () => {
    const dir = tempDir();
    const frame = frameBytes(rec(0, 100));
    const segmentBytes = SEGMENT_HEADER_BYTES + 3 * frame;
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes });
    expect(await spool.append(recs(0, 7))).toBe(true);
    expect(await spool.append([rec(7, 5000)])).toBe(true);
    expect(await spool.append(recs(8, 9))).toBe(true);
    const names = await segments(dir);
    const sizes = await Promise.all(names.map(async (n) => (await stat(join(dir, n))).size));
    expect(sizes).toEqual([segmentBytes, segmentBytes, SEGMENT_HEADER_BYTES + frame, SEGMENT_HEADER_BYTES + frameBytes(rec(7, 5000)), SEGMENT_HEADER_BYTES + frame]);
    expect(names).toEqual([1, 2, 3, 4, 5].map(segmentName));
    expect(ids(await spool.peek(100))).toEqual(recs(0, 9).map((r) => r.id));
    await spool.close();
  });

  it('persists acknowledgements: a reopened spool starts after them, and wholly acknowledged segments are deleted', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: SEGMENT_HEADER_BYTES + 4 * frameBytes(rec(0)) });
    await spool.append(recs(0, 10));
    expect(await segments(dir)).toEqual([1, 2, 3].map(segmentName));
    await spool.peek(2);
    await spool.ack(6); // more than peeked: read on demand
    expect(await segments(dir)).toEqual([2, 3].map(segmentName));
    expect(spool.bytes).toBe(await diskBytes(dir));
    // No close: what ack persisted must hold even if the process stops here.
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered.records).toBe(4);
    expect(again.recovered.samples).toBe(recs(6, 10).reduce((s, r) => s + r.samples, 0));
    expect(ids(await again.peek(10))).toEqual(['m-6', 'm-7', 'm-8', 'm-9']);
    await again.ack(4);
    expect(again.records).toBe(0);
    expect(again.bytes).toBe(0);
    expect(await segments(dir)).toEqual([]);
    // Numbers keep growing after everything was deleted, also across a reopen.
    await again.append(recs(10, 11));
    await again.close();
    expect(await segments(dir)).toEqual([segmentName(4)]);
    const third = await Spool.open({ dir, maxBytes: 1 << 20 });
    await third.ack(1);
    await third.append(recs(11, 12));
    expect(await segments(dir)).toEqual([segmentName(5)]);
    expect(ids(await third.peek(5))).toEqual(['m-11']);
    await third.close();
    await spool.close();
  });

  it('refuses an append that would pass maxBytes, writing nothing, and takes it once acks free the space', async () => {
    const dir = tempDir();
    const frame = frameBytes(rec(0));
    const maxBytes = 2 * (SEGMENT_HEADER_BYTES + 3 * frame);
    const spool = await Spool.open({ dir, maxBytes, segmentBytes: SEGMENT_HEADER_BYTES + 3 * frame });
    expect(await spool.append(recs(0, 5))).toBe(true);
    const before = await diskBytes(dir);
    expect(await spool.append(recs(5, 7))).toBe(false); // one more record fits, two do not
    expect(await diskBytes(dir)).toBe(before);
    expect(spool.records).toBe(5);
    expect(await spool.append(recs(5, 6))).toBe(true);
    expect(spool.bytes).toBe(maxBytes);
    expect(await spool.append([rec(6, 0)])).toBe(false);
    await spool.ack(3); // the first segment goes
    expect(spool.bytes).toBe(maxBytes / 2);
    expect(await spool.append(recs(6, 9))).toBe(true);
    expect(ids(await spool.peek(10))).toEqual(recs(3, 9).map((r) => r.id));
    expect(await spool.append([rec(99, maxBytes)])).toBe(false); // can never fit
    await spool.close();
  });

  it('cuts a torn last record away, counts it, and appends after it', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 5));
    await spool.close();
    const file = join(dir, segmentName(1));
    const full = (await stat(file)).size;
    await truncate(file, full - 30); // the last record lost its last 30 bytes
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    const frame = frameBytes(rec(0));
    expect(again.recovered).toEqual({ records: 4, samples: recs(0, 4).reduce((s, r) => s + r.samples, 0), tornRecords: 1, tornBytes: frame - 30 });
    expect((await stat(file)).size).toBe(full - frame);
    expect(again.bytes).toBe(full - frame);
    await again.append(recs(5, 7));
    expect((await again.peek(10)).map(plain)).toEqual([...recs(0, 4), ...recs(5, 7)].map(plain));
    await again.close();
    const third = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(third.recovered).toMatchObject({ records: 6, tornRecords: 0, tornBytes: 0 });
    await third.close();
  });

  it('cuts a record cut inside its header, or a header of zeros', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 2));
    await spool.close();
    const file = join(dir, segmentName(1));
    const handle = await open(file, 'a');
    await handle.write(new Uint8Array(5).fill(7)); // 5 bytes of a record header
    await handle.close();
    let again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toMatchObject({ records: 2, tornRecords: 1, tornBytes: 5 });
    await again.close();
    const zeros = await open(file, 'a');
    await zeros.write(new Uint8Array(4096)); // a machine crash can leave a zero-filled tail
    await zeros.close();
    again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toMatchObject({ records: 2, tornRecords: 1, tornBytes: 4096 });
    expect(ids(await again.peek(5))).toEqual(['m-0', 'm-1']);
    await again.close();
  });

  it('detects a flipped byte by its CRC: the last record is cut, corruption inside a segment skips the rest of that segment only', async () => {
    const dir = tempDir();
    const frame = frameBytes(rec(0));
    const segmentBytes = SEGMENT_HEADER_BYTES + 4 * frame + 4; // m-10 and m-11 have a byte more of id
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes });
    await spool.append(recs(0, 12)); // segments 1, 2, 3 with 4 records each
    expect(await segments(dir)).toEqual([1, 2, 3].map(segmentName));
    await spool.close();
    const flip = async (seq: number, offset: number): Promise<void> => {
      const file = join(dir, segmentName(seq));
      const bytes = await readFile(file);
      bytes[offset] = (bytes[offset] as number) ^ 0x40;
      await writeFile(file, bytes);
    };
    await flip(2, SEGMENT_HEADER_BYTES + frame + RECORD_HEADER_BYTES + 10); // a message byte of m-5
    await flip(3, SEGMENT_HEADER_BYTES + 2 * frame + (frame + 1) + 2); // the CRC of m-11, the very last record
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toMatchObject({ records: 8, tornRecords: 2, tornBytes: 3 * frame + (frame + 1) });
    expect(ids(await again.peek(20))).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4', 'm-8', 'm-9', 'm-10']);
    await again.close();
    const third = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(third.recovered).toMatchObject({ records: 8, tornRecords: 0, tornBytes: 0 });
    await third.close();
  });

  it('treats a corrupt length as corruption, not as a record to wait for', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 3));
    await spool.close();
    const file = join(dir, segmentName(1));
    const bytes = await readFile(file);
    bytes.writeUInt32LE(3, SEGMENT_HEADER_BYTES + frameBytes(rec(0)) + 4); // m-1's length: below the minimum
    await writeFile(file, bytes);
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toMatchObject({ records: 1, tornRecords: 1, tornBytes: 2 * frameBytes(rec(0)) });
    await again.close();
  });

  it('deletes empty and half-made segments (a crash while creating one), counting the bytes of a partial header', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 2));
    await spool.close();
    await writeFile(join(dir, segmentName(2)), new Uint8Array(0));
    await writeFile(join(dir, segmentName(3)), Uint8Array.of(0x53, 0x54, 0x53));
    await writeFile(join(dir, segmentName(4)), new Uint8Array(SEGMENT_HEADER_BYTES));
    await writeFile(join(dir, 'unrelated.txt'), 'left alone');
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(again.recovered).toEqual({ records: 2, samples: 1, tornRecords: 0, tornBytes: 3 + SEGMENT_HEADER_BYTES });
    expect(await segments(dir)).toEqual([segmentName(1)]);
    expect((await readdir(dir)).includes('unrelated.txt')).toBe(true);
    await again.append(recs(2, 3));
    expect(await segments(dir)).toEqual([segmentName(1), segmentName(5)]);
    expect(ids(await again.peek(5))).toEqual(['m-0', 'm-1', 'm-2']);
    await again.close();
  });

  it('refuses to open over a segment of another format rather than deleting it', async () => {
    const dir = tempDir();
    await writeFile(join(dir, segmentName(1)), Buffer.from('PK\u0003\u0004 something else entirely'));
    const err = await Spool.open({ dir, maxBytes: 1 << 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('buffer.path');
    expect((err as Error).message).toContain(segmentName(1));
    expect((err as Error).message).toContain('504b0304');
    expect(await segments(dir)).toEqual([segmentName(1)]);
  });

  it('ignores a damaged ack file (replays rather than loses)', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 4));
    await spool.ack(2);
    await spool.close();
    const ack = await readFile(join(dir, 'ack'));
    ack[10] = (ack[10] as number) ^ 1;
    await writeFile(join(dir, 'ack'), ack);
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(ids(await again.peek(10))).toEqual(['m-0', 'm-1', 'm-2', 'm-3']);
    await again.close();
  });

  it('falls back to the older ack slot when the newer one is damaged (a torn ack write replays a little)', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append(recs(0, 6));
    await spool.ack(1); // slot 0, generation 0
    await spool.ack(2); // slot 1, generation 1
    await spool.ack(1); // slot 0, generation 2
    await spool.close();
    const ack = await readFile(join(dir, 'ack'));
    expect(ack.length).toBe(96);
    ack[20] = (ack[20] as number) ^ 1; // slot 0's segment number
    await writeFile(join(dir, 'ack'), ack);
    const again = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(ids(await again.peek(10))).toEqual(['m-3', 'm-4', 'm-5']);
    await again.ack(1); // writes generation 2 again, into slot 0
    await again.close();
    const third = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(ids(await third.peek(10))).toEqual(['m-4', 'm-5']);
    await third.close();
  });

  it('runs calls in the order they were made, even when not awaited in between', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 700 });
    await spool.append(recs(0, 3));
    const [peek1, appended, peek2, , peek3] = await Promise.all([
      spool.peek(10),
      spool.append(recs(3, 6)),
      spool.peek(10),
      spool.ack(4),
      spool.peek(10),
    ]);
    expect(ids(peek1)).toEqual(['m-0', 'm-1', 'm-2']);
    expect(appended).toBe(true);
    expect(ids(peek2)).toEqual(['m-0', 'm-1', 'm-2', 'm-3', 'm-4', 'm-5']);
    expect(ids(peek3)).toEqual(['m-4', 'm-5']);
    const failed = spool.ack(99);
    const after = spool.peek(10);
    await expect(failed).rejects.toThrow(RangeError);
    expect(ids(await after)).toEqual(['m-4', 'm-5']);
    await spool.close();
    await expect(spool.peek(1)).rejects.toThrow(/closed/);
  });

  it('drops the oldest records created before a time, and says how many', async () => {
    const dir = tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 1000 });
    await spool.append(recs(0, 3000, 10));
    const cutoff = rec(2500).createdAt;
    const want = recs(0, 2500, 10).reduce((s, r) => s + r.samples, 0);
    expect(await spool.dropOlderThan(cutoff)).toEqual({ records: 2500, samples: want });
    expect(ids(await spool.peek(1))).toEqual(['m-2500']);
    expect(await spool.dropOlderThan(0)).toEqual({ records: 0, samples: 0 });
    expect(spool.records).toBe(500);
    await spool.close();
  });

  it('skips the rest of a segment whose record fails its check when read back, and counts it', async () => {
    const dir = tempDir();
    const frame = frameBytes(rec(0));
    const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: SEGMENT_HEADER_BYTES + 3 * frame });
    await spool.append(recs(0, 6));
    const file = join(dir, segmentName(1));
    const bytes = await readFile(file);
    bytes[SEGMENT_HEADER_BYTES + frame + 30] = (bytes[SEGMENT_HEADER_BYTES + frame + 30] as number) ^ 1;
    await writeFile(file, bytes);
    expect(ids(await spool.peek(10))).toEqual(['m-0', 'm-3', 'm-4', 'm-5']);
    expect(spool.skippedOnRead).toEqual({ records: 2, samples: rec(1).samples + rec(2).samples });
    expect(spool.records).toBe(4);
    await spool.ack(4);
    expect(spool.bytes).toBe(SEGMENT_HEADER_BYTES + 3 * frame); // the open segment stays
    await spool.close();
  });

  it('keeps appending to an open segment of acknowledged records, and gives it up when its space is needed', async () => {
    const dir = tempDir();
    const frame = frameBytes(rec(0));
    const spool = await Spool.open({ dir, maxBytes: SEGMENT_HEADER_BYTES + 3 * frame, segmentBytes: 1 << 20 });
    expect(await spool.append(recs(0, 2))).toBe(true);
    await spool.ack(2);
    expect(spool.bytes).toBe(SEGMENT_HEADER_BYTES + 2 * frame);
    expect(await spool.append(recs(2, 3))).toBe(true);
    expect(await segments(dir)).toEqual([segmentName(1)]);
    await spool.ack(1);
    expect(await spool.append(recs(3, 5))).toBe(true); // 2 more would pass maxBytes in segment 1
    expect(await segments(dir)).toEqual([segmentName(2)]);
    expect(spool.bytes).toBe(SEGMENT_HEADER_BYTES + 2 * frame);
    expect(ids(await spool.peek(5))).toEqual(['m-3', 'm-4']);
    await spool.close();
  });

  it('rejects bad options with the setting named', async () => {
    const dir = tempDir();
    const cases = [
      { options: { dir, maxBytes: 0 }, field: 'buffer.spoolMaxBytes' },
      { options: { dir, maxBytes: 1.5 }, field: 'buffer.spoolMaxBytes' },
      { options: { dir: '', maxBytes: 10 }, field: 'buffer.path' },
      { options: { dir, maxBytes: 1000, segmentBytes: 8 }, field: 'buffer.segmentBytes' },
      { options: { dir, maxBytes: 1000, syncIntervalMs: -1 }, field: 'buffer.syncIntervalMs' },
    ];
    for (const c of cases) {
      const err = await Spool.open(c.options).catch((e: unknown) => e);
      expect(err, JSON.stringify(c.options)).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(c.field);
    }
    const spool = await Spool.open({ dir, maxBytes: 1000 });
    await expect(spool.append([{ ...rec(0), samples: -1 }])).rejects.toThrow(RangeError);
    await expect(spool.append([{ ...rec(0), createdAt: Number.NaN }])).rejects.toThrow(RangeError);
    expect(spool.records).toBe(0);
    await spool.close();
  });

  it('syncs on every append with syncIntervalMs 0, and never with Infinity, reading back the same', async () => {
    for (const syncIntervalMs of [0, Number.POSITIVE_INFINITY, 5]) {
      const dir = tempDir();
      const spool = await Spool.open({ dir, maxBytes: 1 << 20, segmentBytes: 600, syncIntervalMs });
      for (let i = 0; i < 10; i += 2) await spool.append(recs(i, i + 2));
      await new Promise((r) => setTimeout(r, 20));
      await spool.close();
      const again = await Spool.open({ dir, maxBytes: 1 << 20 });
      expect(ids(await again.peek(20))).toEqual(recs(0, 10).map((r) => r.id));
      await again.close();
    }
  });

  it('matches an in-memory queue under any sequence of append, peek, ack, drop and reopen (time-boxed)', async () => {
    type Op =
      | { kind: 'append'; sizes: number[] }
      | { kind: 'peek'; n: number }
      | { kind: 'ack'; n: number }
      | { kind: 'drop'; back: number }
      | { kind: 'reopen' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), sizes: fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 6 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('peek' as const), n: fc.integer({ min: 0, max: 12 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('ack' as const), n: fc.integer({ min: 0, max: 12 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('drop' as const), back: fc.integer({ min: 0, max: 10 }) }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
    );
    let runs = 0;
    const parent = tempDir(); // a run interrupted by the time box leaves its dir here, removed after
    await fc.assert(
      fc.asyncProperty(
        fc.array(op, { maxLength: 30 }),
        fc.integer({ min: 200, max: 6000 }),
        fc.integer({ min: 32, max: 1500 }),
        async (ops, maxBytes, segmentBytes) => {
          runs++;
          const dir = mkdtempSync(join(parent, 'run-'));
          const options = { dir, maxBytes, segmentBytes, syncIntervalMs: Number.POSITIVE_INFINITY };
          let spool = await Spool.open(options);
          try {
            const model: SpoolRecord[] = [];
            let next = 0;
            for (const o of ops) {
              if (o.kind === 'append') {
                const batch = o.sizes.map((s) => rec(next++, s));
                const bytes = spool.bytes;
                const ok = await spool.append(batch);
                if (ok) model.push(...batch);
                else {
                  // Refused only when the frames, and the headers of any segments they open, pass the bound.
                  expect(bytes + batch.reduce((s, r) => s + frameBytes(r) + SEGMENT_HEADER_BYTES, 0)).toBeGreaterThan(maxBytes);
                  expect(spool.bytes).toBe(bytes);
                }
              } else if (o.kind === 'peek') {
                expect((await spool.peek(o.n)).map(plain)).toEqual(model.slice(0, o.n).map(plain));
              } else if (o.kind === 'ack') {
                const n = Math.min(o.n, model.length);
                await spool.ack(n);
                model.splice(0, n);
              } else if (o.kind === 'drop') {
                const cutoff = rec(Math.max(0, next - o.back)).createdAt;
                let k = 0;
                while (k < model.length && (model[k] as SpoolRecord).createdAt < cutoff) k++;
                const want = model.splice(0, k).reduce((s, r) => s + r.samples, 0);
                expect(await spool.dropOlderThan(cutoff)).toEqual({ records: k, samples: want });
              } else {
                await spool.close();
                spool = await Spool.open(options);
                expect(spool.recovered).toEqual({ records: model.length, samples: model.reduce((s, r) => s + r.samples, 0), tornRecords: 0, tornBytes: 0 });
              }
              expect(spool.records).toBe(model.length);
              expect(spool.samples).toBe(model.reduce((s, r) => s + r.samples, 0));
              expect(spool.bytes).toBeLessThanOrEqual(maxBytes);
              expect(spool.bytes).toBe(await diskBytes(dir));
            }
            expect((await spool.peek(model.length + 1)).map(plain)).toEqual(model.map(plain));
          } finally {
            await spool.close().catch(() => undefined);
            await rm(dir, { recursive: true, force: true });
          }
        },
      ),
      { interruptAfterTimeLimit: SECONDS * 1000, numRuns: 1_000_000 },
    );
    expect(runs).toBeGreaterThan(0);
  }, 60_000);
});

describe('crc32', () => {
  it('has the check value, and the JavaScript and native versions agree, also in pieces', () => {
    const check = Buffer.from('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Js(check)).toBe(0xcbf43926);
    expect(crc32Js(new Uint8Array(0))).toBe(0);
    for (const n of [1, 7, 8, 9, 63, 1000, 65_537]) {
      const data = randomBytes(n);
      const whole = crc32Js(data);
      expect(crc32(data)).toBe(whole);
      const cut = n >> 1;
      expect(crc32Js(data.subarray(cut), crc32Js(data.subarray(0, cut)))).toBe(whole);
    }
  });
});

/**
 * The crash test's child: appends batches of records r<i> forever, printing the last id of
 * each batch once `append` has resolved, after acknowledging `ack` records at start.
 */
const CHILD = `
import { Spool } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/buffer/spool.ts')).href)};
const [dir, startArg, ackArg] = process.argv.slice(2);
const spool = await Spool.open({ dir, maxBytes: 1 << 30, segmentBytes: 48 << 20 });
const acked = await spool.peek(Number(ackArg));
await spool.ack(acked.length);
process.stdout.write('acked ' + (acked.length === 0 ? 'none' : acked[acked.length - 1].id) + '\\n');
const pool = Array.from({ length: 256 }, (_, b) => new Uint8Array(65536).fill(b));
let next = Number(startArg);
for (;;) {
  const batch = [];
  for (let k = 0; k < 256; k++, next++) {
    batch.push({ id: 'r' + next, samples: next % 1000, createdAt: next, message: pool[next & 0xff].subarray(0, 1 + ((next * 7919) % 65536)) });
  }
  await spool.append(batch);
  process.stdout.write('appended ' + (next - 1) + ' ' + spool.bytes + '\\n');
}
`;

function sizeOf(dir: string): number {
  let sum = 0;
  for (const n of readdirSync(dir)) if (n.endsWith('.seg')) sum += statSync(join(dir, n)).size;
  return sum;
}

/**
 * Starts the child, waits for its first whole batch, then watches the segment files grow and
 * kills the child with SIGKILL while a batch is part written (or after `maxBatches`).
 */
async function runAndKill(script: string, dir: string, start: number, ack: number): Promise<{ ackedId: string; lastId: number; midWrite: boolean }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script, dir, String(start), String(ack)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  let alive = true;
  void exited.then(() => (alive = false));
  try {
    let midWrite = false;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (!alive) throw new Error(`child exited early: ${err}`);
      if (Date.now() > deadline) throw new Error(`child made no progress: ${out} ${err}`);
      const lines = out.split('\n').filter((l) => l.startsWith('appended '));
      const last = lines[lines.length - 1];
      if (last !== undefined) {
        const reported = Number(last.split(' ')[2]);
        const onDisk = sizeOf(dir);
        if (onDisk > reported + RECORD_HEADER_BYTES && onDisk < reported + (4 << 20)) {
          midWrite = true; // a batch is being written: kill now
          break;
        }
        if (lines.length >= 12) break;
      }
      await new Promise((r) => setImmediate(r));
    }
    child.kill('SIGKILL');
    await exited;
    const lines = out.split('\n');
    const ackedId = (lines.find((l) => l.startsWith('acked ')) ?? '').slice(6);
    const appended = lines.filter((l) => l.startsWith('appended '));
    const lastId = Number((appended[appended.length - 1] ?? '').split(' ')[1]);
    return { ackedId, lastId, midWrite };
  } finally {
    if (alive) child.kill('SIGKILL');
  }
}

const KEEP = 400;

describe('Spool after SIGKILL', () => {
  it('reads back every record whole and in order, acks kept, the torn tail cut and counted', async () => {
    const dir = tempDir();
    const script = join(tempDir(), 'child.mjs');
    await writeFile(script, CHILD);
    let next = 0;
    let expectedFirst = 0;
    let torn = 0;
    let midWrites = 0;
    let remaining = 0;
    // Three rounds, and more (up to eight) until a kill has landed inside a write.
    for (let round = 0; round < 8 && (round < 3 || torn === 0); round++) {
      const ack = round === 0 ? 0 : 300;
      const { ackedId, lastId, midWrite } = await runAndKill(script, dir, next, ack);
      if (midWrite) midWrites++;
      const acked = Math.min(ack, remaining);
      expect(ackedId).toBe(acked === 0 ? 'none' : `r${expectedFirst + acked - 1}`);
      expectedFirst += acked;
      const before = await diskBytes(dir);
      const spool = await Spool.open({ dir, maxBytes: 1 << 30 });
      try {
        expect(before - (await diskBytes(dir))).toBe(spool.recovered.tornBytes);
        torn += spool.recovered.tornRecords;
        // Every record, oldest first, whole: ids consecutive, contents as written. All but the
        // last KEEP are checked and acknowledged; the next child acknowledges some of those.
        const firstThisRound = expectedFirst;
        let expectedId = expectedFirst;
        let samples = 0;
        const check = (rs: readonly SpoolRecord[]): void => {
          for (const r of rs) {
            const i = expectedId++;
            expect(r.id).toBe(`r${i}`);
            expect(r.samples).toBe(i % 1000);
            expect(r.createdAt).toBe(i);
            expect(r.message.length).toBe(1 + ((i * 7919) % 65536));
            expect(r.message.every((b) => b === (i & 0xff))).toBe(true);
            samples += r.samples;
          }
        };
        while (spool.records > KEEP) {
          const batch = await spool.peek(Math.min(256, spool.records - KEEP));
          check(batch);
          await spool.ack(batch.length);
        }
        expectedFirst = expectedId;
        check(await spool.peek(KEEP + 1));
        const lastRead = expectedId - 1;
        expect(spool.recovered.records).toBe(lastRead + 1 - firstThisRound);
        expect(spool.recovered.samples).toBe(samples);
        // Nothing reported as appended is lost; at most the batch in flight is partly there.
        expect(lastRead).toBeGreaterThanOrEqual(lastId);
        expect(lastRead).toBeLessThan(lastId + 256 + 1);
        next = lastRead + 1;
        remaining = spool.records;
      } finally {
        await spool.close();
      }
    }
    // The kill landed while a batch was being written at least once, and the cut was counted.
    expect(midWrites).toBeGreaterThan(0);
    expect(torn).toBeGreaterThan(0);
  }, 240_000);
});
