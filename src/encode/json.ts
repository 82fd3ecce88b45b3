// SPDX-License-Identifier: Apache-2.0
/**
 * The JSON encoder: newline-delimited JSON, one object per sample, in the DESIGN format
 * `{"name":…,"tags":{…},"timestamp":…,"type":…,"value":…}` (keys in this order, tags sorted).
 *
 * Non-finite values are written as the strings "NaN", "+Inf" and "-Inf". A sample without a
 * timestamp gets the default timestamp (the scrape time), or `null` when that is null
 * (`strata parse`). Other numbers are written exactly as `String(n)` writes them. Every line, the
 * last included, ends with `\n`.
 *
 * Messages: at most `maxSamples` lines and at most `maxBytes` UTF-8 bytes each; a line longer
 * than `maxBytes` goes out alone in its own message. Lines are never split.
 *
 * Hot path: lines are written as bytes, never as strings.
 * - Per series, the UTF-8 of everything before the timestamp (`{"name":…,"tags":{…},"timestamp":`)
 *   is rendered once and memoised in `series.memo` (owned by this encoder: `memoOwner === this`).
 *   The bytes between the timestamp and the value (`,"type":"…","value":`) are shared by all
 *   series of one type.
 * - Each line is written into a scratch buffer owned by the encoder: the memoised head with
 *   `Buffer#write(…, 'latin1')` (a byte per char, as fast as `Uint8Array#set` of a Buffer and a
 *   third of the memory), the shared bytes with `Uint8Array#set`, then the numbers as
 *   ASCII. A safe integer (every timestamp, most values) is written with a digit loop; a
 *   non-integer 1e-6 ≤ |n| < 1e6 that is the double nearest to a decimal with at most 9
 *   fractional digits (0.123, 21.5) is written from that decimal, which is what `String` gives
 *   (see `writeDecimal`); any other number goes through `String(n)` (ASCII for finite numbers),
 *   and from then on that series' memo keeps the last such number and its text, so an unchanged
 *   one is not formatted again (a series that never needs it keeps only its head). A fuzz test
 *   checks all three against `String`.
 * - A line's length is known only once it is written: when a line takes the message past
 *   `maxBytes`, the message before it is sent and the line is moved to the start of the scratch
 *   buffer to begin the next one.
 * - Each finished message is copied out once into a `Buffer` of its own; the scratch buffer is
 *   never handed out. It starts at 64 KiB, grows (doubling) when a message needs more, and is kept
 *   for the next call.
 * Why bytes and not strings: building each message as a string and converting it with
 * `Buffer.from` encodes every line twice; here each byte is written once and copied once. The
 * gain is largest with many lines per message; with one or a few, allocating and collecting the
 * message `Buffer`s dominates either way (figures in docs/performance.md).
 *
 * Recovery: encoding cannot fail.
 */
import { type SampleBatch, type Series, SampleType, type StoredTags } from '../sample.js';
import { type Encoder, EncoderKind, type MessageLimits, nonFiniteString } from './encoder.js';
import { MessagePool } from './message-pool.js';
import { growScratch } from './scratch.js';

export interface JsonEncoderOptions extends MessageLimits {
  /**
   * Keep each series' rendering for the next batch (default true). Off for one-shot output
   * (`strata parse`), where every series is seen once and a memo is only garbage.
   */
  readonly memoise?: boolean;
}

