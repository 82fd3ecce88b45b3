// SPDX-License-Identifier: Apache-2.0
/**
 * The outbox: a worker's send buffer between the encoder and the sink, the one place a failed
 * send is tried again.
 *
 * What it holds: encoded messages, each with its samples, its deterministic id and the time it
 * was made, in three places, oldest first:
 *   spool (disk, optional)  <  backlog (memory)  <  live (memory)
 * Every spool record is older than every backlog entry, which is older than every live entry:
 * a message only ever moves from live to the backlog's tail, and from the head of the backlog
 * (then of live) to the spool's tail, so each of the three stays in the order messages were made.
 *
 * Sending: one send at a time, up to `maxSendMessages` consecutive messages (and
 * `maxSendBytes`) of one place, passed to `sink.send(messages, signal, { ids })`.
 * - `ok`: the samples count as sent (only now).
 * - `reject`: the samples are dropped, `sink_rejected`; sending them again would not help.
 * - `retry`: the outage begins. The messages stay, live moves to the backlog, and the oldest
 *   message (spool, then backlog, then live) is tried again after capped exponential backoff
 *   with jitter (`backoffDelay`), or the sink's `retryAfterMs`. Nothing is dropped for being
 *   retried; a message leaves only when sent, dropped by `policy`, by `maxAgeMs` (`too_old`) or
 *   at shutdown without a spool (`shutdown`).
 * - Fresh data first: once a send succeeds again, what is made from then on (live) is sent
 *   ahead of the backlog, and the backlog (spool first) drains beside it, one send each in turn.
 *   A sink whose peer refuses samples out of order (`sink.inOrder`, remote write) gets every
 *   message oldest first instead, and `writeNow` waits for the spool to be empty too.
 *
 * Full (`maxBytes` of memory, counting what is being sent): a push that does not fit moves the
 * oldest memory messages not being sent to the spool when there is one (the push itself when
 * all of memory is being sent: the one case where a newer message may reach the peer before an
 * older one of the backlog); when there is none, or it is full,
 * `policy` decides: `block` waits for room (the caller, and so scraping, slows), `dropOldest`
 * drops the oldest messages not being sent, `dropNewest` drops the pushed ones; every dropped
 * sample is counted `buffer_full`. A push larger than `maxBytes` is taken when memory is empty.
 *
 * Shutdown: `drain()` sends until memory is empty (or, with a spool, until the sink fails);
 * `close()` stops sending and moves what is left in memory to the spool in order, or, without
 * one (or when it is full), counts it dropped `shutdown`.
 *
 * Accounting: every sample pushed ends in exactly one listener call: `sent`, `dropped` or
 * `spooled` (and a spooled sample later in `sent` or `dropped` with `fromSpool`), so a caller
 * that counts what it pushed and what the listener reports can check conservation.
 *
 * `writeNow` is the fast path of sinks that can write on the calling thread: allowed only while
 * memory holds nothing and no send has failed since the last success, so a message written now
 * never overtakes one made before it (the spool's backlog aside, which drains beside fresh data).
 */
import { BufferDropReason } from '../channel/counters.js';
import { setTimeout as sleepFor } from 'node:timers/promises';
import type { SendOutcome, Sink } from '../sink/sink.js';
import { type BackoffOptions, backoffDelay } from './retry.js';

export { BufferDropReason } from '../channel/counters.js';

/** What a full memory buffer does (STYLE: every bounded buffer declares it). */
export const FullPolicy = { Block: 'block', DropOldest: 'dropOldest', DropNewest: 'dropNewest' } as const;
export type FullPolicy = (typeof FullPolicy)[keyof typeof FullPolicy];

export const OUTBOX_DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxSendMessages: 256,
  maxSendBytes: 4 * 1024 * 1024,
  initialBackoffMs: 100,
  maxBackoffMs: 30_000,
  jitter: 0.2,
  closeWaitMs: 5_000,
} as const;

