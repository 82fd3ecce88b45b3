/**
 * The per-target series cache (Prometheus' scrape cache, for flattened samples).
 *
 * A target scraped again mostly repeats the series of its last scrape byte for byte. The cache
 * maps the raw bytes of a series (`name{labels}` exactly as exposed, read as latin1 so any byte
 * sequence is a key) to the already-built `Series` and how its samples are treated, so a warm
 * scrape skips label parsing, unescaping, UTF-8 decoding, flattening and tag sorting, and only
 * reads the value and the timestamp.
 *
 * Invariants:
 * - Only series that passed full validation are inserted, so a hit proves the bytes are valid.
 * - The type a series got depends on the TYPE lines seen before it in the same scrape. Each
 *   entry remembers the family records it was resolved against and their declared types at that
 *   time; a hit is used only if those declarations are the same in this scrape, otherwise the
 *   series is resolved again.
 * - Bounded: at most `maxSeries` entries (series beyond it are parsed uncached), and after every
 *   successful scrape the entries not seen in it are forgotten. A failed scrape forgets nothing.
 */
import type { Series } from '../sample.js';

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
} as const;
export type SampleRole = (typeof SampleRole)[keyof typeof SampleRole];

export class CacheEntry {
  readonly series: Series;
  readonly role: SampleRole;
  /** Family record of the exact metric name, and the type it had when this entry was built. */
  readonly exact: FamilyRecord;
  readonly exactType: string | null;
  /** Family record of the suffix-stripped name (`foo` for `foo_bucket`), if any. */
  readonly base: FamilyRecord | null;
  readonly baseType: string | null;
  /** Last scrape (epoch) that saw this series. */
  seen: number;

  constructor(
    series: Series,
    role: SampleRole,
    exact: FamilyRecord,
    exactType: string | null,
    base: FamilyRecord | null,
    baseType: string | null,
    seen: number,
  ) {
    this.series = series;
    this.role = role;
    this.exact = exact;
    this.exactType = exactType;
    this.base = base;
    this.baseType = baseType;
    this.seen = seen;
  }

  /** True when the TYPE declarations this entry was resolved against still hold in `epoch`. */
  validIn(epoch: number): boolean {
    const exact = this.exact;
    const et = exact.epoch === epoch ? exact.type : null;
    if (et !== this.exactType) return false;
    if (et !== null) return true;
    const base = this.base;
    if (base === null) return true;
    const bt = base.epoch === epoch ? base.type : null;
    return bt === this.baseType;
  }
}

export interface SeriesCacheOptions {
  /** Most series kept; beyond it new series are parsed without caching. Default 500,000. */
  readonly maxSeries?: number;
}

export class SeriesCache {
  readonly maxSeries: number;
  /** Raw series bytes (latin1) → entry. */
  readonly entries = new Map<string, CacheEntry>();
  /** Metric family name → its TYPE record. */
  readonly families = new Map<string, FamilyRecord>();
  /** Increments at the start of every scrape. */
  epoch = 0;
  /** Target tags the cached series were built with; a change empties the cache. */
  tagsKey = '';
  #seenThisScrape = 0;

  constructor(options: SeriesCacheOptions = {}) {
    this.maxSeries = options.maxSeries ?? 500_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Starts a scrape; returns its epoch. */
  begin(tagsKey: string): number {
    if (tagsKey !== this.tagsKey) {
      this.entries.clear();
      this.tagsKey = tagsKey;
    }
    if (this.families.size > this.maxSeries) this.families.clear();
    this.#seenThisScrape = 0;
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

  /** Counts a series seen in this scrape (hit or insert). */
  markSeen(): void {
    this.#seenThisScrape++;
  }

  /** Ends a successful scrape: forgets the series it did not see. */
  commit(): void {
    const epoch = this.epoch;
    if (this.entries.size <= this.#seenThisScrape) return;
    for (const [key, entry] of this.entries) {
      if (entry.seen !== epoch) this.entries.delete(key);
    }
  }

  clear(): void {
    this.entries.clear();
    this.families.clear();
  }
}
