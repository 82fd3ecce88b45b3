// SPDX-License-Identifier: Apache-2.0
/**
 * The Prometheus remote write 1.0 encoder: a batch of samples in, snappy-compressed protobuf
 * `WriteRequest`s out, at most `maxSamplesPerSend` samples each (one HTTP request per message).
 *
 * Format (prometheus/prompb `remote.proto`, `types.proto`):
 *   WriteRequest { repeated TimeSeries timeseries = 1; }
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }   // milliseconds since the epoch
 * One TimeSeries per sample, as Prometheus' own queue manager sends them; the whole request is
 * one snappy block (`snappy.ts`).
 *
 * The series go back to what the exposition said (DESIGN "Samples" flattened them):
 * - a histogram bucket (name `foo`, tag `bucket`) is `foo_bucket{le="…"}`; the bound is in Go's
 *   canonical float form (`1`, `0.25`, `+Inf`), as Prometheus 3 normalises it;
 * - a quantile keeps `foo{quantile="…"}`; `_sum`, `_count`, `_gsum`, `_gcount`, `_total`,
 *   `_info` series keep their names;
 * - the name is the `__name__` label; every tag is a label (target tags are tags already:
 *   the parser merged them); a tag with an empty value is left out (Prometheus treats an empty
 *   label as absent); a tag name that is not a Prometheus label name (`app.kubernetes.io/name`)
 *   has every other character replaced by `_` (`app_kubernetes_io_name`), as Kubernetes service
 *   discovery does, and a leading digit gets a `_` before it. When two names meet after that,
 *   the first in sorted order wins;
 * - labels are sorted by name, byte-wise, as Prometheus requires (`__name__` sorts after
 *   upper-case names and before lower-case ones).
 * Values are written as doubles, NaN and ±Inf included (remote write carries them). A sample
 * without a timestamp gets the default timestamp (the scrape time), or the current time when
 * that is null. `staleMarkers` writes Prometheus' stale marker (the NaN with bits
 * `0x7ff0000000000002`) for series that vanished.
 *
 * Which histogram series is a bucket: a series the parser made carries the resolution of its
 * name (`CacheEntry.resolution`, whose `renameLabel` is `le` exactly for buckets); a series built
 * elsewhere (`SampleBatch.from`) is a bucket when it is a histogram with a `bucket` tag whose
 * name does not end in `_sum`, `_count`, `_gsum` or `_gcount`.
 *
 * Hot path: per series, the bytes of its labels (every `Label` field of its TimeSeries) are
 * rendered once and memoised in `series.memo` (owned by this encoder) as a one-byte string,
 * written back with `latin1` (see the JSON encoder for why a string). Each sample then costs a
 * few key bytes, a varint length, the memo, eight bytes of value and the timestamp varint,
 * written into a scratch buffer that is kept; each message is compressed from it in one call
 * (`BlockCompressor`: native snappy when it loads, into a new array; else the JavaScript one,
 * into a kept buffer, and `encode` copies that out once, while `encodeTo` hands a view). A
 * caller that holds an `encodeTo` message past `emit` copies it with `keep`, into buffers that
 * `recycle` takes back once the message is sent, so message memory is reused rather than left
 * in the old generation until a full GC.
 *
 * Recovery: encoding cannot fail.
 */
import { type SampleBatch, Series, SampleType } from '../sample.js';
import { type Encoder, EncoderKind } from './encoder.js';
import { int64Size, writeDouble, writeInt64, writeVarint, varintSize } from './protobuf.js';
import { MessagePool } from './message-pool.js';
import { growScratch } from './scratch.js';
import { BlockCompressor } from './snappy.js';

export const REMOTE_WRITE_DEFAULT_MAX_SAMPLES = 2000;

/** Prometheus' stale marker: a NaN with these bits (`value.StaleNaN`). */
export const STALE_NAN_BITS = 0x7ff0000000000002n;
/** Its eight little-endian bytes, written as they are (a NaN passed through a number may lose them). */
const STALE_NAN_BYTES = new Uint8Array(new BigUint64Array([STALE_NAN_BITS]).buffer);

