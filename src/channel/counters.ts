// SPDX-License-Identifier: Apache-2.0
/**
 * A collector's counters in shared memory: written by its worker threads with `Atomics.add`,
 * read by the main thread (status, self-metrics) without any message round trip.
 *
 * Each counter is declared once, here, in `SCALARS` (with its metric name and help) or as a
 * reason of `ErrorReason`, `DropReason` or `TargetDropReason`; the snapshot type, the slots, the
 * self-metrics (`src/telemetry/metrics.ts` reads `SCALARS` and `REASON_METRICS`) and the status
 * view derive from these.
 *
 * Layout: one BigInt64 per counter in a SharedArrayBuffer, scalars first in the order of
 * `SCALARS`, then errors, drops and target drops in the order of their reasons. The buffer is
 * owned by the registry and outlives pools, so counts are monotonic across pool replacements.
 * Workers add their local sums once per scrape (or per send), not once per sample.
 *
 * Conservation, within one process: collected + replayed = sent + filtered + dropped (all
 * reasons) + spoolSamples + what the workers hold in memory (0 once stopped). Across a restart
 * with a spool: the samples the previous process left in the spool were counted `collected`
 * there; this process counts them `replayed` when it opens the spool, then `sent` or `dropped`
 * as usual (a crash may replay records acknowledged since the spool's last persisted point: at
 * least once, so `replayed` may exceed what was left).
 *
 * Reasons are bounded sets (they become metric labels):
 * - errors: why a target's scrape failed as a whole.
 * - dropped: why samples were lost after being scraped (each drop is counted once, here).
 * - targets dropped: why a queued target was not scraped.
 */

import { ScrapeFailure } from '../scrape/errors.js';

/** Why the outbox (src/buffer/outbox.ts) lost samples: declared here, with every other reason. */
/** Why the outbox dropped samples (a bounded label; part of the Collector's drop reasons). */
export const BufferDropReason = {
  SinkRejected: 'sink_rejected',
  BufferFull: 'buffer_full',
  TooOld: 'too_old',
  Shutdown: 'shutdown',
  /** Spool records that failed their check when read back (the file changed under the spool). */
  SpoolCorrupt: 'spool_corrupt',
} as const;
export type BufferDropReason = (typeof BufferDropReason)[keyof typeof BufferDropReason];

export const ErrorReason = {
  // Why the scrape itself failed (src/scrape).
  ...ScrapeFailure,
  // Why a scraped body yielded nothing.
  Parse: 'parse',
  /** A series broke scrape.labelLimit, labelNameLengthLimit or labelValueLengthLimit. */
  LabelLimit: 'label_limit',
  SampleLimit: 'sample_limit',
  /** A new series would have taken the Collector past seriesBudget.maxSeries (policy failTarget). */
  SeriesBudget: 'series_budget',
  Encode: 'encode',
  Internal: 'internal',
} as const;
export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

