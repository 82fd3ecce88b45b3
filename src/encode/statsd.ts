// SPDX-License-Identifier: Apache-2.0
/**
 * The statsd encoder: a batch of samples in, newline-separated statsd lines out, packed into
 * messages sized for one UDP datagram (DESIGN "Encoders and sinks").
 *
 * Format, one line per sample (timestamps are not written: plain statsd has none):
 * - `dogstatsd` (default): `name:value|g|#k:v,k2:v2`, with no `|#` when a series has no tags.
 * - `telegraf`:            `name,k=v,k2=v2:value|g`.
 * - `none`:                `name:value|g` (tags are dropped).
 * The type is `g` for every sample, except counters when `counterAs: 'counter'`, which get `c`.
 * Prometheus counters are cumulative while a statsd `c` line is a delta that the daemon adds up,
 * so `counterAs: 'counter'` is only right for sources that export deltas.
 *
 * Values are the shortest decimal that reads back as the same double (`String(v)`), with
 * exponent notation written out in full (`1e21` → `1000000000000000000000`, `1e-7` →
 * `0.0000001`): older etsy statsd versions validate values with `/^[-+\d.]+$/` and reject
 * exponents. A negative gauge value needs care: etsy statsd and Telegraf read a signed gauge
 * value (`name:-5|g`) as a change to the current value, not as the value. So a `g` line with a
 * negative value is preceded by a reset to zero (`name:0|g` then `name:-5|g`); the pair counts as
 * one sample and is never split across messages. DogStatsD keeps the last value, so it gets -5
 * too. `c` lines are deltas anyway and are written as they are.
 *
 * Non-finite values (NaN, ±Inf) cannot be written in statsd: they are skipped, never silently:
 * `lastSkippedNonFinite` is the number skipped by the latest `encode` call (add it to the drop
 * counter with reason `non_finite`), and `skippedNonFinite` the total since construction.
 *
 * Sanitising (exact rules; a test table checks each):
 * - The name is `prefix + '.' + name` (when a prefix is given); every character outside
 *   `[A-Za-z0-9_.-]` becomes `_` (Prometheus `:` included, one `_` per code point), runs of dots
 *   become one dot, and leading and trailing dots are removed. A name left empty becomes `_`.
 * - DogStatsD tags: in keys `,` `|` `#` `:` CR and LF become `_`; in values `,` `|` `#` CR and LF
 *   become `_` (`:` is kept in values: the agent splits a tag at its first `:`).
 * - Telegraf tags: in keys and values `,` `=` space `:` `|` CR and LF become `_`.
 * - A tag whose value is empty is left out in every style: Prometheus treats an empty label value
 *   as no label, and Telegraf cannot carry an empty value (DogStatsD's bare `k` tag would mean
 *   something else). A tag whose key is empty is left out too. Tags keep the series' order.
 *   Two keys that sanitise to the same string are both written.
 *
 * Packing: lines are joined by `\n` into messages of at most `maxBytes` UTF-8 bytes and at most
 * `maxSamples` samples, with no trailing newline; a line longer than `maxBytes` goes alone in its
 * own message (the sink may reject it, and counts it).
 *
 * Hot path: the sanitised name and rendered tags of each series are memoised in `series.memo`
 * (owned by this encoder) as UTF-8 bytes: `head` (`name:` or `name,k=v:`) and `tail` (`|g` or
 * `|g|#k:v`), so a line's byte length is exact without re-encoding. The memo also keeps the
 * series' last value and its text, so an unchanged value (common between scrapes) is not
 * formatted again. Per sample the work is formatting the value (ASCII) and copying head, value
 * and tail into a scratch buffer owned by the encoder; each full message is copied out once into
 * its own `Buffer`. (Building each message as a string and converting it with `Buffer.from`
 * encodes every line twice, and is slower: docs/performance.md.) The scratch buffer starts at
 * `min(maxBytes, 64 KiB)` and grows (doubling) only when a message or a lone line needs more.
 *
 * Recovery: encoding cannot fail once the options are valid; invalid options throw a
 * `ConfigError` from the constructor.
 */
import { ConfigError } from '../errors.js';
import { type SampleBatch, type Series, SampleType } from '../sample.js';
import { type Encoder, EncoderKind } from './encoder.js';
import { growScratch } from './scratch.js';

export const StatsdTagStyle = {
  Dogstatsd: 'dogstatsd',
  Telegraf: 'telegraf',
  None: 'none',
} as const;
export type StatsdTagStyle = (typeof StatsdTagStyle)[keyof typeof StatsdTagStyle];

export const StatsdCounterAs = {
  Gauge: 'gauge',
  Counter: 'counter',
} as const;
export type StatsdCounterAs = (typeof StatsdCounterAs)[keyof typeof StatsdCounterAs];

