// SPDX-License-Identifier: Apache-2.0
/**
 * Naive filters and encoders over `Sample` objects: what the line-split world does after parsing,
 * and the baselines the encode and pipeline benchmarks compare Strata with.
 *
 * - Filters (DESIGN "Filters", counter and gauge samples only): `Array.prototype.filter` for
 *   exclude and clip, `map` to a new object for clamp. They return new arrays.
 * - JSON: `JSON.stringify` of one object per sample in the DESIGN format (non-finite values as
 *   "NaN", "+Inf", "-Inf"), lines joined per message, one `Buffer.from` per message. Tags are
 *   written in the object's key order; the line-split parser builds them sorted, so the output is
 *   byte for byte what Strata's JSON encoder writes.
 * - statsd: a template string per sample (DogStatsD tags, `|g`), non-finite values skipped, lines
 *   packed into messages of at most `maxBytes` UTF-8 bytes.
 * - Fluent: `@msgpack/msgpack` encodes `[tag, [[time, record], …]]` per message, with `time` as
 *   integer seconds (the Forward protocol allows it) instead of an EventTime extension.
 * They are simpler than Strata's encoders (no name or tag sanitising, no negative-gauge reset),
 * which only favours the baseline.
 */
import { encode as msgpackEncode } from '@msgpack/msgpack';
import type { Sample } from '../../src/sample.js';
import { nonFinite, sampleToJson } from './json-line.js';

export { sampleToJson } from './json-line.js';

export interface ExcludeOpts { readonly values: readonly number[] }
export interface ClipOpts { readonly min?: number; readonly max?: number; readonly inclusive?: boolean }
export interface ClampOpts { readonly min?: number; readonly max?: number }

function filtered(s: Sample): boolean {
  return s.type === 'counter' || s.type === 'gauge';
}

export function naiveExclude(samples: readonly Sample[], opts: ExcludeOpts): Sample[] {
  return samples.filter((s) => !filtered(s) || !opts.values.includes(s.value));
}

export function naiveClip(samples: readonly Sample[], opts: ClipOpts): Sample[] {
  const min = opts.min ?? -Infinity;
  const max = opts.max ?? Infinity;
  return opts.inclusive === true
    ? samples.filter((s) => !filtered(s) || (s.value >= min && s.value <= max))
    : samples.filter((s) => !filtered(s) || (s.value > min && s.value < max));
}

export function naiveClamp(samples: readonly Sample[], opts: ClampOpts): Sample[] {
  const min = opts.min ?? -Infinity;
  const max = opts.max ?? Infinity;
  return samples.map((s) => (filtered(s) && (s.value < min || s.value > max) ? { ...s, value: s.value < min ? min : max } : s));
}

export function naiveJson(samples: readonly Sample[], defaultTimestamp: number | null, maxSamples: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < samples.length; i += maxSamples) {
    const lines = samples.slice(i, i + maxSamples).map((s) => sampleToJson(s, defaultTimestamp));
    out.push(Buffer.from(`${lines.join('\n')}\n`));
  }
  return out;
}

export function naiveStatsd(samples: readonly Sample[], maxBytes: number): Buffer[] {
  const out: Buffer[] = [];
  let msg: string[] = [];
  let size = 0;
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    const tags = Object.entries(s.tags).map(([k, v]) => `${k}:${v}`).join(',');
    const line = `${s.name}:${s.value}|g${tags === '' ? '' : `|#${tags}`}`;
    const bytes = Buffer.byteLength(line);
    if (msg.length > 0 && size + 1 + bytes > maxBytes) {
      out.push(Buffer.from(msg.join('\n')));
      msg = [];
      size = 0;
    }
    size += (msg.length > 0 ? 1 : 0) + bytes;
    msg.push(line);
  }
  if (msg.length > 0) out.push(Buffer.from(msg.join('\n')));
  return out;
}

export function naiveFluent(samples: readonly Sample[], tag: string, defaultTimestamp: number, maxSamples: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < samples.length; i += maxSamples) {
    const entries = samples.slice(i, i + maxSamples).map((s) => {
      const ts = s.timestamp ?? defaultTimestamp;
      return [Math.floor(ts / 1000), { name: s.name, tags: s.tags, timestamp: ts, type: s.type, value: Number.isFinite(s.value) ? s.value : nonFinite(s.value) }];
    });
    out.push(msgpackEncode([tag, entries]));
  }
  return out;
}

export function totalBytes(messages: readonly Uint8Array[]): number {
  let n = 0;
  for (const m of messages) n += m.byteLength;
  return n;
}
