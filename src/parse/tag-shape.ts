// SPDX-License-Identifier: Apache-2.0
/**
 * Tag shapes: the tag layout of a series line, worked out once per distinct layout (metric
 * name resolution plus label names in line order) and then used to build the tag object of
 * every new series with that layout, from its values or, later, from its bytes as the series
 * cache keeps them (`tagsFrom`, `storedTags`).
 *
 * Layout: a series' values are laid out as [labels in line order…, unshadowed target tags…]
 * ("vals"). `order` lists, in key order, the indexes into vals of the tags kept (`dropLabels`
 * removes some), and `keys` their tag keys, so `tags(vals)` is one pass with no sorting.
 *
 * Rules (DESIGN "Samples"): target tags first, overridden by the sample's own labels of the same
 * name, keys sorted; the renamed label (`le` → `bucket`, `quantile`) takes its new key. A
 * `_bucket` sample without `le` is an ordinary series of its family (Prometheus stores it as it
 * is): name as exposed, type histogram, NaN kept; a summary sample without `quantile` keeps NaN.
 *
 * Invariants: tag objects of one shape are built with the same keys in the same order, so they
 * share a hidden class; a key `__proto__` (a valid label name) becomes an own property, never
 * the object's prototype.
 *
 * Recovery: a duplicate label name and `__name__` as a label name throw a `ParseError` (the
 * scrape fails whole, as Prometheus' scrape loop refuses such series).
 */
import { ParseError } from '../errors.js';
import type { SeriesFilter } from '../filter/series.js';
import { StoredTags, type Tags } from '../sample.js';
import type { NameResolution } from './family-typing.js';
import { formatGoFloat, parseFloatBytes } from './float.js';
import { decodeLabelValue } from './label-values.js';
import { SampleRole } from './series-cache.js';
import { parseStoredSeries, SeriesSyntax } from './series-syntax.js';

/** Scratch of `tagsFrom` and `storedTags` (one per thread; each runs start to end without yielding). */
const STORED = new SeriesSyntax();
const STORED_VALS: string[] = [];
const STORED_TAGS = new StoredTags();

/** The tag layout of a line (see the header). */
export class TagShape {
  /** True when a key is `__proto__`, which must be defined rather than assigned. */
  readonly #protoKey: boolean;

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
    /** Sorted position → tag key. */
    readonly keys: readonly string[],
    /** vals index → the label's name as exposed (for limit messages). */
    readonly valNames: readonly string[],
    /** Where the series filter's labels are in vals (SeriesFilter.plan), or null without a filter. */
    readonly plan: Int32Array | null,
    /** Set when a kept label name is over the name length limit: that name. */
    readonly longName: string | null,
    /** The target tags as sorted pairs (what `targetIdx` points into). */
    readonly target: readonly string[] = [],
  ) {
    this.#protoKey = keys.includes('__proto__');
  }

  get labelCount(): number {
    return this.names.length;
  }

  /**
   * The tag object of the series whose bytes (`name{labels}` as exposed, already validated and
   * resolved to this shape) are `buf[start, end)`: what `tags(vals)` gave when it was resolved.
   */
  tagsFrom(buf: Uint8Array, start: number, end: number): Tags {
    const syn = STORED;
    parseStoredSeries(buf, start, end, syn);
    const labels = syn.labels;
    const n = syn.labelCount;
    const vals = STORED_VALS;
    for (let l = 0; l < n; l++) {
      const k = l * 5;
      const vs = labels[k + 2] as number;
      const ve = labels[k + 3] as number;
      vals[l] =
        l === this.renameIdx
          ? formatGoFloat(parseFloatBytes(buf, vs, ve) as number)
          : decodeLabelValue(buf, vs, ve, labels[k + 4] as number, this.names[l] as string, 0, null);
    }
    const extra = this.targetIdx;
    for (let t = 0; t < extra.length; t++) vals[n + t] = this.target[(extra[t] as number) + 1] as string;
    const tags = this.tags(vals);
    vals.length = 0;
    return tags;
  }

  /**
   * Where the sorted tags of the series whose bytes are `buf[start, end)` are (see `tagsFrom`):
   * a scratch valid until the next call.
   */
  storedTags(buf: Uint8Array, start: number, end: number): StoredTags {
    const syn = STORED;
    parseStoredSeries(buf, start, end, syn);
    const labels = syn.labels;
    const n = syn.labelCount;
    const out = STORED_TAGS.reset(buf, this.keys);
    const order = this.order;
    for (let i = 0; i < order.length; i++) {
      const at = order[i] as number;
      if (at >= n) out.setString(i, this.target[(this.targetIdx[at - n] as number) + 1] as string);
      else if (at === this.renameIdx) out.setString(i, formatGoFloat(parseFloatBytes(buf, labels[at * 5 + 2] as number, labels[at * 5 + 3] as number) as number));
      else out.setBytes(i, labels[at * 5 + 2] as number, labels[at * 5 + 3] as number, labels[at * 5 + 4] as number);
    }
    return out;
  }

  /** The tag object of a series whose values are `vals`. */
  tags(vals: readonly string[]): Record<string, string> {
    const keys = this.keys;
    const order = this.order;
    const tags: Record<string, string> = {};
    if (this.#protoKey) {
      for (let i = 0; i < keys.length; i++) setTag(tags, keys[i] as string, vals[order[i] as number] as string);
    } else {
      for (let i = 0; i < keys.length; i++) tags[keys[i] as string] = vals[order[i] as number] as string;
    }
    return tags;
  }
}