/** Characters JSON.stringify would escape (and surrogates, left to it to pair or escape). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A JSON string literal: a plain quote when nothing needs escaping (the usual case). */
function quote(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

export const JSON_DEFAULT_MAX_SAMPLES = 1000;
export const JSON_DEFAULT_MAX_BYTES = 1 << 20;

/**
 * This encoder's rendering of one series, in `series.memo`: the head alone (a string), or, once
 * a number of the series needed `String` (see writeNumber), the head with that number's text.
 * Most series never need it, and a string is all they keep: an object per series costs as much
 * heap as a tenth of its head.
 */
type JsonMemo = string | NumberedHead;

/**
 * The head of a series, UTF-8 of `{"name":…,"tags":{…},"timestamp":`, is held as a one-byte
 * string of those bytes (char k = byte k) and written back with `latin1`: a `Buffer` per series
 * costs a heap object and a share of a pool slab on top of its text, a one-byte string little
 * more than its text (figures in docs/performance.md).
 */
interface NumberedHead {
  readonly head: string;
  /** The series' last number formatted with `String`, and its text (NaN before the first). */
  lastValue: number;
  lastText: string;
  /** Set by writeNumber when it formatted a number with `String`. */
  formatted: boolean;
}

const INITIAL_SCRATCH = 64 * 1024;
/** More than the longest `String(n)` of a finite number (25 characters) twice, plus `}\n`. */
const NUMBERS_ROOM = 64;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const CLOSE = 0x7d;
const NEWLINE = 0x0a;
const MINUS = 0x2d;
const ZERO = 0x30;
const DOT = 0x2e;
/** `00`, `01`, … `99` as ASCII: two digits per division. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, k) => ZERO + (k & 1 ? (k >> 1) % 10 : ((k >> 1) / 10) | 0));

/** `,"type":"<type>","value":` for the known types, shared by every series of that type. */
const MIDS = new Map<string, Uint8Array>(
  Object.values(SampleType).map((type) => [type, Buffer.from(`,"type":"${type}","value":`)]),
);
const MID_COUNTER = MIDS.get(SampleType.Counter) as Uint8Array;
const MID_GAUGE = MIDS.get(SampleType.Gauge) as Uint8Array;
const MID_HISTOGRAM = MIDS.get(SampleType.Histogram) as Uint8Array;

/** `,"type":"<type>","value":` of `type` (the common ones without a map lookup). */
function midOf(type: string): Uint8Array {
  if (type === SampleType.Counter) return MID_COUNTER;
  if (type === SampleType.Gauge) return MID_GAUGE;
  if (type === SampleType.Histogram) return MID_HISTOGRAM;
  return MIDS.get(type) ?? Buffer.from(`,"type":"${type}","value":`);
}
const NON_FINITE = {
  nan: Buffer.from(`"${nonFiniteString(Number.NaN)}"`),
  posInf: Buffer.from(`"${nonFiniteString(Number.POSITIVE_INFINITY)}"`),
  negInf: Buffer.from(`"${nonFiniteString(Number.NEGATIVE_INFINITY)}"`),
} as const;

export class JsonEncoder implements Encoder {
  readonly kind = EncoderKind.Json;
  readonly maxSamples: number;
  readonly maxBytes: number;
  readonly memoise: boolean;
  #scratch: Buffer = Buffer.allocUnsafe(INITIAL_SCRATCH);
  /** Memory of the messages `encode` and `keep` make, taken back by `recycle`. */
  readonly #messages = new MessagePool();
  /** Number memo of the series whose memo is a bare head (and of those not memoised). */
  readonly #transient: NumberedHead = { head: '', lastValue: Number.NaN, lastText: '', formatted: false };

  constructor(options: JsonEncoderOptions = {}) {
    this.maxSamples = Math.max(1, options.maxSamples ?? JSON_DEFAULT_MAX_SAMPLES);
    this.maxBytes = Math.max(1, options.maxBytes ?? JSON_DEFAULT_MAX_BYTES);
    this.memoise = options.memoise ?? true;
  }

  encode(batch: SampleBatch, defaultTimestamp: number | null, out: Uint8Array[] = []): Uint8Array[] {
    this.#encode(batch, defaultTimestamp, (view) => out.push(this.#messages.copy(view)));
    return out;
  }

  /**
   * Takes back messages this encoder made: their memory holds later messages (message-pool.ts).
   */
  recycle(messages: readonly Uint8Array[]): void {
    this.#messages.recycle(messages);
  }

  /** A copy of a message `encodeTo` handed out, to hold past `emit`, in memory `recycle` takes back. */
  keep(message: Uint8Array): Uint8Array {
    return this.#messages.copy(message);
  }

  /**
   * Like `encode`, but hands each message to `emit`, with its number of samples, as a view of
   * the encoder's scratch buffer valid only until `emit` returns (no copy: for a caller that
   * writes it out synchronously).
   */
  encodeTo(batch: SampleBatch, defaultTimestamp: number | null, emit: (message: Uint8Array, samples: number) => void): void {
    this.#encode(batch, defaultTimestamp, emit);
  }

  #encode(batch: SampleBatch, defaultTimestamp: number | null, emit: (message: Uint8Array, samples: number) => unknown): void {
    const n = batch.length;
    const { series, values, timestamps } = batch;
    const maxSamples = this.maxSamples;
    const maxBytes = this.maxBytes;
    const defaultTs = Buffer.from(defaultTimestamp === null ? 'null' : String(defaultTimestamp), 'latin1');
    const room = NUMBERS_ROOM + defaultTs.length;
    let buf = this.#scratch;
    // The message being built is buf[0, pos), with `count` samples.
    let pos = 0;
    let count = 0;
    for (let i = 0; i < n; i++) {
      const s = series[i] as Series;
      if (count >= maxSamples) {
        emit(buf.subarray(0, pos), count);
        pos = 0;
        count = 0;
      }
      const start = pos;
      let numbers = this.#transient;
      const mid = midOf(s.type);
      if (this.memoise) {
        const memo = (s.memoOwner === this ? s.memo : this.#memoise(s)) as JsonMemo;
        let head: string;
        if (typeof memo === 'string') head = memo;
        else {
          head = memo.head;
          numbers = memo;
        }
        if (pos + head.length + mid.length + room > buf.length) buf = this.#grow(pos + head.length + mid.length + room);
        pos += buf.write(head, pos, 'latin1');
      } else {
        const head = renderHead(s);
        const most = head.length * 3 + mid.length + room;
        if (pos + most > buf.length) buf = this.#grow(pos + most);
        pos += buf.write(head, pos, 'utf8');
      }
      const t = timestamps[i] as number;
      if (t === t) {
        pos = writeNumber(buf, pos, t, numbers);
      } else {
        buf.set(defaultTs, pos);
        pos += defaultTs.length;
      }
      buf.set(mid, pos);
      pos += mid.length;
      const v = values[i] as number;
      if (v - v === 0) {
        pos = writeNumber(buf, pos, v, numbers);
      } else {
        // NaN - NaN, Inf - Inf and -Inf - -Inf are all NaN; any finite v - v is 0.
        const text = v === Number.POSITIVE_INFINITY ? NON_FINITE.posInf : v === Number.NEGATIVE_INFINITY ? NON_FINITE.negInf : NON_FINITE.nan;
        buf.set(text, pos);
        pos += text.length;
      }
      buf[pos++] = CLOSE;
      buf[pos++] = NEWLINE;
      if (numbers.formatted) {
        numbers.formatted = false;
        // A number of this series needed `String`: from now on it keeps its own last one.
        if (numbers === this.#transient && this.memoise) s.memo = { head: s.memo as string, lastValue: numbers.lastValue, lastText: numbers.lastText, formatted: false };
      }
      if (pos > maxBytes && count > 0) {
        // This line takes the message past maxBytes: send the message before it, and start the
        // next message with it.
        emit(buf.subarray(0, start), count);
        buf.copyWithin(0, start, pos);
        pos -= start;
        count = 0;
      }
      count++;
    }
    if (count > 0) emit(buf.subarray(0, pos), count);
  }

  #memoise(series: Series): string {
    const stored = series.storedTags();
    const head = (stored === null ? null : headFromStored(series.name, stored)) ?? Buffer.from(renderHead(series)).toString('latin1');
    series.memo = head;
    series.memoOwner = this;
    return head;
  }

  /** A scratch buffer of at least `size` bytes holding the current one's contents. */
  #grow(size: number): Buffer {
    this.#scratch = growScratch(this.#scratch, this.#scratch.length, size);
    return this.#scratch;
  }
}

