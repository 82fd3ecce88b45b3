/**
 * The JSON encoder: newline-delimited JSON, one object per sample, in the DESIGN format
 * `{"name":…,"tags":{…},"timestamp":…,"type":…,"value":…}` (keys in this order, tags sorted).
 *
 * Non-finite values are written as the strings "NaN", "+Inf" and "-Inf". A sample without a
 * timestamp gets the default timestamp (the scrape time), or `null` when that is null
 * (`strata parse`). Every line, the last included, ends with `\n`.
 *
 * Speed: the bytes before the timestamp (`{"name":…,"tags":{…},"timestamp":`) and between the
 * timestamp and the value (`,"type":…,"value":`) are rendered once per series and memoised on
 * the `Series`, with their UTF-8 lengths, so a sample costs two number-to-string conversions and
 * a concatenation. A message is built as one string and converted to bytes once.
 */
import type { SampleBatch, Series } from '../sample.js';
import { type Encoder, EncoderKind, type MessageLimits, nonFiniteString } from './encoder.js';

export interface JsonEncoderOptions extends MessageLimits {}

export const JSON_DEFAULT_MAX_SAMPLES = 1000;
export const JSON_DEFAULT_MAX_BYTES = 1 << 20;

class JsonMemo {
  readonly head: string;
  readonly mid: string;
  /** UTF-8 bytes of head + mid + the closing `}\n`. */
  readonly fixedBytes: number;

  constructor(series: Series) {
    let head = `{"name":${JSON.stringify(series.name)},"tags":{`;
    let first = true;
    for (const key in series.tags) {
      head += `${first ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(series.tags[key])}`;
      first = false;
    }
    head += '},"timestamp":';
    this.head = head;
    this.mid = `,"type":"${series.type}","value":`;
    this.fixedBytes = Buffer.byteLength(head) + this.mid.length + 2;
  }
}

export class JsonEncoder implements Encoder {
  readonly kind = EncoderKind.Json;
  readonly maxSamples: number;
  readonly maxBytes: number;

  constructor(options: JsonEncoderOptions = {}) {
    this.maxSamples = Math.max(1, options.maxSamples ?? JSON_DEFAULT_MAX_SAMPLES);
    this.maxBytes = Math.max(1, options.maxBytes ?? JSON_DEFAULT_MAX_BYTES);
  }

  encode(batch: SampleBatch, defaultTimestamp: number | null, out: Uint8Array[] = []): Uint8Array[] {
    const n = batch.length;
    const { series, values, timestamps } = batch;
    const maxSamples = this.maxSamples;
    const maxBytes = this.maxBytes;
    const defaultTs = defaultTimestamp === null ? 'null' : String(defaultTimestamp);
    let msg = '';
    let msgBytes = 0;
    let msgSamples = 0;
    for (let i = 0; i < n; i++) {
      const s = series[i] as Series;
      let memo: JsonMemo;
      if (s.memoOwner === this) memo = s.memo as JsonMemo;
      else {
        memo = new JsonMemo(s);
        s.memo = memo;
        s.memoOwner = this;
      }
      const t = timestamps[i] as number;
      const ts = t === t ? String(t) : defaultTs;
      const v = values[i] as number;
      const vs = v - v === 0 ? String(v) : `"${nonFiniteString(v)}"`;
      const bytes = memo.fixedBytes + ts.length + vs.length;
      if (msgSamples > 0 && (msgSamples >= maxSamples || msgBytes + bytes > maxBytes)) {
        out.push(Buffer.from(msg));
        msg = '';
        msgBytes = 0;
        msgSamples = 0;
      }
      msg += memo.head + ts + memo.mid + vs + '}\n';
      msgBytes += bytes;
      msgSamples++;
    }
    if (msgSamples > 0) out.push(Buffer.from(msg));
    return out;
  }
}