export interface RemoteWriteEncoderOptions {
  /** At most this many samples per WriteRequest (`maxSamplesPerSend`); default 2000. */
  readonly maxSamplesPerSend?: number;
  /** false: the JavaScript snappy compressor even where the native one loads (tests, benchmarks). */
  readonly nativeSnappy?: boolean;
}

/** This encoder's rendering of one series. */
interface RemoteWriteMemo {
  /** The bytes of the TimeSeries' `Label` fields, one char per byte. */
  readonly labels: string;
}

/** TimeSeries.labels (1, bytes), Label.name (1, bytes) and WriteRequest.timeseries (1, bytes). */
const KEY_1_BYTES = 0x0a;
/** TimeSeries.samples (2, bytes) and Label.value (2, bytes). */
const KEY_2_BYTES = 0x12;
/** Sample.value (1, fixed64). */
const KEY_VALUE = 0x09;
/** Sample.timestamp (2, varint). */
const KEY_TIMESTAMP = 0x10;
const INITIAL_SCRATCH = 64 * 1024;
/** Room for a TimeSeries' framing and sample: keys, two varints, the double and an int64. */
const SAMPLE_ROOM = 32;

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const AGGREGATE_SUFFIX = /_(sum|count|gsum|gcount)$/;

export class RemoteWriteEncoder implements Encoder {
  readonly kind = EncoderKind.RemoteWrite;
  readonly maxSamples: number;
  /** Uncompressed bytes of the last `encode`/`encodeTo` call's messages (for benchmarks). */
  lastRawBytes = 0;
  #raw: Buffer = Buffer.allocUnsafe(INITIAL_SCRATCH);
  readonly #snappy: BlockCompressor;
  /** Memory of the messages `keep` makes, taken back by `recycle` (message-pool.ts). */
  readonly #messages = new MessagePool();

  constructor(options: RemoteWriteEncoderOptions = {}) {
    this.maxSamples = Math.max(1, Math.floor(options.maxSamplesPerSend ?? REMOTE_WRITE_DEFAULT_MAX_SAMPLES));
    this.#snappy = new BlockCompressor(options.nativeSnappy === false ? { native: false } : {});
  }

  encode(batch: SampleBatch, defaultTimestamp: number | null, out: Uint8Array[] = []): Uint8Array[] {
    this.#encode(batch.series, batch.values, batch.timestamps, batch.length, defaultTimestamp, (view) => out.push(this.#own(view)));
    return out;
  }

  /** Like `encode`; each message is a view of the encoder's memory, valid until `emit` returns. */
  encodeTo(batch: SampleBatch, defaultTimestamp: number | null, emit: (message: Uint8Array, samples: number) => void): void {
    this.#encode(batch.series, batch.values, batch.timestamps, batch.length, defaultTimestamp, emit);
  }

  /**
   * A copy of a message `encodeTo` handed out, for a caller that holds it past `emit` (a sink
   * that sends asynchronously), in memory that `recycle` takes back: a message is held while
   * its request is in flight, long enough to reach the old generation, where a new buffer per
   * message would stay until a full GC.
   */
  keep(message: Uint8Array): Uint8Array {
    return this.#messages.copy(message);
  }

  /** Takes back messages `keep` made once nothing reads them; others are left to the GC. */
  recycle(messages: readonly Uint8Array[]): void {
    this.#messages.recycle(messages);
  }

  /**
   * Stale markers for `series` (those that vanished from a target, or every series of a target
   * that went away) at `timestamp`, as messages: a query stops returning them at once.
   */
  staleMarkers(series: readonly Series[], timestamp: number, out: Uint8Array[] = []): Uint8Array[] {
    const n = series.length;
    const timestamps = new Float64Array(n).fill(timestamp);
    this.#encode(series, null, timestamps, n, timestamp, (view) => out.push(this.#own(view)));
    return out;
  }

