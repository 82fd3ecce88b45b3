// SPDX-License-Identifier: Apache-2.0
/**
 * The per-target series cache (Prometheus' scrape cache, for flattened samples).
 *
 * A target scraped again mostly repeats the series of its last scrape, byte for byte and in the
 * same order. The cache keeps the raw bytes of every series of the last successful scrape
 * (`name{labels}` as exposed), each stored once in the target's arena, with the entry built for
 * it, by ordinal. A new scrape predicts that its k-th series is the previous scrape's k-th and
 * checks the bytes with one memcmp: no hashing, no string, no allocation, and no copy (a series
 * seen again keeps its stored bytes; only a new series is appended). When the prediction fails
 * (a series appeared or vanished), a hash index over the previous scrape's series is built once
 * and the prediction re-synchronises on the match it finds.
 *
 * The arena is a list of blocks (`BLOCK_BYTES`, or one series' length when longer), each filled
 * once and never written again: growing never copies, and an entry may point at its bytes in a
 * block (its tags are decoded from them when read: CacheEntry) for as long as it lives, whatever
 * the cache does later. Compaction copies the live series into new blocks and re-points their
 * entries; the old blocks go when no entry points into them any more.
 *
 * Invariants:
 * - Only series that passed full validation are recorded, so a hit proves the bytes are valid.
 * - The type a series got depends on the TYPE lines seen before it in the same scrape. Each
 *   entry remembers the family records it was resolved against and their declared types at that
 *   time; a hit is used only if those declarations are the same in this scrape, otherwise the
 *   series is resolved again.
 * - Bounded: at most `maxSeries` series are recorded per scrape (more are parsed uncached); a
 *   successful scrape replaces the previous record, so series that stopped appearing are
 *   forgotten; a failed scrape keeps the previous record untouched.
 * - One scrape at a time per cache (a cache belongs to one target).
 * - What a series became depends on the target tags, the series filter and the label limits it
 *   was resolved under: the parser folds all three into the key given to `begin`, and a new key
 *   empties the cache, so a decision stored on an entry always holds.
 * - A block's bytes, once written, never change.
 * Memory: blocks of about the target's series' bytes (values, timestamps and comments are not
 * kept), compacted when series that vanished take half as much as the live ones, plus one entry
 * per series. The scrape body is never referenced after the scrape.
 */
import { Series, type SampleType, type StoredTags, type Tags } from '../sample.js';
import type { TagShape } from './tag-shape.js';

/** What a TYPE line declared for a metric family in a given scrape. */
export class FamilyRecord {
  /** Declared type name as written (`counter`, `histogram`, …); meaningful when `epoch` is current. */
  type: string | null = null;
  /** The scrape (cache epoch) in which `type` was declared. */
  epoch = -1;
}

/** How samples of a series are emitted. */
export const SampleRole = {
  /** Emit the sample; drop it when the value is NaN (counter, gauge, untyped, quantile). */
  DropNaN: 0,
  /** Emit the sample whatever its value (bucket, _sum, _count). */
  Keep: 1,
  /** Emit nothing (OpenMetrics `_created`). */
  Skip: 2,
  /** Emit nothing and count the sample as filtered (a series filter dropped the series). */
  Filtered: 3,
} as const;
export type SampleRole = (typeof SampleRole)[keyof typeof SampleRole];

/** How a metric name was typed: valid while the TYPE lines it was resolved against hold. */
export interface TypeResolution {
  validIn(epoch: number): boolean;
}

/**
 * A cached series: the `Series` its samples are emitted under (one object, so a cold scrape
 * allocates one per series), how they are treated, and what its type was resolved against.
 * A series a series filter dropped has role `Filtered`, no tags, and in `filteredBy` the
 * filter's counter slot its samples are credited to (-1 for every other series).
 *
 * Tags: an entry made with its tags keeps them. One made with a `TagShape` and no tags keeps
 * none: the cache that records it points it at its bytes in an arena block (`place`), and its
 * tags are decoded from them when read (`Series.tags`). Blocks never change, so the bytes stay
 * right after the series vanished, the scrape failed or the cache was emptied. The one-slot memo
 * below spares a caller that reads `tags` several times over
 * (`for (k of Object.keys(s.tags)) s.tags[k]`) a decode per read.
 */
