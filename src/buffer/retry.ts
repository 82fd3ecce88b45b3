/**
 * The retrying sender: the one place a failed send is tried again.
 *
 * `send(messages, samples, signal)` calls `sink.send`. On `ok` the messages and samples count
 * as sent. On `retry` it waits and tries again: the sink's `retryAfterMs` when it gives one
 * (as given: no jitter, no cap), else capped exponential backoff with jitter (retry n waits
 * `min(maxBackoffMs, initialBackoffMs·2^(n-1))` scaled by a factor drawn uniformly from
 * `[1 - jitter, 1 + jitter]`, then capped at `maxBackoffMs` again). It gives up and counts the
 * samples as dropped, once, with a bounded reason:
 * - `rejected`: the sink answered `reject` (the reason is passed to `onDrop`);
 * - `retries_exhausted`: `maxAttempts` attempts (the first included) all answered `retry`;
 * - `shutdown`: the signal aborted before delivery (before the first attempt, during a wait,
 *   or during an attempt that then answered `retry`);
 * - `buffer_full`: see below.
 * Data waiting to be retried is not counted as dropped; `retries` counts the re-sends.
 *
 * Bound (policy `drop_newest`, 64 MiB by default): the bytes of every send accepted and not yet settled (in its
 * first attempt or waiting to retry) are held against `maxInFlightBytes`. A new send that
 * would take the held bytes past it is dropped at once as `buffer_full`, without calling the
 * sink; the sends already held keep their place. A single send larger than the whole bound is
 * accepted only when nothing else is held, so that it can still go out.
 *
 * `send` never throws (unless `onDrop` does): a sink that throws, against its contract, is
 * treated as answering `retry`. Counters are plain sums, updated once per send.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import { byteLength, type SendOutcome, type Sink } from '../sink/sink.js';

export const DropReason = {
  Rejected: 'rejected',
  RetriesExhausted: 'retries_exhausted',
  Shutdown: 'shutdown',
  BufferFull: 'buffer_full',
} as const;
export type DropReason = (typeof DropReason)[keyof typeof DropReason];

/** What a full buffer does (STYLE: every bounded buffer declares it). */
export const FullPolicy = { Block: 'block', DropOldest: 'drop_oldest', DropNewest: 'drop_newest' } as const;
export type FullPolicy = (typeof FullPolicy)[keyof typeof FullPolicy];

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

export interface RetryingSenderOptions {
  readonly sink: Sink;
  /** Bytes of sends accepted and not settled, at most (see the header); > 0. */
  readonly maxInFlightBytes?: number;
  /** Attempts per send, the first included; ≥ 1. */
  readonly maxAttempts?: number;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly jitter?: number;
  /**
   * What a send finds when the in-flight bound is reached: `drop_newest` (default) drops it and
   * counts `buffer_full`; `block` waits for room (the caller's concurrency then bounds memory,
   * and the wait pushes back on whoever produces the sends).
   */
  readonly fullPolicy?: typeof FullPolicy.DropNewest | typeof FullPolicy.Block;
  /** Called once per dropped send, after the counters are updated. */
  readonly onDrop?: (reason: DropReason, samples: number, detail: string) => void;
  /** Waits `ms`, rejecting when `signal` aborts; `timers/promises` by default (tests inject). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
  /** A number in [0, 1) for the jitter; `Math.random` by default. */
  readonly random?: () => number;
}

export const RETRY_DEFAULTS = {
  maxAttempts: 8,
  initialBackoffMs: 100,
  maxBackoffMs: 30_000,
  jitter: 0.2,
  maxInFlightBytes: 64 * 1024 * 1024,
} as const;

export interface RetryCounters {
  readonly sentMessages: number;
  readonly sentSamples: number;
  /** Re-sends made (a send delivered on its third attempt adds 2). */
  readonly retries: number;
  readonly droppedSamples: Readonly<Record<DropReason, number>>;
}

/** How one `send` ended. */
export type Delivery =
  | { readonly delivered: true; readonly attempts: number }
  | { readonly delivered: false; readonly reason: DropReason; readonly detail: string; readonly attempts: number };

export class RetryingSender {
  readonly fullPolicy: FullPolicy;
  /** Sends waiting for room under the `block` policy, in arrival order. */
  readonly #waiters: (() => void)[] = [];
  readonly sink: Sink;
  readonly maxInFlightBytes: number;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  readonly #onDrop: RetryingSenderOptions['onDrop'];
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<unknown>;
  readonly #random: () => number;
  #inFlightBytes = 0;
  #sentMessages = 0;
  #sentSamples = 0;
  #retries = 0;
  readonly #dropped: Record<DropReason, number> = { rejected: 0, retries_exhausted: 0, shutdown: 0, buffer_full: 0 };