  #encode(
    series: readonly Series[],
    /** null: every value is the stale marker. */
    values: Float64Array | null,
    timestamps: Float64Array,
    n: number,
    defaultTimestamp: number | null,
    emit: (message: Uint8Array, samples: number) => unknown,
  ): void {
    const maxSamples = this.maxSamples;
    const fallback = Math.round(defaultTimestamp ?? Date.now());
    const fallbackSize = int64Size(fallback);
    let buf = this.#raw;
    let pos = 0;
    let count = 0;
    this.lastRawBytes = 0;
    for (let i = 0; i < n; i++) {
      if (count === maxSamples) {
        this.#flush(pos, count, emit);
        pos = 0;
        count = 0;
      }
      const s = series[i] as Series;
      const labels = s.memoOwner === this ? (s.memo as RemoteWriteMemo).labels : this.#memoise(s);
      let t = timestamps[i] as number;
      let tSize: number;
      if (t !== t) {
        t = fallback;
        tSize = fallbackSize;
      } else {
        if (Math.floor(t) !== t) t = Math.round(t);
        tSize = int64Size(t);
      }
      const sampleLen = 10 + tSize; // key + double + key + varint
      const seriesLen = labels.length + 2 + sampleLen;
      if (pos + labels.length + SAMPLE_ROOM > buf.length) buf = this.#grow(pos, pos + labels.length + SAMPLE_ROOM);
      buf[pos++] = KEY_1_BYTES;
      pos = writeVarint(buf, pos, seriesLen);
      pos += (buf as Buffer & Latin1Write).latin1Write(labels, pos, labels.length);
      buf[pos++] = KEY_2_BYTES;
      buf[pos++] = sampleLen;
      buf[pos++] = KEY_VALUE;
      if (values !== null) pos = writeDouble(buf, pos, values[i] as number);
      else {
        buf.set(STALE_NAN_BYTES, pos);
        pos += 8;
      }
      buf[pos++] = KEY_TIMESTAMP;
      pos = writeInt64(buf, pos, t);
      count++;
    }
    if (count > 0) this.#flush(pos, count, emit);
  }

  /** Compresses the WriteRequest in `#raw[0, len)` and hands it out. */
  #flush(len: number, count: number, emit: (message: Uint8Array, samples: number) => unknown): void {
    this.lastRawBytes += len;
    emit(this.#snappy.compress(this.#raw, len), count);
  }

  /** The message just emitted, as an array of its own (the native compressor's already is). */
  #own(view: Uint8Array): Uint8Array {
    return this.#snappy.fresh ? view : this.keep(view);
  }

  #memoise(series: Series): string {
    const labels = renderLabels(series);
    series.memo = { labels } satisfies RemoteWriteMemo;
    series.memoOwner = this;
    return labels;
  }

  #grow(used: number, size: number): Buffer {
    this.#raw = growScratch(this.#raw, used, size);
    return this.#raw;
  }
}

/**
 * `Buffer#write(s, at, 'latin1')` without its argument checks and encoding lookup, which cost
 * more than copying a series' few hundred bytes; room is made before each call.
 */
interface Latin1Write {
  latin1Write(s: string, offset: number, length: number): number;
}

/** The name and labels the exposition had for `series`, sorted by name, `__name__` included. */
export function exposedLabels(series: Series): [string, string][] {
  const tags = series.tags;
  const bucket = isBucket(series);
  const pairs: [string, string][] = [['__name__', bucket ? `${series.name}_bucket` : series.name]];
  for (const k in tags) {
    const v = tags[k] as string;
    if (v === '') continue;
    pairs.push([bucket && k === 'bucket' ? 'le' : labelName(k), v]);
  }
  // Names are ASCII (see labelName), so string order is byte order.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  // A sanitised name may meet another: keep the first.
  let w = 1;
  for (let r = 1; r < pairs.length; r++) {
    if ((pairs[r] as [string, string])[0] !== (pairs[w - 1] as [string, string])[0]) pairs[w++] = pairs[r] as [string, string];
  }
  pairs.length = w;
  return pairs;
}

/** Whether `series` is a histogram bucket (see the header). */
function isBucket(series: Series): boolean {
  if (series.type !== SampleType.Histogram || !Object.hasOwn(series.tags, 'bucket')) return false;
  const resolution = (series as { resolution?: { renameLabel?: unknown } }).resolution;
  if (resolution !== undefined && resolution !== null && 'renameLabel' in resolution) return resolution.renameLabel === 'le';
  return !AGGREGATE_SUFFIX.test(series.name);
}