export class CacheEntry extends Series {
  readonly role: SampleRole;
  readonly resolution: TypeResolution;
  readonly filteredBy: number;
  readonly #shape: TagShape | null;
  /** The block holding the series' bytes at [#start, #end) (null until placed). */
  #block: Uint8Array | null = null;
  #start = 0;
  #end = 0;

  constructor(
    name: string,
    type: SampleType,
    tags: Tags | null,
    role: SampleRole,
    resolution: TypeResolution,
    filteredBy = -1,
    shape: TagShape | null = null,
  ) {
    super(name, type, tags);
    this.role = role;
    this.resolution = resolution;
    this.filteredBy = filteredBy;
    this.#shape = tags === null ? shape : null;
  }

  /** True when the TYPE declarations this entry was resolved against still hold in `epoch`. */
  validIn(epoch: number): boolean {
    return this.resolution.validIn(epoch);
  }

  /** Whether the tags are decoded from bytes the entry has yet to be given (`place`). */
  get needsBytes(): boolean {
    return this.#shape !== null && this.#block === null;
  }

  /** The series' bytes are `block[start, end)` (set when recorded, and by compaction). */
  place(block: Uint8Array, start: number, end: number): void {
    if (this.#shape === null) return;
    this.#block = block;
    this.#start = start;
    this.#end = end;
  }

  override storedTags(): StoredTags | null {
    const shape = this.#shape;
    const block = this.#block;
    return shape === null || block === null ? null : shape.storedTags(block, this.#start, this.#end);
  }

  protected override decodeTags(): Tags {
    if (lastDecoded === this) return lastTags;
    const shape = this.#shape;
    const block = this.#block;
    if (shape === null || block === null) return super.decodeTags();
    const tags = shape.tagsFrom(block, this.#start, this.#end);
    lastDecoded = this;
    lastTags = tags;
    return tags;
  }
}

/** The last entry whose tags were decoded, and them (see CacheEntry). */
let lastDecoded: CacheEntry | null = null;
let lastTags: Tags = Object.freeze({});

/** The series of one scrape, by ordinal: where their bytes are (block, offsets), and their entries. */
class Ordinals {
  blocks = new Int32Array(256);
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  /** Each series' `hashBytes`, computed once when its bytes were first stored (the index's key). */
  hashes = new Int32Array(256);
  entries: CacheEntry[] = [];
  count = 0;
  /** Sum of the series' lengths (a series listed twice counts twice). */
  bytes = 0;

  reset(): void {
    this.count = 0;
    this.bytes = 0;
  }

  add(block: number, start: number, end: number, hash: number, entry: CacheEntry): void {
    const k = this.count;
    if (k === this.starts.length) {
      this.blocks = grown(this.blocks, k * 2);
      this.starts = grown(this.starts, k * 2);
      this.ends = grown(this.ends, k * 2);
      this.hashes = grown(this.hashes, k * 2);
    }
    this.blocks[k] = block;
    this.starts[k] = start;
    this.ends[k] = end;
    this.hashes[k] = hash;
    this.entries[k] = entry;
    this.count = k + 1;
    this.bytes += end - start;
  }

  /** Drops every entry reference, keeping the storage (the spare ordinals of the next scrape). */
  forget(): void {
    this.entries.fill(undefined as unknown as CacheEntry);
  }

  /** Drops references beyond `count` so forgotten series can be collected. */
  trim(): void {
    if (this.entries.length > this.count) this.entries.length = this.count;
  }
}

function grown(a: Int32Array, size: number) {
  const b = new Int32Array(size);
  b.set(a);
  return b;
}

/** Arena slack: below this much waste, no compaction. */
const ARENA_SLACK = 64 * 1024;
/**
 * Size of an arena block. Small enough that the allocator serves it from memory it reuses (not a
 * fresh mapping, whose pages fault in one by one), large enough that the tail left unused when a
 * series does not fit is a small share.
 */
const BLOCK_BYTES = 64 * 1024;

export interface SeriesCacheOptions {
  /** Most series remembered per target; beyond it series are parsed uncached. Default 500,000. */
  readonly maxSeries?: number;
}

function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5 ^ (end - start);
  for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  h ^= h >>> 16;
  return Math.imul(h, 0x45d9f3b) >>> 0;
}

const NO_BLOCK = Buffer.alloc(0);

export class SeriesCache {
  readonly maxSeries: number;
  /** Metric family name → its TYPE record. */
  readonly families = new Map<string, FamilyRecord>();
  /** Increments at the start of every scrape. */
  epoch = 0;
  /** Target tags the cached series were built with; a change empties the cache. */
  tagsKey = '';
  #prev = new Ordinals();
  #cur = new Ordinals();
  /** Blocks holding the series bytes of #prev (and of the series #cur added so far). */
  #blocks: Buffer[] = [];
  /** Bytes of all blocks, and bytes written into them. */
  #blockBytes = 0;
  #written = 0;
  /** The block being filled (the last of #blocks), and how much of it is used. */
  #block: Buffer = NO_BLOCK;
  #blockLen = 0;
  /** The entry of the last lookup hit and where its bytes are: record() reuses them. */
  #hit: CacheEntry | undefined = undefined;
  #hitBlock = 0;
  #hitStart = 0;
  #hitEnd = 0;
  #hitHash = 0;
  /** Open-addressing index over #prev (ordinal + 1, 0 = empty); built on the first miss. */
  #index: Int32Array | null = null;
  /** Predicted previous ordinal = current ordinal + shift. */
  #shift = 0;
  #regionBuf: Buffer = Buffer.alloc(0);
  #active = false;

  constructor(options: SeriesCacheOptions = {}) {
    this.maxSeries = options.maxSeries ?? 500_000;
  }

  /** Series remembered from the last successful scrape. */
  get size(): number {
    return this.#prev.count;
  }

  /** Bytes the cache holds for series bytes (its arena blocks' sizes). */
  get arenaBytes(): number {
    return this.#blockBytes;
  }

  /** Whether this cache records series at all (`maxSeries` > 0). */
  get enabled(): boolean {
    return this.maxSeries > 0;
  }

  /** Whether the next series resolved would be recorded (so its entry may decode its tags from the arena). */
  get accepting(): boolean {
    return this.#cur.count < this.maxSeries;
  }

  /** Starts a scrape; returns its epoch. */
  begin(tagsKey: string): number {
    if (tagsKey !== this.tagsKey) {
      this.#prev.reset();
      this.#prev.trim();
      this.#dropBlocks();
      this.tagsKey = tagsKey;
    }
    if (this.families.size > Math.max(this.maxSeries, 10_000)) this.families.clear();
    this.#cur.reset();
    this.#index = null;
    this.#shift = 0;
    this.#active = true;
    return ++this.epoch;
  }

  family(name: string): FamilyRecord {
    let rec = this.families.get(name);
    if (rec === undefined) {
      rec = new FamilyRecord();
      this.families.set(name, rec);
    }
    return rec;
  }

  /** Sets the buffer the next lookups and records are in (not kept after the scrape). */
  region(buf: Buffer): void {
    this.#regionBuf = buf;
  }

  /**
   * The entry of the series `buf[start, end)` (inside the last region) from the previous scrape,
   * or undefined. Does not check TYPE validity (see CacheEntry.validIn).
   */
  lookup(buf: Buffer, start: number, end: number): CacheEntry | undefined {
    this.#hit = undefined;
    const prev = this.#prev;
    if (prev.count === 0) return undefined;
    const len = end - start;
    const blocks = this.#blocks;
    const j = this.#cur.count + this.#shift;
    if (j >= 0 && j < prev.count) {
      const ps = prev.starts[j] as number;
      const pe = prev.ends[j] as number;
      const pb = prev.blocks[j] as number;
      if (pe - ps === len && buf.compare(blocks[pb] as Buffer, ps, pe, start, end) === 0) return this.#hitAt(pb, ps, pe, prev.hashes[j] as number, prev.entries[j] as CacheEntry);
    }
    let index = this.#index;
    if (index === null) index = this.#buildIndex();
    const mask = index.length - 1;
    const hash = hashBytes(buf, start, end);
    for (let i = hash & mask; ; i = (i + 1) & mask) {
      const slot = index[i] as number;
      if (slot === 0) return undefined;
      const o = slot - 1;
      const ps = prev.starts[o] as number;
      const pe = prev.ends[o] as number;
      const pb = prev.blocks[o] as number;
      if (pe - ps === len && buf.compare(blocks[pb] as Buffer, ps, pe, start, end) === 0) {
        this.#shift = o - this.#cur.count;
        return this.#hitAt(pb, ps, pe, hash, prev.entries[o] as CacheEntry);
      }
    }
  }

  #hitAt(block: number, start: number, end: number, hash: number, entry: CacheEntry): CacheEntry {
    this.#hit = entry;
    this.#hitBlock = block;
    this.#hitStart = start;
    this.#hitEnd = end;
    this.#hitHash = hash;
    return entry;
  }

  /**
   * Remembers the series `buf[start, end)` (inside the last region) for the next scrape. The
   * entry of the last lookup keeps its stored bytes; any other is copied into the arena.
   */
  record(start: number, end: number, entry: CacheEntry): void {
    const cur = this.#cur;
    if (cur.count >= this.maxSeries) return;
    if (entry === this.#hit) {
      this.#hit = undefined;
      cur.add(this.#hitBlock, this.#hitStart, this.#hitEnd, this.#hitHash, entry);
      return;
    }
    const n = end - start;
    let at = this.#blockLen;
    if (at + n > this.#block.length) {
      this.#newBlock(n);
      at = 0;
    }
    const block = this.#block;
    // `set` of a view: Buffer#copy makes a view of its own per call, and costs more.
    block.set(this.#regionBuf.subarray(start, end), at);
    this.#blockLen = at + n;
    this.#written += n;
    cur.add(this.#blocks.length - 1, at, at + n, hashBytes(block, at, at + n), entry);
    if (entry.needsBytes) entry.place(block, at, at + n);
  }

  /** Starts a new block with room for at least `n` bytes. */
  #newBlock(n: number): void {
    const block = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, n));
    this.#blocks.push(block);
    this.#blockBytes += block.length;
    this.#block = block;
    this.#blockLen = 0;
  }

  /** Forgets every block (entries placed in them keep them for as long as they live). */
  #dropBlocks(): void {
    this.#blocks = [];
    this.#blockBytes = 0;
    this.#written = 0;
    this.#block = NO_BLOCK;
    this.#blockLen = 0;
  }

