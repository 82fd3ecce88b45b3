// SPDX-License-Identifier: Apache-2.0
/**
 * The encoder interface: a batch of samples in, message buffers out.
 *
 * A message holds at most `maxSamples` samples and, where the framing allows splitting, at most
 * `maxBytes` bytes; a single sample larger than `maxBytes` still goes out alone in its own
 * message (a sink may then reject it, and counts it). A sink sends one message per buffer, so
 * `maxSamples: 1` gives one sample per message. Encoders keep no state between calls other than
 * per-series memos (see `Series.memo`), so one encoder may serve any number of targets.
 */
import type { SampleBatch, Series } from '../sample.js';

export const EncoderKind = {
  Json: 'json',
  Fluent: 'fluent',
  Statsd: 'statsd',
  /** Implied by `output.remoteWrite`; not a value of the Collector's `encoder` field. */
  RemoteWrite: 'remoteWrite',
} as const;
export type EncoderKind = (typeof EncoderKind)[keyof typeof EncoderKind];

export interface MessageLimits {
  /** At most this many samples in one message; ≥ 1. */
  readonly maxSamples?: number;
  /** At most this many bytes in one message (a lone oversized sample is still sent alone). */
  readonly maxBytes?: number;
}

export interface Encoder {
  readonly kind: EncoderKind;
  /**
   * Encodes `batch` into messages appended to `out` (returned).
   * @param defaultTimestamp milliseconds since the epoch for samples whose exposition had no
   *   timestamp (the scrape time); `null` writes `null` where the format allows it.
   */
  encode(batch: SampleBatch, defaultTimestamp: number | null, out?: Uint8Array[]): Uint8Array[];
  /**
   * Optional: like `encode`, but hands each message to `emit` as soon as it is complete, with
   * the number of samples in it, as a view of the encoder's own scratch memory that is valid only
   * until `emit` returns (a caller that keeps it copies it). No message is allocated.
   */
  encodeTo?(batch: SampleBatch, defaultTimestamp: number | null, emit: (message: Uint8Array, samples: number) => void): void;
  /**
   * Hands messages back once nothing reads them any more (the sink has delivered or dropped
   * them), so their memory can hold later messages instead of being allocated afresh.
   * Optional; a message must not be used after it is recycled.
   */
  recycle?(messages: readonly Uint8Array[]): void;
  /**
   * Optional: a copy of a message `encodeTo` handed out, to hold past `emit`, in memory that
   * `recycle` takes back (a new buffer per held message would live until a full GC).
   */
  keep?(message: Uint8Array): Uint8Array;
  /**
   * Optional, for formats with a stale marker (remote write): messages marking `series` stale at
   * `timestamp` (ms since the epoch), each message full to `maxSamples` but the last.
   */
  staleMarkers?(series: readonly Series[], timestamp: number, out?: Uint8Array[]): Uint8Array[];
  /** Most samples in one message (every message but the last of a call is full). */
  readonly maxSamples?: number;
}

/** Non-finite values are written as these strings by every encoder that writes text or maps. */
export function nonFiniteString(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return 'NaN';
}