/** A valid Prometheus label name for a tag name (see the header). */
function labelName(name: string): string {
  if (LABEL_NAME.test(name)) return name;
  const clean = name.replace(/[^a-zA-Z0-9_]/g, '_');
  return /^[0-9]/.test(clean) || clean === '' ? `_${clean}` : clean;
}

/** Room for one Label's framing: three keys and three varints of up to five bytes. */
const LABEL_ROOM = 3 + 15;
/** Scratch for rendering a series' labels; grown when a series needs more. */
let labelScratch: Buffer = Buffer.allocUnsafe(4096);

/** The `Label` fields of a TimeSeries for `series`, as a one-byte string of their bytes. */
function renderLabels(series: Series): string {
  const pairs = exposedLabels(series);
  let most = 0;
  for (const [name, value] of pairs) most += LABEL_ROOM + name.length + 3 * value.length;
  if (most > labelScratch.length) labelScratch = Buffer.allocUnsafe(Math.max(most, labelScratch.length * 2));
  const b = labelScratch;
  let p = 0;
  for (const [name, value] of pairs) {
    // Names are ASCII (labelName). Short ASCII strings are copied char by char: a call into
    // Buffer#write per string costs more than the copy.
    const nLen = name.length;
    const vLen = asciiLength(value);
    const vBytes = vLen >= 0 ? vLen : Buffer.byteLength(value);
    const inner = 1 + varintSize(nLen) + nLen + 1 + varintSize(vBytes) + vBytes;
    b[p++] = KEY_1_BYTES;
    p = writeVarint(b, p, inner);
    b[p++] = KEY_1_BYTES;
    p = writeVarint(b, p, nLen);
    for (let i = 0; i < nLen; i++) b[p++] = name.charCodeAt(i);
    b[p++] = KEY_2_BYTES;
    p = writeVarint(b, p, vBytes);
    if (vLen >= 0) for (let i = 0; i < vLen; i++) b[p++] = value.charCodeAt(i);
    else p += b.write(value, p, 'utf8');
  }
  return b.toString('latin1', 0, p);
}

/** The length of `s` when it is all ASCII, else -1. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1;
  return s.length;
}

/** What the remote write labels of a target need: its URL, labels and Discovery. */
export interface TargetIdentity {
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `namespace/name` of the Discovery. */
  readonly discovery: string;
}

/**
 * The target's labels with `job` and `instance` added where it has none, as Prometheus sets
 * them: `job` is the Discovery's name (without its namespace), `instance` the target's
 * `host:port` (the scheme's default port when the URL names none). Pass the result as the
 * parser's `targetTags` for a remote write Collector.
 */
export function remoteWriteTargetLabels(target: TargetIdentity): Record<string, string> {
  const out: Record<string, string> = { ...target.labels };
  if (!Object.hasOwn(out, 'job')) {
    const slash = target.discovery.indexOf('/');
    out['job'] = slash < 0 ? target.discovery : target.discovery.slice(slash + 1);
  }
  if (!Object.hasOwn(out, 'instance')) {
    try {
      const u = new URL(target.url);
      const port = u.port !== '' ? u.port : u.protocol === 'https:' ? '443' : '80';
      out['instance'] = `${u.hostname}:${port}`;
    } catch {
      out['instance'] = target.url;
    }
  }
  return out;
}

/** Stamps for `StaleTracker`: every `vanished` call uses a new one, across all trackers. */
let stampCounter = 0;
/** Stamps of series without this encoder's memo (built elsewhere, or memoised by another encoder). */
const foreignStamps = new WeakMap<Series, number>();

/**
 * Which series of a target vanished, for stale markers (Prometheus marks a series stale when a
 * scrape no longer has it, and every series of a target whose scrape failed or that went away).
 * One tracker per target, fed each successful scrape's batch after it was encoded. A series
 * whose sample carried its own timestamp is not tracked (Prometheus exempts those too). Cost:
 * one stamp per sample and one look per previous series; the series are the cache's own
 * objects, so a series seen again is the same object.
 */