/** One message and what the accounting needs of it. */
export interface OutboxEntry {
  readonly message: Uint8Array;
  readonly samples: number;
  readonly id: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** The spool as the outbox uses it (`src/buffer/spool.ts`). */
export interface SpoolPort {
  get records(): number;
  get bytes(): number;
  get skippedOnRead(): { readonly records: number; readonly samples: number };
  dropOlderThan(ms: number): Promise<{ readonly records: number; readonly samples: number }>;
  append(records: readonly OutboxEntry[]): Promise<boolean>;
  peek(max: number): Promise<OutboxEntry[]>;
  ack(n: number): Promise<void>;
  close(): Promise<void>;
}

export type FailedOutcome = Exclude<SendOutcome, { readonly result: 'ok' }>;

export interface OutboxListener {
  /** The sink answered ok for these; `fromSpool`: they were read back from the spool. */
  sent(samples: number, messages: number, fromSpool: boolean): void;
  dropped(reason: BufferDropReason, samples: number, fromSpool: boolean): void;
  /** Moved from memory to the spool. */
  spooled(samples: number): void;
  /** A send answered `retry` or `reject` (not counted when the outbox's own shutdown aborted it). */
  failed(outcome: FailedOutcome): void;
  /** A send (or a `writeNow`) answered ok. */
  succeeded(): void;
  /** Messages nothing reads any more (sent, dropped or written to the spool). */
  released?(messages: readonly Uint8Array[]): void;
}

export interface OutboxOptions {
  readonly sink: Sink;
  readonly listener: OutboxListener;
  /** Memory bound in bytes (messages held and being sent); > 0. */
  readonly maxBytes?: number;
  readonly policy?: FullPolicy;
  /** Messages older than this are dropped `too_old`; 0 or unset: kept however old. */
  readonly maxAgeMs?: number;
  readonly spool?: SpoolPort | null;
  readonly maxSendMessages?: number;
  readonly maxSendBytes?: number;
  readonly backoff?: Partial<BackoffOptions>;
  /** Waits `ms`, rejecting when `signal` aborts (tests inject). */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<unknown>;
  readonly random?: () => number;
  readonly now?: () => number;
  /** How long close() waits for the send in progress to end after aborting it. */
  readonly closeWaitMs?: number;
}

/** An array used as a queue: O(1) shift, compacted now and then. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  peek(): T | undefined {
    return this.#items[this.#head];
  }
  at(i: number): T | undefined {
    return this.#items[this.#head + i];
  }
  push(...items: T[]): void {
    for (const it of items) this.#items.push(it);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const it = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined as T;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return it;
  }
  unshiftAll(items: readonly T[]): void {
    this.#items = [...items, ...this.#items.slice(this.#head)];
    this.#head = 0;
  }
  drain(): T[] {
    const out = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    return out;
  }
}

type Source = 'live' | 'backlog' | 'spool';

export class Outbox {
  readonly sink: Sink;
  readonly maxBytes: number;
  readonly policy: FullPolicy;
  readonly maxAgeMs: number;
  readonly #listener: OutboxListener;
  readonly #spool: SpoolPort | null;
  readonly #maxSendMessages: number;
  readonly #maxSendBytes: number;
  readonly #backoff: BackoffOptions;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<unknown>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #live = new Fifo<OutboxEntry>();
  readonly #backlog = new Fifo<OutboxEntry>();
  /** Taken from live or the backlog for the send in progress. */
  #sending: OutboxEntry[] = [];
  #memoryBytes = 0;
  #memorySamples = 0;
  /** A send answered retry and none has succeeded since. */
  #failing = false;
  #attempt = 0;
  /** Whose turn it is when both live and the backlog wait (fresh first, backlog beside). */
  #backlogTurn = false;
  #pushes = 0;
  #pushChain: Promise<void> = Promise.resolve();
  /** Spool operations run one at a time, in order. */
  #spoolChain: Promise<unknown> = Promise.resolve();
  #roomWaiters: (() => void)[] = [];
  #progressWaiters: (() => void)[] = [];
  #wake: (() => void) | null = null;
  #closing = false;
  #closed: Promise<void> | null = null;
  /** Aborted by close(): ends the send in progress and the backoff. */
  readonly #stop = new AbortController();
  readonly #pump: Promise<void>;
  readonly #closeWaitMs: number;
  /** close() stopped waiting for the send in progress: its answer is ignored. */
  #abandoned = false;

