// SPDX-License-Identifier: Apache-2.0
/**
 * What a pool shares with its consumers, apart from the channel and the counters:
 * - word 0, the stop word: 0 running, 1 stop taking targets (finish what you hold), 2 abort
 *   what you hold; read with Atomics.load on every consumer loop turn;
 * - word 1, targets this pool's consumers hold (taken, not yet settled);
 * - word 2, samples they hold (parsed, not yet sent, filtered or counted as dropped).
 * When a pool has to be destroyed after its grace period, what its threads held dies with them;
 * words 1 and 2 say how much, so it can still be counted.
 */
export const ControlState = { Running: 0, Stop: 1, Abort: 2 } as const;

const STATE = 0;
const TARGETS = 1;
const SAMPLES = 2;

export class Control {
  readonly buffer: SharedArrayBuffer;
  readonly #words: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(12)) {
    this.buffer = buffer;
    this.#words = new Int32Array(buffer, 0, 3);
  }

  get state(): number {
    return Atomics.load(this.#words, STATE);
  }

  requestStop(): void {
    Atomics.compareExchange(this.#words, STATE, ControlState.Running, ControlState.Stop);
    Atomics.notify(this.#words, STATE);
  }

  requestAbort(): void {
    Atomics.store(this.#words, STATE, ControlState.Abort);
    Atomics.notify(this.#words, STATE);
  }

  /** Adjusts what the consumers hold. */
  hold(targets: number, samples: number): void {
    if (targets !== 0) Atomics.add(this.#words, TARGETS, targets);
    if (samples !== 0) Atomics.add(this.#words, SAMPLES, samples);
  }

  get heldTargets(): number {
    return Atomics.load(this.#words, TARGETS);
  }

  get heldSamples(): number {
    return Atomics.load(this.#words, SAMPLES);
  }
}
