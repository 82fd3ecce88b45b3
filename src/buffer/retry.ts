// SPDX-License-Identifier: Apache-2.0
/**
 * Backoff between attempts of a failed send (the outbox, outbox.ts, is the one place a failed
 * send is tried again).
 *
 * Retry n waits `min(maxBackoffMs, initialBackoffMs·2^(n-1))` scaled by a factor drawn uniformly
 * from `[1 - jitter, 1 + jitter]`, then capped at `maxBackoffMs` again: capped exponential
 * backoff with jitter, so that many workers retrying one peer do not retry in step. A sink's own
 * hint (`retryAfterMs`) is used as given instead, by the caller.
 */

export interface BackoffOptions {
  /** The first retry's base delay; ≥ 0. */
  readonly initialBackoffMs: number;
  /** No computed delay is longer; ≥ initialBackoffMs. */
  readonly maxBackoffMs: number;
  /** Spread of the jitter factor around 1; in [0, 1]. */
  readonly jitter: number;
}

/** The delay before retry `n` (1 for the first retry). `random` returns a number in [0, 1). */
export function backoffDelay(n: number, options: BackoffOptions, random: () => number = Math.random): number {
  const { initialBackoffMs, maxBackoffMs, jitter } = options;
  const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.min(Math.max(n - 1, 0), 62));
  const factor = 1 + jitter * (2 * random() - 1);
  return Math.min(maxBackoffMs, Math.max(0, base * factor));
}
