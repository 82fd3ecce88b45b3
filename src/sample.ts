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

/**
 * One output series: the flattened name, its tags (target tags merged under the sample's own
 * labels, keys sorted) and its type. Encoders may memoise their rendering of the series in
 * `memo`, tagged with `memoOwner` so two encoders never read each other's bytes.
 */
export class Series {
  readonly name: string;
  readonly type: SampleType;
  readonly tags: Tags;
  memoOwner: object | undefined = undefined;
  memo: unknown = undefined;

  constructor(name: string, type: SampleType, tags: Tags) {
    this.name = name;
    this.type = type;
    this.tags = tags;
  }
}

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
