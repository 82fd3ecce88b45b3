// SPDX-License-Identifier: Apache-2.0
/**
 * strata-collector: the in-process API. The parser, the filters and the encoders, with the
 * sample model and the error types, for benchmarks and programs that embed Strata.
 */
export * from './errors.js';
export * from './sample.js';
export * from './parse/index.js';
export * from './filter/index.js';
export * from './encode/index.js';
