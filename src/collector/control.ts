/**
 * The stop word a pool shares with its consumers: 0 running, 1 stop taking targets (finish what
 * you hold), 2 abort what you hold. Read with Atomics.load on every consumer loop turn.
 */
export const ControlState = { Running: 0, Stop: 1, Abort: 2 } as const;

export class Control {
  readonly buffer: SharedArrayBuffer;
  readonly #word: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(4)) {
    this.buffer = buffer;
    this.#word = new Int32Array(buffer, 0, 1);
  }

  get state(): number {
    return Atomics.load(this.#word, 0);
  }

  requestStop(): void {
    Atomics.compareExchange(this.#word, 0, ControlState.Running, ControlState.Stop);
    Atomics.notify(this.#word, 0);
  }

  requestAbort(): void {
    Atomics.store(this.#word, 0, ControlState.Abort);
    Atomics.notify(this.#word, 0);
  }
}
