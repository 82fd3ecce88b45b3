/**
 * A collector's counters in shared memory: written by its worker threads with `Atomics.add`,
 * read by the main thread (status, self-metrics) without any message round trip.
 *
 * Layout: one BigInt64 per counter in a SharedArrayBuffer, in the order of `COUNTERS`. The
 * buffer is owned by the registry and outlives pools, so counts are monotonic across pool
 * replacements. Workers add their local sums once per scrape, not once per sample.
 *
 * Reasons are bounded sets (they become metric labels):
 * - errors: why a target's scrape failed as a whole.
 * - dropped: why samples were lost after being scraped (each drop is counted here, by reason).
 * - targets dropped: why a queued target was not scraped.
 */

import { ScrapeFailure } from '../scrape/errors.js';

export const ErrorReason = {
  // Why the scrape itself failed (src/scrape).
  ...ScrapeFailure,
  // Why a scraped body yielded nothing.
  Parse: 'parse',
  SampleLimit: 'sample_limit',
  Encode: 'encode',
  Sink: 'sink',
  Internal: 'internal',
} as const;
export type ErrorReason = (typeof ErrorReason)[keyof typeof ErrorReason];

export const DropReason = {
  SampleLimit: 'sample_limit',
  NonFinite: 'non_finite',
  SinkRejected: 'sink_rejected',
  RetriesExhausted: 'retries_exhausted',
  BufferFull: 'buffer_full',
  Shutdown: 'shutdown',
  Encode: 'encode',
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

const SCALARS = [
  'collected',
  'filtered',
  'clamped',
  'sent',
  'sentMessages',
  'scrapes',
  'scrapesFailed',
  'targetsTaken',
  'inFlight',
  'queueDelayMsTotal',
  'pacedGcs',
  'pacedGcMicrosTotal',
] as const;
type Scalar = (typeof SCALARS)[number];

const ERRORS = Object.values(ErrorReason);
const DROPS = Object.values(DropReason);
const TARGET_DROPS = Object.values(TargetDropReason);

const OFFSET_ERRORS = SCALARS.length;
const OFFSET_DROPS = OFFSET_ERRORS + ERRORS.length;
const OFFSET_TARGET_DROPS = OFFSET_DROPS + DROPS.length;
const SLOTS = OFFSET_TARGET_DROPS + TARGET_DROPS.length;

export interface CounterSnapshot {
  readonly collected: number;
  readonly filtered: number;
  readonly clamped: number;
  readonly sent: number;
  readonly sentMessages: number;
  readonly scrapes: number;
  readonly scrapesFailed: number;
  readonly targetsTaken: number;
  readonly inFlight: number;
  readonly queueDelayMsTotal: number;
  /** Full GCs the workers' pacers ran (gc.ts), and the microseconds they took. */
  readonly pacedGcs: number;
  readonly pacedGcMicrosTotal: number;
  readonly errors: Readonly<Record<ErrorReason, number>>;
  readonly dropped: Readonly<Record<DropReason, number>>;
  readonly targetsDropped: Readonly<Record<TargetDropReason, number>>;
}

export class SharedCounters {
  readonly buffer: SharedArrayBuffer;
  readonly #slots: BigInt64Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer(SLOTS * 8);
    if (this.buffer.byteLength < SLOTS * 8) throw new RangeError('SharedCounters: buffer too small');
    this.#slots = new BigInt64Array(this.buffer, 0, SLOTS);
  }

  add(name: Scalar, n: number): void {
    if (n !== 0) Atomics.add(this.#slots, SCALARS.indexOf(name), BigInt(Math.round(n)));
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
    SCALARS.forEach((name, i) => {
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