/**
 * Writes the finite number `x` as `String(x)` would; returns the position after it. Safe
 * integers and short decimals are written directly; other numbers go through `String`, with the
 * text of the series' last such number memoised.
 */
function writeNumber(buf: Uint8Array, pos: number, x: number, memo: NumberedHead): number {
  if (x <= MAX_SAFE && x >= -MAX_SAFE && Math.floor(x) === x) return writeInteger(buf, pos, x);
  if ((x < 1e6 && x >= 1e-6) || (x > -1e6 && x <= -1e-6)) {
    const end = writeDecimal(buf, pos, x);
    if (end !== -1) return end;
  }
  let text: string;
  if (x === memo.lastValue) {
    text = memo.lastText;
  } else {
    text = String(x);
    memo.lastValue = x;
    memo.lastText = text;
    memo.formatted = true;
  }
  for (let k = 0; k < text.length; k++) buf[pos++] = text.charCodeAt(k);
  return pos;
}

/**
 * Writes the safe integer `x` in decimal (as `String(x)` does: `-0` is `0`); returns the position
 * after it. Above 2^31 it is split into `hi * 1e8 + lo` so that the digit loops stay in int32.
 */
function writeInteger(buf: Uint8Array, pos: number, x: number): number {
  if (x < 0) {
    buf[pos++] = MINUS;
    x = -x;
  }
  if (x < 2147483648) return writeUint31(buf, pos, x);
  // Exact: x / 1e8 < 2^27 is rounded by less than 2^-27, and a quotient that is not an integer
  // is at least 1e-8 below the next one, so the floor is right; the product and the difference
  // are integers below 2^53.
  const hi = Math.floor(x / 1e8);
  const lo = x - hi * 1e8;
  pos = writeUint31(buf, pos, hi);
  writeDigits(buf, pos + 8, lo | 0, 8);
  return pos + 8;
}