/**
 * Validates a line's label names (`names[0, n)`) and works out its tag layout. `target` is the
 * target tags as sorted pairs (`sortedTagPairs`); `nameLimit` the label name length limit in
 * bytes, 0 for none.
 */
export function buildTagShape(
  res: NameResolution,
  names: readonly string[],
  n: number,
  lineNo: number,
  target: readonly string[],
  filter: SeriesFilter | null,
  nameLimit: number,
  honorLabels = true,
): TagShape {
  // honorLabels false: a sample label that a target tag also names is kept as `exported_<name>`,
  // and the target's value takes the name (Prometheus' honor_labels: false).
  const targetNamed = new Set<string>();
  if (!honorLabels) for (let t = 0; t < target.length; t += 2) targetNamed.add(target[t] as string);
  // keys[i] is the tag key of vals[i]; null when dropLabels removes it.
  const keys: (string | null)[] = [];
  const valNames: string[] = [];
  const seen = new Set<string>();
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
    if (targetNamed.has(name)) {
      name = `exported_${name}`;
      if (seen.has(name) || names.slice(0, n).includes(name)) throw new ParseError(lineNo, `duplicate label name "${name}" (honorLabels: false renames "${name.slice(9)}" to it)`);
      seen.delete(name.slice(9));
      seen.add(name);
    }
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
  if (nameLimit > 0) {
    for (const i of order) {
      const exposed = valNames[i] as string;
      if (exposed.length > nameLimit || Buffer.byteLength(exposed) > nameLimit) {
        longName = exposed;
        break;
      }
    }
  }
  return new TagShape(names.slice(0, n), out, role, renameIdx, Int32Array.from(targetIdx), order, sorted, valNames, plan, longName, target);
}

/** Sets a tag; `__proto__` is a valid label name and must become an own property. */
function setTag(tags: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') {
    Object.defineProperty(tags, key, { value, enumerable: true, writable: true, configurable: true });
  } else tags[key] = value;
}

/** The target tags as sorted pairs [key, value, key, value, …] (none for `undefined`). */
export function sortedTagPairs(tags: Readonly<Record<string, string>> | undefined): string[] {
  if (tags === undefined) return [];
  const keys = Object.keys(tags).sort();
  const out: string[] = [];
  for (const k of keys) out.push(k, tags[k] as string);
  return out;
}