export const DropReason = {
  SampleLimit: 'sample_limit',
  /** Samples of new series past seriesBudget.maxSeries (dropNew), or of a scrape it failed (failTarget). */
  SeriesBudget: 'series_budget',
  NonFinite: 'non_finite',
  Encode: 'encode',
  // Dropped by the send buffer (src/buffer/outbox.ts): sink_rejected, buffer_full, too_old, shutdown.
  ...BufferDropReason,
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

export const TargetDropReason = {
  ChannelFull: 'channel_full',
  Stale: 'stale',
  /** Taken while the same target's previous scrape was still running on this worker. */
  InProgress: 'scrape_in_progress',
  Undecodable: 'undecodable',
  CollectorDeleted: 'collector_deleted',
  CollectorDisabled: 'collector_disabled',
  TooLarge: 'record_too_large',
  /** Taken by a worker that had to be terminated before it finished (grace period over). */
  Shutdown: 'shutdown',
} as const;
export type TargetDropReason = (typeof TargetDropReason)[keyof typeof TargetDropReason];

/**
 * The scalar counters. `metric`: its self-metric (a counter unless `gauge`), read as the value
 * times `scale`; null: status only.
 */
export const SCALARS = {
  collected: { metric: 'strata_samples_collected_total', help: 'Samples scraped and parsed.' },
  filtered: { metric: 'strata_samples_filtered_total', help: 'Samples dropped by the exclude and clip filters.' },
  clamped: { metric: 'strata_samples_clamped_total', help: 'Samples changed by the clamp filter.' },
  staleMarkers: {
    metric: 'strata_stale_markers_total',
    help: 'Stale markers written (remote write): series gone from a scrape, or of a failed or removed target. Counted in collected too.',
  },
  sent: { metric: 'strata_samples_sent_total', help: 'Samples acknowledged by the sink (or written, where it has no acknowledgement).' },
  sentMessages: { metric: 'strata_messages_sent_total', help: 'Messages acknowledged by the sink.' },
  replayed: {
    metric: 'strata_samples_replayed_total',
    help: 'Samples found in the spool at start: collected by an earlier process, sent or dropped by this one.',
  },
  spoolSamples: { metric: 'strata_spool_samples', gauge: true, help: 'Samples waiting in the on-disk spools the workers have open.' },
  spoolClosedSamples: { metric: null, help: 'Samples this process left in spools it closed (a replaced pool hands them to the next).' },
  activeSeries: {
    metric: 'strata_active_series',
    gauge: true,
    help: "Distinct series of the last successful scrape of each of the collector's targets, summed (written by the main thread).",
  },
  seriesCreated: { metric: 'strata_series_created_total', help: 'New series (not in the target\'s series cache) of successful scrapes.' },
  seriesBudgetUsed: {
    metric: null,
    help: 'Series seriesBudget counts: active series plus the new series of scrapes not yet reported (workers reserve from it).',
  },
  scrapes: { metric: 'strata_scrapes_total', help: 'Scrapes made (failed ones included).' },
  scrapesFailed: { metric: 'strata_scrapes_failed_total', help: 'Scrapes that failed as a whole (see strata_errors_total).' },
  targetsTaken: { metric: null, help: 'Targets taken from the channel and scraped.' },
  inFlight: { metric: null, help: 'Targets being scraped now.' },
  queueDelayMsTotal: { metric: null, help: 'Sum of the queue delays of the targets taken, in ms.' },
  workerFailures: { metric: 'strata_worker_failures_total', help: 'Worker threads of the collector that failed (each is started again after a backoff).' },
  pacedGcs: { metric: 'strata_worker_paced_gcs_total', help: "Full GCs run by the workers' pacers (their retained memory had grown by the budget)." },
  pacedGcMicrosTotal: { metric: 'strata_worker_paced_gc_seconds_total', scale: 1e-6, help: "Time the workers' paced full GCs took, in seconds." },
} as const satisfies Record<string, { metric: string | null; help: string; gauge?: boolean; scale?: number }>;
export type Scalar = keyof typeof SCALARS;

/** The reason maps of a snapshot, with their self-metric ({collector, reason}). */
export const REASON_METRICS = {
  errors: { metric: 'strata_errors_total', help: 'Failed scrapes, by reason.' },
  dropped: { metric: 'strata_samples_dropped_total', help: 'Samples lost after being scraped, by reason.' },
  targetsDropped: { metric: 'strata_targets_dropped_total', help: 'Queued targets that were not scraped (channel_full, stale, ...), by reason.' },
} as const;

const SCALAR_NAMES = Object.keys(SCALARS) as Scalar[];
const SCALAR_INDEX = new Map<Scalar, number>(SCALAR_NAMES.map((n, i) => [n, i]));
const ERRORS = Object.values(ErrorReason);
const DROPS = [...new Set(Object.values(DropReason))];
const TARGET_DROPS = Object.values(TargetDropReason);

const OFFSET_ERRORS = SCALAR_NAMES.length;
const OFFSET_DROPS = OFFSET_ERRORS + ERRORS.length;
const OFFSET_TARGET_DROPS = OFFSET_DROPS + DROPS.length;
const SLOTS = OFFSET_TARGET_DROPS + TARGET_DROPS.length;

export type CounterSnapshot = { readonly [K in Scalar]: number } & {
  readonly errors: Readonly<Record<ErrorReason, number>>;
  readonly dropped: Readonly<Record<DropReason, number>>;
  readonly targetsDropped: Readonly<Record<TargetDropReason, number>>;
};

export class SharedCounters {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: BigInt64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOTS * 8);
    if (this.buffer.byteLength < SLOTS * 8) throw new RangeError('SharedCounters: buffer too small');
    this.#slots = new BigInt64Array(this.buffer, 0, SLOTS);
  }

  add(name: Scalar, n: number): void {
    if (n !== 0) Atomics.add(this.#slots, SCALAR_INDEX.get(name) as number, BigInt(Math.round(n)));
  }

  /** Subtracts up to `max` from a scalar that stays ≥ 0, atomically; returns what it took. */
  take(name: Scalar, max: number): number {
    const i = SCALAR_INDEX.get(name) as number;
    for (;;) {
      const have = Atomics.load(this.#slots, i);
      const n = have < BigInt(Math.max(0, Math.round(max))) ? have : BigInt(Math.max(0, Math.round(max)));
      if (n <= 0n) return 0;
      if (Atomics.compareExchange(this.#slots, i, have, have - n) === have) return Number(n);
    }
  }

  /** One scalar's value now. */
  get(name: Scalar): number {
    return Number(Atomics.load(this.#slots, SCALAR_INDEX.get(name) as number));
  }

  /**
   * Adds up to `max` to a scalar without taking it past `limit`, atomically; returns what it
   * added (0 when the scalar is at or over the limit).
   */
  addUpTo(name: Scalar, max: number, limit: number): number {
    const i = SCALAR_INDEX.get(name) as number;
    const cap = BigInt(Math.round(limit));
    for (;;) {
      const have = Atomics.load(this.#slots, i);
      const room = cap - have;
      const want = BigInt(Math.max(0, Math.round(max)));
      const n = room < want ? room : want;
      if (n <= 0n) return 0;
      if (Atomics.compareExchange(this.#slots, i, have, have + n) === have) return Number(n);
    }
  }

  error(reason: ErrorReason, n = 1): void {
    Atomics.add(this.#slots, OFFSET_ERRORS + ERRORS.indexOf(reason), BigInt(n));
  }

  drop(reason: DropReason, samples: number): void {
    if (samples > 0) Atomics.add(this.#slots, OFFSET_DROPS + DROPS.indexOf(reason), BigInt(samples));
  }

  dropTarget(reason: TargetDropReason, n = 1): void {
    if (n > 0) Atomics.add(this.#slots, OFFSET_TARGET_DROPS + TARGET_DROPS.indexOf(reason), BigInt(n));
  }

  snapshot(): CounterSnapshot {
    const s = this.#slots;
    const read = (i: number): number => Number(Atomics.load(s, i));
    const scalars = {} as Record<Scalar, number>;
    SCALAR_NAMES.forEach((name, i) => {
      scalars[name] = read(i);
    });
    const errors = {} as Record<ErrorReason, number>;
    ERRORS.forEach((r, i) => {
      errors[r] = read(OFFSET_ERRORS + i);
    });
    const dropped = {} as Record<DropReason, number>;
    DROPS.forEach((r, i) => {
      dropped[r] = read(OFFSET_DROPS + i);
    });
    const targetsDropped = {} as Record<TargetDropReason, number>;
    TARGET_DROPS.forEach((r, i) => {
      targetsDropped[r] = read(OFFSET_TARGET_DROPS + i);
    });
    return { ...scalars, errors, dropped, targetsDropped };
  }
}

/** Sum of a reason map. */
export function total(counts: Readonly<Record<string, number>>): number {
  let n = 0;
  for (const k in counts) n += counts[k] as number;
  return n;
}