/**
 * Writes the non-integer `x`, 1e-6 ≤ |x| < 1e6, when it is the double nearest to a decimal with
 * at most 9 digits after the point: `String(x)` is then that decimal without trailing zeros (the
 * decimal has at most 15 significant digits, and no other decimal that short rounds to the same
 * double; below 1e-6 `String` would switch to exponent notation). Returns the position after
 * it, or -1, having written nothing visible, when `x` is not such a number.
 */
function writeDecimal(buf: Uint8Array, pos: number, x: number): number {
  const a = x < 0 ? -x : x;
  const m = Math.round(a * 1e9);
  if (m / 1e9 !== a) return -1;
  if (x < 0) buf[pos++] = MINUS;
  // Exact, as in writeInteger: m / 1e9 < 1e6 is rounded by less than 2^-33.
  const int = Math.floor(m / 1e9);
  const frac = m - int * 1e9;
  pos = writeUint31(buf, pos, int);
  buf[pos++] = DOT;
  let end = pos + 9;
  writeDigits(buf, end, frac | 0, 9);
  // frac is not 0 (x is not an integer), so this stops before the point
  while (buf[end - 1] === ZERO) end--;
  return end;
}

/** Writes `x` in [0, 2^31) in decimal; returns the position after it. */
function writeUint31(buf: Uint8Array, pos: number, x: number): number {
  const end = pos + digitCount(x);
  writeDigits(buf, end, x, end - pos);
  return end;
}

