/**
 * Flattening: turns a validated series line into the `Series` its samples are emitted under,
 * following DESIGN "Samples".
 *
 * - counter, gauge, untyped: the series as exposed, its labels as tags.
 * - summary `foo{quantile="q"}`: name `foo`, tag `quantile` in canonical form; NaN dropped.
 * - histogram `foo_bucket{le="b"}`: name `foo`, `le` replaced by tag `bucket` in canonical form
 *   (the value is the cumulative count, fractional counts kept as they are).
 * - `foo_sum`, `foo_count` of a summary or histogram: kept by name, typed as their family.
 * - OpenMetrics: `foo_total` of a counter keeps its name; `_created` samples are skipped (they
 *   carry a creation time, not a value); info and stateset are gauges; gaugehistogram is a
 *   histogram (`_gsum`/`_gcount` are its sum and count); unknown is untyped.
 * - NaN-valued counter, gauge, untyped and quantile samples are dropped and counted (the
 *   original did the same); bucket, sum and count samples keep NaN.
 * Canonical float form is Go's `%v`: `1.0` and `1e0` become `1`, `+Inf` stays `+Inf`.
 *
 * Tags: target tags first, overridden by the sample's own labels of the same name, keys sorted.
 * A duplicate label name and `__name__` as a label name are errors (Prometheus' scrape loop
 * refuses such series), as are label values that are not valid UTF-8 and a bucket or quantile
 * whose bound is not a float.
 */
import { isUtf8 } from 'node:buffer';
import { ParseError, quote } from '../errors.js';
import { SampleType, Series } from '../sample.js';
import { floatOk, formatGoFloat, parseFloatBytes } from './float.js';
import { CacheEntry, type FamilyRecord, SampleRole, type SeriesCache } from './series-cache.js';
import { L_ESCAPE, L_HIGH, type SeriesSyntax } from './series-syntax.js';

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

export const PROMETHEUS_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);
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

/** Context a resolution needs: the cache, the scrape epoch and the target's tags. */
export interface FlattenContext {
  readonly cache: SeriesCache;
  readonly epoch: number;
  readonly openMetrics: boolean;
  /** Target tags as sorted [key, value, key, value, …]. */
  readonly targetTags: readonly string[];
}

/**
 * Resolves a fully parsed series line into a cache entry (not inserted).
 * @param key the series bytes `[syntax.nameStart, syntax.seriesEnd)` as a latin1 string
 */
export function resolveSeries(
  ctx: FlattenContext,
  buf: Uint8Array,
  syn: SeriesSyntax,
  key: string,
  lineNo: number,
): CacheEntry {
  const base0 = syn.nameStart;
  const name = key.substring(0, syn.nameEnd - base0);
  const { cache, epoch, openMetrics } = ctx;

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
  let renameLabel: string | null = null; // label whose value becomes a canonical tag
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

  // Labels → sorted tag pairs, target tags underneath.
  const pairs: string[] = [];
  // Small label sets are checked for duplicates by a scan; large ones by a set (linear time).
  const seen = syn.labelCount > SMALL_LABEL_SET ? new Set<string>() : null;
  let renamed = false;
  const labels = syn.labels;
  for (let l = 0; l < syn.labelCount; l++) {
    const k = l * 5;
    const ns = labels[k] as number;
    const ne = labels[k + 1] as number;
    const vs = labels[k + 2] as number;
    const ve = labels[k + 3] as number;
    const flags = labels[k + 4] as number;
    let lname = key.substring(ns - base0, ne - base0);
    if (lname === '__name__') {
      throw new ParseError(lineNo, 'label name "__name__" is reserved and may not appear in a label set');
    }
    if (seen !== null ? seen.has(lname) : hasKey(pairs, lname)) {
      throw new ParseError(lineNo, `duplicate label name "${lname}"`);
    }
    if (seen !== null) seen.add(lname);
    let value: string;
    if (flags & L_HIGH) {
      if (!isUtf8(buf.subarray(vs, ve))) {
        throw new ParseError(lineNo, `value of label "${lname}" is not valid UTF-8: ${quote(buf, vs, ve)}`);
      }
      value = Buffer.from(buf.buffer, buf.byteOffset + vs, ve - vs).toString('utf8');
    } else {
      value = key.substring(vs - base0, ve - base0);
    }
    if (flags & L_ESCAPE) value = unescapeLabelValue(value);
    if (lname === renameLabel) {
      const b = Buffer.from(value, 'latin1');
      const bound = parseFloatBytes(b, 0, b.length);
      if (!floatOk || (flags & L_HIGH) !== 0) {
        throw new ParseError(lineNo, `label "${lname}" of ${JSON.stringify(name)} is not a float: ${JSON.stringify(value)}`);
      }
      value = formatGoFloat(bound);
      lname = renameTo;
      renamed = true;
    }
    pairs.push(lname, value);
  }
  if (renameLabel === 'le' && !renamed) {
    throw new ParseError(lineNo, `histogram bucket ${JSON.stringify(name)} has no "le" label`);
  }
  if (renameLabel === 'quantile' && !renamed) {
    // A summary sample without a quantile: kept as a plain summary sample.
    role = SampleRole.Keep;
  }
  const tags = buildTags(ctx.targetTags, pairs);
  const series = new Series(outName, type, tags);
  return new CacheEntry(series, role, exact, exactType, base, baseType, epoch);
}

