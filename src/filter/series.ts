// SPDX-License-Identifier: Apache-2.0
/**
 * Series filters: `dropSeries`, `keepSeries` and `dropLabels` of a Collector's `filters`,
 * compiled once into a `SeriesFilter` that the parser consults when its series cache first sees
 * a series (DESIGN "Filters"; Prometheus' `metric_relabel_configs` with `drop`, `keep` and
 * `labeldrop`).
 *
 * Semantics:
 * - A matcher `{name, labels}` matches a series when its metric name as exposed (`x_bucket`,
 *   before flattening) fully matches `name` and, for every `labels` entry, the series' label
 *   of that name (its own label, or the target's) fully matches the regex; an absent label has
 *   the value "" (Prometheus does the same), so `{labels: {pod: ""}}` matches series without a
 *   `pod`. Label values are seen as exposed: `le="0.50"`, not the canonical `bucket="0.5"`.
 * - A series is dropped when any `dropSeries` matcher matches it, or when `keepSeries` has
 *   matchers and none matches. Its samples are counted as `filtered`, credited to the first
 *   `dropSeries` matcher that matched, or to `keepSeries` as a whole.
 * - `dropLabels` (regexes of label names) then removes labels from every kept series, the
 *   target's tags included, before limits are checked and the series is encoded. The `le` of a
 *   histogram bucket and the `quantile` of a summary are never removed: they make the sample a
 *   bucket or a quantile. Two series that become one are both kept.
 *
 * Cost: all of this runs once per series, on the series cache's miss path; the decision is kept
 * on the cached series, so a warm scrape pays one comparison per sample for it. Where a label
 * sits in a series depends only on the series' label names, so the parser asks `plan()` once
 * per layout and `decide()` reads values by index. Regexes run in linear time (regex.ts).
 *
 * Counters: `matcherStats()` gives, per matcher, the samples it dropped since the filter was
 * compiled; the parser adds a scrape's sums once, when the scrape succeeds. Plain numbers: one
 * filter belongs to one worker thread.
 */
import { type FilterConfig, type SeriesMatcherConfig, validateFilterConfig } from './config.js';
import { LabelRegex } from './regex.js';

/** `decide()`'s answer for a series that is kept. */
export const KEEP = -1;

interface Condition {
  /** Index into the filter's label slots. */
  readonly slot: number;
  readonly re: LabelRegex;
}

class Matcher {
  constructor(
    /** The field it was written in, e.g. `filters.dropSeries[0]`. */
    readonly field: string,
    readonly name: LabelRegex | null,
    readonly conditions: readonly Condition[],
  ) {}

  matches(name: string, values: readonly string[], plan: Int32Array): boolean {
    if (this.name !== null && !this.name.test(name)) return false;
    for (const c of this.conditions) {
      const at = plan[c.slot] as number;
      if (!c.re.test(at < 0 ? '' : (values[at] as string))) return false;
    }
    return true;
  }
}

export interface MatcherStat {
  /** `filters.dropSeries[i]`, or `filters.keepSeries` for series no keep matcher matched. */
  readonly matcher: string;
  /** Samples dropped since the filter was compiled. */
  readonly dropped: number;
}

let nextId = 1;

export class SeriesFilter {
  /** Distinguishes compiled filters: a series cache built under another filter starts over. */
  readonly id = nextId++;
  /** Counter slots: one per `dropSeries` matcher, then one for `keepSeries` when it has matchers. */
  readonly counterCount: number;
  /** Whether `dropLabels` is set. */
  readonly dropsLabels: boolean;
  readonly #drop: readonly Matcher[];
  readonly #keep: readonly Matcher[];
  readonly #slots: readonly string[];
  readonly #dropLabels: readonly LabelRegex[];
  readonly #labelDropMemo = new Map<string, boolean>();
  readonly #counts: Float64Array;
  readonly #fields: readonly string[];

