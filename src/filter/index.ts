/** Public surface of the filters. */
export { compileFilters } from './compile.js';
export type { CompiledFilter, FilterStats } from './compile.js';
export { validateFilterConfig } from './config.js';
export type { FilterConfig, ExcludeConfig, ClipConfig, ClampConfig } from './config.js';
export { ExcludeFilter } from './exclude.js';
export { ClipFilter } from './clip.js';
export { ClampFilter } from './clamp.js';
