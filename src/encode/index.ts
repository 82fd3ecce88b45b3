/** Public surface of the encoders. */
export { EncoderKind, nonFiniteString } from './encoder.js';
export type { Encoder, MessageLimits } from './encoder.js';
export { JsonEncoder } from './json.js';
export type { JsonEncoderOptions } from './json.js';