  constructor(config: FilterConfig, path = 'filters') {
    const slots = new Map<string, number>();
    const matcher = (field: string, m: SeriesMatcherConfig): Matcher => {
      const conditions: Condition[] = [];
      for (const [label, re] of Object.entries(m.labels ?? {})) {
        let slot = slots.get(label);
        if (slot === undefined) {
          slot = slots.size;
          slots.set(label, slot);
        }
        conditions.push({ slot, re: new LabelRegex(re) });
      }
      return new Matcher(field, m.name === undefined ? null : new LabelRegex(m.name), conditions);
    };
    this.#drop = (config.dropSeries ?? []).map((m, i) => matcher(`${path}.dropSeries[${i}]`, m));
    this.#keep = (config.keepSeries ?? []).map((m, i) => matcher(`${path}.keepSeries[${i}]`, m));
    this.#slots = [...slots.keys()];
    this.#dropLabels = (config.dropLabels ?? []).map((re) => new LabelRegex(re));
    this.dropsLabels = this.#dropLabels.length > 0;
    const fields = this.#drop.map((m) => m.field);
    if (this.#keep.length > 0) fields.push(`${path}.keepSeries`);
    this.#fields = fields;
    this.counterCount = fields.length;
    this.#counts = new Float64Array(fields.length);
  }

  /** Whether any series can be dropped (as opposed to only relabelled). */
  get dropsSeries(): boolean {
    return this.counterCount > 0;
  }

  /**
   * Where each label the matchers read sits in a series whose values are laid out as
   * `[own labels by line order…, target tags…]`: an index into that array, or -1 (absent).
   */
  plan(ownNames: readonly string[], ownCount: number, targetNames: readonly string[]): Int32Array {
    const slots = this.#slots;
    const plan = new Int32Array(slots.length).fill(-1);
    for (let s = 0; s < slots.length; s++) {
      const label = slots[s] as string;
      for (let l = 0; l < ownCount; l++) {
        if (ownNames[l] === label) {
          plan[s] = l;
          break;
        }
      }
      if (plan[s] !== -1) continue;
      const t = targetNames.indexOf(label);
      if (t >= 0) plan[s] = ownCount + t;
    }
    return plan;
  }

  /** `KEEP`, or the counter slot the series' samples are credited to when it is dropped. */
  decide(name: string, values: readonly string[], plan: Int32Array): number {
    const drop = this.#drop;
    for (let k = 0; k < drop.length; k++) if ((drop[k] as Matcher).matches(name, values, plan)) return k;
    const keep = this.#keep;
    if (keep.length === 0) return KEEP;
    for (const m of keep) if (m.matches(name, values, plan)) return KEEP;
    return drop.length;
  }

  /** Whether `dropLabels` removes the label `name`. */
  dropsLabel(name: string): boolean {
    if (!this.dropsLabels) return false;
    const memo = this.#labelDropMemo;
    let hit = memo.get(name);
    if (hit === undefined) {
      hit = this.#dropLabels.some((re) => re.test(name));
      if (memo.size >= 4096) memo.clear();
      memo.set(name, hit);
    }
    return hit;
  }

  /** Adds one scrape's dropped samples per counter slot (see `counterCount`). */
  addCounts(counts: ArrayLike<number>): void {
    const total = this.#counts;
    for (let i = 0; i < total.length; i++) total[i] = (total[i] as number) + ((counts[i] as number) ?? 0);
  }

  /** Samples dropped per matcher since the filter was compiled. */
  matcherStats(): MatcherStat[] {
    return this.#fields.map((matcher, i) => ({ matcher, dropped: this.#counts[i] as number }));
  }
}

/**
 * Validates `config` (throws ConfigError) and compiles its series filters, or gives null when it
 * sets none (the parser then does no filtering work at all).
 */
export function compileSeriesFilter(config: FilterConfig = {}, path = 'filters'): SeriesFilter | null {
  validateFilterConfig(config, path);
  const none = (list: readonly unknown[] | undefined): boolean => list === undefined || list.length === 0;
  if (none(config.dropSeries) && none(config.keepSeries) && none(config.dropLabels)) return null;
  return new SeriesFilter(config, path);
}