  constructor(options: RetryingSenderOptions) {
    const maxAttempts = options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
    const initialBackoffMs = options.initialBackoffMs ?? RETRY_DEFAULTS.initialBackoffMs;
    const maxBackoffMs = options.maxBackoffMs ?? RETRY_DEFAULTS.maxBackoffMs;
    const jitter = options.jitter ?? RETRY_DEFAULTS.jitter;
    const maxInFlightBytes = options.maxInFlightBytes ?? RETRY_DEFAULTS.maxInFlightBytes;
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) invalid('maxAttempts', 'an integer ≥ 1', maxAttempts);
    if (!Number.isFinite(initialBackoffMs) || initialBackoffMs < 0) {
      invalid('initialBackoffMs', 'a number ≥ 0', initialBackoffMs);
    }
    if (!Number.isFinite(maxBackoffMs) || maxBackoffMs < initialBackoffMs) {
      invalid('maxBackoffMs', `a number ≥ initialBackoffMs (${initialBackoffMs})`, maxBackoffMs);
    }
    if (!(jitter >= 0 && jitter <= 1)) invalid('jitter', 'a number in [0, 1]', jitter);
    if (!Number.isFinite(maxInFlightBytes) || maxInFlightBytes <= 0) {
      invalid('maxInFlightBytes', 'a number > 0', maxInFlightBytes);
    }
    this.sink = options.sink;
    this.maxInFlightBytes = maxInFlightBytes;
    this.maxAttempts = maxAttempts;
    this.backoff = { initialBackoffMs, maxBackoffMs, jitter };
    this.#onDrop = options.onDrop;
    this.fullPolicy = options.fullPolicy ?? FullPolicy.DropNewest;
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#random = options.random ?? Math.random;
  }

  /** Bytes of the sends accepted and not yet settled. */
  get inFlightBytes(): number {
    return this.#inFlightBytes;
  }

  /** A snapshot of the counters. */
  get counters(): RetryCounters {
    return {
      sentMessages: this.#sentMessages,
      sentSamples: this.#sentSamples,
      retries: this.#retries,
      droppedSamples: { ...this.#dropped },
    };
  }

  /**
   * Whether `sendNow` may write: the sink has `writeNow` and no send is held (in flight or
   * waiting for room), so a message written now cannot overtake one sent before it.
   */
  get canSendNow(): boolean {
    return this.#inFlightBytes === 0 && this.#waiters.length === 0 && this.sink.writeNow !== undefined;
  }

  /**
   * Writes one message at once with the sink's `writeNow` when `canSendNow`; `true` when it was
   * delivered (counted as sent). `false` when it was not written or not accepted: nothing is
   * counted, and the caller sends it (and every message after it) with `send`, which then
   * retries or drops and counts as usual.
   */
  sendNow(message: Uint8Array, samples: number): boolean {
    if (!this.canSendNow) return false;
    let outcome: SendOutcome | null;
    try {
      outcome = this.sink.writeNow?.(message) ?? null;
    } catch {
      return false; // against the contract; `send` will answer for it
    }
    if (outcome === null || outcome.result !== 'ok') return false;
    this.#sentMessages++;
    this.#sentSamples += samples;
    return true;
  }

  async send(messages: readonly Uint8Array[], samples: number, signal: AbortSignal): Promise<Delivery> {
    if (signal.aborted) return this.#drop(DropReason.Shutdown, samples, abortDetail(signal), 0);
    const bytes = byteLength(messages);
    while (this.fullPolicy === FullPolicy.Block && this.#inFlightBytes > 0 && this.#inFlightBytes + bytes > this.maxInFlightBytes) {
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          signal.removeEventListener('abort', wake);
          resolve();
        };
        this.#waiters.push(wake);
        signal.addEventListener('abort', wake, { once: true });
      });
      if (signal.aborted) return this.#drop(DropReason.Shutdown, samples, abortDetail(signal), 0);
    }
    if (this.#inFlightBytes > 0 && this.#inFlightBytes + bytes > this.maxInFlightBytes) {
      const detail =
        `${this.#inFlightBytes} bytes in flight + ${bytes} would exceed maxInFlightBytes ` +
        `${this.maxInFlightBytes} (policy ${this.fullPolicy})`;
      return this.#drop(DropReason.BufferFull, samples, detail, 0);
    }
    this.#inFlightBytes += bytes;
    try {
      for (let attempt = 1; ; attempt++) {
        const outcome = await this.#attempt(messages, signal);
        if (outcome.result === 'ok') {
          this.#sentMessages += messages.length;
          this.#sentSamples += samples;
          return { delivered: true, attempts: attempt };
        }
        if (outcome.result === 'reject') return this.#drop(DropReason.Rejected, samples, outcome.reason, attempt);
        const shutdown = (): Delivery =>
          this.#drop(DropReason.Shutdown, samples, `${abortDetail(signal)}; last: ${outcome.reason}`, attempt);
        if (signal.aborted) return shutdown();
        if (attempt >= this.maxAttempts) {
          const detail = `${attempt} attempts (maxAttempts ${this.maxAttempts}); last: ${outcome.reason}`;
          return this.#drop(DropReason.RetriesExhausted, samples, detail, attempt);
        }
        const hint = outcome.retryAfterMs;
        const hinted = hint !== undefined && Number.isFinite(hint) && hint >= 0;
        try {
          await this.#sleep(hinted ? hint : backoffDelay(attempt, this.backoff, this.#random), signal);
        } catch {
          // Only an abort should end a wait early; either way the signal decides below.
        }
        if (signal.aborted) return shutdown();
        this.#retries++;
      }
    } finally {
      this.#inFlightBytes -= bytes;
      // Room was made: let the waiting sends check again, in order.
      const waiters = this.#waiters.splice(0);
      for (const wake of waiters) wake();
    }
  }

  async #attempt(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    try {
      return await this.sink.send(messages, signal);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return { result: 'retry', reason: `the ${this.sink.kind} sink threw: ${message}` };
    }
  }

  #drop(reason: DropReason, samples: number, detail: string, attempts: number): Delivery {
    this.#dropped[reason] += samples;
    this.#onDrop?.(reason, samples, detail);
    return { delivered: false, reason, detail, attempts };
  }
}

function invalid(field: string, want: string, got: unknown): never {
  throw new ConfigError(`buffer.${field}`, `must be ${want}; got ${String(got)}`);
}

function abortDetail(signal: AbortSignal): string {
  const reason: unknown = signal.reason;
  return `aborted: ${reason instanceof Error ? reason.message : String(reason)}`;
}
