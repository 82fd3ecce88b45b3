// SPDX-License-Identifier: Apache-2.0
/**
 * The stdout sink: writes each send, its messages coalesced into one chunk (the lone message
 * itself, or one `Buffer.concat` of several), to the process's standard output, or to a
 * writable stream when one is given.
 *
 * Standard output (the default) is written straight to file descriptor 1 with `writeSync`, on
 * the calling thread, which in `strata run` is a worker thread of a Collector's pool. It is not
 * written through the worker's `process.stdout`: that one relays chunks to the main thread,
 * answers before the main thread has written them (so a lost write would be counted as sent),
 * and leaves the main thread's stream dead after its first error (EPIPE, ENOSPC), which crashed
 * the process. Writing the descriptor gives each send its real outcome.
 *
 * Invariants (descriptor):
 * - A send reaches the descriptor whole and in call order: a FIFO lock orders the sends of one
 *   sink, and a lock shared by every thread of the process (`StdoutShare`, a SharedArrayBuffer
 *   the main thread publishes with `setEnvironmentData` before any worker starts; see
 *   `watchStdout`) keeps the sinks of several workers from interleaving their bytes, which a
 *   pipe would do for writes larger than PIPE_BUF.
 * - `ok` means every byte was handed to the operating system. The descriptor may be
 *   non-blocking (the main thread's libuv pipe makes a pipe so): EAGAIN waits, a turn of the
 *   loop first, then up to 16 ms, and writes on, so a slow reader slows the sender and nothing
 *   piles up in memory beyond one send.
 * - A lock holder counts a heartbeat in the shared state while it writes; a waiter takes over a
 *   lock whose holder has not beaten for `STEAL_AFTER_MS` (a thread terminated mid-write).
 *
 * Failures (descriptor), each with a `code`:
 * - EPIPE: the reader closed the pipe (`| head -1`). The reader is done: that send and every
 *   later one, in every thread, answer `reject` (the samples count as dropped, not sent), and
 *   the shared state says so, which `watchStdout` turns into a clean stop of `strata run`.
 * - EBADF, EINVAL, EACCES, EPERM, EFBIG, …: `reject` naming the error.
 * - ENOSPC (`> /dev/full`, a full disk), EIO, EDQUOT and any other code: `retry`, like any sink
 *   failure that may pass. A send that failed after part of it was written says how much was:
 *   the reader may then see a torn message before the retried one (standard output cannot be
 *   truncated back).
 *
 * The signal: an abort before the write (waiting for either lock) writes nothing and answers
 * `retry` (`ABORTED`); so does an abort while nothing of the send could be written yet. Once
 * part of a send is written it is finished whatever the signal says, so a message is never cut.
 *
 * A given stream (tests, embedding): the send waits for `'drain'` when the stream is over its
 * high-water mark, `ok` means the write callback reported success, and a stream error (a
 * destroyed or ended stream, EPIPE) is permanent: that send and every later one answer `reject`
 * with the error's code. An abort after the write was handed to the stream answers `retry`
 * (`ABORTED_WHILE_WRITING`): the bytes may still arrive.
 *
 * `close()` waits for the sends in progress; it never closes descriptor 1, ends a given stream
 * only when `endOnClose` is set, and removes its listeners.
 */
import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads';
import { waitChange } from '../channel/wait.js';
import { ABORT, raceAbort, SendGate, Serial } from './serial.js';
import { ABORTED, byteLength, describeError, errorCode, OK, reject, retry, type SendOutcome, type Sink } from './sink.js';

export interface StdoutSinkOptions {
  /** Write to this stream instead of standard output. */
  readonly stream?: Writable;
  /** The descriptor to write when no stream is given; 1 by default. */
  readonly fd?: number;
  /** The lock and reader state shared by the writers of `fd`; the process's own for fd 1. */
  readonly share?: StdoutShare;
  /** End the given stream on `close()`; false by default. */
  readonly endOnClose?: boolean;
}

export const ABORTED_WHILE_WRITING = 'aborted while the write was in progress; the bytes may still arrive';

/** The reason every send answers once the reader of standard output went away. */
export const READER_GONE = 'stdout: the reader closed the pipe (EPIPE); samples for stdout are dropped from now on';

