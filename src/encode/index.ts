// SPDX-License-Identifier: Apache-2.0
/** Public surface of the encoders. */
export { EncoderKind, nonFiniteString } from './encoder.js';
export type { Encoder, MessageLimits } from './encoder.js';
export { JsonEncoder } from './json.js';
export type { JsonEncoderOptions } from './json.js';
export { StatsdEncoder, StatsdTagStyle, StatsdCounterAs, STATSD_DEFAULT_MAX_BYTES } from './statsd.js';
export type { StatsdEncoderOptions } from './statsd.js';
export { FluentEncoder, FluentDefaults } from './fluent.js';
export type { FluentEncoderOptions } from './fluent.js';
export { RemoteWriteEncoder, remoteWriteTargetLabels, ScrapeSeries, StaleTracker } from './remote-write.js';
export { collectorEncoder, collectorEncoding, createEncoder, encoderWarning } from './create.js';
