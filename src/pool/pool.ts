// SPDX-License-Identifier: Apache-2.0
/**
 * A Collector's worker pool: one Piscina pool whose `workers` threads each run one long-lived
 * consumer task on the Collector's channel (see consumer.ts).
 *
 * Piscina is configured explicitly: exactly `workers` threads (minThreads = maxThreads), one task
 * per thread, a bounded queue (`maxQueue` = workers: the pool only ever holds its consumers),
 * `atomics: 'async'` (the default 'sync' would park idle threads, sockets and all) and
 * `resourceLimits` (a young generation sized for the pool: parsing builds many short-lived objects). The
 * process's GC is tuned once, before the first pool starts (see gc.ts).
 *
 * A consumer that fails is reported (with the reason), counted (`workerFailures`) and started
 * again on a fresh thread after a backoff (1 s, doubling to 30 s, reset after a minute of
 * running), so one bad moment does not stop the Collector or the process. It fails when its
 * task answers `{ ok: false, code, message }` (the worker caught the error: a setting it cannot
 * use, such as a TLS file it cannot read), or when its thread dies (an uncaught error, or
 * terminated); Piscina's 'error' event is listened to for the same reason. What the failed
 * thread held is counted at shutdown with what other threads held (the control words are per
 * pool). A spool lock the failed thread held is released (spool-lock.ts).
 *
 * Stopping: a shared control word asks the consumers to stop taking targets; they finish the
 * scrapes they hold, flush their sinks and return. If that takes longer than the grace period
 * the pool is destroyed (threads terminated) and what they held is lost — and counted, since the
 * counters of a target are only updated once its samples are sent or dropped.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { PoolContext, PoolHandle } from '../registry/registry.js';
import { releaseSpoolLock, lockOwner } from '../buffer/spool-lock.js';
import { fromWire, type WireError } from '../errors.js';
import { type ConsumerReport, type ConsumerTask, type PoolMessage, spoolDir } from '../collector/consumer.js';
import { Control } from '../channel/control.js';
import { gcBudgetMb, tuneCollectorGc } from '../collector/gc.js';
import { DropReason, type SharedCounters, TargetDropReason } from '../channel/counters.js';

/** The compiled worker entry point (workers/collector.ts → dist/workers/collector.js). */
export function workerFile(): string {
  const candidates = [
    new URL('../../workers/collector.js', import.meta.url), // running from dist/src/collector
    new URL('../../dist/workers/collector.js', import.meta.url), // running from src/collector (tests)
  ];
  for (const c of candidates) {
    const p = fileURLToPath(c);
    if (existsSync(p)) return p;
  }
  throw new Error('collector worker not built: run `npm run build` (dist/workers/collector.js is missing)');
}

export interface PoolOptions {
  /** Receives what workers report (per-target status, histogram observations). */
  readonly onReport?: (key: string, report: ConsumerReport) => void;
  /** Young generation size per worker in MB. Default: `youngGenerationMb(workers)`. */
  readonly youngGenerationMb?: number;
  /** Each worker's GC pacer budget in MB, 0 for none (gc.ts). Default: `gcBudgetMb()`. */
  readonly gcBudgetMb?: number;
}

/**
 * The default young generation per worker: a 16 MB budget for the pool, split over its workers,
 * at least 8 MB each. The garbage a Collector makes (parsing) is proportional to the samples it
 * scrapes, which its workers share, so each worker's share of the budget keeps the time between
 * scavenges. Measured (20 targets × 10k series, 5 s, two builds run at the same time): one worker
 * at 16 MB against 8 MB, 2–3% less CPU for 5 MiB more RSS, and 16–64 MB cost the same CPU (32 is
 * 20 MiB more RSS); two workers at 8 MB each against 16, 10 MiB less RSS for the same CPU (±2%).
 */
export function defaultYoungGenerationMb(workers: number): number {
  return Math.max(8, Math.floor(16 / Math.max(1, workers)));
}

/** First wait before a failed consumer is started again; doubles up to the maximum. */
const RESTART_BACKOFF_MS = 1_000;
const MAX_RESTART_BACKOFF_MS = 30_000;
/** A consumer that ran this long before failing starts again after the first backoff. */
const RESTART_RESET_MS = 60_000;
/**
 * After the grace period, consumers are told to abort and get this long to put what their
 * outboxes hold into the spool (or count it) before their threads are terminated.
 */
const ABORT_GRACE_MS = 2_000;

export class CollectorPool implements PoolHandle {
  readonly key: string;
  readonly #piscina: Piscina;
  readonly #control = new Control();
  readonly #counters: SharedCounters;
  readonly #tasks: Promise<unknown>[] = [];
  readonly #ports: MessagePort[] = [];
  readonly #ctx: PoolContext;
  readonly #options: PoolOptions;
  readonly #gcBudgetMb: number;
  #stopped: Promise<void> | null = null;
  /** Aborted when stop() is called: ends a restart's backoff. */
  readonly #stopping = new AbortController();
  /** Consumers started again after a failure. */
  #restarts = 0;
  /** The thread id each consumer reported when it started (for its spool lock). */
  readonly #threadOf = new Map<number, number>();

