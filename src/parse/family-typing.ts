// SPDX-License-Identifier: Apache-2.0
/**
 * Family typing: which metric family a series name belongs to, given the TYPE lines seen so far
 * in this scrape, and what that makes of its samples (DESIGN "Samples").
 *
 * - counter, gauge, untyped: the series as exposed.
 * - summary `foo{quantile="q"}`: name `foo`, label `quantile` becomes a canonical float tag.
 * - histogram `foo_bucket{le="b"}`: name `foo`, label `le` becomes the canonical float tag
 *   `bucket` (the value is the cumulative count, fractional counts kept as they are).
 * - `foo_sum`, `foo_count` of a summary or histogram: kept by name, typed as their family.
 * - OpenMetrics: `foo_total` of a counter keeps its name; `_created` samples are skipped (they
 *   carry a creation time, not a value); info and stateset are gauges; gaugehistogram is a
 *   histogram (`_gsum`/`_gcount` are its sum and count); unknown is untyped.
 * - NaN-valued counter, gauge, untyped and quantile samples are dropped and counted (the
 *   original did the same); bucket, sum and count samples keep NaN.
 *
 * A name resolves by its exact family first (a TYPE line for the name itself), else by its
 * suffix against the family of the name without it; a suffix the family's type does not have
 * (`foo_bucket` of a counter `foo`) leaves the name an untyped series of its own.
 *
 * Invariants: a `NameResolution` records the TYPE records it read and the types they held, and
 * `validIn(epoch)` is true exactly when those still hold; a resolution is never used after it
 * stops holding (the flattener resolves again). `plain()` shares those records, so it holds
 * exactly when its resolution does.
 *
 * Recovery: nothing here fails; an unknown TYPE name is refused by the parser before it gets
 * here (`PROMETHEUS_TYPES`, `OPENMETRICS_TYPES`).
 */
import { SampleType } from '../sample.js';
import type { FamilyRecord, SeriesCache } from './series-cache.js';
import { SampleRole } from './series-cache.js';
import type { TagShape } from './tag-shape.js';

/** TYPE names of both formats mapped to the sample model. */
const TYPE_MAP: Readonly<Record<string, SampleType>> = {
  counter: SampleType.Counter,
  gauge: SampleType.Gauge,
  histogram: SampleType.Histogram,
  gaugehistogram: SampleType.Histogram,
  summary: SampleType.Summary,
  untyped: SampleType.Untyped,
  unknown: SampleType.Untyped,
  info: SampleType.Gauge,
  stateset: SampleType.Gauge,
};

/** The TYPE names Prometheus text 0.0.4 allows. */
export const PROMETHEUS_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
/** The TYPE names OpenMetrics 1.0 allows. */
export const OPENMETRICS_TYPES = new Set([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'stateset',
  'info',
  'unknown',
]);

const Suffix = {
  None: 0,
  Bucket: 1,
  Sum: 2,
  Count: 3,
  Total: 4,
  Created: 5,
  GSum: 6,
  GCount: 7,
  Info: 8,
} as const;
type Suffix = (typeof Suffix)[keyof typeof Suffix];

const SUFFIXES: ReadonlyArray<readonly [string, Suffix]> = [
  ['_bucket', Suffix.Bucket],
  ['_sum', Suffix.Sum],
  ['_count', Suffix.Count],
  ['_total', Suffix.Total],
  ['_created', Suffix.Created],
  ['_gsum', Suffix.GSum],
  ['_gcount', Suffix.GCount],
  ['_info', Suffix.Info],
];

