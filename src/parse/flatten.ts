// SPDX-License-Identifier: Apache-2.0
/**
 * Flattening: turns a validated series line into the cache entry (the `Series`, its role and the
 * TYPE records it depends on) its samples are emitted under, following DESIGN "Samples". The
 * concepts it combines live beside it: family-typing.ts (which family a name belongs to and
 * what that makes of its samples), tag-shape.ts (the tag layout of a line) and label-values.ts
 * (decoding and sharing label values).
 *
 * Consecutive lines mostly share the metric name, the label names and many label values, so
 * each line is compared with the previous line's bytes and its strings reused: a cold scrape
 * allocates little beyond what it keeps. The previous line's offsets are valid only while its
 * buffer is (`forgetPrevious()` when a new region starts), and a name resolution only while the
 * TYPE lines it read still hold (`typesChanged()`, `NameResolution.validIn`).
 *
 * A series the cache records gets no tag object when nothing needs its values now (no series
 * filter deciding on them, no label limits): its entry decodes its tags from the cache's bytes
 * when they are read (CacheEntry, `TagShape.tagsFrom`), so a new series costs one object and a
 * check of its values, not a string per value.
 *
 * Canonical float form of `bucket` and `quantile` tags is Go's `%v`: `1.0` and `1e0` become `1`,
 * `+Inf` stays `+Inf` (float.ts).
 *
 * Series filters and label limits (src/filter/series.ts, label-limits.ts) are applied here, so
 * once per series the cache has not seen: the filter decides on the labels as exposed (a dropped
 * series becomes an entry of role `Filtered` without tags), `dropLabels` shapes the tag layout,
 * and the limits are checked on what is kept.
 *
 * Recovery: a line that cannot be flattened throws a `ParseError` (duplicate or reserved label
 * name, label value not valid UTF-8, a bucket or quantile bound that is not a float) or a
 * `LabelLimitError`; the parser then fails the whole scrape. The bounded lookup tables here
 * start over when full, which costs only recomputation.
 */
import { LabelLimitError, ParseError, quote } from '../errors.js';
import { KEEP, type SeriesFilter } from '../filter/series.js';
import type { Tags } from '../sample.js';
import { latin1 } from './chars.js';
import { type NameResolution, resolveFamily } from './family-typing.js';
import { formatGoFloat, parseFloatBytes } from './float.js';
import { type ActiveLabelLimits, exceedsBytes, quoteCapped } from './label-limits.js';
import { checkLabelValueUtf8, decodeLabelValue, type LabelValueTable, THREAD_LABEL_VALUES } from './label-values.js';
import { CacheEntry, SampleRole, type SeriesCache } from './series-cache.js';
import { L_HIGH, type SeriesSyntax } from './series-syntax.js';
import { buildTagShape, type TagShape } from './tag-shape.js';

/** The tags of a series a filter dropped: it is never emitted, so it keeps none. */
const NO_TAGS: Tags = Object.freeze({});

function sameBytes(a: Uint8Array, as: number, b: Uint8Array, bs: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (a[as + i] !== b[bs + i]) return false;
  return true;
}

