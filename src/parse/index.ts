// SPDX-License-Identifier: Apache-2.0
/** Public surface of the exposition parser. */
export { ExpositionParser, parseExposition, DEFAULT_MAX_LINE_BYTES } from './parser.js';
export type { ParseOptions, ParseResult, ParseStats } from './parser.js';
export { SeriesCache } from './series-cache.js';
export type { SeriesCacheOptions } from './series-cache.js';
export { ExpositionFormat, formatFromContentType, ACCEPT_HEADER } from './format.js';
export { formatGoFloat, parseFloatBytes } from './float.js';
export type { LabelLimits } from './label-limits.js';
