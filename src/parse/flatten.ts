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
 * - A `_bucket` sample of a histogram without an `le` label is an ordinary series of its
 *   family (Prometheus stores it as it is): name as exposed, type histogram, NaN kept.
 *
 * Tags: target tags first, overridden by the sample's own labels of the same name, keys sorted.
 * A duplicate label name and `__name__` as a label name are errors (Prometheus' scrape loop
 * refuses such series), as are label values that are not valid UTF-8 and a bucket or quantile
 * whose bound is not a float.
 *
 * Series filters and label limits (src/filter/series.ts, label-limits.ts) are applied here, so
 * once per series the cache has not seen: the filter decides on the labels as exposed (a dropped
 * series becomes an entry of role `Filtered` without tags), `dropLabels` shapes the tag layout,
 * and the limits are checked on what is kept.
 */
import { isUtf8 } from 'node:buffer';
import { LabelLimitError, ParseError, quote } from '../errors.js';
import { KEEP, type SeriesFilter } from '../filter/series.js';
import { SampleType, type Tags } from '../sample.js';
import { latin1 } from './chars.js';
import { floatOk, formatGoFloat, parseFloatBytes } from './float.js';
import { type ActiveLabelLimits, exceedsBytes, quoteCapped } from './label-limits.js';
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

/** How a metric name resolved against the TYPE lines seen so far in this scrape. */
class NameResolution {
  /** The tag layout last used with this name (lines of one metric mostly share it). */
  shape: Shape | null = null;

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

/** The tags of a series a filter dropped: it is never emitted, so it keeps none. */
const NO_TAGS: Tags = Object.freeze({});


function sameBytes(a: Uint8Array, as: number, b: Uint8Array, bs: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

const MAX_CANONICAL = 4096;
const MAX_BUILDERS = 4096;
const MAX_RESOLUTIONS = 65_536;
/** Label values shared by every series of a thread (see `intern`), and the bounds of that table. */
const interned = new Map<string, string>();
const MAX_INTERNED = 131_072;
const MAX_INTERNED_LENGTH = 256;

/**
 * The one copy of a label value. The values of a cluster repeat across series and targets (a
 * namespace, a node, a pod name is in every series of that pod), and each cached series keeps
 * its tags for as long as it is scraped: without this, 200k series hold ~600k strings of which
 * ~15k differ. Bounded: a full table starts over, which costs only sharing.
 */
function intern(value: string): string {
  if (value.length > MAX_INTERNED_LENGTH) return value;
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size >= MAX_INTERNED) interned.clear();
  interned.set(value, value);
  return value;
}

type TagBuilder = (vals: readonly string[], order: Int32Array) => Record<string, string>;

/**
 * The tag layout of a line: validated label names, renames, target tags, sort order, and what
 * the series filter and the label limits need of it. A series' values are laid out as
 * [labels…, unshadowed target tags…] ("vals"); `order` picks the kept ones in key order.
 */
class Shape {
  constructor(
    /** Label names in line order. */
    readonly names: readonly string[],
    /** The resolution series of this layout are emitted under (`plain()` for a bucket without `le`). */
    readonly res: NameResolution,
    readonly role: SampleRole,
    /** Index (in line order) of the label renamed to a canonical float tag, or -1. */
    readonly renameIdx: number,
    /** Offsets into the target tag pairs of the target tags not shadowed by a label. */
    readonly targetIdx: Int32Array,
    /** Sorted position → index into vals, of the labels kept (not removed by dropLabels). */
    readonly order: Int32Array,
    readonly build: TagBuilder,
    /** vals index → the label's name as exposed (for limit messages). */
    readonly valNames: readonly string[],
    /** Where the series filter's labels are in vals (SeriesFilter.plan), or null without a filter. */
    readonly plan: Int32Array | null,
    /** Set when a kept label name is over the name length limit: that name. */
    readonly longName: string | null,
  ) {}

