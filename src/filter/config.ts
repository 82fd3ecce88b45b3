/**
 * The `filters` field of a Collector (DESIGN "Filters"), and its validation.
 *
 * - `exclude {values}`: drop samples whose value is one of `values` (NaN matches NaN).
 * - `clip {min, max, inclusive}`: drop samples outside [min, max]; `inclusive: false` (default)
 *   drops values equal to a bound too. An unset `min` is -Infinity and an unset `max` +Infinity,
 *   so with `inclusive: false` an infinite value is dropped even on an unset side.
 * - `clamp {min, max}`: pin values below `min` to `min` and above `max` to `max`.
 * Errors name the field (`filters.clip.min`) and the reason.
 */
import { ConfigError } from '../errors.js';

export interface ExcludeConfig {
  readonly values: readonly number[];
}
export interface ClipConfig {
  readonly min?: number;
  readonly max?: number;
  readonly inclusive?: boolean;
}
export interface ClampConfig {
  readonly min?: number;
  readonly max?: number;
}
export interface FilterConfig {
  readonly exclude?: ExcludeConfig;
  readonly clip?: ClipConfig;
  readonly clamp?: ClampConfig;
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number';
}

function checkRange(field: string, min: unknown, max: unknown): void {
  if (min !== undefined && !isNumber(min)) throw new ConfigError(`${field}.min`, `must be a number, got ${JSON.stringify(min)}`);
  if (max !== undefined && !isNumber(max)) throw new ConfigError(`${field}.max`, `must be a number, got ${JSON.stringify(max)}`);
  if (isNumber(min) && Number.isNaN(min)) throw new ConfigError(`${field}.min`, 'must not be NaN');
  if (isNumber(max) && Number.isNaN(max)) throw new ConfigError(`${field}.max`, 'must not be NaN');
  if (isNumber(min) && isNumber(max) && min > max) {
    throw new ConfigError(`${field}.min`, `must not be greater than max (${min} > ${max})`);
  }
}

/** Throws a ConfigError naming the first invalid field. */
export function validateFilterConfig(config: FilterConfig, path = 'filters'): void {
  const c = config as Record<string, unknown>;
  for (const key of Object.keys(c)) {
    if (key !== 'exclude' && key !== 'clip' && key !== 'clamp') {
      throw new ConfigError(`${path}.${key}`, 'unknown filter: expected exclude, clip or clamp');
    }
  }
  if (config.exclude !== undefined) {
    const values = (config.exclude as { values?: unknown }).values;
    if (!Array.isArray(values)) throw new ConfigError(`${path}.exclude.values`, 'must be a list of numbers');
    values.forEach((v, i) => {
      if (!isNumber(v)) throw new ConfigError(`${path}.exclude.values[${i}]`, `must be a number, got ${JSON.stringify(v)}`);
    });
  }
  if (config.clip !== undefined) {
    checkRange(`${path}.clip`, config.clip.min, config.clip.max);
    const inc = (config.clip as { inclusive?: unknown }).inclusive;
    if (inc !== undefined && typeof inc !== 'boolean') {
      throw new ConfigError(`${path}.clip.inclusive`, `must be true or false, got ${JSON.stringify(inc)}`);
    }
  }
  if (config.clamp !== undefined) checkRange(`${path}.clamp`, config.clamp.min, config.clamp.max);
}
