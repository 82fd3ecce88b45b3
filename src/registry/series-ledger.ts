// SPDX-License-Identifier: Apache-2.0
/**
 * The main thread's side of a Collector's series accounting: the active series of each target
 * (the distinct series of its last successful scrape, from the workers' reports), their sum,
 * and the top offenders by active series and by new series per scrape, for `/status`.
 *
 * It writes two shared scalars (counters.ts): `activeSeries`, the sum (the gauge
 * `strata_active_series`), and `seriesBudgetUsed`, the word workers reserve new series from
 * (collector/series-budget.ts). Invariant, once every report is in:
 *   seriesBudgetUsed = activeSeries + the new series of scrapes not yet reported.
 * A report of a successful scrape replaces the target's count: used += new − old − newSeries
 * (the new series it reserved are now in its count); a failed one gives back what the scrapes
 * it stands for reserved (`newSeries` of a status sums the scrapes since the worker's last
 * report; see reporter.ts) and leaves the target's count as it was.
 *
 * When a target stops counting (its count is removed from both words):
 * - it has had no successful scrape for `EXPIRE_INTERVALS` of its intervals (it went away, or
 *   has been failing that long): a target failing for less keeps its room in the budget;
 * - the worker that last scraped it started (again): that worker's series caches are empty, so
 *   the target's series are new to it and are reserved afresh.
 * A target that comes back with series its worker still caches is counted again without
 * reserving them: the total may then pass `maxSeries`, and no new series is admitted until it is
 * back under. A worker that dies loses its unsent reports, and with them what their scrapes
 * reserved: at most one report period of its new series stay counted in the used word.
 *
 * Targets are keyed as /status keys them (redacted URL and Discovery). Never per-target
 * metrics: only the two sums are exported.
 */
import type { SharedCounters } from '../channel/counters.js';
import type { TargetStatus } from '../collector/reporter.js';

/** A target stops counting after this many of its intervals without a successful scrape. */
export const EXPIRE_INTERVALS = 3;
/** Expiry runs at most this often (it walks every target). */
const EXPIRE_EVERY_MS = 1000;
/** Targets listed per top offenders list in /status. */
export const TOP_OFFENDERS = 10;

/** One target in a top offenders list. */
export interface TargetSeriesView {
  readonly url: string;
  readonly discovery: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Distinct series of its last successful scrape. */
  readonly series: number;
  /** New series of its last successful report (the scrapes since its worker's previous report). */
  readonly newSeries: number;
  readonly lastScrape: string;
}

/** A Collector's series, for /status. */
export interface SeriesStatusView {
  /** Active series: the targets' counts summed (`strata_active_series`). */
  readonly active: number;
  /** Targets counted. */
  readonly targets: number;
  readonly topActive: readonly TargetSeriesView[];
  readonly topNewSeries: readonly TargetSeriesView[];
}

interface Entry {
  view: TargetSeriesView;
  worker: number;
  intervalMs: number;
  /** When its last successful scrape was reported (ms, the ledger's clock). */
  okAt: number;
}

export class SeriesLedger {
  readonly #counters: SharedCounters;
  readonly #now: () => number;
  readonly #targets = new Map<string, Entry>();
  #active = 0;
  #expiredAt = 0;

  constructor(counters: SharedCounters, now: () => number = Date.now) {
    this.#counters = counters;
    this.#now = now;
  }

  /** Active series: the sum of the targets' counts. */
  get active(): number {
    return this.#active;
  }

  /** Takes one target status from a worker's report. */
  report(t: TargetStatus): void {
    const key = `${t.url}\u0000${t.discovery}`;
    const c = this.#counters;
    if (!t.up && t.okSeries === undefined) {
      c.add('seriesBudgetUsed', -t.newSeries);
      return;
    }
    // A failed scrape's status may carry the count of a successful one it replaced in the
    // worker's report (reporter.ts): that success is what counts.
    const series = t.up ? t.series : (t.okSeries as number);
    const now = this.#now();
    const e = this.#targets.get(key);
    const old = e?.view.series ?? 0;
    c.add('seriesBudgetUsed', series - old - t.newSeries);
    c.add('activeSeries', series - old);
    this.#active += series - old;
    const view: TargetSeriesView = { url: t.url, discovery: t.discovery, labels: t.labels, series, newSeries: t.newSeries, lastScrape: t.lastScrape };
    if (e === undefined) this.#targets.set(key, { view, worker: t.worker, intervalMs: t.intervalMs, okAt: now });
    else {
      e.view = view;
      e.worker = t.worker;
      e.intervalMs = t.intervalMs;
      e.okAt = now;
    }
    this.expire();
  }

  /** Worker `index` started (again): its caches are empty; its targets stop counting. */
  workerStarted(index: number): void {
    for (const [key, e] of this.#targets) if (e.worker === index) this.#remove(key, e);
  }

  /** Removes the targets with no successful scrape for `EXPIRE_INTERVALS` intervals (at most once a second unless `force`). */
  expire(force = false): void {
    const now = this.#now();
    if (!force && now - this.#expiredAt < EXPIRE_EVERY_MS) return;
    this.#expiredAt = now;
    for (const [key, e] of this.#targets) {
      if (now - e.okAt > EXPIRE_INTERVALS * e.intervalMs + EXPIRE_EVERY_MS) this.#remove(key, e);
    }
  }

  /** Active series, and the top `n` targets by active series and by new series. */
  view(n = TOP_OFFENDERS): SeriesStatusView {
    this.expire();
    const byActive: TargetSeriesView[] = [];
    const byNew: TargetSeriesView[] = [];
    for (const e of this.#targets.values()) {
      insertTop(byActive, e.view, n, (v) => v.series);
      if (e.view.newSeries > 0) insertTop(byNew, e.view, n, (v) => v.newSeries);
    }
    return { active: this.#active, targets: this.#targets.size, topActive: byActive, topNewSeries: byNew };
  }

  #remove(key: string, e: Entry): void {
    this.#targets.delete(key);
    const n = e.view.series;
    this.#active -= n;
    this.#counters.add('activeSeries', -n);
    this.#counters.add('seriesBudgetUsed', -n);
  }
}

/** Keeps `top` the `n` largest by `score`, largest first (ties: the earlier stays ahead). */
function insertTop(top: TargetSeriesView[], v: TargetSeriesView, n: number, score: (v: TargetSeriesView) => number): void {
  const s = score(v);
  if (top.length === n && s <= score(top[n - 1] as TargetSeriesView)) return;
  let i = top.length;
  while (i > 0 && score(top[i - 1] as TargetSeriesView) < s) i--;
  top.splice(i, 0, v);
  if (top.length > n) top.pop();
}
