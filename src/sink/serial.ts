// SPDX-License-Identifier: Apache-2.0
/**
 * Waiting with an abort signal, a FIFO lock whose waiters can give up their place, and the
 * lifecycle every sink shares (`SendGate`).
 *
 * Sinks serialise their writes with `Serial` so that concurrent sends reach the medium whole
 * and in call order. A waiter whose signal aborts leaves the line at once; the holders after it
 * still wait for every holder before it, so the order of the others is kept.
 */

import type { SendOutcome } from './sink.js';

/** What `raceAbort` resolves to when the signal aborted first. */
export const ABORT: unique symbol = Symbol('abort');

/**
 * Resolves as `promise` does, or with `ABORT` as soon as `signal` aborts (at once if it already
 * has). The promise keeps running; a later rejection of it is swallowed.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | typeof ABORT> {
  if (signal === undefined) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    return Promise.resolve(ABORT);
  }
  return new Promise<T | typeof ABORT>((resolve, reject) => {
    const onAbort = (): void => resolve(ABORT);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** A FIFO mutex. */
export class Serial {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Waits until every earlier holder has released. Returns the release function, or `null`
   * when the signal aborted first (the caller then holds nothing and must not release).
   */
  async acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    const before = this.#tail;
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.#tail = before.then(() => mine);
    const turn = await raceAbort(before, signal);
    if (turn === ABORT) {
      release(); // the next holder still waits for `before` through the chain
      return null;
    }
    return release;
  }
}

/**
 * The lifecycle of a sink's sends (sink.ts): each send is tracked until it settles; `flush`
 * waits for every send accepted before it (or throws the signal's reason); `close` stops
 * accepting sends (`closed` turns true at once), waits for those accepted, then releases the
 * medium, once however often it is called.
 */
export class SendGate {
  readonly #pending = new Set<Promise<SendOutcome>>();
  #closing: Promise<void> | null = null;

  /** True once `close` was called: a sink answers `reject` to a send then. */
  get closed(): boolean {
    return this.#closing !== null;
  }

  /** Tracks `sending` until it settles, and returns it. */
  track(sending: Promise<SendOutcome>): Promise<SendOutcome> {
    this.#pending.add(sending);
    void sending.finally(() => this.#pending.delete(sending));
    return sending;
  }

  async flush(signal: AbortSignal): Promise<void> {
    const settled = await raceAbort(Promise.allSettled([...this.#pending]), signal);
    if (settled === ABORT) throw signal.reason;
  }

  close(release: () => Promise<void>): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#pending]);
      await release();
    })();
    return this.#closing;
  }
}
