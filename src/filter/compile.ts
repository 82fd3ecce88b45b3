// SPDX-License-Identifier: Apache-2.0
/**
 * Compiles a Collector's `filters` into one function over a `SampleBatch`.
 *
 * Order: exclude, then clip, then clamp, applied to counter and gauge samples only; untyped,
 * summary and histogram samples pass untouched (DESIGN "Filters"). The function compacts the
 * batch in place (kept samples move down, order preserved), counts dropped samples as
 * `filtered` and pinned ones as `clamped`, and allocates nothing per sample. Stats are local
 * sums added to the caller's object once per batch.
 *
 * The series filters (`dropSeries`, `keepSeries`, `dropLabels`) are not applied here: they act
 * once per series, inside the parser (series.ts, `compileSeriesFilter`).
 */
import type { SampleBatch, Series } from '../sample.js';
import { SampleType } from '../sample.js';
import { ClampFilter } from './clamp.js';
import { ClipFilter } from './clip.js';
import { type FilterConfig, validateFilterConfig } from './config.js';
import { ExcludeFilter } from './exclude.js';

export interface FilterStats {
  /** Samples dropped by exclude or clip. */
  filtered: number;
  /** Samples whose value clamp changed. */
  clamped: number;
}

export type CompiledFilter = (batch: SampleBatch, stats: FilterStats) => void;

class Plan {
  readonly exclude: ExcludeFilter | null;
  readonly clip: ClipFilter | null;
  readonly clamp: ClampFilter | null;

  constructor(config: FilterConfig) {
    this.exclude = config.exclude === undefined ? null : new ExcludeFilter(config.exclude);
    this.clip = config.clip === undefined ? null : new ClipFilter(config.clip);
    this.clamp = config.clamp === undefined ? null : new ClampFilter(config.clamp);
  }
}

function apply(plan: Plan, batch: SampleBatch, stats: FilterStats): void {
  const { exclude, clip, clamp } = plan;
  const n = batch.length;
  const { series, values, timestamps } = batch;
  const clampMin = clamp === null ? Number.NEGATIVE_INFINITY : clamp.min;
  const clampMax = clamp === null ? Number.POSITIVE_INFINITY : clamp.max;
  let w = 0;
  let filtered = 0;
  let clamped = 0;
  for (let r = 0; r < n; r++) {
    const s = series[r] as Series;
    let v = values[r] as number;
    const type = s.type;
    if (type === SampleType.Counter || type === SampleType.Gauge) {
      if ((exclude !== null && exclude.excludes(v)) || (clip !== null && !clip.keeps(v))) {
        filtered++;
        continue;
      }
      if (v < clampMin) {
        v = clampMin;
        clamped++;
      } else if (v > clampMax) {
        v = clampMax;
        clamped++;
      }
    }
    if (w !== r) {
      series[w] = s;
      timestamps[w] = timestamps[r] as number;
    }
    values[w] = v;
    w++;
  }
  batch.length = w;
  stats.filtered += filtered;
  stats.clamped += clamped;
}

function passThrough(): void {}

/** Validates `config` (throws ConfigError) and compiles it. */
export function compileFilters(config: FilterConfig = {}): CompiledFilter {
  validateFilterConfig(config);
  if (config.exclude === undefined && config.clip === undefined && config.clamp === undefined) {
    return passThrough;
  }
  const plan = new Plan(config);
  return (batch, stats) => apply(plan, batch, stats);
}