  constructor(options: OutboxOptions) {
    const maxBytes = options.maxBytes ?? OUTBOX_DEFAULTS.maxBytes;
    if (!(Number.isFinite(maxBytes) && maxBytes > 0)) throw new RangeError(`Outbox: maxBytes must be > 0, got ${maxBytes}`);
    this.sink = options.sink;
    this.maxBytes = maxBytes;
    this.policy = options.policy ?? FullPolicy.Block;
    this.maxAgeMs = options.maxAgeMs ?? 0;
    this.#listener = options.listener;
    this.#spool = options.spool ?? null;
    this.#maxSendMessages = Math.max(1, options.maxSendMessages ?? OUTBOX_DEFAULTS.maxSendMessages);
    // A send takes at most a quarter of memory, so that there is always something older than a
    // new push, not being sent, to move to the spool or drop under dropOldest.
    this.#maxSendBytes = Math.max(1, Math.min(options.maxSendBytes ?? OUTBOX_DEFAULTS.maxSendBytes, Math.floor(maxBytes / 4)));
    this.#backoff = {
      initialBackoffMs: options.backoff?.initialBackoffMs ?? OUTBOX_DEFAULTS.initialBackoffMs,
      maxBackoffMs: options.backoff?.maxBackoffMs ?? OUTBOX_DEFAULTS.maxBackoffMs,
      jitter: options.backoff?.jitter ?? OUTBOX_DEFAULTS.jitter,
    };
    this.#sleep = options.sleep ?? ((ms, signal) => sleepFor(ms, undefined, { signal }));
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#closeWaitMs = options.closeWaitMs ?? OUTBOX_DEFAULTS.closeWaitMs;
    this.#pump = this.#run().catch(() => {
      // only a spool that fails under a send abandoned at close gets here
    });
  }

  /** Bytes of the messages held in memory (being sent included). */
  get memoryBytes(): number {
    return this.#memoryBytes;
  }

  /** Samples of the messages held in memory (being sent included). */
  get memorySamples(): number {
    return this.#memorySamples;
  }

  /** Messages held in memory (being sent included). */
  get memoryMessages(): number {
    return this.#live.length + this.#backlog.length + this.#sending.length;
  }

  /** A send answered retry and none has succeeded since. */
  get failing(): boolean {
    return this.#failing;
  }

  /** Whether `writeNow` may write (see the header). */
  get canWriteNow(): boolean {
    return (
      this.#memoryBytes === 0 &&
      this.#pushes === 0 &&
      !this.#failing &&
      !this.#closing &&
      this.sink.writeNow !== undefined &&
      (this.sink.inOrder !== true || this.#spool === null || this.#spool.records === 0)
    );
  }

  /**
   * Writes one message at once with the sink's `writeNow` when `canWriteNow`; `true` when the
   * sink took it (counted sent). `false`: nothing was counted, and the caller pushes it (and
   * every message after it), which then sends, retries or drops it as usual.
   */
  writeNow(message: Uint8Array, samples: number): boolean {
    if (!this.canWriteNow) return false;
    let outcome: SendOutcome | null;
    try {
      outcome = this.sink.writeNow?.(message) ?? null;
    } catch {
      return false; // against the contract; the send will answer for it
    }
    if (outcome === null || outcome.result !== 'ok') return false;
    this.#listener.succeeded();
    this.#listener.sent(samples, 1, false);
    return true;
  }

  /**
   * Takes messages to send, in order. Resolves once they are held (in memory or the spool), or
   * dropped and counted (policy, or the outbox closed); never before there is room under
   * `block`. Pushes are taken one after another, in the order of the calls.
   */
  push(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    this.#pushes++;
    const p = this.#pushChain.then(() => this.#admit(entries));
    this.#pushChain = p.finally(() => {
      this.#pushes--;
    });
    return this.#pushChain;
  }

  /** Resolves when memory holds less than `bytes` (or the outbox closes). */
  async whenBelow(bytes: number): Promise<void> {
    while (this.#memoryBytes >= bytes && !this.#closing) await new Promise<void>((r) => this.#roomWaiters.push(r));
  }

  /**
   * Sends until memory is empty; with a spool, also stops as soon as the sink fails (what is
   * left then goes to disk at `close`). Resolves early when `signal` aborts.
   */
  async drain(signal: AbortSignal): Promise<void> {
    await this.#pushChain;
    while (!signal.aborted && !this.#closing) {
      if (this.memoryMessages === 0) return;
      if (this.#failing && this.#spool !== null) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.#progressWaiters.push(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  /**
   * Stops sending (the send in progress is aborted), then moves what is left in memory to the
   * spool, oldest first, or counts it dropped `shutdown`; closes the spool. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      this.#stop.abort(new Error('outbox closed'));
      this.#notify(this.#roomWaiters);
      this.#notify(this.#progressWaiters);
      this.#kick();
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([
        this.#pump.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), this.#closeWaitMs);
        }),
      ]);
      clearTimeout(timer);
      // A sink that ignores the abort: its send is abandoned (whatever it answers later is
      // ignored) and its messages are kept with the rest (at least once).
      const abandoned = ended ? [] : this.#sending;
      this.#abandoned = !ended;
      this.#sending = [];
      await this.#pushChain;
      const left = [...abandoned, ...this.#backlog.drain(), ...this.#live.drain()];
      this.#memoryBytes = 0;
      this.#memorySamples = 0;
      await this.#toSpoolOrDrop(left, BufferDropReason.Shutdown);
      if (this.#spool !== null) await this.#spoolOp(() => this.#spool?.close());
    })();
    return this.#closed;
  }

  // ---- admission ----

  async #admit(entries: readonly OutboxEntry[]): Promise<void> {
    const bytes = entryBytes(entries);
    this.#expire();
    while (!this.#closing && this.#memoryBytes > 0 && this.#memoryBytes + bytes > this.maxBytes) {
      if (this.#spool !== null) {
        if (await this.#spill(this.#memoryBytes + bytes - this.maxBytes)) continue;
        // Nothing to move (all of memory is being sent): the push itself goes to the spool.
        if (this.#backlog.length === 0 && this.#live.length === 0 && (await this.#append(entries))) return;
      }
      if (this.policy === FullPolicy.DropNewest) {
        this.#drop(entries, BufferDropReason.BufferFull, false);
        return;
      }
      if (this.policy === FullPolicy.DropOldest) {
        if (this.#dropOldest(this.#memoryBytes + bytes - this.maxBytes)) continue;
        this.#drop(entries, BufferDropReason.BufferFull, false);
        return;
      }
      await new Promise<void>((r) => this.#roomWaiters.push(r));
    }
    if (this.#closing) {
      await this.#toSpoolOrDrop(entries, BufferDropReason.Shutdown);
      return;
    }
    this.#live.push(...entries);
    this.#memoryBytes += bytes;
    this.#memorySamples += entrySamples(entries);
    this.#kick();
  }

  /** Moves the oldest memory messages (not being sent) to the spool; false if none moved. */
  async #spill(need: number): Promise<boolean> {
    const spool = this.#spool;
    if (spool === null) return false;
    const fromBacklog: OutboxEntry[] = [];
    const fromLive: OutboxEntry[] = [];
    let bytes = 0;
    while (bytes < need && this.#backlog.length > 0) {
      const e = this.#backlog.shift() as OutboxEntry;
      fromBacklog.push(e);
      bytes += e.message.byteLength;
    }
    while (bytes < need && this.#live.length > 0) {
      const e = this.#live.shift() as OutboxEntry;
      fromLive.push(e);
      bytes += e.message.byteLength;
    }
    if (bytes === 0) return false;
    const moving = [...fromBacklog, ...fromLive];
    const ok = await this.#append(moving);
    if (!ok) {
      // The spool is full: they stay where they were, at the heads.
      this.#backlog.unshiftAll(fromBacklog);
      this.#live.unshiftAll(fromLive);
      return false;
    }
    this.#memoryBytes -= bytes;
    this.#memorySamples -= entrySamples(moving);
    this.#notify(this.#roomWaiters);
    return true;
  }

  /** Appends to the spool, counting them spooled; false (nothing written) when it is full or fails. */
  async #append(entries: readonly OutboxEntry[]): Promise<boolean> {
    const spool = this.#spool;
    if (spool === null) return false;
    let ok = false;
    try {
      ok = (await this.#spoolOp(() => spool.append(entries))) === true;
    } catch {
      ok = false; // a spool that cannot write is full for our purpose: the policy decides
    }
    if (!ok) return false;
    this.#listener.spooled(entrySamples(entries));
    this.#listener.released?.(entries.map((e) => e.message));
    this.#kick();
    return true;
  }

  /** Drops the oldest memory messages not being sent, at least `need` bytes; false if none. */
  #dropOldest(need: number): boolean {
    const gone: OutboxEntry[] = [];
    let bytes = 0;
    for (const q of [this.#backlog, this.#live]) {
      while (bytes < need && q.length > 0) {
        const e = q.shift() as OutboxEntry;
        gone.push(e);
        bytes += e.message.byteLength;
      }
    }
    if (gone.length === 0) return false;
    this.#forget(gone);
    this.#drop(gone, BufferDropReason.BufferFull, false);
    return true;
  }

  /** Drops (`too_old`) memory messages past `maxAgeMs` from the head of each queue. */
  #expire(): void {
    if (this.maxAgeMs <= 0) return;
    const cutoff = this.#now() - this.maxAgeMs;
    for (const q of [this.#backlog, this.#live]) {
      const gone: OutboxEntry[] = [];
      while (q.length > 0 && (q.peek() as OutboxEntry).createdAt < cutoff) gone.push(q.shift() as OutboxEntry);
      if (gone.length > 0) {
        this.#forget(gone);
        this.#drop(gone, BufferDropReason.TooOld, false);
      }
    }
  }

  /** Drops (`too_old`) spool records past `maxAgeMs` from the spool's head. */
  async #expireSpool(): Promise<void> {
    const spool = this.#spool;
    if (this.maxAgeMs <= 0 || spool === null || spool.records === 0) return;
    const cutoff = this.#now() - this.maxAgeMs;
    const gone = await this.#spoolOp(() => spool.dropOlderThan(cutoff));
    if (gone.samples > 0 || gone.records > 0) this.#listener.dropped(BufferDropReason.TooOld, gone.samples, true);
  }

  /** Counts (`spool_corrupt`) records the spool skipped because they failed their check on reading. */
  #countSkipped(): void {
    const spool = this.#spool;
    if (spool === null) return;
    const { samples } = spool.skippedOnRead;
    if (samples > this.#skippedSamples) {
      this.#listener.dropped(BufferDropReason.SpoolCorrupt, samples - this.#skippedSamples, true);
      this.#skippedSamples = samples;
    }
  }

  #skippedSamples = 0;

  // ---- sending ----

  async #run(): Promise<void> {
    while (!this.#closing) {
      this.#expire();
      try {
        await this.#expireSpool();
      } catch {
        // a spool that cannot be read is left alone; its records stay counted as spooled
      }
      const source = this.#pick();
      if (source === null) {
        this.#notify(this.#progressWaiters);
        await new Promise<void>((r) => {
          this.#wake = r;
        });
        continue;
      }
      const outcome = source === 'spool' ? await this.#sendSpool() : await this.#sendMemory(source);
      this.#notify(this.#progressWaiters);
      if (outcome === 'retry' && !this.#closing) {
        this.#attempt++;
        try {
          await this.#sleep(this.#retryDelay, this.#stop.signal);
        } catch {
          // ended by close()
        }
      }
    }
  }

  #retryDelay = 0;

  #pick(): Source | null {
    const spool = this.#spool !== null && this.#spool.records > 0;
    const backlog: Source | null = spool ? 'spool' : this.#backlog.length > 0 ? 'backlog' : null;
    const live: Source | null = this.#live.length > 0 ? 'live' : null;
    if (this.#failing || this.sink.inOrder === true) return backlog ?? live; // the oldest
    if (live !== null && backlog !== null) {
      this.#backlogTurn = !this.#backlogTurn;
      return this.#backlogTurn ? backlog : live;
    }
    return live ?? backlog;
  }

  async #sendMemory(source: 'live' | 'backlog'): Promise<SendOutcome['result']> {
    const q = source === 'live' ? this.#live : this.#backlog;
    const batch: OutboxEntry[] = [];
    let bytes = 0;
    while (batch.length < this.#maxSendMessages && q.length > 0) {
      const e = q.peek() as OutboxEntry;
      if (batch.length > 0 && bytes + e.message.byteLength > this.#maxSendBytes) break;
      batch.push(q.shift() as OutboxEntry);
      bytes += e.message.byteLength;
    }
    this.#sending = batch;
    const outcome = await this.#attemptSend(batch);
    if (this.#abandoned) return 'retry';
    this.#sending = [];
    if (outcome.result === 'retry') {
      // Back where it was, the oldest first; what is live now waited through a failure: backlog.
      if (source === 'backlog') this.#backlog.unshiftAll(batch);
      else this.#backlog.push(...batch);
      this.#backlog.push(...this.#live.drain());
      return 'retry';
    }
    this.#forget(batch);
    if (outcome.result === 'ok') this.#listener.sent(entrySamples(batch), batch.length, false);
    else this.#listener.dropped(BufferDropReason.SinkRejected, entrySamples(batch), false);
    this.#listener.released?.(batch.map((e) => e.message));
    return outcome.result;
  }

  async #sendSpool(): Promise<SendOutcome['result']> {
    const spool = this.#spool as SpoolPort;
    let batch: OutboxEntry[];
    try {
      batch = await this.#spoolOp(() => spool.peek(this.#maxSendMessages));
    } catch {
      this.#retryDelay = backoffDelay(this.#attempt + 1, this.#backoff, this.#random);
      return 'retry';
    } finally {
      this.#countSkipped();
    }
    let bytes = 0;
    let n = 0;
    while (n < batch.length) {
      const len = (batch[n] as OutboxEntry).message.byteLength;
      if (n > 0 && bytes + len > this.#maxSendBytes) break;
      bytes += len;
      n++;
    }
    batch = batch.slice(0, n);
    if (batch.length === 0) return 'ok';
    const outcome = await this.#attemptSend(batch);
    if (this.#abandoned) return 'retry';
    if (outcome.result === 'retry') {
      this.#backlog.push(...this.#live.drain());
      return 'retry';
    }
    await this.#spoolOp(() => spool.ack(batch.length));
    if (outcome.result === 'ok') this.#listener.sent(entrySamples(batch), batch.length, true);
    else this.#listener.dropped(BufferDropReason.SinkRejected, entrySamples(batch), true);
    return outcome.result;
  }

  /** One send; sets the failing state and the next retry delay. */
  async #attemptSend(batch: readonly OutboxEntry[]): Promise<SendOutcome> {
    const signal = this.#stop.signal;
    let outcome: SendOutcome;
    try {
      outcome = await this.sink.send(
        batch.map((e) => e.message),
        signal,
        { ids: batch.map((e) => e.id) },
      );
    } catch (err) {
      outcome = { result: 'retry', reason: `the ${this.sink.kind} sink threw: ${err instanceof Error ? err.message : String(err)}`, code: 'threw' };
    }
    if (outcome.result === 'ok') {
      this.#failing = false;
      this.#attempt = 0;
      this.#listener.succeeded();
      return outcome;
    }
    // A send our own shutdown cut short is not the sink's failure.
    if (!(signal.aborted && outcome.result === 'retry')) this.#listener.failed(outcome);
    if (outcome.result === 'reject') return outcome;
    if (signal.aborted) return outcome;
    this.#failing = true;
    const hint = outcome.retryAfterMs;
    this.#retryDelay =
      hint !== undefined && Number.isFinite(hint) && hint >= 0 ? hint : backoffDelay(this.#attempt + 1, this.#backoff, this.#random);
    return outcome;
  }

  // ---- helpers ----

  /** Memory messages leave (sent, dropped): room is made. */
  #forget(gone: readonly OutboxEntry[]): void {
    this.#memoryBytes -= entryBytes(gone);
    this.#memorySamples -= entrySamples(gone);
    this.#notify(this.#roomWaiters);
  }

  #drop(entries: readonly OutboxEntry[], reason: BufferDropReason, fromSpool: boolean): void {
    this.#listener.dropped(reason, entrySamples(entries), fromSpool);
    this.#listener.released?.(entries.map((e) => e.message));
  }

  async #toSpoolOrDrop(entries: readonly OutboxEntry[], reason: BufferDropReason): Promise<void> {
    let i = 0;
    if (this.#spool !== null) {
      // In chunks, halved when the spool refuses one, so that what fits is kept when it fills up.
      let size = this.#maxSendMessages;
      while (i < entries.length) {
        const chunk = entries.slice(i, i + size);
        if (await this.#append(chunk)) {
          i += chunk.length;
          continue;
        }
        if (size === 1) break;
        size = Math.max(1, size >> 1);
      }
    }
    if (i < entries.length) this.#drop(entries.slice(i), reason, false);
  }

  #spoolOp<T>(op: () => Promise<T> | T): Promise<T> {
    const p = this.#spoolChain.then(op);
    this.#spoolChain = p.catch(() => undefined);
    return p;
  }

  #kick(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  #notify(waiters: (() => void)[]): void {
    for (const w of waiters.splice(0)) w();
  }
}

function entryBytes(entries: readonly OutboxEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.message.byteLength;
  return n;
}

function entrySamples(entries: readonly OutboxEntry[]): number {
  let n = 0;
  for (const e of entries) n += e.samples;
  return n;
}
