// SPDX-License-Identifier: Apache-2.0
/**
 * The worker side of a Collector's `seriesBudget`: which new series a scrape may create.
 *
 * The budget counts, in the shared scalar `seriesBudgetUsed` (counters.ts), the Collector's
 * active series (each target's distinct series in its last successful scrape, summed by the
 * main thread: registry/series-ledger.ts) plus the new series of scrapes not yet reported. A
 * scrape reserves a slot there for each new series (a series-cache miss that is neither
 * filtered nor skipped: parser option `admitNewSeries`) with a compare-and-swap that never
 * takes the word past `maxSeries`; a series it cannot reserve a slot for is refused:
 * - `dropNew`: the series' sample is dropped (`series_budget`) and the series is not recorded
 *   in the target's series cache, so it asks again on the next scrape; the rest of the scrape
 *   goes on;
 * - `failTarget`: from the first refusal on every new series is refused, and the scrape fails
 *   whole (error and drops `series_budget`, see target-run.ts), as `sampleLimit`'s `fail` does.
 * A target that already holds its series (cache hits) is never refused: only growth and churn
 * ask, so one exploding exporter is stopped at the budget while the others keep their series.
 *
 * Reservation is in chunks (1, doubling up to `MAX_CHUNK`, and never more than 1/16 of the
 * room left), so a scrape of many new series costs few atomic operations while the slots a
 * scrape holds unused (which other scrapes cannot have until it ends) stay few near the limit;
 * `settle()` gives back what the scrape did not use, and everything on a failed scrape. A successful scrape keeps what it used until the main thread
 * reads its report and replaces the target's old count by the new one (the ledger adds the
 * difference and removes what the report says was reserved), so the budget is exact once the
 * reports are in and may be overrun, meanwhile, only by series a target's cache already holds.
 * With `maxSeries` 0 nothing is refused; the used word still follows the series, so a budget set
 * later starts from the right count.
 *
 * One admission per scrape, found again by the scrape's `Target` object (each channel record
 * decodes to its own), so every exit of target-run.ts can settle it. Never throws.
 */
import type { Target } from '../discovery/target.js';
import type { SharedCounters } from '../channel/counters.js';

/** Most slots one reservation takes: a scrape holds at most this many it may not use. */
export const MAX_CHUNK = 256;
/** A reservation takes at most this fraction (1/n) of the room left under the limit. */
const ROOM_SHARE = 16;

export interface SeriesBudgetSpec {
  readonly maxSeries: number;
  readonly policy: 'dropNew' | 'failTarget';
}

/** What a settled scrape tells its status: the series it delivered and how many were new. */
export interface ScrapeSeriesCounts {
  readonly series: number;
  readonly newSeries: number;
}

export class SeriesAdmission {
  readonly #counters: SharedCounters;
  readonly #limit: number;
  readonly #failTarget: boolean;
  /** Slots reserved and not yet used. */
  #reserve = 0;
  #chunk = 1;
  #settled = false;
  /** New series admitted, and refused. */
  created = 0;
  refused = 0;

  constructor(counters: SharedCounters, budget: SeriesBudgetSpec | undefined) {
    this.#counters = counters;
    this.#limit = budget?.maxSeries ?? 0;
    this.#failTarget = budget?.policy === 'failTarget';
  }

  /** True when this scrape must fail whole (`failTarget` and a new series was refused). */
  get failed(): boolean {
    return this.#failTarget && this.refused > 0;
  }

  /** The parser's `admitNewSeries`. */
  readonly admit = (): boolean => {
    if (this.#limit <= 0) {
      this.created++;
      return true;
    }
    if (this.#reserve === 0 && !this.failed) {
      // Near the limit, small reservations: what one scrape holds unused, others cannot have.
      const room = this.#limit - this.#counters.get('seriesBudgetUsed');
      const want = Math.min(this.#chunk, Math.max(1, Math.floor(room / ROOM_SHARE)));
      this.#reserve = this.#counters.addUpTo('seriesBudgetUsed', want, this.#limit);
      this.#chunk = Math.min(this.#chunk * 2, MAX_CHUNK);
    }
    if (this.#reserve === 0) {
      this.refused++;
      return false;
    }
    this.#reserve--;
    this.created++;
    return true;
  };

  /**
   * Ends the scrape: gives back the unused slots (all of them when `ok` is false) and, on
   * success, counts the new series (`seriesCreated`). Idempotent: only the first call counts.
   */
  settle(ok: boolean, series: number): ScrapeSeriesCounts {
    if (this.#settled) return { series: ok ? series : 0, newSeries: 0 };
    this.#settled = true;
    const c = this.#counters;
    const limited = this.#limit > 0;
    if (ok) {
      // Unlimited: nothing was reserved, but the word follows the series all the same.
      if (limited) c.add('seriesBudgetUsed', -this.#reserve);
      else c.add('seriesBudgetUsed', this.created);
      c.add('seriesCreated', this.created);
      return { series, newSeries: this.created };
    }
    if (limited) c.add('seriesBudgetUsed', -(this.#reserve + this.created));
    return { series: 0, newSeries: 0 };
  }
}

const admissions = new WeakMap<Target, SeriesAdmission>();

/** A new admission for this scrape of `target` (replacing any earlier one of the same object). */
export function seriesAdmission(target: Target, counters: SharedCounters, budget: SeriesBudgetSpec | undefined): SeriesAdmission {
  const a = new SeriesAdmission(counters, budget);
  admissions.set(target, a);
  return a;
}

/** The admission of this scrape of `target`, if its body was parsed. */
export function admissionOf(target: Target): SeriesAdmission | undefined {
  return admissions.get(target);
}

/**
 * Settles this scrape of `target` (see `SeriesAdmission.settle`): `series` is what a successful
 * scrape delivered. A scrape whose body was never parsed has nothing to settle.
 */
export function settleSeries(target: Target, ok: boolean, series = 0): ScrapeSeriesCounts {
  return admissions.get(target)?.settle(ok, series) ?? { series: ok ? series : 0, newSeries: 0 };
}