  constructor(ctx: PoolContext, options: PoolOptions = {}) {
    this.key = ctx.key;
    this.#counters = ctx.counters;
    const workers = ctx.resource.spec.workers;
    this.#gcBudgetMb = options.gcBudgetMb ?? gcBudgetMb();
    tuneCollectorGc();
    this.#piscina = new Piscina({
      filename: workerFile(),
      name: 'default',
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1,
      maxQueue: workers,
      idleTimeout: 60_000,
      atomics: 'async',
      resourceLimits: { maxYoungGenerationSizeMb: options.youngGenerationMb ?? defaultYoungGenerationMb(workers) },
    });
    this.#ctx = ctx;
    this.#options = options;
    // An uncaught error in a worker that is not running a task; one that is fails its task.
    this.#piscina.on('error', (e: unknown) => {
      this.#counters.add('workerFailures', 1);
      options.onReport?.(ctx.key, { kind: 'failed', workerIndex: -1, message: String(e) });
    });
    for (let i = 0; i < workers; i++) this.#tasks.push(this.#consume(i));
  }

  /** Consumers started again after a failure, since the pool started. */
  get restarts(): number {
    return this.#restarts;
  }

  /** The pool's worker threads (diagnostics and tests). */
  get threads(): readonly Worker[] {
    return this.#piscina.threads;
  }

  /** Runs consumer `i` until the pool stops, starting it again after each failure. */
  async #consume(i: number): Promise<void> {
    const { key } = this.#ctx;
    let backoffMs = RESTART_BACKOFF_MS;
    for (;;) {
      const started = performance.now();
      const { port1, port2 } = new MessageChannel();
      port1.on('message', (report: ConsumerReport) => {
        if (report.kind === 'started' && report.threadId !== undefined) this.#threadOf.set(i, report.threadId);
        this.#options.onReport?.(key, report);
      });
      port1.unref();
      this.#ports.push(port1);
      let failure: unknown;
      try {
        const result = await this.#runConsumer(i, port2);
        if (!isWireError(result)) return; // stopped as asked
        failure = fromWire(result);
      } catch (e) {
        failure = e;
      }
      // Terminated by stop() past its grace period: counted there, not a failure.
      if (this.#stopped !== null) return;
      this.#counters.add('workerFailures', 1);
      this.#releaseLock(i);
      this.#options.onReport?.(key, { kind: 'failed', workerIndex: i, message: failure instanceof Error ? failure.message : String(failure) });
      this.#ports.splice(this.#ports.indexOf(port1), 1);
      port1.close();
      if (performance.now() - started > RESTART_RESET_MS) backoffMs = RESTART_BACKOFF_MS;
      await sleep(backoffMs, undefined, { signal: this.#stopping.signal }).catch(() => {});
      backoffMs = Math.min(backoffMs * 2, MAX_RESTART_BACKOFF_MS);
      if (this.#stopped !== null) return;
      this.#restarts++;
    }
  }

  /** Removes the spool lock consumer `i`'s last thread held, if it still holds it. */
  #releaseLock(i: number): void {
    const path = this.#ctx.resource.spec.buffer.path;
    const thread = this.#threadOf.get(i);
    if (path === undefined || thread === undefined) return;
    releaseSpoolLock(spoolDir(path, i), lockOwner(process.pid, thread));
  }

  #runConsumer(i: number, port: MessagePort): Promise<unknown> {
    const ctx = this.#ctx;
    const task: ConsumerTask = {
      key: ctx.key,
      workerIndex: i,
      lanes: ctx.channel.buffers,
      counters: ctx.counters.buffer,
      control: this.#control.buffer,
      spec: ctx.resource.spec,
      port,
      gcBudgetMb: this.#gcBudgetMb,
    };
    return this.#piscina.run(task, { transferList: [port] });
  }

  /** Tells every worker that discovery no longer lists these targets (by `targetKey`). */
  targetsGone(keys: readonly string[]): void {
    if (keys.length === 0 || this.#stopped !== null) return;
    const message: PoolMessage = { kind: 'targetsGone', keys };
    for (const port of this.#ports) port.postMessage(message);
  }

  stop(graceMs: number): Promise<void> {
    if (this.#stopped !== null) return this.#stopped;
    this.#control.requestStop();
    this.#stopped = (async () => {
      await Promise.resolve(); // #stopped is set before the backoffs wake
      this.#stopping.abort();
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), graceMs);
      });
      const outcome = await Promise.race([Promise.allSettled(this.#tasks).then(() => 'done' as const), grace]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        this.#control.requestAbort();
        let abortTimer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.allSettled(this.#tasks),
          new Promise<void>((resolve) => {
            abortTimer = setTimeout(resolve, ABORT_GRACE_MS);
          }),
        ]);
        clearTimeout(abortTimer);
      }
      await this.#piscina.destroy();
      for (let i = 0; i < this.#ctx.resource.spec.workers; i++) this.#releaseLock(i);
      // What terminated threads still held is lost: count it, so every sample has a number.
      const targets = this.#control.heldTargets;
      const samples = this.#control.heldSamples;
      if (targets > 0) this.#counters.dropTarget(TargetDropReason.Shutdown, targets);
      if (samples > 0) this.#counters.drop(DropReason.Shutdown, samples);
      for (const p of this.#ports) p.close();
    })();
    return this.#stopped;
  }
}

function isWireError(result: unknown): result is WireError {
  return typeof result === 'object' && result !== null && (result as { ok?: unknown }).ok === false;
}
