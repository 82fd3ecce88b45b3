// SPDX-License-Identifier: Apache-2.0
/**
 * The `filters` field of a Collector (DESIGN "Filters"), and its validation.
 *
 * - `exclude {values}`: drop samples whose value is one of `values` (NaN matches NaN).
 * - `clip {min, max, inclusive}`: drop samples outside [min, max]; `inclusive: false` (default)
 *   drops values equal to a bound too. An unset `min` is -Infinity and an unset `max` +Infinity,
 *   so with `inclusive: false` an infinite value is dropped even on an unset side.
 * - `clamp {min, max}`: pin values below `min` to `min` and above `max` to `max`.
 * - `dropSeries`, `keepSeries`: lists of matchers `{name, labels: {key: regex}}` (series.ts);
 *   every regex must be valid RE2 syntax (regex.ts); a matcher needs a name or a label.
 * - `dropLabels`: regexes of label names removed from every series.
 * Errors name the field (`filters.clip.min`, `filters.dropSeries[0].labels.job`) and the reason.
 */
import { ConfigError } from '../errors.js';
import { regexProblem } from './regex.js';

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
/** A series matches when its name matches `name` and every label's value its regex (all anchored). */
export interface SeriesMatcherConfig {
  /** Regex over the metric name as exposed (`http_seconds_bucket`, not the flattened `http_seconds`). */
  readonly name?: string;
  /** Label name → regex over its value; an absent label has the value "" (as in Prometheus). */
  readonly labels?: Readonly<Record<string, string>>;
}
export interface FilterConfig {
  readonly exclude?: ExcludeConfig;
  readonly clip?: ClipConfig;
  readonly clamp?: ClampConfig;
  readonly dropSeries?: readonly SeriesMatcherConfig[];
  readonly keepSeries?: readonly SeriesMatcherConfig[];
  readonly dropLabels?: readonly string[];
}

const FILTER_KEYS = new Set(['exclude', 'clip', 'clamp', 'dropSeries', 'keepSeries', 'dropLabels']);

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
    if (!FILTER_KEYS.has(key)) {
      throw new ConfigError(`${path}.${key}`, 'unknown filter: expected exclude, clip, clamp, dropSeries, keepSeries or dropLabels');
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
  if (config.dropSeries !== undefined) checkMatchers(`${path}.dropSeries`, config.dropSeries);
  if (config.keepSeries !== undefined) checkMatchers(`${path}.keepSeries`, config.keepSeries);
  if (config.dropLabels !== undefined) {
    const list = config.dropLabels as unknown;
    if (!Array.isArray(list)) throw new ConfigError(`${path}.dropLabels`, 'must be a list of label names or regexes');
    list.forEach((re: unknown, i) => checkRegex(joinIndex(`${path}.dropLabels`, i), re));
  }
}

function checkRegex(field: string, re: unknown): void {
  if (typeof re !== 'string') throw new ConfigError(field, `must be a regex (a string), got ${JSON.stringify(re)}`);
  const problem = regexProblem(re);
  if (problem !== null) throw new ConfigError(field, `invalid regex ${JSON.stringify(re)} (RE2 syntax, no backreferences or lookaround): ${problem}`);
}

function checkMatchers(field: string, list: unknown): void {
  if (!Array.isArray(list)) throw new ConfigError(field, 'must be a list of matchers {name, labels}');
  list.forEach((m: unknown, i) => {
    const at = joinIndex(field, i);
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ConfigError(at, 'must be a matcher {name, labels}');
    const keys = Object.keys(m);
    for (const k of keys) if (k !== 'name' && k !== 'labels') throw new ConfigError(joinKey(at, k), 'unknown field: expected name or labels');
    const { name, labels } = m as { name?: unknown; labels?: unknown };
    if (name !== undefined) checkRegex(`${at}.name`, name);
    if (labels !== undefined) {
      if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
        throw new ConfigError(`${at}.labels`, 'must be an object of label name → regex');
      }
      for (const [k, re] of Object.entries(labels)) {
        if (k === '') throw new ConfigError(`${at}.labels`, 'a label name must not be empty');
        checkRegex(joinKey(`${at}.labels`, k), re);
      }
    }
    if (name === undefined && (labels === undefined || Object.keys(labels as object).length === 0)) {
      throw new ConfigError(at, 'must have a name or at least one label (a matcher of nothing would match every series)');
    }
  });
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `path.key`, or `path["key"]` when the key is not an identifier (as the config schema writes paths). */
function joinKey(path: string, key: string): string {
  if (!IDENT.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}