/** Does `suffix` belong to a family of `type`? */
function suffixFits(type: string, suffix: Suffix, openMetrics: boolean): boolean {
  switch (type) {
    case 'histogram':
      return suffix === Suffix.Bucket || suffix === Suffix.Sum || suffix === Suffix.Count || (openMetrics && suffix === Suffix.Created);
    case 'gaugehistogram':
      return suffix === Suffix.Bucket || suffix === Suffix.GSum || suffix === Suffix.GCount;
    case 'summary':
      return suffix === Suffix.Sum || suffix === Suffix.Count || (openMetrics && suffix === Suffix.Created);
    case 'counter':
      return suffix === Suffix.Total || (openMetrics && suffix === Suffix.Created);
    case 'info':
      return suffix === Suffix.Info;
    default:
      return false;
  }
}

/** How a metric name resolved against the TYPE lines seen so far in this scrape. */
export class NameResolution {
  /** The tag layout last used with this name (lines of one metric mostly share it). */
  shape: TagShape | null = null;

  constructor(
    readonly name: string,
    readonly exact: FamilyRecord,
    readonly exactType: string | null,
    readonly base: FamilyRecord | null,
    readonly baseType: string | null,
    readonly type: SampleType,
    readonly role: SampleRole,
    readonly outName: string,
    /** Label whose value becomes a canonical float tag (`le`, `quantile`), or null. */
    readonly renameLabel: string | null,
    readonly renameTo: string,
  ) {}

  /** True when the TYPE declarations this resolution used still hold in `epoch`. */
  validIn(epoch: number): boolean {
    const et = this.exact.epoch === epoch ? this.exact.type : null;
    if (et !== this.exactType) return false;
    if (et !== null || this.base === null) return true;
    return (this.base.epoch === epoch ? this.base.type : null) === this.baseType;
  }

  #plain: NameResolution | null = null;

  /**
   * The same name resolved as an ordinary series of its family, nothing renamed: for a
   * `_bucket` sample without `le`. Same TYPE records, so it holds exactly when this one does.
   */
  plain(): NameResolution {
    this.#plain ??= new NameResolution(this.name, this.exact, this.exactType, this.base, this.baseType, this.type, SampleRole.Keep, this.name, null, '');
    return this.#plain;
  }
}

/** Resolves `name` against the TYPE records `cache` holds for scrape `epoch`. */
export function resolveFamily(cache: SeriesCache, epoch: number, openMetrics: boolean, name: string): NameResolution {
  const exact = cache.family(name);
  const exactType = exact.epoch === epoch ? exact.type : null;
  let base: FamilyRecord | null = null;
  let baseType: string | null = null;
  let famType: string | null = exactType;
  let suffix: Suffix = Suffix.None;
  let famName = name;
  if (exactType === null) {
    for (const [text, kind] of SUFFIXES) {
      if (name.length > text.length && name.endsWith(text)) {
        const baseName = name.substring(0, name.length - text.length);
        base = cache.family(baseName);
        baseType = base.epoch === epoch ? base.type : null;
        if (baseType !== null && suffixFits(baseType, kind, openMetrics)) {
          famType = baseType;
          suffix = kind;
          famName = baseName;
        }
        break;
      }
    }
  }
  const type: SampleType = famType === null ? SampleType.Untyped : (TYPE_MAP[famType] ?? SampleType.Untyped);
  let role: SampleRole = SampleRole.DropNaN;
  let outName = name;
  let renameLabel: string | null = null;
  let renameTo = '';
  if (suffix === Suffix.Created) {
    role = SampleRole.Skip;
  } else if (suffix === Suffix.Bucket) {
    role = SampleRole.Keep;
    outName = famName;
    renameLabel = 'le';
    renameTo = 'bucket';
  } else if (suffix === Suffix.Sum || suffix === Suffix.Count || suffix === Suffix.GSum || suffix === Suffix.GCount) {
    role = SampleRole.Keep;
  } else if (famType === 'summary') {
    renameLabel = 'quantile';
    renameTo = 'quantile';
  } else if (famType === 'histogram' || famType === 'gaugehistogram') {
    role = SampleRole.Keep;
  }
  return new NameResolution(name, exact, exactType, base, baseType, type, role, outName, renameLabel, renameTo);
}
