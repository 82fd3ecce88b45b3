// SPDX-License-Identifier: Apache-2.0
/**
 * The disk spool: encoded messages that do not fit in the Collector's memory buffer wait here,
 * in order, across restarts, until the peer takes them (`buffer.path`, `buffer.spoolMaxBytes`).
 *
 * Files in `dir` (the spool owns the directory; one open `Spool` per directory at a time, which
 * is not checked: two would interleave their writes):
 *
 * ```
 *   00000000000000000007.seg   segments, named by a monotonic sequence number (20 digits)
 *   00000000000000000008.seg   the highest one is the one being appended to
 *   ack                        the read position: two slots written in turn, in place
 * ```
 *
 * Segment: an 8-byte header, then records back to back (all integers little-endian):
 *
 * ```
 *   header   +0 "STSG" (53 54 53 47)   +4 u8 format version (1)   +5 3 zero bytes
 *   record   +0  u32 CRC-32 (crc32.ts) of bytes [+4, +8 + L): the length, meta, id and message
 *            +4  u32 L: bytes after this 8-byte prefix = 16 + idBytes + messageBytes
 *            +8  u8 record version (1)   +9 u8 zero   +10 u16 idBytes
 *            +12 u32 samples             +16 f64 createdAt (ms since the epoch)
 *            +24 id (UTF-8, idBytes)     then the message (messageBytes)
 * ```
 *
 * The ack file: two 48-byte slots, each "STAK", u8 version (1), 3 zero bytes, f64 generation,
 * f64 segment sequence number, f64 byte offset, u32 CRC-32 of the 32 bytes before, 12 zero
 * bytes. Each ack overwrites the older slot in place (one small write at a fixed offset, no
 * rename), so a torn write can only damage the slot being written; the valid slot of the higher
 * generation holds the position: every record of a segment below that number, and every record
 * of that segment ending at or before that offset, is acknowledged. With no valid slot nothing
 * is acknowledged beyond the segments that exist (replayed, never lost).
 *
 * Invariants: records are replayed in append order; `bytes` is the size of the segment files on
 * disk (acknowledged records in the oldest and the open segment included, until deleted) and
 * never exceeds `maxBytes` (unless a reopen gave a smaller `maxBytes` than what is already on
 * disk: appends are then refused until acks make room): an append that would pass it writes nothing and answers false. A
 * segment holds at least one record: a record larger than `segmentBytes` gets one of its own. A
 * sealed segment is deleted once every record in it is acknowledged; the open one (being
 * appended to) stays even then, so that a spool the peer keeps up with appends to one file
 * rather than making one per batch, and goes when it is sealed: at rollover, or when an append
 * needs its space. So a drained spool may still hold one segment of acknowledged records
 * (`bytes` > 0, `records` 0); a reopen deletes it. After a reopen every existing segment is
 * sealed, and the first append starts a new one. Every call runs in call order, one at a
 * time (an append issued while a peek is in flight runs after it), so the counters and files
 * always agree. One writer and one reader, in one thread.
 *
 * Durability (`syncIntervalMs`, 1000 by default). An append writes its batch with one write per
 * segment touched before it resolves, so once it resolves its records survive a crash of the
 * process (SIGKILL included: they are in the page cache). A crash of the machine keeps what was
 * fsynced: the segment being appended to is fdatasynced `syncIntervalMs` after the first
 * unsynced append (0: before every append resolves; Infinity: never, left to the kernel), on
 * rollover (a sealed segment holding unacknowledged records is durable) and on close; the directory is fsynced with it
 * when segments were created. The ack file is written without fsync: after a machine crash it
 * may hold an older position, so records are replayed again, never lost. `ack` has written the
 * position before it resolves (it survives a process crash); records acknowledged since the
 * last written position are replayed after a crash, never lost.
 *
 * Recovery (`open`): every segment is read through and each record's CRC checked. A torn
 * record (shorter than its length says) or a corrupt one (CRC, length or version wrong) ends
 * what is readable in its segment: the file is truncated there (so the next open finds it clean
 * and counts nothing twice), and `recovered` counts one torn record and the bytes cut. At the
 * tail of the last segment this is the torn write of a crash. In the middle of a segment it is
 * corruption: the rest of that segment is skipped (its records cannot be framed, so however many
 * there were they count as one), and later segments are still read. A segment of zero bytes, or
 * with a header of zeros or cut short (a crash while creating it), is deleted; the bytes of a
 * partial one count as torn. A segment whose header names another format is not ours to delete:
 * `open` refuses it with a ConfigError naming the file. A record that fails its check when read
 * back later (the file changed under the spool) skips the rest of its segment too, counted in
 * `skippedOnRead`.
 */