export interface StatsdEncoderOptions {
  /** How tags are written; default `dogstatsd`. */
  readonly tagStyle?: StatsdTagStyle;
  /**
   * What Prometheus counters become; default `gauge` (Prometheus counters are cumulative).
   * `counter` writes `|c`, which statsd daemons add up as deltas: only right for delta sources.
   */
  readonly counterAs?: StatsdCounterAs;
  /** Prepended to every name, joined with `.`; default none. */
  readonly prefix?: string;
  /** At most this many UTF-8 bytes per message; default 1432 (one UDP datagram, 1500 MTU). */
  readonly maxBytes?: number;
  /** At most this many samples per message; default unlimited. */
  readonly maxSamples?: number;
}

/** One UDP datagram on a 1500-byte MTU: 1500 - 20 (IPv4) - 8 (UDP) - 40 (room for options). */
export const STATSD_DEFAULT_MAX_BYTES = 1432;

/** An encoder's rendering of one series: `head + value + tail` is a line. */
interface StatsdMemo {
  /** UTF-8 of `name:` (dogstatsd, none) or `name,k=v:` (telegraf). */
  readonly head: Uint8Array;
  /** UTF-8 of `|g` or `|c`, then `|#k:v` in dogstatsd style. */
  readonly tail: Uint8Array;
  /** The line is a gauge, so a negative value needs a reset to zero before it. */
  readonly gauge: boolean;
  /** The series' last encoded value and its text (NaN before the first). */
  lastValue: number;
  lastText: string;
}

const utf8 = new TextEncoder();
const NEWLINE = 0x0a;
const ZERO = 0x30;
const INITIAL_SCRATCH = 64 * 1024;

