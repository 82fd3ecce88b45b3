/**
 * The stdout sink: writes each send to a writable stream (`process.stdout` unless another is
 * given), its messages coalesced into one `write` (the lone message itself, or one
 * `Buffer.concat` of several).
 *
 * Invariants: sends reach the stream whole and in call order (a FIFO lock around the write);
 * `ok` means the stream's write callback reported success. Backpressure: a send that finds
 * the stream over its high-water mark waits for `'drain'` before writing, and a send whose
 * write returned `false` waits for `'drain'` before answering, so a slow reader slows the
 * sender and nothing piles up in memory beyond one send.
 *
 * The signal: an abort before the write (waiting for the lock or for `'drain'`) writes nothing
 * and answers `retry` (`ABORTED`). An abort after the write was handed to the stream answers
 * `retry` too, since delivery is not confirmed, though the stream may still write the bytes
 * (so a caller that retries may duplicate them: at-least-once).
 *
 * Recovery: none. A stream error (EPIPE when the reader went away, a destroyed or ended
 * stream) is permanent: that send and every later one answer `reject` naming the error. The
 * sink listens for `'error'` so that such an error never crashes the process; `close()` waits
 * for the sends in progress, ends the stream only when `endOnClose` is set (never
 * `process.stdout` by default), and removes its listeners.
 */
import type { Writable } from 'node:stream';
import { ABORT, raceAbort, Serial } from './serial.js';
import { ABORTED, byteLength, describeError, OK, reject, retry, type SendOutcome, type Sink } from './sink.js';

export interface StdoutSinkOptions {
  /** Where to write; `process.stdout` by default. */
  readonly stream?: Writable;
  /** End the stream on `close()`; false by default, which leaves `process.stdout` open. */
  readonly endOnClose?: boolean;
}

export const ABORTED_WHILE_WRITING = 'aborted while the write was in progress; the bytes may still arrive';

/** What a wait for `'drain'` ends with: drained, aborted, or the reason the stream failed. */
type DrainEnd = 'drained' | typeof ABORT | { readonly failure: string };

export class StdoutSink implements Sink {
  readonly kind = 'stdout';
  readonly #stream: Writable;
  readonly #endOnClose: boolean;
  readonly #serial = new Serial();
  /** Sends accepted and not yet answered. */
  readonly #pending = new Set<Promise<SendOutcome>>();
  /** Answers for the writes handed to the stream and not yet called back. */
  readonly #writing = new Set<(outcome: SendOutcome) => void>();
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Why the stream can no longer be written, once it cannot. */
  #failure: string | null = null;

  readonly #onError = (err: Error): void => {
    this.#failure ??= `stdout failed: ${describeError(err)}`;
  };
  readonly #onClose = (): void => {
    this.#failure ??= 'stdout was closed';
    // A write whose callback will not come now (one listener for all, not one per write).
    for (const answer of [...this.#writing]) answer(reject(this.#failure));
  };

  constructor(options: StdoutSinkOptions = {}) {
    this.#stream = options.stream ?? process.stdout;
    this.#endOnClose = options.endOnClose ?? false;
    this.#stream.on('error', this.#onError);
    this.#stream.on('close', this.#onClose);
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve(reject('the stdout sink is closed'));
    const sending = this.#send(messages, signal);
    this.#pending.add(sending);
    void sending.finally(() => this.#pending.delete(sending));
    return sending;
  }

  async flush(signal: AbortSignal): Promise<void> {
    const settled = await raceAbort(Promise.allSettled([...this.#pending]), signal);
    if (settled === ABORT) throw signal.reason;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    await Promise.allSettled([...this.#pending]);
    const stream = this.#stream;
    if (this.#endOnClose && !stream.writableEnded && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        stream.end(() => resolve());
      });
    }
    stream.off('error', this.#onError);
    stream.off('close', this.#onClose);
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    const broken = this.#broken();
    if (broken !== null) return reject(broken);
    if (messages.length === 0) return OK;

    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    let written: Promise<SendOutcome>;
    try {
      if (this.#stream.writableNeedDrain) {
        const end = await this.#drain(signal);
        if (end === ABORT) return retry(ABORTED);
        if (end !== 'drained') return reject(end.failure);
      }
      const stillBroken = this.#broken();
      if (stillBroken !== null) return reject(stillBroken);
      const chunk = messages.length === 1 ? (messages[0] as Uint8Array) : Buffer.concat(messages, byteLength(messages));
      written = this.#write(chunk);
    } finally {
      release();
    }
    const outcome = await raceAbort(written, signal);
    return outcome === ABORT ? retry(ABORTED_WHILE_WRITING) : outcome;
  }

  /** Why the stream cannot be written, or null when it can. */
  #broken(): string | null {
    if (this.#failure !== null) return this.#failure;
    const stream = this.#stream;
    if (stream.destroyed) return 'stdout was destroyed';
    if (stream.writableEnded) return 'stdout was ended';
    if (!stream.writable) return 'stdout is not writable';
    return null;
  }

  /** Writes one chunk; answers when the write callback fires (and the stream drained, if full). */
  #write(chunk: Uint8Array): Promise<SendOutcome> {
    const stream = this.#stream;
    return new Promise<SendOutcome>((resolve) => {
      let answered = false;
      const answer = (outcome: SendOutcome): void => {
        if (answered) return;
        answered = true;
        this.#writing.delete(answer);
        resolve(outcome);
      };
      this.#writing.add(answer);
      let accepted = true;
      try {
        accepted = stream.write(chunk, (err?: Error | null) => {
          if (err) {
            answer(reject(`stdout failed: ${describeError(err)}`));
          } else if (!accepted && stream.writableNeedDrain) {
            void this.#drain(undefined).then((end) =>
              answer(end === 'drained' ? OK : reject(end === ABORT ? ABORTED : end.failure)),
            );
          } else {
            answer(OK);
          }
        });
      } catch (err) {
        answer(reject(`stdout failed: ${describeError(err)}`));
      }
    });
  }

  /** Waits for `'drain'`, the stream failing, or the signal aborting; removes its listeners. */
  #drain(signal: AbortSignal | undefined): Promise<DrainEnd> {
    const stream = this.#stream;
    return new Promise<DrainEnd>((resolve) => {
      const end = (how: DrainEnd): void => {
        stream.off('drain', onDrain);
        stream.off('close', onClose);
        stream.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        resolve(how);
      };
      const onDrain = (): void => end('drained');
      const onClose = (): void => end({ failure: this.#failure ?? 'stdout was closed' });
      const onError = (err: Error): void => end({ failure: `stdout failed: ${describeError(err)}` });
      const onAbort = (): void => end(ABORT);
      if (signal?.aborted) {
        resolve(ABORT);
        return;
      }
      stream.on('drain', onDrain);
      stream.on('close', onClose);
      stream.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