import { type FileHandle, mkdir, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { crc32 } from './crc32.js';

export interface SpoolRecord {
  readonly id: string;
  readonly samples: number;
  /** ms since the epoch */
  readonly createdAt: number;
  readonly message: Uint8Array;
}

export interface SpoolOptions {
  readonly dir: string;
  /** Bytes of segment files on disk, at most; > 0. */
  readonly maxBytes: number;
  /** A segment is sealed once the next record would take it past this; default maxBytes / 8 within [64 KiB, 64 MiB]. */
  readonly segmentBytes?: number;
  /** fdatasync the open segment this long after an unsynced append; 0: every append; Infinity: never. Default 1000. */
  readonly syncIntervalMs?: number;
}

export interface SpoolRecovery {
  /** Records (unacknowledged) found on open. */
  readonly records: number;
  readonly samples: number;
  /** Torn or corrupt records cut away: one per segment where reading stopped early. */
  readonly tornRecords: number;
  /** Bytes cut away (truncated, or partial segment headers deleted). */
  readonly tornBytes: number;
}

export interface SpoolDropped {
  readonly records: number;
  readonly samples: number;
}

export const SEGMENT_HEADER_BYTES = 8;
export const RECORD_HEADER_BYTES = 24;
export const FORMAT_VERSION = 1;
export const MAX_ID_BYTES = 0xffff;
export const MAX_MESSAGE_BYTES = 512 * 1024 * 1024;
const SEGMENT_MAGIC = [0x53, 0x54, 0x53, 0x47] as const; // "STSG"
const ACK_MAGIC = [0x53, 0x54, 0x41, 0x4b] as const; // "STAK"
const ACK_FILE = 'ack';
const ACK_SLOT_BYTES = 48;
/** The encode buffer an append reuses is kept up to this size (a larger batch allocates its own). */
const SCRATCH_KEEP = 8 << 20;
const SEGMENT_NAME = /^(\d{20})\.seg$/;
/** Read-ahead: bytes read from a segment at once (a longer record is read whole). */
const READ_CHUNK = 1 << 20;
/** `dropOlderThan` acknowledges in steps of this many records, so it never holds more. */
const DROP_STEP = 1024;
const MAX_FRAME = RECORD_HEADER_BYTES + MAX_ID_BYTES + MAX_MESSAGE_BYTES;

/** Bytes a record takes on disk. */
export function frameBytes(record: SpoolRecord): number {
  return RECORD_HEADER_BYTES + Buffer.byteLength(record.id, 'utf8') + record.message.byteLength;
}

export function segmentName(seq: number): string {
  return `${String(seq).padStart(20, '0')}.seg`;
}

interface Segment {
  readonly seq: number;
  readonly path: string;
  /** Bytes of the file on disk. */
  size: number;
  /** Readable end: `size`, or where a record failed its check when read back. */
  end: number;
  /** Valid records in the file, acknowledged or not, and their samples. */
  records: number;
  samples: number;
  /** Records (and samples) the reader has passed in this segment, acknowledged ones included. */
  readRecords: number;
  readSamples: number;
}

/** Records [start, end) of a batch, written with one write; `fresh` opens a new segment first. */
interface Group {
  readonly start: number;
  end: number;
  bytes: number;
  readonly fresh: boolean;
}

interface Cached {
  readonly record: SpoolRecord;
  readonly seq: number;
  /** Offset just past the record in its segment. */
  readonly end: number;
}

/** What `checkFrame` finds at a position. */
const BAD = 0;

/**
 * The frame at `pos` of `buf` (with `avail` bytes from `pos`): its total size when whole and
 * valid, `BAD` when invalid, or `-need` when only `need` bytes (more than avail) would tell.
 */
function checkFrame(buf: Buffer, pos: number, avail: number): number {
  if (avail < 8) return -RECORD_HEADER_BYTES;
  const len = buf.readUInt32LE(pos + 4);
  const total = 8 + len;
  if (len < RECORD_HEADER_BYTES - 8 || total > MAX_FRAME) return BAD;
  if (avail < total) return -total;
  if (crc32(buf.subarray(pos + 4, pos + total)) !== buf.readUInt32LE(pos)) return BAD;
  if (buf[pos + 8] !== FORMAT_VERSION) return BAD;
  if (RECORD_HEADER_BYTES + buf.readUInt16LE(pos + 10) > total) return BAD;
  return total;
}

function decodeFrame(buf: Buffer, pos: number, total: number): SpoolRecord {
  const idEnd = pos + RECORD_HEADER_BYTES + buf.readUInt16LE(pos + 10);
  return {
    id: buf.toString('utf8', pos + RECORD_HEADER_BYTES, idEnd),
    samples: buf.readUInt32LE(pos + 12),
    createdAt: buf.readDoubleLE(pos + 16),
    message: buf.subarray(idEnd, pos + total),
  };
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafeSlow(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await handle.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await handle.write(buf, done, buf.length - done, null);
    done += bytesWritten;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function positiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
}

export class Spool {
  readonly recovered: SpoolRecovery;
  readonly #dir: string;
  readonly #maxBytes: number;
  readonly #segmentBytes: number;
  readonly #syncIntervalMs: number;
  readonly #segments: Segment[];
  #nextSeq: number;
  #bytes = 0;
  #records = 0;
  #samples = 0;
  #ackSeq: number;
  #ackOffset: number;
  readonly #ackFile: AckFile;
  /** The encode buffer appends reuse (calls run one at a time). */
  #scratch = Buffer.alloc(0);
  /** The reader: the position past the cache. */
  #readSeq: number;
  #readOffset: number;
  #readHandle: { seq: number; handle: FileHandle } | null = null;
  /** Records read and not yet acknowledged, oldest first, from `#cacheHead`. */
  #cache: Cached[] = [];
  #cacheHead = 0;
  #writer: { segment: Segment; handle: FileHandle } | null = null;
  #writerDirty = false;
  #dirDirty = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #syncError: unknown = undefined;
  #skipped = { records: 0, samples: 0 };
  #tail: Promise<unknown> = Promise.resolve();
  #closed = false;

  private constructor(options: Required<SpoolOptions>, state: OpenState) {
    this.#dir = options.dir;
    this.#maxBytes = options.maxBytes;
    this.#segmentBytes = options.segmentBytes;
    this.#syncIntervalMs = options.syncIntervalMs;
    this.#segments = state.segments;
    this.#nextSeq = state.nextSeq;
    this.#ackSeq = state.ackSeq;
    this.#ackOffset = state.ackOffset;
    this.#ackFile = state.ackFile;
    this.#readSeq = state.ackSeq;
    this.#readOffset = state.ackOffset;
    for (const s of state.segments) this.#bytes += s.size;
    this.#records = state.recovered.records;
    this.#samples = state.recovered.samples;
    this.recovered = state.recovered;
  }

  /** Creates `dir` if needed, recovers what is in it (see the header) and returns the spool. */
  static async open(options: SpoolOptions): Promise<Spool> {
    const { dir, maxBytes } = options;
    if (typeof dir !== 'string' || dir === '') throw new ConfigError('buffer.path', 'must be a directory path');
    if (!positiveInteger(maxBytes)) throw new ConfigError('buffer.spoolMaxBytes', `must be a positive integer of bytes, got ${String(maxBytes)}`);
    const segmentBytes = options.segmentBytes ?? Math.min(64 << 20, Math.max(64 << 10, Math.floor(maxBytes / 8)));
    if (!positiveInteger(segmentBytes) || segmentBytes < SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES) {
      throw new ConfigError('buffer.segmentBytes', `must be an integer of at least ${SEGMENT_HEADER_BYTES + RECORD_HEADER_BYTES} bytes, got ${String(segmentBytes)}`);
    }
    const syncIntervalMs = options.syncIntervalMs ?? 1000;
    if (typeof syncIntervalMs !== 'number' || Number.isNaN(syncIntervalMs) || syncIntervalMs < 0) {
      throw new ConfigError('buffer.syncIntervalMs', `must be a number of ms ≥ 0 (or Infinity), got ${String(syncIntervalMs)}`);
    }
    await mkdir(dir, { recursive: true });
    const state = await recover(dir);
    return new Spool({ dir, maxBytes, segmentBytes, syncIntervalMs }, state);
  }

  /** Bytes of segment files on disk (what `maxBytes` bounds). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Records not yet acknowledged. */
  get records(): number {
    return this.#records;
  }

  /** Samples in the records not yet acknowledged. */
  get samples(): number {
    return this.#samples;
  }

  /** Records (and samples) skipped after open because they failed their check when read back. */
  get skippedOnRead(): SpoolDropped {
    return { ...this.#skipped };
  }

  /**
   * Appends `records` in order, all or none: false, with nothing written, when they would take
   * the segment files past `maxBytes`. Resolves once written (see the header for durability).
   * On a file system error (a full disk, say) it rejects with that error, and the write that
   * failed is truncated away; a batch that spans segments keeps the records of the segments
   * written before (they count in `records`, and are replayed: at least once, never lost).
   */
  append(records: readonly SpoolRecord[]): Promise<boolean> {
    let sizes: number[];
    try {
      sizes = records.map(checkRecord);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(() => this.#append(records, sizes));
  }

  /**
   * Up to `max` of the oldest records, oldest first; they stay until acknowledged. A message is
   * a view of the chunk it was read in (up to 1 MiB, or the record): copy what is kept long.
   */
  peek(max: number): Promise<SpoolRecord[]> {
    return this.#serial(async () => {
      const n = Math.max(0, Math.floor(max));
      await this.#fill(n);
      const end = Math.min(this.#cacheHead + n, this.#cache.length);
      const out: SpoolRecord[] = [];
      for (let i = this.#cacheHead; i < end; i++) out.push((this.#cache[i] as Cached).record);
      return out;
    });
  }

  /** Removes the `n` oldest records and persists the new position before resolving. */
  ack(n: number): Promise<void> {
    return this.#serial(async () => {
      if (!Number.isSafeInteger(n) || n < 0 || n > this.#records) throw new RangeError(`ack(${n}): ${this.#records} records are unacknowledged`);
      await this.#ack(n);
    });
  }

  /**
   * Acknowledges the oldest records while their `createdAt` is before `ms` (stops at the first
   * that is not: records are in append order, so a later one with an older time stays), and
   * returns what it removed (the caller counts them as dropped, reason `too_old`).
   */
  dropOlderThan(ms: number): Promise<SpoolDropped> {
    return this.#serial(async () => {
      let records = 0;
      let samples = 0;
      for (;;) {
        await this.#fill(DROP_STEP);
        let k = 0;
        let s = 0;
        const avail = this.#cache.length - this.#cacheHead;
        while (k < avail) {
          const r = (this.#cache[this.#cacheHead + k] as Cached).record;
          if (!(r.createdAt < ms)) break;
          s += r.samples;
          k++;
        }
        if (k > 0) await this.#ack(k);
        records += k;
        samples += s;
        if (k < avail || k === 0) break;
      }
      return { records, samples };
    });
  }

  /** Syncs (unless `syncIntervalMs` is Infinity) and closes; later calls reject. */
  close(): Promise<void> {
    return this.#serial(async () => {
      clearTimeout(this.#syncTimer);
      this.#syncTimer = undefined;
      this.#closed = true;
      try {
        if (this.#syncIntervalMs !== Number.POSITIVE_INFINITY) await this.#sync();
      } finally {
        await this.#closeReader();
        const w = this.#writer;
        this.#writer = null;
        await w?.handle.close();
        await this.#ackFile.close();
      }
    });
  }

  /** Runs `fn` after every call issued before it; a failed call does not stop later ones. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#closed) throw new Error(`spool ${this.#dir} is closed`);
      return fn();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** How a batch lays out: which records go into the open segment, which open new ones. */
  #plan(sizes: readonly number[], openSize: number): { groups: Group[]; added: number } {
    const groups: Group[] = [];
    let fill = openSize; // -1: no open segment
    let added = 0;
    for (let i = 0; i < sizes.length; i++) {
      const size = sizes[i] as number;
      let group = groups[groups.length - 1];
      if (fill < 0 || (fill > SEGMENT_HEADER_BYTES && fill + size > this.#segmentBytes)) {
        group = { start: i, end: i, bytes: SEGMENT_HEADER_BYTES, fresh: true };
        groups.push(group);
        fill = SEGMENT_HEADER_BYTES;
        added += SEGMENT_HEADER_BYTES;
      } else if (group === undefined) {
        group = { start: i, end: i, bytes: 0, fresh: false };
        groups.push(group);
      }
      group.end = i + 1;
      group.bytes += size;
      fill += size;
      added += size;
    }
    return { groups, added };
  }

  async #append(records: readonly SpoolRecord[], sizes: readonly number[]): Promise<boolean> {
    if (this.#syncError !== undefined) {
      // A timed fdatasync failed: the caller hears of it with the next append.
      const err = this.#syncError;
      this.#syncError = undefined;
      throw err;
    }
    if (records.length === 0) return true;
    let plan = this.#plan(sizes, this.#writer?.segment.size ?? -1);
    if (this.#bytes + plan.added > this.#maxBytes && this.#writer !== null && this.#records === 0) {
      // The open segment holds only acknowledged records: its space is free if it goes. It goes
      // only if that makes room (a refused append changes nothing).
      const fresh = this.#plan(sizes, -1);
      if (this.#bytes - this.#writer.segment.size + fresh.added <= this.#maxBytes) {
        await this.#sealWriter();
        plan = fresh;
      }
    }
    if (this.#bytes + plan.added > this.#maxBytes) return false;

    for (const g of plan.groups) {
      if (g.fresh) await this.#rollover();
      const w = this.#writer as { segment: Segment; handle: FileHandle };
      if (this.#scratch.length < g.bytes && g.bytes <= SCRATCH_KEEP) this.#scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_KEEP, Math.max(g.bytes, 2 * this.#scratch.length)));
      const buf = g.bytes <= this.#scratch.length ? this.#scratch.subarray(0, g.bytes) : Buffer.allocUnsafeSlow(g.bytes);
      let pos = 0;
      if (g.fresh) {
        buf.set(SEGMENT_MAGIC, 0);
        buf.writeUInt32LE(FORMAT_VERSION, 4); // version byte, then 3 zero bytes
        pos = SEGMENT_HEADER_BYTES;
      }
      let samples = 0;
      for (let i = g.start; i < g.end; i++) {
        const r = records[i] as SpoolRecord;
        pos = encodeFrame(buf, pos, r, sizes[i] as number);
        samples += r.samples;
      }
      const before = w.segment.size;
      try {
        await writeAll(w.handle, buf);
      } catch (err) {
        if (g.fresh) {
          // Without its header the file is no segment: it goes, and the next append starts anew.
          this.#writer = null;
          this.#segments.pop();
          await w.handle.close().catch(() => undefined);
          await unlink(w.segment.path).catch(() => undefined);
        } else {
          await w.handle.truncate(before).catch(() => undefined);
        }
        throw err;
      }
      w.segment.size += g.bytes;
      w.segment.end = w.segment.size;
      w.segment.records += g.end - g.start;
      w.segment.samples += samples;
      this.#bytes += g.bytes;
      this.#records += g.end - g.start;
      this.#samples += samples;
      this.#writerDirty = true;
    }
    if (this.#syncIntervalMs === 0) await this.#sync();
    else if (this.#syncIntervalMs !== Number.POSITIVE_INFINITY && this.#syncTimer === undefined) {
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined;
        this.#serial(() => this.#sync()).catch((err: unknown) => {
          if (!this.#closed) this.#syncError = err;
        });
      }, this.#syncIntervalMs);
      this.#syncTimer.unref();
    }
    return true;
  }

  /** Seals the open segment (durable unless sync is off) and opens the next one. */
  async #rollover(): Promise<void> {
    await this.#sealWriter();
    const seq = this.#nextSeq++;
    const path = join(this.#dir, segmentName(seq));
    const handle = await open(path, 'wx');
    const segment: Segment = { seq, path, size: 0, end: 0, records: 0, samples: 0, readRecords: 0, readSamples: 0 };
    this.#segments.push(segment);
    this.#writer = { segment, handle };
    this.#dirDirty = true;
  }

  /**
   * Closes the open segment: durable (unless sync is off) when it holds unacknowledged records,
   * deleted when every record in it is acknowledged (`#ack` leaves the open segment alone, so
   * that a spool the peer keeps up with appends to one file instead of making one per batch).
   */
  async #sealWriter(): Promise<void> {
    const w = this.#writer;
    if (w === null) return;
    const s = w.segment;
    const acked = this.#ackSeq > s.seq || (this.#ackSeq === s.seq && this.#ackOffset >= s.end);
    if (!acked && this.#syncIntervalMs !== Number.POSITIVE_INFINITY) await this.#sync();
    this.#writer = null;
    this.#writerDirty = false;
    await w.handle.close();
    if (acked) {
      if (this.#readHandle?.seq === s.seq) await this.#closeReader();
      this.#segments.splice(this.#segments.indexOf(s), 1);
      await unlink(s.path);
      this.#bytes -= s.size;
      this.#dirDirty = true;
    }
  }

  async #sync(): Promise<void> {
    if (this.#writer !== null && this.#writerDirty) {
      this.#writerDirty = false;
      await this.#writer.handle.datasync();
    }
    if (this.#dirDirty) {
      this.#dirDirty = false;
      await fsyncDir(this.#dir);
    }
  }

  #segment(seq: number): Segment | undefined {
    for (const s of this.#segments) if (s.seq >= seq) return s;
    return undefined;
  }

  /** Reads until the cache holds `n` records or nothing more is written. */
  async #fill(n: number): Promise<void> {
    while (this.#cache.length - this.#cacheHead < n) {
      const seg = this.#segment(this.#readSeq);
      if (seg === undefined) return;
      if (seg.seq !== this.#readSeq) {
        this.#readSeq = seg.seq;
        this.#readOffset = 0;
      }
      if (this.#readOffset < SEGMENT_HEADER_BYTES) this.#readOffset = SEGMENT_HEADER_BYTES;
      if (this.#readOffset >= seg.end) {
        if (this.#writer?.segment === seg) return;
        const next = this.#segment(seg.seq + 1);
        if (next === undefined) return;
        await this.#closeReader();
        this.#readSeq = next.seq;
        this.#readOffset = 0;
        continue;
      }
      await this.#readFrom(seg);
    }
  }

  /** Reads at least one record of `seg` at the read position (or finds it corrupt). */
  async #readFrom(seg: Segment): Promise<void> {
    if (this.#readHandle?.seq !== seg.seq) {
      await this.#closeReader();
      this.#readHandle = { seq: seg.seq, handle: await open(seg.path, 'r') };
    }
    const handle = this.#readHandle.handle;
    const remaining = seg.end - this.#readOffset;
    let buf = await readAt(handle, this.#readOffset, Math.min(READ_CHUNK, remaining));
    let first = checkFrame(buf, 0, buf.length);
    if (first < 0 && -first <= remaining) {
      buf = await readAt(handle, this.#readOffset, -first);
      first = checkFrame(buf, 0, buf.length);
    }
    if (first <= 0) {
      this.#skipRest(seg);
      return;
    }
    let pos = 0;
    let total = first;
    // Every whole record of the chunk is decoded: what was asked, and the rest as read-ahead.
    while (total > 0) {
      const record = decodeFrame(buf, pos, total);
      pos += total;
      this.#readOffset += total;
      seg.readRecords++;
      seg.readSamples += record.samples;
      this.#cache.push({ record, seq: seg.seq, end: this.#readOffset });
      if (pos >= buf.length) break;
      total = checkFrame(buf, pos, buf.length - pos);
      if (total === BAD) {
        this.#skipRest(seg);
        return;
      }
    }
  }

  /** A record failed its check when read back: the rest of `seg` is skipped and counted. */
  #skipRest(seg: Segment): void {
    const records = seg.records - seg.readRecords;
    const samples = seg.samples - seg.readSamples;
    this.#skipped.records += records;
    this.#skipped.samples += samples;
    this.#records -= records;
    this.#samples -= samples;
    seg.records = seg.readRecords;
    seg.samples = seg.readSamples;
    seg.end = this.#readOffset;
    // Appending after unreadable bytes would hide the new records too: start a new segment.
    if (this.#writer?.segment === seg) {
      const w = this.#writer;
      this.#writer = null;
      void w.handle.close().catch(() => undefined);
    }
  }

  async #closeReader(): Promise<void> {
    const r = this.#readHandle;
    this.#readHandle = null;
    await r?.handle.close();
  }

  async #ack(n: number): Promise<void> {
    if (n === 0) return;
    await this.#fill(n);
    if (this.#cache.length - this.#cacheHead < n) throw new Error(`spool ${this.#dir}: ${n} records to acknowledge, fewer readable`);
    let samples = 0;
    for (let i = this.#cacheHead; i < this.#cacheHead + n; i++) samples += (this.#cache[i] as Cached).record.samples;
    const last = this.#cache[this.#cacheHead + n - 1] as Cached;
    this.#cacheHead += n;
    if (this.#cacheHead === this.#cache.length) {
      this.#cache = [];
      this.#cacheHead = 0;
    } else if (this.#cacheHead > 4096 && this.#cacheHead * 2 > this.#cache.length) {
      this.#cache = this.#cache.slice(this.#cacheHead);
      this.#cacheHead = 0;
    }
    this.#records -= n;
    this.#samples -= samples;
    this.#ackSeq = last.seq;
    this.#ackOffset = last.end;

    // Sealed segments wholly acknowledged go; the open one goes when sealed (#sealWriter).
    const gone: Segment[] = [];
    for (const s of this.#segments) {
      const before = s.seq < this.#ackSeq || (s.seq === this.#ackSeq && this.#ackOffset >= s.end);
      if (!before) break;
      if (this.#writer?.segment === s) break; // goes when sealed (see #sealWriter)
      gone.push(s);
    }
    this.#segments.splice(0, gone.length);
    const head = this.#segments[0];
    if (head === undefined) {
      this.#ackSeq = this.#nextSeq;
      this.#ackOffset = 0;
    } else if (head.seq > this.#ackSeq) {
      this.#ackSeq = head.seq;
      this.#ackOffset = 0;
    }
    if (this.#cache.length === this.#cacheHead && (this.#readSeq < this.#ackSeq || (this.#readSeq === this.#ackSeq && this.#readOffset < this.#ackOffset))) {
      this.#readSeq = this.#ackSeq;
      this.#readOffset = this.#ackOffset;
    }
    await this.#ackFile.write(this.#ackSeq, this.#ackOffset);
    for (const s of gone) {
      if (this.#readHandle?.seq === s.seq) await this.#closeReader();
      await unlink(s.path);
      this.#bytes -= s.size;
      this.#dirDirty = true;
    }
  }
}

/** Validates a record for `append` and returns its frame size. */
function checkRecord(r: SpoolRecord): number {
  if (typeof r.id !== 'string' || Buffer.byteLength(r.id, 'utf8') > MAX_ID_BYTES) throw new RangeError(`spool record id must be a string of at most ${MAX_ID_BYTES} UTF-8 bytes`);
  if (!Number.isInteger(r.samples) || r.samples < 0 || r.samples > 0xffffffff) throw new RangeError(`spool record ${r.id}: samples must be an integer in [0, 2^32), got ${r.samples}`);
  if (typeof r.createdAt !== 'number' || !Number.isFinite(r.createdAt)) throw new RangeError(`spool record ${r.id}: createdAt must be a finite number, got ${String(r.createdAt)}`);
  if (!(r.message instanceof Uint8Array) || r.message.byteLength > MAX_MESSAGE_BYTES) throw new RangeError(`spool record ${r.id}: message must be a Uint8Array of at most ${MAX_MESSAGE_BYTES} bytes`);
  return frameBytes(r);
}

function encodeFrame(buf: Buffer, pos: number, r: SpoolRecord, total: number): number {
  const idBytes = buf.write(r.id, pos + RECORD_HEADER_BYTES, 'utf8');
  buf.writeUInt32LE(total - 8, pos + 4);
  buf[pos + 8] = FORMAT_VERSION;
  buf[pos + 9] = 0;
  buf.writeUInt16LE(idBytes, pos + 10);
  buf.writeUInt32LE(r.samples, pos + 12);
  buf.writeDoubleLE(r.createdAt, pos + 16);
  buf.set(r.message, pos + RECORD_HEADER_BYTES + idBytes);
  buf.writeUInt32LE(crc32(buf.subarray(pos + 4, pos + total)), pos);
  return pos + total;
}

/** The ack file, open for the spool's life; each write goes to the slot the last one did not. */
class AckFile {
  readonly #handle: FileHandle;
  #generation: number;
  readonly #buf = Buffer.alloc(ACK_SLOT_BYTES);

  private constructor(handle: FileHandle, generation: number) {
    this.#handle = handle;
    this.#generation = generation;
  }

  /** Opens (creating) the ack file and reads the position it holds (0, 0 when none is valid). */
  static async open(dir: string): Promise<{ file: AckFile; seq: number; offset: number }> {
    const path = join(dir, ACK_FILE);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r+');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      handle = await open(path, 'w+');
    }
    try {
      const buf = await readAt(handle, 0, 2 * ACK_SLOT_BYTES);
      let best = { generation: -1, seq: 0, offset: 0 };
      for (let slot = 0; slot < 2; slot++) {
        const at = slot * ACK_SLOT_BYTES;
        if (buf.length < at + 36 || !ACK_MAGIC.every((b, i) => buf[at + i] === b) || buf[at + 4] !== FORMAT_VERSION) continue;
        if (crc32(buf.subarray(at, at + 32)) !== buf.readUInt32LE(at + 32)) continue;
        const generation = buf.readDoubleLE(at + 8);
        const seq = buf.readDoubleLE(at + 16);
        const offset = buf.readDoubleLE(at + 24);
        if (![generation, seq, offset].every((v) => Number.isSafeInteger(v) && v >= 0)) continue;
        if (generation > best.generation) best = { generation, seq, offset };
      }
      return { file: new AckFile(handle, best.generation + 1), seq: best.seq, offset: best.offset };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async write(seq: number, offset: number): Promise<void> {
    const buf = this.#buf;
    const generation = this.#generation++;
    buf.set(ACK_MAGIC, 0);
    buf[4] = FORMAT_VERSION;
    buf.writeDoubleLE(generation, 8);
    buf.writeDoubleLE(seq, 16);
    buf.writeDoubleLE(offset, 24);
    buf.writeUInt32LE(crc32(buf.subarray(0, 32)), 32);
    await this.#handle.write(buf, 0, ACK_SLOT_BYTES, (generation % 2) * ACK_SLOT_BYTES);
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

interface OpenState {
  readonly segments: Segment[];
  readonly nextSeq: number;
  readonly ackSeq: number;
  readonly ackOffset: number;
  readonly ackFile: AckFile;
  readonly recovered: SpoolRecovery;
}

/** Reads the directory back (see the header: Recovery). */
async function recover(dir: string): Promise<OpenState> {
  const names = await readdir(dir);
  const seqs: number[] = [];
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name);
    if (m !== null) seqs.push(Number(m[1]));
  }
  seqs.sort((a, b) => a - b);
  const { file: ackFile, ...ack } = await AckFile.open(dir);
  try {
    return await recoverSegments(dir, seqs, ack, ackFile);
  } catch (err) {
    await ackFile.close();
    throw err;
  }
}

async function recoverSegments(dir: string, seqs: readonly number[], ack: { seq: number; offset: number }, ackFile: AckFile): Promise<OpenState> {
  const segments: Segment[] = [];
  let records = 0;
  let samples = 0;
  let tornRecords = 0;
  let tornBytes = 0;
  let lastSeq = -1;
  let ackEnd = 0;
  for (const seq of seqs) {
    lastSeq = seq;
    const path = join(dir, segmentName(seq));
    if (seq < ack.seq) {
      await unlink(path);
      continue;
    }
    const acked = seq === ack.seq ? ack.offset : 0;
    const scan = await scanSegment(path, acked);
    tornRecords += scan.tornRecords;
    tornBytes += scan.tornBytes;
    if (scan.size <= SEGMENT_HEADER_BYTES || scan.records === scan.ackedRecords) {
      await unlink(path);
      continue;
    }
    segments.push({
      seq,
      path,
      size: scan.size,
      end: scan.size,
      records: scan.records,
      samples: scan.samples,
      readRecords: scan.ackedRecords,
      readSamples: scan.ackedSamples,
    });
    if (seq === ack.seq) ackEnd = scan.ackedEnd;
    records += scan.records - scan.ackedRecords;
    samples += scan.samples - scan.ackedSamples;
  }
  const head = segments[0];
  // The position is kept on a record boundary, whatever the ack file said.
  let ackSeq = ack.seq;
  let ackOffset = head !== undefined && head.seq === ack.seq ? ackEnd : 0;
  if (head !== undefined && head.seq > ackSeq) {
    ackSeq = head.seq;
    ackOffset = 0;
  }
  return {
    segments,
    nextSeq: Math.max(lastSeq + 1, ack.seq + 1),
    ackSeq,
    ackOffset,
    ackFile,
    recovered: { records, samples, tornRecords, tornBytes },
  };
}

interface Scan {
  /** Size after recovery (0: the file is to be deleted). */
  size: number;
  records: number;
  samples: number;
  ackedRecords: number;
  ackedSamples: number;
  /** Offset just past the last acknowledged record (the header's end when none is). */
  ackedEnd: number;
  tornRecords: number;
  tornBytes: number;
}

/** Reads a segment through, truncating it at its first torn or corrupt record. */
async function scanSegment(path: string, ackOffset: number): Promise<Scan> {
  const handle = await open(path, 'r+');
  try {
    const size = (await handle.stat()).size;
    const scan: Scan = { size: 0, records: 0, samples: 0, ackedRecords: 0, ackedSamples: 0, ackedEnd: SEGMENT_HEADER_BYTES, tornRecords: 0, tornBytes: 0 };
    if (size === 0) return scan;
    const header = await readAt(handle, 0, Math.min(size, SEGMENT_HEADER_BYTES));
    if (header.every((b) => b === 0) || (size < SEGMENT_HEADER_BYTES && header.every((b, i) => b === [...SEGMENT_MAGIC, FORMAT_VERSION, 0, 0, 0][i]))) {
      scan.tornBytes = size; // cut short or never written: a crash while creating it
      return scan;
    }
    if (size < SEGMENT_HEADER_BYTES || !SEGMENT_MAGIC.every((b, i) => header[i] === b) || header[4] !== FORMAT_VERSION) {
      throw new ConfigError('buffer.path', `${path} is not a Strata spool segment of format ${FORMAT_VERSION} (it starts with ${header.toString('hex')}); move it away or use another directory`);
    }
    let pos = SEGMENT_HEADER_BYTES;
    while (pos < size) {
      let buf = await readAt(handle, pos, Math.min(READ_CHUNK, size - pos));
      let at = 0;
      let total = checkFrame(buf, 0, buf.length);
      if (total < 0 && -total <= size - pos) {
        buf = await readAt(handle, pos, -total);
        total = checkFrame(buf, 0, buf.length);
      }
      if (total <= 0) break;
      while (total > 0) {
        const n = buf.readUInt32LE(at + 12);
        scan.records++;
        scan.samples += n;
        if (pos + at + total <= ackOffset) {
          scan.ackedRecords++;
          scan.ackedSamples += n;
          scan.ackedEnd = pos + at + total;
        }
        at += total;
        if (at >= buf.length) break;
        total = checkFrame(buf, at, buf.length - at);
      }
      pos += at;
      if (total === BAD) break;
    }
    if (pos < size) {
      scan.tornRecords = 1;
      scan.tornBytes = size - pos;
      await handle.truncate(pos);
      await handle.datasync();
    }
    scan.size = pos;
    return scan;
  } finally {
    await handle.close();
  }
}