  get labelCount(): number {
    return this.names.length;
  }
}

function sameNames(a: readonly string[], b: readonly string[], n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Resolves fully parsed series lines into cache entries. Consecutive lines mostly share the
 * metric name, the label names and many label values, so each is compared with the previous
 * line's bytes and its strings reused: a cold scrape allocates little beyond what it keeps.
 */
export class Flattener {
  readonly #cache: SeriesCache;
  readonly #openMetrics: boolean;
  /** Target tags as sorted [key, value, key, value, …]. */
  readonly #target: readonly string[];
  #epoch = 0;
  // The previous line: its buffer, label offsets and strings.
  #pBuf: Uint8Array | null = null;
  #pNameStart = 0;
  #pNameLen = -1;
  #pRes: NameResolution | null = null;
  #pLabels: number[] = [];
  #pCount = 0;
  #pNames: string[] = [];
  #pValues: string[] = [];
  #names: string[] = [];
  #values: string[] = [];
  readonly #vals: string[] = [];
  #shape: Shape | null = null;
  readonly #builders = new Map<string, TagBuilder>();
  readonly #resolutions = new Map<string, NameResolution>();
  readonly #canonical = new Map<string, string>();
  readonly #filter: SeriesFilter | null;
  readonly #limits: ActiveLabelLimits | null;

  constructor(
    cache: SeriesCache,
    openMetrics: boolean,
    targetTags: readonly string[],
    filter: SeriesFilter | null = null,
    limits: ActiveLabelLimits | null = null,
  ) {
    this.#cache = cache;
    this.#openMetrics = openMetrics;
    this.#target = targetTags;
    this.#filter = filter;
    this.#limits = limits;
  }

  /** Starts a scrape. */
  begin(epoch: number): void {
    this.#epoch = epoch;
    this.#pRes = null;
    this.#pBuf = null;
    this.#pCount = 0;
  }

  /** A TYPE line was seen: name resolutions made before it may no longer hold. */
  typesChanged(): void {
    this.#shape = null;
    this.#pRes = null;
  }

  /** The previous line's buffer may be reused (a new region starts): compare with nothing. */
  forgetPrevious(): void {
    this.#shape = null;
    this.#pRes = null;
    this.#pBuf = null;
    this.#pCount = 0;
  }

  /** Resolves a fully parsed series line into a cache entry (not recorded). */
  resolve(buf: Uint8Array, syn: SeriesSyntax, lineNo: number): CacheEntry {
    const res = this.#resolveName(buf, syn);
    const labels = syn.labels;
    const n = syn.labelCount;
    const pBuf = this.#pBuf;
    const pLabels = this.#pLabels;
    const pCount = this.#pCount;
    const names = this.#names;
    const values = this.#values;
    let namesReused = pBuf !== null;
    for (let l = 0; l < n; l++) {
      const k = l * 5;
      const ns = labels[k] as number;
      const ne = labels[k + 1] as number;
      const vs = labels[k + 2] as number;
      const ve = labels[k + 3] as number;
      let name: string;
      let value: string;
      if (pBuf !== null && l < pCount) {
        const pns = pLabels[k] as number;
        const pne = pLabels[k + 1] as number;
        if (pne - pns === ne - ns && sameBytes(buf, ns, pBuf, pns, ne - ns)) name = this.#pNames[l] as string;
        else {
          name = latin1(buf, ns, ne);
          namesReused = false;
        }
        const pvs = pLabels[k + 2] as number;
        const pve = pLabels[k + 3] as number;
        value =
          pve - pvs === ve - vs && sameBytes(buf, vs, pBuf, pvs, ve - vs)
            ? (this.#pValues[l] as string)
            : decodeValue(buf, vs, ve, labels[k + 4] as number, name, lineNo);
      } else {
        name = latin1(buf, ns, ne);
        value = decodeValue(buf, vs, ve, labels[k + 4] as number, name, lineNo);
        namesReused = false;
      }
      names[l] = name;
      values[l] = value;
    }
    // Remember this line for the next one.
    this.#pBuf = buf;
    for (let k = 0; k < n * 5; k++) pLabels[k] = labels[k] as number;
    let shape = res.shape;
    if (shape === null || shape.labelCount !== n || !(namesReused && shape === this.#shape) && !sameNames(shape.names, names, n)) {
      shape = this.#newShape(res, names, n, lineNo);
      res.shape = shape;
    }
    this.#pCount = n;
    this.#names = this.#pNames;
    this.#pNames = names;
    this.#values = this.#pValues;
    this.#pValues = values;

    this.#shape = shape;
    const out = shape.res;
    const vals = this.#vals;
    for (let l = 0; l < n; l++) vals[l] = values[l] as string;
    const target = this.#target;
    const extra = shape.targetIdx;
    for (let t = 0; t < extra.length; t++) vals[n + t] = target[(extra[t] as number) + 1] as string;
    if (shape.plan !== null && shape.role !== SampleRole.Skip) {
      // The decision reads the labels as exposed (before `le` and `quantile` are canonical).
      const by = (this.#filter as SeriesFilter).decide(res.name, vals, shape.plan);
      if (by !== KEEP) return new CacheEntry(out.outName, out.type, NO_TAGS, SampleRole.Filtered, out, by);
    }
    if (shape.renameIdx >= 0) {
      const r = shape.renameIdx;
      vals[r] = this.#canonicalFloat(values[r] as string, res.renameLabel as string, res.name, (labels[r * 5 + 4] as number) & L_HIGH, lineNo);
    }
    if (this.#limits !== null && shape.role !== SampleRole.Skip) this.#checkLimits(buf, syn, lineNo, shape, vals, res.name);
    const tags = shape.build(vals, shape.order);
    return new CacheEntry(out.outName, out.type, tags, shape.role, out);
  }

  /** Throws a LabelLimitError when the kept labels of a series break a limit (label-limits.ts). */
  #checkLimits(buf: Uint8Array, syn: SeriesSyntax, lineNo: number, shape: Shape, vals: readonly string[], name: string): void {
    const limits = this.#limits as ActiveLabelLimits;
    const series = (): string => quote(buf, syn.nameStart, syn.seriesEnd);
    const count = shape.order.length + 1;
    if (limits.count > 0 && count > limits.count) {
      throw new LabelLimitError(
        lineNo,
        `series ${series()} has ${count} labels (with __name__ and the target's), over the limit of ${limits.count} (scrape.labelLimit)`,
        'scrape.labelLimit',
      );
    }
    if (shape.longName !== null) {
      throw new LabelLimitError(
        lineNo,
        `label name ${quoteCapped(shape.longName)} of series ${series()} is ${Buffer.byteLength(shape.longName)} bytes, over the limit of ${limits.nameLength} (scrape.labelNameLengthLimit)`,
        'scrape.labelNameLengthLimit',
      );
    }
    const max = limits.valueLength;
    if (max <= 0) return;
    let label = '__name__';
    let value = name;
    if (!exceedsBytes(name, max)) {
      const order = shape.order;
      let i = 0;
      for (; i < order.length; i++) {
        const at = order[i] as number;
        if (exceedsBytes(vals[at] as string, max)) {
          label = shape.valNames[at] as string;
          value = vals[at] as string;
          break;
        }
      }
      if (i === order.length) return;
    }
    throw new LabelLimitError(
      lineNo,
      `value of label ${quoteCapped(label)} of series ${series()} is ${Buffer.byteLength(value)} bytes, over the limit of ${max} (scrape.labelValueLengthLimit): ${quoteCapped(value)}`,
      'scrape.labelValueLengthLimit',
    );
  }

  /** Validates a line's label names and works out its tag layout (once per distinct layout). */
  #newShape(res: NameResolution, names: readonly string[], n: number, lineNo: number): Shape {
    // keys[i] is the tag key of vals[i]; null when dropLabels removes it.
    const keys: (string | null)[] = [];
    const valNames: string[] = [];
    const seen = new Set<string>();
    const filter = this.#filter;
    let renameIdx = -1;
    for (let l = 0; l < n; l++) {
      const exposed = names[l] as string;
      let name = exposed;
      if (name === '__name__') {
        throw new ParseError(lineNo, 'label name "__name__" is reserved and may not appear in a label set');
      }
      if (name === res.renameLabel) {
        renameIdx = l;
        name = res.renameTo;
      }
      if (seen.has(name)) throw new ParseError(lineNo, `duplicate label name "${name}"`);
      seen.add(name);
      keys.push(l !== renameIdx && filter !== null && filter.dropsLabel(exposed) ? null : name);
      valNames.push(exposed);
    }
    let role = res.role;
    let out = res;
    if (res.renameLabel === 'le' && renameIdx < 0) {
      // A bucket without `le`: an ordinary series of its family, as Prometheus stores it.
      out = res.plain();
      role = out.role;
    }
    if (res.renameLabel === 'quantile' && renameIdx < 0) role = SampleRole.Keep; // a summary sample without a quantile
    const target = this.#target;
    const targetIdx: number[] = [];
    const targetNames: string[] = [];
    for (let t = 0; t < target.length; t += 2) {
      const k = target[t] as string;
      if (!seen.has(k)) {
        targetIdx.push(t);
        targetNames.push(k);
        keys.push(filter !== null && filter.dropsLabel(k) ? null : k);
        valNames.push(k);
      }
    }
    const kept: number[] = [];
    for (let i = 0; i < keys.length; i++) if (keys[i] !== null) kept.push(i);
    const order = Int32Array.from(kept).sort((a, b) => {
      const ka = keys[a] as string;
      const kb = keys[b] as string;
      return ka < kb ? -1 : ka > kb ? 1 : 0;
    });
    const sorted = Array.from(order, (i) => keys[i] as string);
    const plan = filter !== null && filter.dropsSeries ? filter.plan(names, n, targetNames) : null;
    let longName: string | null = null;
    const nameLimit = this.#limits?.nameLength ?? 0;
    if (nameLimit > 0) {
      for (const i of order) {
        const exposed = valNames[i] as string;
        if (exposed.length > nameLimit || Buffer.byteLength(exposed) > nameLimit) {
          longName = exposed;
          break;
        }
      }
    }
    return new Shape(names.slice(0, n), out, role, renameIdx, Int32Array.from(targetIdx), order, this.#builder(sorted), valNames, plan, longName);
  }

  /** A function building a tag object with these keys, in this order, from values by index. */
  #builder(sortedKeys: string[]): TagBuilder {
    const signature = sortedKeys.join('\u0000');
    let build = this.#builders.get(signature);
    if (build !== undefined) return build;
    if (sortedKeys.includes('__proto__')) {
      build = (vals, order) => {
        const tags: Record<string, string> = {};
        for (let i = 0; i < order.length; i++) setTag(tags, sortedKeys[i] as string, vals[order[i] as number] as string);
        return tags;
      };
    } else {
      // An object literal with constant keys is created in one step with every property in
      // the object itself, and all objects of one layout share a hidden class. Keys are
      // quoted with JSON.stringify, so any string is safe here.
      const keys = sortedKeys;
      build = (vals, order) => {
        const tags: Record<string, string> = {};
        for (let i = 0; i < keys.length; i++) tags[keys[i] as string] = vals[order[i] as number] as string;
        return tags;
      };
    }
    if (this.#builders.size >= MAX_BUILDERS) this.#builders.clear();
    this.#builders.set(signature, build);
    return build;
  }

  #resolveName(buf: Uint8Array, syn: SeriesSyntax): NameResolution {
    const ns = syn.nameStart;
    const len = syn.nameEnd - ns;
    const prev = this.#pRes;
    const epoch = this.#epoch;
    if (prev !== null && len === this.#pNameLen && sameBytes(buf, ns, this.#pBuf as Uint8Array, this.#pNameStart, len) && prev.validIn(epoch)) {
      this.#pNameStart = ns;
      return prev;
    }
    const name = latin1(buf, ns, syn.nameEnd);
    let res = this.#resolutions.get(name);
    if (res === undefined || !res.validIn(epoch)) {
      res = this.#resolveNameSlow(name);
      if (this.#resolutions.size >= MAX_RESOLUTIONS) this.#resolutions.clear();
      this.#resolutions.set(name, res);
    }
    this.#pRes = res;
    this.#pNameStart = ns;
    this.#pNameLen = len;
    return res;
  }

  #resolveNameSlow(name: string): NameResolution {
    const cache = this.#cache;
    const epoch = this.#epoch;
    const openMetrics = this.#openMetrics;
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

  #canonicalFloat(value: string, label: string, metric: string, high: number, lineNo: number): string {
    const known = this.#canonical.get(value);
    if (known !== undefined) return known;
    const b = Buffer.from(value, 'latin1');
    const bound = parseFloatBytes(b, 0, b.length);
    if (!floatOk || high !== 0) {
      throw new ParseError(lineNo, `label "${label}" of ${JSON.stringify(metric)} is not a float: ${JSON.stringify(value)}`);
    }
    const canonical = formatGoFloat(bound);
    if (this.#canonical.size >= MAX_CANONICAL) this.#canonical.clear();
    this.#canonical.set(value, canonical);
    return canonical;
  }

}

function decodeValue(buf: Uint8Array, vs: number, ve: number, flags: number, name: string, lineNo: number): string {
  let value: string;
  if (flags & L_HIGH) {
    if (!isUtf8(buf.subarray(vs, ve))) {
      throw new ParseError(lineNo, `value of label "${name}" is not valid UTF-8: ${quote(buf, vs, ve)}`);
    }
    value = Buffer.from(buf.buffer, buf.byteOffset + vs, ve - vs).toString('utf8');
  } else {
    value = latin1(buf, vs, ve);
  }
  return intern(flags & L_ESCAPE ? unescapeLabelValue(value) : value);
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