/** A lock whose holder has not beaten for this long is taken over (its thread is gone). */
export const STEAL_AFTER_MS = 5000;

/** Errors that trying again will not mend: the send is rejected. */
const PERMANENT = new Set(['EPIPE', 'EBADF', 'EINVAL', 'EACCES', 'EPERM', 'EFBIG', 'EISDIR', 'ENXIO', 'ECONNRESET']);

/** Words of the shared state. */
const LOCK = 0; // 0: free; else the holder's threadId + 1
const BEAT = 1; // bumped by the holder while it writes
const GONE = 2; // 1 once the reader of the descriptor closed it
const WORDS = 4;
const ENV_KEY = 'strata.stdout.share';

/**
 * What the writers of one descriptor share across threads: a lock that keeps their writes
 * whole, and whether the reader went away. `StdoutShare.process()` is the process's own for
 * standard output: made and published by the main thread, found by the workers it starts after.
 */
export class StdoutShare {
  static #process: StdoutShare | null = null;
  readonly #words: Int32Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(WORDS * 4)) {
    this.#words = new Int32Array(buffer);
  }

  /**
   * The share for descriptor 1. The main thread makes it and publishes it to the workers it
   * starts from then on; a worker started before that (or without it) has one of its own.
   */
  static process(): StdoutShare {
    if (StdoutShare.#process !== null) return StdoutShare.#process;
    const published = getEnvironmentData(ENV_KEY);
    const share = published instanceof SharedArrayBuffer ? new StdoutShare(published) : new StdoutShare();
    if (isMainThread && !(published instanceof SharedArrayBuffer)) setEnvironmentData(ENV_KEY, share.buffer);
    StdoutShare.#process = share;
    return share;
  }

  get buffer(): SharedArrayBuffer {
    return this.#words.buffer as SharedArrayBuffer;
  }

  get readerGone(): boolean {
    return Atomics.load(this.#words, GONE) === 1;
  }

  markReaderGone(): void {
    Atomics.store(this.#words, GONE, 1);
    Atomics.notify(this.#words, GONE);
  }

  /** Takes the lock if it is free. */
  tryLock(): boolean {
    return Atomics.compareExchange(this.#words, LOCK, 0, threadId + 1) === 0;
  }

  /** Waits for the lock; false when `signal` aborted first (the lock is then not held). */
  async lock(signal?: AbortSignal): Promise<boolean> {
    const w = this.#words;
    const me = threadId + 1;
    let holder = 0;
    let beat = 0;
    let since = 0;
    for (;;) {
      const now = Atomics.compareExchange(w, LOCK, 0, me);
      if (now === 0) return true;
      if (signal?.aborted) return false;
      const b = Atomics.load(w, BEAT);
      if (now !== holder || b !== beat) {
        holder = now;
        beat = b;
        since = performance.now();
      } else if (performance.now() - since >= STEAL_AFTER_MS && Atomics.compareExchange(w, LOCK, holder, me) === holder) {
        return true;
      }
      await waitChange(w, LOCK, now, 50, signal);
    }
  }

  /** The holder is alive and writing. */
  beat(): void {
    Atomics.add(this.#words, BEAT, 1);
  }

  unlock(): void {
    Atomics.store(this.#words, LOCK, 0);
    Atomics.notify(this.#words, LOCK, 1);
  }
}

/** What `watchStdout` gives the main thread. */
export interface StdoutWatch {
  /** Resolves with the reason once the reader of standard output went away. */
  readonly gone: Promise<string>;
  stop(): void;
}

/**
 * For the main thread, before any pool starts: publishes the stdout share to the workers, keeps
 * an error of the main thread's own `process.stdout` (a write relayed from a worker, say) from
 * crashing the process, and resolves `gone` once a writer found the reader gone (EPIPE).
 */
export function watchStdout(stdout: Writable = process.stdout, pollMs = 250): StdoutWatch {
  const share = StdoutShare.process();
  stdout.on('error', (err: Error) => {
    if (errorCode(err) === 'EPIPE') share.markReaderGone();
  });
  let timer: NodeJS.Timeout | undefined;
  const gone = new Promise<string>((resolve) => {
    timer = setInterval(() => {
      if (!share.readerGone) return;
      clearInterval(timer);
      resolve(READER_GONE);
    }, pollMs);
    timer.unref();
  });
  return { gone, stop: () => clearInterval(timer) };
}

/** What a wait for `'drain'` ends with: drained, aborted, or why the stream failed. */
type DrainEnd = 'drained' | typeof ABORT | { readonly failure: Failure };

/** Why the sink can no longer write. */
interface Failure {
  readonly reason: string;
  readonly code: string;
}

/** An errno as a metric label: a short upper-case word, else `error`. */
function label(err: unknown): string {
  const code = errorCode(err);
  return code !== undefined && /^E[A-Z0-9]{1,15}$/.test(code) ? code : 'error';
}

function streamFailure(err: unknown): Failure {
  return { reason: `stdout failed: ${describeError(err)}`, code: label(err) };
}

/** Waits before writing again to a full pipe: a turn of the loop first, then up to 16 ms. */
function pause(tries: number): Promise<unknown> {
  return tries < 4 ? turn() : sleep(Math.min(16, 2 ** (tries - 4)));
}

export class StdoutSink implements Sink {
  readonly kind = 'stdout';
  readonly #stream: Writable | null;
  readonly #fd: number;
  readonly #share: StdoutShare;
  readonly #endOnClose: boolean;
  readonly #serial = new Serial();
  /** Sends accepted and not yet answered. */
  readonly #sends = new SendGate();
  /** Answers for the writes handed to the stream and not yet called back. */
  readonly #writing = new Set<(outcome: SendOutcome) => void>();
  /** Why the stream can no longer be written, once it cannot. */
  #failure: Failure | null = null;
  #bytesWritten = 0;

  readonly #onError = (err: Error): void => {
    this.#failure ??= streamFailure(err);
  };
  readonly #onClose = (): void => {
    this.#failure ??= { reason: 'stdout was closed', code: 'closed' };
    // A write whose callback will not come now (one listener for all, not one per write).
    for (const answer of [...this.#writing]) answer(reject(this.#failure.reason, this.#failure.code));
  };

  constructor(options: StdoutSinkOptions = {}) {
    this.#stream = options.stream ?? null;
    this.#fd = options.fd ?? 1;
    this.#share = options.share ?? (this.#fd === 1 ? StdoutShare.process() : new StdoutShare());
    this.#endOnClose = options.endOnClose ?? false;
    this.#stream?.on('error', this.#onError);
    this.#stream?.on('close', this.#onClose);
  }

  /** Bytes written since the sink was made. */
  get stats(): { readonly bytesWritten: number } {
    return { bytesWritten: this.#bytesWritten };
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (this.#sends.closed) return Promise.resolve(reject('the stdout sink is closed', 'closed'));
    return this.#sends.track(this.#stream === null ? this.#sendFd(messages, signal) : this.#send(messages, signal, this.#stream));
  }

  flush(signal: AbortSignal): Promise<void> {
    return this.#sends.flush(signal);
  }

  close(): Promise<void> {
    return this.#sends.close(() => this.#close());
  }

  /** Releases the medium, once every send accepted has settled (SendGate). */
  async #close(): Promise<void> {
    const stream = this.#stream;
    if (stream === null) return;
    if (this.#endOnClose && !stream.writableEnded && !stream.destroyed) {
      await new Promise<void>((resolve) => {
        stream.end(() => resolve());
      });
    }
    stream.off('error', this.#onError);
    stream.off('close', this.#onClose);
  }

  async #sendFd(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    if (this.#share.readerGone) return reject(READER_GONE, 'EPIPE');
    if (messages.length === 0) return OK;
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      if (!(await this.#share.lock(signal))) return retry(ABORTED);
      try {
        if (this.#share.readerGone) return reject(READER_GONE, 'EPIPE');
        const chunk = messages.length === 1 ? (messages[0] as Uint8Array) : Buffer.concat(messages, byteLength(messages));
        return await this.#writeFd(chunk, signal);
      } finally {
        this.#share.unlock();
      }
    } finally {
      release();
    }
  }

  /** Writes the whole chunk (the share's lock held), waiting while the pipe is full. */
  async #writeFd(chunk: Uint8Array, signal: AbortSignal): Promise<SendOutcome> {
    const total = chunk.byteLength;
    let written = 0;
    let tries = 0;
    while (written < total) {
      this.#share.beat();
      try {
        written += writeSync(this.#fd, chunk, written, total - written);
        tries = 0;
      } catch (err) {
        const code = label(err);
        if (code === 'EAGAIN' || code === 'EINTR') {
          if (written === 0 && signal.aborted) return retry(ABORTED);
          await pause(tries++);
          continue;
        }
        this.#bytesWritten += written;
        if (code === 'EPIPE') {
          this.#share.markReaderGone();
          return reject(READER_GONE, code);
        }
        const part = written === 0 ? '' : ` (after ${written} of the send's ${total} bytes were written)`;
        const reason = `write stdout: ${describeError(err)}${part}`;
        return PERMANENT.has(code) ? reject(reason, code) : retry(reason, undefined, code);
      }
    }
    this.#bytesWritten += total;
    return OK;
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal, stream: Writable): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    const broken = this.#broken(stream);
    if (broken !== null) return reject(broken.reason, broken.code);
    if (messages.length === 0) return OK;

    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    let written: Promise<SendOutcome>;
    try {
      if (stream.writableNeedDrain) {
        const end = await this.#drain(stream, signal);
        if (end === ABORT) return retry(ABORTED);
        if (end !== 'drained') return reject(end.failure.reason, end.failure.code);
      }
      const stillBroken = this.#broken(stream);
      if (stillBroken !== null) return reject(stillBroken.reason, stillBroken.code);
      const chunk = messages.length === 1 ? (messages[0] as Uint8Array) : Buffer.concat(messages, byteLength(messages));
      written = this.#write(stream, chunk);
    } finally {
      release();
    }
    const outcome = await raceAbort(written, signal);
    return outcome === ABORT ? retry(ABORTED_WHILE_WRITING) : outcome;
  }

  /** Why the stream cannot be written, or null when it can. */
  #broken(stream: Writable): Failure | null {
    if (this.#failure !== null) return this.#failure;
    if (stream.destroyed) return { reason: 'stdout was destroyed', code: 'closed' };
    if (stream.writableEnded) return { reason: 'stdout was ended', code: 'closed' };
    if (!stream.writable) return { reason: 'stdout is not writable', code: 'closed' };
    return null;
  }

  /** Writes one chunk; answers when the write callback fires (and the stream drained, if full). */
  #write(stream: Writable, chunk: Uint8Array): Promise<SendOutcome> {
    return new Promise<SendOutcome>((resolve) => {
      let answered = false;
      const answer = (outcome: SendOutcome): void => {
        if (answered) return;
        answered = true;
        this.#writing.delete(answer);
        if (outcome.result === 'ok') this.#bytesWritten += chunk.byteLength;
        resolve(outcome);
      };
      this.#writing.add(answer);
      let accepted = true;
      const failed = (err: unknown): void => {
        const f = streamFailure(err);
        answer(reject(f.reason, f.code));
      };
      try {
        accepted = stream.write(chunk, (err?: Error | null) => {
          if (err) {
            failed(err);
          } else if (!accepted && stream.writableNeedDrain) {
            void this.#drain(stream, undefined).then((end) => {
              if (end === 'drained') answer(OK);
              else if (end === ABORT) answer(reject(ABORTED));
              else answer(reject(end.failure.reason, end.failure.code));
            });
          } else {
            answer(OK);
          }
        });
      } catch (err) {
        failed(err);
      }
    });
  }

  /** Waits for `'drain'`, the stream failing, or the signal aborting; removes its listeners. */
  #drain(stream: Writable, signal: AbortSignal | undefined): Promise<DrainEnd> {
    return new Promise<DrainEnd>((resolve) => {
      const end = (how: DrainEnd): void => {
        stream.off('drain', onDrain);
        stream.off('close', onClose);
        stream.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
        resolve(how);
      };
      const onDrain = (): void => end('drained');
      const onClose = (): void => end({ failure: this.#failure ?? { reason: 'stdout was closed', code: 'closed' } });
      const onError = (err: Error): void => end({ failure: streamFailure(err) });
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