  /** Copies #prev's series into new blocks, in ordinal order, and points #prev and the entries at them. */
  #compact(): void {
    const old = this.#blocks;
    const prev = this.#prev;
    this.#dropBlocks();
    for (let k = 0; k < prev.count; k++) {
      const s = prev.starts[k] as number;
      const e = prev.ends[k] as number;
      const n = e - s;
      let at = this.#blockLen;
      if (at + n > this.#block.length) {
        this.#newBlock(n);
        at = 0;
      }
      const block = this.#block;
      block.set((old[prev.blocks[k] as number] as Buffer).subarray(s, e), at);
      this.#blockLen = at + n;
      this.#written += n;
      prev.blocks[k] = this.#blocks.length - 1;
      prev.starts[k] = at;
      prev.ends[k] = at + n;
      (prev.entries[k] as CacheEntry).place(block, at, at + n);
    }
  }

  /** Ends a successful scrape: its series become the ones the next scrape is checked against. */
  commit(): void {
    if (!this.#active) return;
    this.#active = false;
    if (this.maxSeries === 0) return;
    const done = this.#cur;
    this.#cur = this.#prev;
    this.#prev = done;
    done.trim();
    this.#cur.reset();
    // The spare ordinals held the scrape before last: its vanished series must not wait a scrape.
    this.#cur.forget();
    this.#index = null;
    this.#hit = undefined;
    // Series that vanished (or a failed scrape's new ones) leave dead bytes; blocks holding half
    // as much again as the live series are rebuilt from them (under churn, every few scrapes: a
    // copy of the live bytes, for a quarter of them less held on average).
    if (this.#written > done.bytes + (done.bytes >> 1) + ARENA_SLACK) this.#compact();
  }

  /** Ends a failed scrape: the previous scrape's series stay. */
  abort(): void {
    this.#active = false;
    this.#cur.reset();
    this.#cur.trim();
    this.#index = null;
    this.#hit = undefined;
  }

  clear(): void {
    this.#prev.reset();
    this.#prev.trim();
    this.#cur.reset();
    this.#cur.trim();
    this.#dropBlocks();
    this.#hit = undefined;
    this.#index = null;
    this.families.clear();
  }

  #buildIndex(): Int32Array {
    const prev = this.#prev;
    let size = 16;
    while (size < prev.count * 2) size *= 2;
    const index = new Int32Array(size);
    const mask = size - 1;
    const hashes = prev.hashes;
    for (let o = 0; o < prev.count; o++) {
      let i = (hashes[o] as number) & mask;
      while (index[i] !== 0) i = (i + 1) & mask;
      index[i] = o + 1;
    }
    this.#index = index;
    return index;
  }
}
