/** Builds the encoder a Collector's `encoder` field names, with its message limits. */
import type { Encoder, EncoderKind, MessageLimits } from './encoder.js';
import { FluentEncoder } from './fluent.js';
import { JsonEncoder } from './json.js';
import { StatsdEncoder } from './statsd.js';

export function createEncoder(kind: EncoderKind, limits: MessageLimits = {}): Encoder {
  switch (kind) {
    case 'json':
      return new JsonEncoder(limits);
    case 'fluent':
      return new FluentEncoder(limits);
    case 'statsd':
      // A statsd message is a datagram: keep the encoder's own size (1432 bytes) unless asked.
      return new StatsdEncoder(limits.maxSamples === undefined ? {} : { maxSamples: limits.maxSamples });
  }
}