const SMALL_LABEL_SET = 16;

function hasKey(pairs: readonly string[], key: string): boolean {
  for (let p = 0; p < pairs.length; p += 2) if (pairs[p] === key) return true;
  return false;
}

function buildTags(target: readonly string[], own: string[]): Record<string, string> {
  // own labels win over target tags of the same name
  const all: string[] = own.slice();
  const ownKeys = own.length > SMALL_LABEL_SET * 2 ? new Set(own.filter((_, i) => i % 2 === 0)) : null;
  for (let t = 0; t < target.length; t += 2) {
    const k = target[t] as string;
    const shadowed = ownKeys !== null ? ownKeys.has(k) : hasKey(own, k);
    if (!shadowed) all.push(k, target[t + 1] as string);
  }
  const n = all.length / 2;
  if (n > SMALL_LABEL_SET) {
    const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      const ka = all[a * 2] as string;
      const kb = all[b * 2] as string;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const big: Record<string, string> = {};
    for (const i of idx) setTag(big, all[i * 2] as string, all[i * 2 + 1] as string);
    return big;
  }
  // insertion sort of pairs by key (label sets are small)
  for (let a = 1; a < n; a++) {
    const k = all[a * 2] as string;
    const v = all[a * 2 + 1] as string;
    let b = a - 1;
    while (b >= 0 && (all[b * 2] as string) > k) {
      all[(b + 1) * 2] = all[b * 2] as string;
      all[(b + 1) * 2 + 1] = all[b * 2 + 1] as string;
      b--;
    }
    all[(b + 1) * 2] = k;
    all[(b + 1) * 2 + 1] = v;
  }
  const tags: Record<string, string> = {};
  for (let p = 0; p < all.length; p += 2) setTag(tags, all[p] as string, all[p + 1] as string);
  return tags;
}

/** Sets a tag; `__proto__` is a valid label name and must become an own property. */
function setTag(tags: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') {
    Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  } else tags[key] = value;
}

/** `\\` → `\`, `\"` → `"`, `\n` → newline; any other escape is kept as written. */
export function unescapeLabelValue(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== 0x5c || i + 1 >= s.length) continue;
    const n = s.charCodeAt(i + 1);
    let rep: string | null = null;
    if (n === 0x5c) rep = '\\';
    else if (n === 0x22) rep = '"';
    else if (n === 0x6e) rep = '\n';
    if (rep === null) {
      i++;
      continue;
    }
    out += s.substring(from, i) + rep;
    i++;
    from = i + 1;
  }
  return from === 0 ? s : out + s.substring(from);
}

/** Sorted [k, v, …] of a tag object, and a string identifying it (for the cache). */
export function sortedTagPairs(tags: Readonly<Record<string, string>> | undefined): string[] {
  if (tags === undefined) return [];
  const keys = Object.keys(tags).sort();
  const out: string[] = [];
  for (const k of keys) out.push(k, tags[k] as string);
  return out;
}
