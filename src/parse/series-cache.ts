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
 * Memory: one arena per target of about its series' bytes (values, timestamps and comments are
 * not kept), compacted when series that vanished take more than the live ones, plus one entry
 * per series. The scrape body is never referenced after the scrape.
 */
import { Series, type SampleType, type Tags } from '../sample.js';

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
 */
export class CacheEntry extends Series {
  readonly role: SampleRole;
  readonly resolution: TypeResolution;
  readonly filteredBy: number;

  constructor(name: string, type: SampleType, tags: Tags, role: SampleRole, resolution: TypeResolution, filteredBy = -1) {
    super(name, type, tags);
    this.role = role;
    this.resolution = resolution;
    this.filteredBy = filteredBy;
  }

  /** True when the TYPE declarations this entry was resolved against still hold in `epoch`. */
  validIn(epoch: number): boolean {
    return this.resolution.validIn(epoch);
  }
}

/** The series of one scrape, by ordinal: where their bytes are in the arena, and their entries. */
class Ordinals {
  starts = new Int32Array(256);
  ends = new Int32Array(256);
  entries: CacheEntry[] = [];
  count = 0;
  /** Sum of the series' lengths (a series listed twice counts twice). */
  bytes = 0;

  reset(): void {
    this.count = 0;
    this.bytes = 0;
  }

  add(start: number, end: number, entry: CacheEntry): void {
    const k = this.count;
    if (k === this.starts.length) {
      const s = new Int32Array(k * 2);
      s.set(this.starts);
      this.starts = s;
      const e = new Int32Array(k * 2);
      e.set(this.ends);
      this.ends = e;
    }
    this.starts[k] = start;
    this.ends[k] = end;
    this.entries[k] = entry;
    this.count = k + 1;
    this.bytes += end - start;
  }

  /** Drops references beyond `count` so forgotten series can be collected. */
  trim(): void {
    if (this.entries.length > this.count) this.entries.length = this.count;
  }
}

/** Arena slack: below this much waste, no compaction. */
const ARENA_SLACK = 64 * 1024;

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
  /** Series bytes of #prev (and of the series #cur added so far), each stored once. */
  #arena: Buffer = Buffer.allocUnsafeSlow(0);
  #arenaLen = 0;
  /** The entry of the last lookup hit and where its bytes are: record() reuses them. */
  #hit: CacheEntry | undefined = undefined;
  #hitStart = 0;
  #hitEnd = 0;
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

  /** Bytes the cache holds for series bytes (its arena's size). */
  get arenaBytes(): number {
    return this.#arena.length;
  }

  /** Whether this cache records series at all (`maxSeries` > 0). */
  get enabled(): boolean {
    return this.maxSeries > 0;
  }

  /** Starts a scrape; returns its epoch. */
  begin(tagsKey: string): number {
    if (tagsKey !== this.tagsKey) {
      this.#prev.reset();
      this.#prev.trim();
      this.#arenaLen = 0;
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
    const arena = this.#arena;
    const j = this.#cur.count + this.#shift;
    if (j >= 0 && j < prev.count) {
      const ps = prev.starts[j] as number;
      const pe = prev.ends[j] as number;
      if (pe - ps === len && buf.compare(arena, ps, pe, start, end) === 0) return this.#hitAt(ps, pe, prev.entries[j] as CacheEntry);
    }
    let index = this.#index;
    if (index === null) index = this.#buildIndex();
    const mask = index.length - 1;
    for (let i = hashBytes(buf, start, end) & mask; ; i = (i + 1) & mask) {
      const slot = index[i] as number;
      if (slot === 0) return undefined;
      const o = slot - 1;
      const ps = prev.starts[o] as number;
      const pe = prev.ends[o] as number;
      if (pe - ps === len && buf.compare(arena, ps, pe, start, end) === 0) {
        this.#shift = o - this.#cur.count;
        return this.#hitAt(ps, pe, prev.entries[o] as CacheEntry);
      }
    }
  }

  #hitAt(start: number, end: number, entry: CacheEntry): CacheEntry {
    this.#hit = entry;
    this.#hitStart = start;
    this.#hitEnd = end;
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
      cur.add(this.#hitStart, this.#hitEnd, entry);
      return;
    }
    const n = end - start;
    const at = this.#arenaLen;
    if (at + n > this.#arena.length) this.#resize(Math.max(at + n, (this.#arena.length * 1.5) | 0, 4096), false);
    this.#regionBuf.copy(this.#arena, at, start, end);
    this.#arenaLen = at + n;
    cur.add(at, at + n, entry);
  }

  /**
   * A new arena of `size` bytes. With `compact`, it holds only #prev's series (in ordinal order,
   * #prev's offsets rewritten); otherwise everything stored so far, at the same offsets.
   */
  #resize(size: number, compact: boolean): void {
    const old = this.#arena;
    const arena = Buffer.allocUnsafeSlow(size);
    if (!compact) {
      old.copy(arena, 0, 0, this.#arenaLen);
    } else {
      const prev = this.#prev;
      let at = 0;
      for (let k = 0; k < prev.count; k++) {
        const s = prev.starts[k] as number;
        const e = prev.ends[k] as number;
        old.copy(arena, at, s, e);
        prev.starts[k] = at;
        at += e - s;
        prev.ends[k] = at;
      }
      this.#arenaLen = at;
    }
    this.#arena = arena;
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
    this.#index = null;
    this.#hit = undefined;
    // Series that vanished (or a failed scrape's new ones) leave dead bytes; an arena much
    // larger than the live series is rebuilt from them.
    const live = done.bytes;
    if (this.#arenaLen > 2 * live + ARENA_SLACK || this.#arena.length > 1.5 * live + 2 * ARENA_SLACK) {
      this.#resize(live + (live >> 3) + ARENA_SLACK, true);
    }
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
    this.#arena = Buffer.allocUnsafeSlow(0);
    this.#arenaLen = 0;
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
    for (let o = 0; o < prev.count; o++) {
      let i = hashBytes(this.#arena, prev.starts[o] as number, prev.ends[o] as number) & mask;
      while (index[i] !== 0) i = (i + 1) & mask;
      index[i] = o + 1;
    }
    this.#index = index;
    return index;
  }
}
