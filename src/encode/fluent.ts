// SPDX-License-Identifier: Apache-2.0
/**
 * The `fluent` encoder: samples as Fluent Forward protocol v1 messages in Forward mode
 * (https://github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1), ready to be
 * written as they are to a Fluentd or Fluent Bit `forward` input.
 *
 * Format: one message per buffer, the msgpack array
 *
 *     [tag, [[time, record], ...], option]
 *
 * - `time` is an EventTime: ext type 0 as fixext8 (`d7 00`, then big-endian uint32 seconds and
 *   uint32 nanoseconds since the epoch), taken from the sample's timestamp in milliseconds.
 * - `record` is the map `{name, tags, timestamp, type, value}` in that key order, the JSON
 *   encoder's sample (DESIGN "Samples"). `timestamp` is milliseconds since the epoch as a msgpack
 *   integer (uint64 for present-day times, not the float64 msgpackr would pick for numbers past
 *   32 bits), a float64 only when the exposition gave fractional milliseconds, and nil when the
 *   sample has none and there is no default. `value` is always a float64, even when it is a
 *   whole number: a consumer (or an Elasticsearch mapping behind Fluentd) then sees one type per
 *   field, never an integer that later turns into a float. Non-finite values are the strings
 *   from `nonFiniteString`: "NaN", "+Inf", "-Inf".
 * - `option` is `{size}` (the number of entries, as the spec defines it) plus, with
 *   `requireAck`, `chunk`: the base64 of 16 random bytes, unique per message, which the server
 *   echoes as `{ack: chunk}`. Waiting for that answer is the sink's job, not the encoder's.
 *
 * A sample without a timestamp takes `defaultTimestamp` for both its EventTime and its record
 * `timestamp`; when that is null too the record says nil and the EventTime is the time of the
 * `encode` call (read once per call), since an event cannot go without a time.
 *
 * Invariants: a message holds at most `maxSamples` entries and at most `maxBytes` bytes, except
 * that an entry too large for `maxBytes` on its own still goes out alone. Entries keep batch
 * order. The scratch buffer holds one message's entries plus the entry being added, so it
 * stays within about twice `maxBytes` plus the largest entry (it grows by doubling). Each message
 * is copied out into its own exact-size Uint8Array with its own ArrayBuffer, allocated without
 * zero-filling: every byte of it is written, and `#message` checks that it wrote exactly its
 * length.
 *
 * Hot path: per series, msgpackr packs the record once with one-byte placeholders for timestamp
 * and value; the bytes from the map header up to the `timestamp` key (`head`) are memoised on
 * the Series, and those from the `type` key up to the `value` key (`tail`) are shared per type.
 * Per sample the encoder copies those two runs and writes the EventTime, the timestamp and the
 * value in place, allocating nothing. The memo depends on the series alone, never on encoder
 * options, so every FluentEncoder shares one memo owner token and two fluent encoders with
 * different tags do not rebuild each other's memos.
 *
 * Errors and recovery: invalid options throw ConfigError at construction. A timestamp that an
 * EventTime cannot hold (before 1970, after 2106, or not finite) throws EncodeError naming the
 * series and the value; `out` is then left as it was on entry (no message of the batch is
 * kept) and the caller counts the batch as an error. No state survives a call except the memos
 * and the scratch buffer, so the encoder is usable again right after an error.
 */
import { randomFillSync } from 'node:crypto';
import { Packr } from 'msgpackr';
import { ConfigError, EncodeError } from '../errors.js';
import type { SampleBatch, Series } from '../sample.js';
import { EncoderKind, nonFiniteString, type Encoder, type MessageLimits } from './encoder.js';

export interface FluentEncoderOptions extends MessageLimits {
  /** The Fluent tag of every message; routed on by Fluentd `<match>`. Default `strata`. */
  readonly tag?: string;
  /** Adds a `chunk` id to each message so the server answers with an ack. Default false. */
  readonly requireAck?: boolean;
  /** At most this many entries in one message; ≥ 1. Default 1000. */
  readonly maxSamples?: number;
  /** At most this many bytes in one message; ≥ 1. Default 1 MiB. */
  readonly maxBytes?: number;
}

export const FluentDefaults = {
  tag: 'strata',
  requireAck: false,
  maxSamples: 1000,
  maxBytes: 1024 * 1024,
} as const;

