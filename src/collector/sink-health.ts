// SPDX-License-Identifier: Apache-2.0
/**
 * What one worker knows of its sink's health, for metrics, `/status`, stderr and `/readyz`:
 * failed sends counted by the sink's bounded `code` (a send without one counts as `unknown`),
 * the last failure's full reason and time, the time of the last success, and since when every
 * send has failed (null once one succeeds).
 *
 * Invariant: `failingSince` is set by the first failure after a success (or after start) and
 * cleared by the next success, so "failing for 30 s" means no send succeeded in those 30 s.
 * Failure counts are handed over as deltas (`take()`), so the main thread can add them up across
 * workers and thread restarts.
 */
import type { FailedOutcome } from '../buffer/outbox.js';

export interface SinkFailure {
  readonly code: string;
  readonly reason: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** `retry` (may pass) or `reject` (the data was dropped). */
  readonly result: 'retry' | 'reject';
}

/** A worker's sink health as reported to the main thread. */
export interface SinkHealthReport {
  /** Failed sends since the previous report, by code. */
  readonly failures: Readonly<Record<string, number>>;
  readonly lastFailure: SinkFailure | null;
  readonly lastOkAt: number | null;
  readonly failingSince: number | null;
}

export const UNKNOWN_CODE = 'unknown';

export class SinkHealth {
  readonly #now: () => number;
  #failures: Record<string, number> = {};
  #changed = false;
  #lastFailure: SinkFailure | null = null;
  #lastOkAt: number | null = null;
  #failingSince: number | null = null;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  ok(): void {
    if (this.#failingSince !== null) {
      this.#failingSince = null;
      this.#changed = true;
    }
    this.#lastOkAt = this.#now();
  }

  fail(outcome: FailedOutcome): void {
    const at = this.#now();
    const code = outcome.code ?? UNKNOWN_CODE;
    this.#failures[code] = (this.#failures[code] ?? 0) + 1;
    this.#lastFailure = { code, reason: outcome.reason, at, result: outcome.result };
    this.#failingSince ??= at;
    this.#changed = true;
  }

  /** The report since the last `take()`; null when nothing happened worth reporting. */
  take(): SinkHealthReport | null {
    if (!this.#changed && this.#lastOkAt === null) return null;
    const report: SinkHealthReport = {
      failures: this.#failures,
      lastFailure: this.#lastFailure,
      lastOkAt: this.#lastOkAt,
      failingSince: this.#failingSince,
    };
    this.#failures = {};
    this.#changed = false;
    return report;
  }
}
