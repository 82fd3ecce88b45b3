// SPDX-License-Identifier: Apache-2.0
/**
 * The sample model (DESIGN "Samples") and the columnar batch that carries samples between the
 * parser, the filters and the encoders.
 *
 * A sample is `{name, tags, timestamp, type, value}`. On the hot path samples are not objects:
 * a `SampleBatch` holds one `Series` reference, one value and one timestamp per sample in
 * parallel arrays. `Series` objects are shared across scrapes of one target through the parser's
 * series cache, so the name, the tags and any encoder's pre-rendered bytes for them are built
 * once per series, not once per sample.
 *
 * Invariants: `batch.length` samples are valid in `series[0..length)`, `values` and
 * `timestamps`; a timestamp of NaN means "none in the exposition" (the encoder substitutes the
 * scrape time, or `null`). Filters compact a batch in place and never grow it.
 */

export const SampleType = {
  Counter: 'counter',
  Gauge: 'gauge',
  Untyped: 'untyped',
  Summary: 'summary',
  Histogram: 'histogram',
} as const;
export type SampleType = (typeof SampleType)[keyof typeof SampleType];

export type Tags = Readonly<Record<string, string>>;

/** A sample as an object: the JSON encoder's format (DESIGN "Samples"). */
export interface Sample {
  readonly name: string;
  readonly tags: Tags;
  /** Milliseconds since the epoch; `null` when the exposition gives none and no default applies. */
  readonly timestamp: number | null;
  readonly type: SampleType;
  readonly value: number;
}

const NO_TAGS: Tags = Object.freeze({});

/**
 * One output series: the flattened name, its tags (target tags merged under the sample's own
 * labels, keys sorted) and its type. Encoders may memoise their rendering of the series in
 * `memo`, tagged with `memoOwner` so two encoders never read each other's bytes.
 *
 * `tags` is read once per series by the encoders (to build their memo), not per sample. A series
 * made with tags keeps them; one made without (`null`) has them built when read, by a subclass
 * that knows where its labels are (the parser's `CacheEntry` decodes them from the series cache's
 * bytes): then each read builds a new object, equal to the last.
 */
export class Series {
  readonly name: string;
  readonly type: SampleType;
  memoOwner: object | undefined = undefined;
  memo: unknown = undefined;
  #tags: Tags | null;

  constructor(name: string, type: SampleType, tags: Tags | null) {
    this.name = name;
    this.type = type;
    this.#tags = tags;
  }

  get tags(): Tags {
    return this.#tags ?? this.decodeTags();
  }

  /** The tags of a series made without them (none, unless a subclass knows better). */
  protected decodeTags(): Tags {
    return NO_TAGS;
  }

  /**
   * Where the tags of a series kept as bytes are (for an encoder that can write them from the
   * bytes rather than from `tags`), or null: read `tags`. Valid until the next call of any series.
   */
  storedTags(): StoredTags | null {
    return null;
  }
}

/**
 * The sorted tags of a series kept as the bytes of its exposition (`name{labels}`), for encoders
 * that write tags from those bytes. Tag `i` has key `keys[i]` and either the value bytes
 * `buf[starts[i], ends[i])` as exposed (between the quotes, escapes as written: `\\`, `\"`,
 * `\n` or any other kept as written; `flags[i]` has `STORED_ESCAPE` when a backslash occurs and
 * `STORED_HIGH` when a byte ≥ 0x80 does, and the bytes are valid UTF-8) or, where
 * `strings[i]` is not null, that string (a target tag, a canonical bucket or quantile bound).
 */
export class StoredTags {
  buf: Uint8Array = new Uint8Array(0);
  keys: readonly string[] = [];
  starts: number[] = [];
  ends: number[] = [];
  flags: number[] = [];
  strings: (string | null)[] = [];

  reset(buf: Uint8Array, keys: readonly string[]): this {
    this.buf = buf;
    this.keys = keys;
    return this;
  }

  setBytes(i: number, start: number, end: number, flags: number): void {
    this.starts[i] = start;
    this.ends[i] = end;
    this.flags[i] = flags;
    this.strings[i] = null;
  }

  setString(i: number, value: string): void {
    this.strings[i] = value;
  }
}

export const STORED_ESCAPE = 1;
export const STORED_HIGH = 2;

const INITIAL_CAPACITY = 1024;

export class SampleBatch {
  length = 0;
  series: Series[];
  values: Float64Array;
  timestamps: Float64Array;

  constructor(capacity = INITIAL_CAPACITY) {
    const cap = Math.max(1, capacity);
    this.series = new Array<Series>(cap);
    this.values = new Float64Array(cap);
    this.timestamps = new Float64Array(cap);
  }

  get capacity(): number {
    return this.values.length;
  }

  /** Appends a sample; `timestamp` is NaN when the exposition has none. */
  push(series: Series, value: number, timestamp: number): void {
    const i = this.length;
    if (i === this.values.length) this.#grow(i * 2);
    this.series[i] = series;
    this.values[i] = value;
    this.timestamps[i] = timestamp;
    this.length = i + 1;
  }

  /** Forgets the samples, keeping the storage. Series references are kept until overwritten. */
  clear(): void {
    this.length = 0;
  }

  /**
   * Forgets the samples and their series references (a pooled batch must not keep a vanished
   * series alive until its slot is overwritten).
   */
  release(): void {
    this.series.fill(undefined as unknown as Series, 0, this.length);
    this.length = 0;
  }

  /** The samples as objects, with `defaultTimestamp` where a sample has none. Not for the hot path. */
  toSamples(defaultTimestamp: number | null = null): Sample[] {
    const out: Sample[] = [];
    for (let i = 0; i < this.length; i++) {
      const s = this.series[i] as Series;
      const ts = this.timestamps[i] as number;
      out.push({
        name: s.name,
        tags: s.tags,
        timestamp: Number.isNaN(ts) ? defaultTimestamp : ts,
        type: s.type,
        value: this.values[i] as number,
      });
    }
    return out;
  }

  /** Builds a batch from sample objects (tests, benchmarks, programs that already have samples). */
  static from(samples: readonly Sample[]): SampleBatch {
    const batch = new SampleBatch(samples.length);
    for (const s of samples) {
      batch.push(new Series(s.name, s.type, s.tags), s.value, s.timestamp ?? Number.NaN);
    }
    return batch;
  }

  #grow(capacity: number): void {
    const values = new Float64Array(capacity);
    values.set(this.values);
    const timestamps = new Float64Array(capacity);
    timestamps.set(this.timestamps);
    this.values = values;
    this.timestamps = timestamps;
    this.series.length = capacity;
  }
}