export class StaleTracker {
  #previous: Series[] = [];
  /**
   * The array the next scrape's series are written into: the one before last, reused. A new
   * array per scrape, as large as the target, would be grown by copying and then outlive a few
   * young-generation collections, each copying it again.
   */
  #spare: Series[] = [];

  /** The series of the last scrape missing from `batch`; `batch`'s series become the last scrape. */
  vanished(batch: SampleBatch): Series[] {
    const stamp = ++stampCounter;
    const current = this.#spare;
    let k = 0;
    const { series, timestamps } = batch;
    for (let i = 0; i < batch.length; i++) {
      if (timestamps[i] === timestamps[i]) continue; // an explicit timestamp
      const s = series[i] as Series;
      setStamp(s, stamp);
      current[k++] = s;
    }
    current.length = k;
    const gone: Series[] = [];
    const previous = this.#previous;
    for (let i = 0; i < previous.length; i++) {
      const s = previous[i] as Series;
      if (getStamp(s) !== stamp) gone.push(s);
    }
    this.#spare = previous;
    this.#previous = current;
    return gone;
  }

  /** Every series of the last scrape (the scrape failed or the target went away); forgets them. */
  all(): Series[] {
    const gone = this.#previous;
    this.#previous = [];
    return gone;
  }
}

function setStamp(s: Series, stamp: number): void {
  const memo = s.memo as { stamp?: number } | undefined;
  if (s.memoOwner instanceof RemoteWriteEncoder && memo !== undefined) memo.stamp = stamp;
  else foreignStamps.set(s, stamp);
}

function getStamp(s: Series): number | undefined {
  const memo = s.memo as { stamp?: number } | undefined;
  if (s.memoOwner instanceof RemoteWriteEncoder && memo !== undefined && memo.stamp !== undefined) return memo.stamp;
  return foreignStamps.get(s);
}

/** What one scrape of a target did, as Prometheus reports it in its per-target series. */
export interface ScrapeReport {
  readonly up: boolean;
  readonly durationSeconds: number;
  /** Samples the scrape yielded (after the sample limit). */
  readonly samplesScraped: number;
  /** Series not in the target's previous scrape. */
  readonly seriesAdded: number;
}

/**
 * The per-target series Prometheus writes after every scrape: `up` (1 or 0),
 * `scrape_duration_seconds`, `scrape_samples_scraped` and `scrape_series_added`, gauges with the
 * target's labels (`job` and `instance` included). One per target, kept with its series cache,
 * so the four Series (and any encoder's memo of them) are made once.
 */
export class ScrapeSeries {
  readonly up: Series;
  readonly duration: Series;
  readonly scraped: Series;
  readonly added: Series;

  constructor(targetLabels: Readonly<Record<string, string>>) {
    const tags: Record<string, string> = {};
    for (const k of Object.keys(targetLabels).sort()) tags[k] = targetLabels[k] as string;
    this.up = new Series('up', SampleType.Gauge, tags);
    this.duration = new Series('scrape_duration_seconds', SampleType.Gauge, tags);
    this.scraped = new Series('scrape_samples_scraped', SampleType.Gauge, tags);
    this.added = new Series('scrape_series_added', SampleType.Gauge, tags);
  }

  /** Whether `series` is one of these four (they are not made stale when a scrape fails). */
  includes(series: Series): boolean {
    return series === this.up || series === this.duration || series === this.scraped || series === this.added;
  }

  /**
   * Appends the four samples of `report` without a timestamp of their own: they get the
   * encoder's default (the scrape's start), and `StaleTracker` tracks them like the target's.
   */
  appendTo(batch: SampleBatch, report: ScrapeReport): void {
    batch.push(this.up, report.up ? 1 : 0, Number.NaN);
    batch.push(this.duration, report.durationSeconds, Number.NaN);
    batch.push(this.scraped, report.samplesScraped, Number.NaN);
    batch.push(this.added, report.seriesAdded, Number.NaN);
  }
}