/** Bounds of the per-flattener lookup tables (canonical floats, name resolutions). */
const MAX_CANONICAL = 4096;
const MAX_RESOLUTIONS = 65_536;

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
  /** Whether #pValues holds the previous line's values (a line resolved lazily decodes none). */
  #pValuesValid = false;
  readonly #vals: string[] = [];
  #shape: TagShape | null = null;
  readonly #resolutions = new Map<string, NameResolution>();
  readonly #canonical = new Map<string, string>();
  readonly #filter: SeriesFilter | null;
  readonly #limits: ActiveLabelLimits | null;
  /**
   * Where label values are interned: the thread's table unless the creator gives another; none
   * when the cache keeps nothing (the values die with the scrape's samples, so sharing them
   * would only cost a lookup each).
   */
  readonly #labelValues: LabelValueTable | null;

  /** A sample's own label wins over a target tag (true), or the target's does (false). */
  readonly #honorLabels: boolean;

  constructor(
    cache: SeriesCache,
    openMetrics: boolean,
    targetTags: readonly string[],
    filter: SeriesFilter | null = null,
    limits: ActiveLabelLimits | null = null,
    labelValues: LabelValueTable = THREAD_LABEL_VALUES,
    honorLabels = true,
  ) {
    this.#honorLabels = honorLabels;
    this.#cache = cache;
    this.#openMetrics = openMetrics;
    this.#target = targetTags;
    this.#filter = filter;
    this.#limits = limits;
    this.#labelValues = cache.enabled ? labelValues : null;
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

  /**
   * Resolves a fully parsed series line into a cache entry (not recorded). When the cache will
   * record it and neither a series filter nor label limits need the values, the entry keeps no
   * tags (it decodes them from the cache's bytes when asked, see CacheEntry): the values are only
   * checked here (UTF-8, and the bound of a bucket or quantile), not made into strings.
   */
  resolve(buf: Uint8Array, syn: SeriesSyntax, lineNo: number): CacheEntry {
    const res = this.#resolveName(buf, syn);
    const labels = syn.labels;
    const n = syn.labelCount;
    const pBuf = this.#pBuf;
    const pLabels = this.#pLabels;
    const pCount = this.#pCount;
    const names = this.#names;
    let namesReused = pBuf !== null;
    for (let l = 0; l < n; l++) {
      const k = l * 5;
      const ns = labels[k] as number;
      const ne = labels[k + 1] as number;
      let name: string;
      if (pBuf !== null && l < pCount) {
        const pns = pLabels[k] as number;
        const pne = pLabels[k + 1] as number;
        if (pne - pns === ne - ns && sameBytes(buf, ns, pBuf, pns, ne - ns)) name = this.#pNames[l] as string;
        else {
          name = latin1(buf, ns, ne);
          namesReused = false;
        }
      } else {
        name = latin1(buf, ns, ne);
        namesReused = false;
      }
      names[l] = name;
      if ((labels[k + 4] as number) & L_HIGH) checkLabelValueUtf8(buf, labels[k + 2] as number, labels[k + 3] as number, name, lineNo);
    }
    let shape = res.shape;
    if (shape === null || shape.labelCount !== n || !(namesReused && shape === this.#shape) && !sameNames(shape.names, names, n)) {
      shape = buildTagShape(res, names, n, lineNo, this.#target, this.#filter, this.#limits?.nameLength ?? 0, this.#honorLabels);
      res.shape = shape;
    }
    const lazy = shape.plan === null && this.#limits === null && this.#cache.accepting;
    const values = this.#values;
    if (!lazy) {
      const pValues = this.#pValuesValid ? this.#pValues : null;
      for (let l = 0; l < n; l++) {
        const k = l * 5;
        const vs = labels[k + 2] as number;
        const ve = labels[k + 3] as number;
        if (pValues !== null && l < pCount) {
          const pvs = pLabels[k + 2] as number;
          const pve = pLabels[k + 3] as number;
          if (pve - pvs === ve - vs && sameBytes(buf, vs, pBuf as Uint8Array, pvs, ve - vs)) {
            values[l] = pValues[l] as string;
            continue;
          }
        }
        values[l] = decodeLabelValue(buf, vs, ve, labels[k + 4] as number, names[l] as string, lineNo, this.#labelValues);
      }
    }
    // Remember this line for the next one.
    this.#pBuf = buf;
    for (let k = 0; k < n * 5; k++) pLabels[k] = labels[k] as number;
    this.#pCount = n;
    this.#names = this.#pNames;
    this.#pNames = names;
    this.#values = this.#pValues;
    this.#pValues = values;
    this.#pValuesValid = !lazy;

    this.#shape = shape;
    const out = shape.res;
    if (lazy) {
      const r = shape.renameIdx;
      if (r >= 0) {
        // Checked now (a bound that is not a float fails the scrape); the tag is made when read.
        const k = r * 5;
        const text = decodeLabelValue(buf, labels[k + 2] as number, labels[k + 3] as number, labels[k + 4] as number, names[r] as string, lineNo, null);
        this.#canonicalFloat(text, res.renameLabel as string, res.name, (labels[k + 4] as number) & L_HIGH, lineNo);
      }
      return new CacheEntry(out.outName, out.type, null, shape.role, out, -1, shape);
    }
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
    const tags = shape.tags(vals);
    return new CacheEntry(out.outName, out.type, tags, shape.role, out);
  }

  /** Throws a LabelLimitError when the kept labels of a series break a limit (label-limits.ts). */
  #checkLimits(buf: Uint8Array, syn: SeriesSyntax, lineNo: number, shape: TagShape, vals: readonly string[], name: string): void {
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
      res = resolveFamily(this.#cache, epoch, this.#openMetrics, name);
      if (this.#resolutions.size >= MAX_RESOLUTIONS) this.#resolutions.clear();
      this.#resolutions.set(name, res);
    }
    this.#pRes = res;
    this.#pNameStart = ns;
    this.#pNameLen = len;
    return res;
  }

  #canonicalFloat(value: string, label: string, metric: string, high: number, lineNo: number): string {
    const known = this.#canonical.get(value);
    if (known !== undefined) return known;
    const b = Buffer.from(value, 'latin1');
    const bound = parseFloatBytes(b, 0, b.length);
    if (bound === undefined || high !== 0) {
      throw new ParseError(lineNo, `label "${label}" of ${JSON.stringify(metric)} is not a float: ${JSON.stringify(value)}`);
    }
    const canonical = formatGoFloat(bound);
    if (this.#canonical.size >= MAX_CANONICAL) this.#canonical.clear();
    this.#canonical.set(value, canonical);
    return canonical;
  }
}