/** The setting names ConfigError reports, so a message points at the field the user wrote. */
const Field = {
  Tag: 'encoder.tag',
  MaxSamples: 'encoder.maxSamples',
  MaxBytes: 'encoder.maxBytes',
} as const;

/** Tags the memos this module writes on a Series (see the header: shared by all instances). */
const MEMO_OWNER: object = Object.freeze({ owner: 'FluentEncoder' });

interface SeriesBytes {
  /** fixmap(5), "name", name, "tags", tags map, "timestamp" (the key only). */
  readonly head: Uint8Array;
  /** "type", type, "value" (the key only). */
  readonly tail: Uint8Array;
}

// msgpackr without records (plain msgpack any decoder reads) and with the smallest map headers.
const packr = new Packr({ useRecords: false, variableMapSize: true });

/**
 * msgpackr returns views of its shared scratch buffer; keep a copy (a plain Uint8Array: the
 * Buffer `slice` method would return another view).
 */
function packed(value: unknown): Uint8Array {
  return new Uint8Array(packr.pack(value));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const KEY_SIZE = packed('size');
const KEY_CHUNK = packed('chunk');

/** Bytes of the non-finite value strings, keyed by what `nonFiniteString` returns. */
const NON_FINITE = new Map<string, Uint8Array>(
  [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map((v) => {
    const s = nonFiniteString(v);
    return [s, packed(s)];
  }),
);

/** `tail` depends on the type only; there are five types, so they are shared. */
const TAILS = new Map<string, Uint8Array>();

function tailOf(type: string): Uint8Array {
  let tail = TAILS.get(type);
  if (tail === undefined) {
    tail = concat([packed('type'), packed(type), packed('value')]);
    TAILS.set(type, tail);
  }
  return tail;
}

/**
 * Packs the whole record once with placeholders 0 for timestamp and value, each one byte
 * (positive fixint 0x00): the record is then `head, 0x00, tail, 0x00`, and `head` is exactly
 * what msgpackr writes for the name and tags of this series.
 */
function seriesBytes(series: Series): SeriesBytes {
  const tail = tailOf(series.type);
  const record = packr.pack({ name: series.name, tags: series.tags, timestamp: 0, type: series.type, value: 0 });
  const headLength = record.length - tail.length - 2;
  if (record[0] !== 0x85 || record[headLength] !== 0x00 || record[record.length - 1] !== 0x00) {
    throw new EncodeError(`msgpackr wrote an unexpected record for series ${JSON.stringify(series.name)}`);
  }
  // One allocation per series, owned by it: a shared slab would keep a whole slab alive for
  // one long-lived series, and saves no time (docs/performance.md).
  return { head: new Uint8Array(record.subarray(0, headLength)), tail };
}

const CHUNK_BYTES = 16;
/** base64 of 16 bytes is 24 characters, a fixstr. */
const CHUNK_CHARS = 24;
const MAX_SECONDS = 0xffffffff;
/** Enough for 0x92, the EventTime, a uint64 or float64 timestamp and a float64 value. */
const ENTRY_FIXED_MAX = 1 + 10 + 9 + 9;
const INITIAL_SCRATCH = 64 * 1024;

/** Bytes of a msgpack unsigned integer in its smallest encoding. */
function uintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

function arrayHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

/** Writes a non-negative safe integer in its smallest msgpack encoding; returns the new position. */
function writeUint(buf: Uint8Array, pos: number, n: number): number {
  if (n < 0x80) {
    buf[pos] = n;
    return pos + 1;
  }
  if (n < 0x100) {
    buf[pos] = 0xcc;
    buf[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    buf[pos] = 0xcd;
    buf[pos + 1] = n >>> 8;
    buf[pos + 2] = n & 0xff;
    return pos + 3;
  }
  if (n < 0x100000000) {
    buf[pos] = 0xce;
    writeUint32(buf, pos + 1, n);
    return pos + 5;
  }
  buf[pos] = 0xcf;
  writeUint32(buf, pos + 1, Math.floor(n / 0x100000000));
  writeUint32(buf, pos + 5, n >>> 0);
  return pos + 9;
}

function writeUint32(buf: Uint8Array, pos: number, n: number): void {
  buf[pos] = n >>> 24;
  buf[pos + 1] = (n >>> 16) & 0xff;
  buf[pos + 2] = (n >>> 8) & 0xff;
  buf[pos + 3] = n & 0xff;
}

export class FluentEncoder implements Encoder {
  readonly kind = EncoderKind.Fluent;
  readonly tag: string;
  readonly requireAck: boolean;
  readonly maxSamples: number;
  readonly maxBytes: number;

  /** msgpack bytes of the tag string. */
  readonly #tagBytes: Uint8Array;
  /** Bytes of a message other than its entries, array header and `size` value. */
  readonly #fixedOverhead: number;
  /** Entries of the message being built, from offset 0. */
  #buf = new Uint8Array(INITIAL_SCRATCH);
  #view = new DataView(this.#buf.buffer);
  readonly #random = Buffer.alloc(CHUNK_BYTES);

  constructor(options: FluentEncoderOptions = {}) {
    const tag = options.tag ?? FluentDefaults.tag;
    if (typeof tag !== 'string' || tag.length === 0) {
      throw new ConfigError(Field.Tag, `must be a non-empty string, got ${JSON.stringify(tag)}`);
    }
    const maxSamples = options.maxSamples ?? FluentDefaults.maxSamples;
    if (!Number.isInteger(maxSamples) || maxSamples < 1 || maxSamples > 0xffffffff) {
      throw new ConfigError(Field.MaxSamples, `must be an integer from 1 to 4294967295, got ${maxSamples}`);
    }
    const maxBytes = options.maxBytes ?? FluentDefaults.maxBytes;
    if (!Number.isInteger(maxBytes) || maxBytes < 1) {
      throw new ConfigError(Field.MaxBytes, `must be an integer ≥ 1, got ${maxBytes}`);
    }
    this.tag = tag;
    this.requireAck = options.requireAck ?? FluentDefaults.requireAck;
    this.maxSamples = maxSamples;
    this.maxBytes = maxBytes;
    this.#tagBytes = packed(tag);
    // 0x93, tag, option map header, "size" and, with acks, "chunk" and its fixstr.
    this.#fixedOverhead =
      1 + this.#tagBytes.length + 1 + KEY_SIZE.length + (this.requireAck ? KEY_CHUNK.length + 1 + CHUNK_CHARS : 0);
  }

  encode(batch: SampleBatch, defaultTimestamp: number | null, out: Uint8Array[] = []): Uint8Array[] {
    const outLength = out.length;
    try {
      return this.#encode(batch, defaultTimestamp, out);
    } catch (err) {
      out.length = outLength;
      throw err;
    }
  }

  #encode(batch: SampleBatch, defaultTimestamp: number | null, out: Uint8Array[]): Uint8Array[] {
    const length = batch.length;
    if (length === 0) return out;
    const { series, values, timestamps } = batch;
    const maxSamples = this.maxSamples;
    const maxBytes = this.maxBytes;
    let buf = this.#buf;
    let view = this.#view;
    let now = Number.NaN;
    let pos = 0;
    let count = 0;

    for (let i = 0; i < length; i++) {
      const s = series[i] as Series;
      const memo = s.memoOwner === MEMO_OWNER ? (s.memo as SeriesBytes) : this.#memoise(s);
      const head = memo.head;
      const tail = memo.tail;

      const need = pos + head.length + tail.length + ENTRY_FIXED_MAX;
      if (need > buf.length) {
        this.#grow(need, pos);
        buf = this.#buf;
        view = this.#view;
      }

      // The record's timestamp (NaN writes nil) and the EventTime's milliseconds.
      let recordMs = timestamps[i] as number;
      let eventMs = recordMs;
      if (recordMs !== recordMs) {
        if (defaultTimestamp === null) {
          if (now !== now) now = Date.now();
          eventMs = now;
        } else {
          recordMs = eventMs = defaultTimestamp;
        }
      }
      let seconds = Math.floor(eventMs / 1000);
      let nanos = Math.round((eventMs - seconds * 1000) * 1e6);
      if (nanos >= 1e9) {
        seconds += 1;
        nanos -= 1e9;
      }
      if (!(seconds >= 0 && seconds <= MAX_SECONDS)) throw outOfRange(s, eventMs);

      const entryStart = pos;
      buf[pos] = 0x92; // [time, record]
      buf[pos + 1] = 0xd7; // fixext8
      buf[pos + 2] = 0x00; // EventTime
      writeUint32(buf, pos + 3, seconds);
      writeUint32(buf, pos + 7, nanos);
      pos += 11;
      buf.set(head, pos);
      pos += head.length;
      if (recordMs !== recordMs) {
        buf[pos++] = 0xc0;
      } else if (Number.isInteger(recordMs)) {
        // Non-negative and below 2^53: the EventTime check above bounds it.
        pos = writeUint(buf, pos, recordMs);
      } else {
        buf[pos] = 0xcb;
        view.setFloat64(pos + 1, recordMs);
        pos += 9;
      }
      buf.set(tail, pos);
      pos += tail.length;
      const value = values[i] as number;
      if (value - value === 0) {
        buf[pos] = 0xcb;
        view.setFloat64(pos + 1, value);
        pos += 9;
      } else {
        const bytes = NON_FINITE.get(nonFiniteString(value)) as Uint8Array;
        buf.set(bytes, pos);
        pos += bytes.length;
      }
      count++;

      if (count > 1 && this.#messageLength(count, pos) > maxBytes) {
        // This entry does not fit: send the others, then start the next message with it.
        out.push(this.#message(count - 1, entryStart));
        buf.copyWithin(0, entryStart, pos);
        pos -= entryStart;
        count = 1;
      }
      if (count === maxSamples) {
        out.push(this.#message(count, pos));
        pos = 0;
        count = 0;
      }
    }
    if (count > 0) out.push(this.#message(count, pos));
    return out;
  }

  /** The length of a message of `count` entries taking `entryBytes` bytes. */
  #messageLength(count: number, entryBytes: number): number {
    return this.#fixedOverhead + arrayHeaderLength(count) + entryBytes + uintLength(count);
  }

  /** Frames the `count` entries in `#buf[0, end)` as one message in its own buffer. */
  #message(count: number, end: number): Uint8Array {
    const len = this.#messageLength(count, end);
    const msg = new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len);
    msg[0] = 0x93;
    msg.set(this.#tagBytes, 1);
    let pos = 1 + this.#tagBytes.length;
    if (count < 16) {
      msg[pos++] = 0x90 | count;
    } else if (count < 0x10000) {
      msg[pos] = 0xdc;
      msg[pos + 1] = count >>> 8;
      msg[pos + 2] = count & 0xff;
      pos += 3;
    } else {
      msg[pos] = 0xdd;
      writeUint32(msg, pos + 1, count);
      pos += 5;
    }
    msg.set(this.#buf.subarray(0, end), pos);
    pos += end;
    msg[pos++] = this.requireAck ? 0x82 : 0x81;
    msg.set(KEY_SIZE, pos);
    pos = writeUint(msg, pos + KEY_SIZE.length, count);
    if (this.requireAck) {
      msg.set(KEY_CHUNK, pos);
      pos += KEY_CHUNK.length;
      msg[pos++] = 0xa0 | CHUNK_CHARS;
      const chunk = randomFillSync(this.#random).toString('base64');
      for (let i = 0; i < CHUNK_CHARS; i++) msg[pos + i] = chunk.charCodeAt(i);
      pos += CHUNK_CHARS;
    }
    // The buffer is not zero-filled: a length mistake must not send stale memory.
    if (pos !== len) throw new Error(`fluent encoder framed ${pos} of ${len} bytes`);
    return msg;
  }

  #memoise(series: Series): SeriesBytes {
    const memo = seriesBytes(series);
    series.memoOwner = MEMO_OWNER;
    series.memo = memo;
    return memo;
  }

  /** Grows the scratch buffer to hold at least `capacity` bytes, keeping `[0, used)`. */
  #grow(capacity: number, used: number): void {
    const next = new Uint8Array(Math.max(capacity, this.#buf.length * 2));
    next.set(this.#buf.subarray(0, used));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }
}

function outOfRange(series: Series, ms: number): EncodeError {
  return new EncodeError(
    `sample of series ${JSON.stringify(series.name)} has timestamp ${ms} ms, outside what a Fluent ` +
      `EventTime holds (0 to ${MAX_SECONDS} seconds since the epoch, uint32)`,
  );
}
