// SPDX-License-Identifier: Apache-2.0
/**
 * Builds the encoder of a Collector: the one its `encoder` field names, with `batch` as its
 * message limits, unless the output implies its own (`remoteWrite`: protobuf; `statsd`: statsd
 * lines with the output's tag style and datagram size; `fluent`: Forward with the output's tag
 * and chunk ids when it asks for acks).
 */
import type { Encoder, EncoderKind, MessageLimits } from './encoder.js';
import { FluentEncoder } from './fluent.js';
import { JsonEncoder } from './json.js';
import { RemoteWriteEncoder } from './remote-write.js';
import { type StatsdCounterAs, StatsdEncoder, type StatsdTagStyle } from './statsd.js';

export function createEncoder(kind: EncoderKind, limits: MessageLimits = {}): Encoder {
  switch (kind) {
    case 'json':
      return new JsonEncoder(limits);
    case 'fluent':
      return new FluentEncoder(limits);
    case 'statsd':
      // A statsd message is a datagram: keep the encoder's own size (1432 bytes) unless asked.
      return new StatsdEncoder(limits.maxSamples === undefined ? {} : { maxSamples: limits.maxSamples });
    case 'remoteWrite':
      return new RemoteWriteEncoder(limits.maxSamples === undefined ? {} : { maxSamplesPerSend: limits.maxSamples });
  }
}

/**
 * The encoder of a Collector: an output that implies its own encoding (`remoteWrite`: protobuf,
 * `maxSamplesPerSend` per message) gets it, and the `encoder` field is ignored; any other output
 * gets the `encoder` field's, with `batch` as its limits.
 */
export function collectorEncoder(spec: { readonly encoder: EncoderKind; readonly batch?: MessageLimits; readonly output: object }): Encoder {
  const rw = (spec.output as { remoteWrite?: { maxSamplesPerSend?: number } }).remoteWrite;
  if (rw !== undefined) return new RemoteWriteEncoder(rw.maxSamplesPerSend === undefined ? {} : { maxSamplesPerSend: rw.maxSamplesPerSend });
  const fl = (spec.output as { fluent?: { tag: string; requireAck: boolean } }).fluent;
  if (fl !== undefined) return new FluentEncoder({ ...spec.batch, tag: fl.tag, requireAck: fl.requireAck });
  const sd = (spec.output as { statsd?: { tagStyle: StatsdTagStyle; counterAs: StatsdCounterAs; prefix?: string; maxDatagramBytes: number } }).statsd;
  if (sd !== undefined) {
    return new StatsdEncoder({
      tagStyle: sd.tagStyle,
      counterAs: sd.counterAs,
      maxBytes: sd.maxDatagramBytes,
      ...(sd.prefix === undefined ? {} : { prefix: sd.prefix }),
      ...(spec.batch?.maxSamples === undefined ? {} : { maxSamples: spec.batch.maxSamples }),
    });
  }
  return createEncoder(spec.encoder, spec.batch);
}

/** The encoding a Collector's messages have: the one its output implies, else its `encoder`. */
export function collectorEncoding(spec: { readonly encoder: EncoderKind; readonly output: object }): EncoderKind {
  for (const kind of ['remoteWrite', 'statsd', 'fluent'] as const) if (kind in spec.output) return kind;
  return spec.encoder;
}

/**
 * What `strata validate` warns about a Collector's encoding: an `encoder` other than the default
 * that its output ignores. Null when there is nothing to say.
 */
export function encoderWarning(spec: { readonly encoder: EncoderKind; readonly output: object }): string | null {
  if ('remoteWrite' in spec.output && spec.encoder !== 'json') {
    return `spec.encoder: ${JSON.stringify(spec.encoder)} is ignored: output remoteWrite sends its own encoding (protobuf, snappy)`;
  }
  for (const kind of ['statsd', 'fluent'] as const) {
    if (kind in spec.output && spec.encoder !== 'json' && spec.encoder !== kind) {
      return `spec.encoder: ${JSON.stringify(spec.encoder)} is ignored: output ${kind} sends ${kind} messages`;
    }
  }
  return null;
}
