// SPDX-License-Identifier: Apache-2.0
/**
 * Body-reading turns: a counting semaphore that bounds how many scrape bodies one Scraper reads
 * (inflates, hands to its consumer to parse) at once. A scrape whose headers have arrived takes
 * a turn or waits for one, first come first served, with its response paused.
 *
 * Why: reading a body is CPU work on the worker's thread; more bodies at once only interleave
 * that work, holding more of them in memory and making each one later. Fetching is not bounded
 * here (that is `maxSockets`), only reading.
 *
 * Invariants:
 * - `free` is in [0, limit]; a turn is either free or held by exactly one waiter.
 * - A released turn goes to the first waiter that still wants it (`takeTurn()` answers true);
 *   a waiter that settled meanwhile answers false and the turn passes on, so a turn is never
 *   lost to a scrape that ended while it waited.
 * - A waiter that ends before its turn withdraws itself (`withdraw`), so the queue holds only
 *   live waiters or ones that will decline.
 *
 * Recovery: none needed; a waiter's own deadline ends its wait.
 */

/** A scrape that may wait for a turn. */
export interface TurnWaiter {
  /** Called with a turn handed to it; false if it no longer wants one (the turn passes on). */
  takeTurn(): boolean;
}

export class BodyTurns {
  /** Most bodies read at once. */
  readonly limit: number;
  #free: number;
  readonly #waiting: TurnWaiter[] = [];

  constructor(limit: number) {
    this.limit = limit;
    this.#free = limit;
  }

  /** Turns not held. */
  get free(): number {
    return this.#free;
  }

  /** Waiters queued for a turn. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** At most one body is being read and none waits: the Scraper is quiet. */
  get quiet(): boolean {
    return this.#free >= this.limit - 1 && this.#waiting.length === 0;
  }

  /**
   * Takes a turn now if one is free (true); otherwise queues `waiter` (false), whose
   * `takeTurn()` is called when a turn is released to it.
   */
  acquire(waiter: TurnWaiter): boolean {
    if (this.#free > 0) {
      this.#free--;
      return true;
    }
    this.#waiting.push(waiter);
    return false;
  }

  /** Gives back a held turn: to the first waiter that still wants it, else to the free count. */
  release(): void {
    for (;;) {
      const next = this.#waiting.shift();
      if (next === undefined) {
        this.#free++;
        return;
      }
      if (next.takeTurn()) return;
    }
  }

  /** Removes a waiter that no longer waits (it settled before its turn came). */
  withdraw(waiter: TurnWaiter): void {
    const i = this.#waiting.indexOf(waiter);
    if (i >= 0) this.#waiting.splice(i, 1);
  }
}