/** Writes the last `count` decimal digits of `x` in [0, 2^31), zero-padded, ending before `end`. */
function writeDigits(buf: Uint8Array, end: number, x: number, count: number): void {
  let p = end;
  const stop = end - count;
  while (p - stop >= 2) {
    const q = (x / 100) | 0;
    const r = (x - q * 100) << 1;
    buf[--p] = DIGIT_PAIRS[r + 1] as number;
    buf[--p] = DIGIT_PAIRS[r] as number;
    x = q;
  }
  if (p > stop) buf[--p] = ZERO + (x % 10);
}

/** The number of decimal digits of `x` in [0, 2^31). */
function digitCount(x: number): number {
  if (x < 100000) return x < 10 ? 1 : x < 100 ? 2 : x < 1000 ? 3 : x < 10000 ? 4 : 5;
  return x < 1000000 ? 6 : x < 10000000 ? 7 : x < 100000000 ? 8 : x < 1000000000 ? 9 : 10;
}

/** `{"name":…,"tags":{…},"timestamp":` of a series. */
function renderHead(series: Series): string {
  let head = `{"name":${quote(series.name)},"tags":{`;
  let first = true;
  const tags = series.tags;
  for (const key in tags) {
    head += `${first ? '' : ','}${quote(key)}:${quote(tags[key] as string)}`;
    first = false;
  }
  return `${head}},"timestamp":`;
}

/** JSON text (`"…"`) of names and keys, as UTF-8; bounded, starts over when full. */
const QUOTED = new Map<string, Buffer>();
const MAX_QUOTED = 4096;
let headScratch = Buffer.allocUnsafe(4096);

function quoted(s: string): Buffer {
  let q = QUOTED.get(s);
  if (q === undefined) {
    if (QUOTED.size >= MAX_QUOTED) QUOTED.clear();
    q = Buffer.from(quote(s));
    QUOTED.set(s, q);
  }
  return q;
}

/**
 * `renderHead` of a series whose tags are kept as bytes, as a one-byte string of its UTF-8,
 * written from those bytes: a label value's escapes as exposed (`\\`, `\"`, `\n`) are the JSON
 * escapes of the characters they stand for, and its other bytes are valid UTF-8, so the bytes
 * between its quotes are its JSON text unless they hold a control character or another escape
 * (kept as written, so a backslash JSON must escape): then null, and the caller renders from
 * `tags`.
 */
function headFromStored(name: string, st: StoredTags): string | null {
  const { buf: src, keys, starts, ends, strings } = st;
  const n = keys.length;
  const q = quoted(name);
  let need = q.length + 32;
  for (let i = 0; i < n; i++) {
    const v = strings[i];
    need += quoted(keys[i] as string).length + 4 + (v === null || v === undefined ? (ends[i] as number) - (starts[i] as number) : 6 * v.length);
  }
  if (need > headScratch.length) headScratch = Buffer.allocUnsafe(Math.max(need, headScratch.length * 2));
  const buf = headScratch;
  let pos = buf.write('{"name":', 0, 'latin1');
  buf.set(q, pos);
  pos += q.length;
  pos += buf.write(',"tags":{', pos, 'latin1');
  for (let i = 0; i < n; i++) {
    if (i > 0) buf[pos++] = 0x2c;
    const k = quoted(keys[i] as string);
    buf.set(k, pos);
    pos += k.length;
    buf[pos++] = 0x3a;
    const v = strings[i];
    if (v !== null && v !== undefined) {
      pos += buf.write(quote(v), pos, 'utf8');
      continue;
    }
    buf[pos++] = 0x22;
    const end = ends[i] as number;
    for (let j = starts[i] as number; j < end; j++) {
      const c = src[j] as number;
      if (c < 0x20) return null;
      if (c === 0x5c) {
        const d = src[j + 1] as number;
        if (d !== 0x5c && d !== 0x22 && d !== 0x6e) return null;
        buf[pos++] = c;
        buf[pos++] = d;
        j++;
        continue;
      }
      buf[pos++] = c;
    }
    buf[pos++] = 0x22;
  }
  pos += buf.write('},"timestamp":', pos, 'latin1');
  return buf.toString('latin1', 0, pos);
}