const NAME_INVALID = /[^A-Za-z0-9_.-]/gu;
const DOTS = /\.{2,}/g;
const EDGE_DOTS = /^\.+|\.+$/g;
const DOGSTATSD_KEY_INVALID = /[,|#:\r\n]/g;
const DOGSTATSD_VALUE_INVALID = /[,|#\r\n]/g;
const TELEGRAF_INVALID = /[,= :|\r\n]/g;

/** Sanitises a metric name (with its prefix) as the header describes. */
export function statsdName(name: string, prefix = ''): string {
  const full = prefix === '' ? name : `${prefix}.${name}`;
  const out = full.replace(NAME_INVALID, '_').replace(DOTS, '.').replace(EDGE_DOTS, '');
  return out === '' ? '_' : out;
}

/**
 * A finite number as statsd accepts it: the shortest round-trip decimal, never in exponent
 * notation. `-0` is written `0`.
 */
export function statsdValue(value: number): string {
  const a = value < 0 ? -value : value;
  // String() switches to exponent notation at 1e21 and below 1e-6.
  if (a < 1e21 && (a >= 1e-6 || a === 0)) return String(value);
  return expandExponent(String(value));
}

/** Rewrites `[-]d[.ddd]e[+-]x` as a plain decimal with the same digits. */
function expandExponent(s: string): string {
  const e = s.indexOf('e');
  if (e === -1) return s;
  const negative = s.charCodeAt(0) === 0x2d;
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot === -1 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const point = (dot === -1 ? mantissa.length : dot) + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${out}` : out;
}

export class StatsdEncoder implements Encoder {
  readonly kind = EncoderKind.Statsd;
  readonly tagStyle: StatsdTagStyle;
  readonly counterAs: StatsdCounterAs;
  readonly prefix: string;
  readonly maxBytes: number;
  readonly maxSamples: number;
  #skippedNonFinite = 0;
  #lastSkippedNonFinite = 0;
  #scratch: Buffer;

  constructor(options: StatsdEncoderOptions = {}) {
    const tagStyle = options.tagStyle ?? StatsdTagStyle.Dogstatsd;
    if (!Object.values(StatsdTagStyle).includes(tagStyle)) {
      throw new ConfigError(
        'encoder.tagStyle',
        `must be one of ${Object.values(StatsdTagStyle).join(', ')}, got ${JSON.stringify(tagStyle)}`,
      );
    }
    const counterAs = options.counterAs ?? StatsdCounterAs.Gauge;
    if (!Object.values(StatsdCounterAs).includes(counterAs)) {
      throw new ConfigError(
        'encoder.counterAs',
        `must be one of ${Object.values(StatsdCounterAs).join(', ')}, got ${JSON.stringify(counterAs)}`,
      );
    }
    const maxBytes = options.maxBytes ?? STATSD_DEFAULT_MAX_BYTES;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new ConfigError('encoder.maxBytes', `must be an integer ≥ 1, got ${maxBytes}`);
    }
    const maxSamples = options.maxSamples ?? Number.POSITIVE_INFINITY;
    if (maxSamples !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(maxSamples) || maxSamples < 1)) {
      throw new ConfigError('encoder.maxSamples', `must be an integer ≥ 1, got ${maxSamples}`);
    }
    this.tagStyle = tagStyle;
    this.counterAs = counterAs;
    this.prefix = options.prefix ?? '';
    this.maxBytes = maxBytes;
    this.maxSamples = maxSamples;
    this.#scratch = Buffer.allocUnsafe(Math.min(maxBytes, INITIAL_SCRATCH));
  }

  /** Non-finite samples skipped since this encoder was made. */
  get skippedNonFinite(): number {
    return this.#skippedNonFinite;
  }

  /** Non-finite samples skipped by the latest `encode` call. */
  get lastSkippedNonFinite(): number {
    return this.#lastSkippedNonFinite;
  }

  /** Encodes `batch`; statsd has no timestamps, so `defaultTimestamp` is not used. */
  encode(batch: SampleBatch, _defaultTimestamp: number | null, out: Uint8Array[] = []): Uint8Array[] {
    const { series, values, length } = batch;
    const maxBytes = this.maxBytes;
    const maxSamples = this.maxSamples;
    let skipped = 0;
    let buf = this.#scratch;
    let pos = 0;
    let count = 0;
    for (let i = 0; i < length; i++) {
      const value = values[i] as number;
      // NaN - NaN, Inf - Inf and -Inf - -Inf are all NaN; any finite v - v is 0.
      if (value - value !== 0) {
        skipped++;
        continue;
      }
      const s = series[i] as Series;
      const memo = s.memoOwner === this ? (s.memo as StatsdMemo) : this.#memoise(s);
      let text: string;
      if (value === memo.lastValue) {
        text = memo.lastText;
      } else {
        text = statsdValue(value);
        memo.lastValue = value;
        memo.lastText = text;
      }
      const head = memo.head;
      const tail = memo.tail;
      const reset = value < 0 && memo.gauge;
      const lineBytes = head.length + text.length + tail.length;
      // a reset line is `head 0 tail \n` before the line
      const bytes = reset ? head.length + tail.length + 2 + lineBytes : lineBytes;
      if (count > 0) {
        if (count >= maxSamples || pos + 1 + bytes > maxBytes) {
          out.push(copyOut(buf, pos));
          pos = 0;
          count = 0;
        } else {
          buf[pos++] = NEWLINE;
        }
      }
      if (pos + bytes > buf.length) buf = this.#grow(pos + bytes);
      if (reset) {
        buf.set(head, pos);
        pos += head.length;
        buf[pos++] = ZERO;
        buf.set(tail, pos);
        pos += tail.length;
        buf[pos++] = NEWLINE;
      }
      buf.set(head, pos);
      pos += head.length;
      for (let k = 0; k < text.length; k++) buf[pos++] = text.charCodeAt(k);
      buf.set(tail, pos);
      pos += tail.length;
      count++;
    }
    if (count > 0) out.push(copyOut(buf, pos));
    this.#lastSkippedNonFinite = skipped;
    this.#skippedNonFinite += skipped;
    return out;
  }

  #memoise(series: Series): StatsdMemo {
    const name = statsdName(series.name, this.prefix);
    const gauge = !(series.type === SampleType.Counter && this.counterAs === StatsdCounterAs.Counter);
    const type = gauge ? '|g' : '|c';
    let head: string;
    let tail: string;
    if (this.tagStyle === StatsdTagStyle.Dogstatsd) {
      const tags = renderTags(series, ':', DOGSTATSD_KEY_INVALID, DOGSTATSD_VALUE_INVALID);
      head = `${name}:`;
      tail = tags === '' ? type : `${type}|#${tags}`;
    } else if (this.tagStyle === StatsdTagStyle.Telegraf) {
      const tags = renderTags(series, '=', TELEGRAF_INVALID, TELEGRAF_INVALID);
      head = tags === '' ? `${name}:` : `${name},${tags}:`;
      tail = type;
    } else {
      head = `${name}:`;
      tail = type;
    }
    const memo: StatsdMemo = {
      head: utf8.encode(head),
      tail: utf8.encode(tail),
      gauge,
      lastValue: Number.NaN,
      lastText: '',
    };
    series.memoOwner = this;
    series.memo = memo;
    return memo;
  }

  /** A scratch buffer of at least `size` bytes holding the current one's contents. */
  #grow(size: number): Buffer {
    this.#scratch = growScratch(this.#scratch, this.#scratch.length, size);
    return this.#scratch;
  }
}

/** The first `length` bytes of `scratch` as a message of their own. */
function copyOut(scratch: Buffer, length: number): Buffer {
  const message = Buffer.allocUnsafe(length);
  scratch.copy(message, 0, 0, length);
  return message;
}

/** `k<sep>v` pairs joined by `,`, sanitised, leaving out empty keys and empty values. */
function renderTags(series: Series, separator: string, keyInvalid: RegExp, valueInvalid: RegExp): string {
  let out = '';
  for (const key of Object.keys(series.tags)) {
    const value = series.tags[key];
    if (key === '' || value === undefined || value === '') continue;
    const pair = key.replace(keyInvalid, '_') + separator + value.replace(valueInvalid, '_');
    out = out === '' ? pair : `${out},${pair}`;
  }
  return out;
}
