// SPDX-License-Identifier: Apache-2.0
/** Public surface of the filters. */
export { compileFilters } from './compile.js';
export type { CompiledFilter, FilterStats } from './compile.js';
export { validateFilterConfig } from './config.js';
export type { FilterConfig, ExcludeConfig, ClipConfig, ClampConfig, SeriesMatcherConfig } from './config.js';
export { compileSeriesFilter, KEEP, SeriesFilter } from './series.js';
export type { MatcherStat } from './series.js';
export { LabelRegex, regexProblem } from './regex.js';
export { ExcludeFilter } from './exclude.js';
export { ClipFilter } from './clip.js';
export { ClampFilter } from './clamp.js';
