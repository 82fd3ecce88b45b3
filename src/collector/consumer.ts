// SPDX-License-Identifier: Apache-2.0
/**
 * The consumer: what one worker thread of a Collector's pool runs. It takes targets from the
 * shared channel and runs each (target-run.ts: scrape → parse → limit; delivery.ts: filter →
 * encode → outbox → sink), keeping up to `scrape.concurrency` targets in flight (scraping
 * mostly waits on the network).
 *
 * Parts: `openConsumer` builds what a worker needs from the Collector's spec (scraper, filters,
 * encoder, sink, the outbox with its optional spool, the reporter) and fails, with the reason,
 * when it cannot (a TLS file that cannot be read); `Consumer#run` is the loop; `Consumer#close`
 * the shutdown. Accounting is in delivery.ts and target-run.ts, the counters in counters.ts.
 *
 * Backpressure: under `buffer.policy: block` without a spool, while the outbox holds more than
 * half its memory no new target is taken; queued targets wait in the channel (and are counted
 * as stale if they wait too long) rather than being scraped only to wait for room.
 *
 * Spool: each worker has its own, `<buffer.path>/w<index>`, locked against a second open (a
 * replaced pool's worker waits for the old one's, see spool-lock.ts). Samples found in it at
 * open count `replayed`, except those this process itself left there when a previous pool of the
 * Collector closed it (`spoolClosedSamples`): those were collected by this process already.
 *
 * Stopping: when the control word says stop, no new target is taken; in-flight targets finish,
 * the outbox sends what it holds (until empty, or with a spool until the sink fails), then
 * closes (leftovers to the spool, or dropped `shutdown`), and the sink is flushed and closed. On
 * abort the in-flight scrapes and the outbox's drain are cut short.
 */
import { setMaxListeners } from 'node:events';
import { join } from 'node:path';
import type { MessagePort } from 'node:worker_threads';
import { FullPolicy, Outbox } from '../buffer/outbox.js';
import { Spool } from '../buffer/spool.js';
import { acquireSpoolLock } from '../buffer/spool-lock.js';
import { LaneSet, type TargetChannel } from '../channel/index.js';
import type { CollectorSpec } from '../config/index.js';
import { collectorEncoder, collectorEncoding, type Encoder } from '../encode/index.js';
import { compileFilters, compileSeriesFilter, type SeriesFilter } from '../filter/index.js';
import { readFileTls, ScrapeAuth, Scraper } from '../scrape/index.js';
import { createSink, type Sink } from '../sink/index.js';
import { Control, ControlState } from '../channel/control.js';
import { SharedCounters } from '../channel/counters.js';
import { DeliveryStage, SampleAccounting } from './delivery.js';
import { GcPacer } from './gc.js';
import { lowerThreadPriority } from './priority.js';
import { type BufferReport, Reporter } from './reporter.js';
import { SinkHealth } from './sink-health.js';
import { TargetRunner } from './target-run.js';

export type { ConsumerReport, TargetStatus } from './reporter.js';

/** What the pool sends a consumer: targets discovery no longer lists, by `targetKey`. */
export interface PoolMessage {
  readonly kind: 'targetsGone';
  readonly keys: readonly string[];
}

export interface ConsumerTask {
  readonly key: string;
  readonly workerIndex: number;
  /** The Collector's channel: one lane per worker; this worker's is `workerIndex`. */
  readonly lanes: readonly SharedArrayBuffer[];
  readonly counters: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly spec: CollectorSpec;
  readonly port: MessagePort;
  /** The GC pacer's budget in MB (gc.ts); 0: none. */
  readonly gcBudgetMb: number;
}

/** Default `buffer.spoolMaxBytes` of a Collector (split over its workers). */
export const DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024;

/**
 * Longest wait for a target before the loop turns again (checks the stop word, flushes its
 * reports, steals from other lanes); also the channel's poll bound for this consumer. Each
 * wait costs two thread wake-ups, which add up on an idle worker, so it is not short.
 */
const POP_WAIT_MS = 250;
/** How long the sink may take to flush at the end. */
const FLUSH_MS = 5000;

export async function runConsumer(task: ConsumerTask): Promise<{ targets: number }> {
  lowerThreadPriority();
  const consumer = await openConsumer(task);
  if (consumer === null) return { targets: 0 }; // stopped while waiting for the spool
  return consumer.run();
}

/** The spool directory of worker `index` of a Collector whose `buffer.path` is `path`. */
export function spoolDir(path: string, index: number): string {
  return join(path, `w${index}`);
}

/** Builds a worker's parts; null when the pool stopped before the spool could be had. */
export async function openConsumer(task: ConsumerTask): Promise<Consumer | null> {
  const spec = task.spec;
  const held = new Control(task.control);
  const counters = new SharedCounters(task.counters);
  const workers = Math.max(1, task.lanes.length);
  const tls = spec.tls === undefined ? undefined : await readFileTls(spec.tls);
  const auth = await ScrapeAuth.open(spec.scrape);
  // The output may imply its own encoding (remoteWrite: protobuf); else the `encoder` field's.
  const encoder = collectorEncoder(spec);
  const health = new SinkHealth();
  let spool: Spool | null = null;
  let unlock: (() => Promise<void>) | null = null;
  const buffer = spec.buffer;
  if (buffer.path !== undefined) {
    const dir = spoolDir(buffer.path, task.workerIndex);
    const stopped = new AbortController();
    const watch = setInterval(() => {
      if (held.state !== ControlState.Running) stopped.abort();
    }, 50);
    try {
      unlock = await acquireSpoolLock(dir, stopped.signal);
    } catch (e) {
      if (stopped.signal.aborted) return null;
      throw e;
    } finally {
      clearInterval(watch);
    }
    try {
      spool = await Spool.open({ dir, maxBytes: Math.floor((buffer.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES) / workers) });
    } catch (e) {
      await unlock();
      throw e;
    }
  }
  let sink: Sink;
  try {
    sink = createSink(spec.output, { workerIndex: task.workerIndex, workers, collector: task.key, encoder: collectorEncoding(spec) });
  } catch (e) {
    await spool?.close();
    await unlock?.();
    auth?.close();
    throw e;
  }
  if (spool !== null) {
    // Counted once the worker can run, so that a failed start counts nothing twice.
    const found = spool.samples;
    const reopened = counters.take('spoolClosedSamples', found);
    counters.add('replayed', found - reopened);
    counters.add('spoolSamples', found);
  }
  const accounting = new SampleAccounting(counters, held, health, encoder);
  const outbox = new Outbox({
    sink,
    listener: accounting,
    maxBytes: Math.max(1, Math.floor(buffer.maxBytes / workers)),
    policy: buffer.policy,
    maxAgeMs: (buffer.maxAgeSeconds ?? 0) * 1000,
    spool,
  });
  return new Consumer(task, { counters, held, tls, auth, encoder, health, spool, unlock, sink, outbox });
}

interface ConsumerParts {
  readonly counters: SharedCounters;
  readonly held: Control;
  readonly tls: Awaited<ReturnType<typeof readFileTls>> | undefined;
  readonly auth: ScrapeAuth | undefined;
  readonly encoder: Encoder;
  readonly health: SinkHealth;
  readonly spool: Spool | null;
  readonly unlock: (() => Promise<void>) | null;
  readonly sink: Sink;
  readonly outbox: Outbox;
}

export class Consumer {
  readonly #task: ConsumerTask;
  readonly #spec: CollectorSpec;
  readonly #parts: ConsumerParts;
  readonly #channel: LaneSet;
  readonly #own: TargetChannel;
  readonly #scraper: Scraper;
  readonly #reporter: Reporter;
  readonly #runner: TargetRunner;
  readonly #pacer: GcPacer | null;
  readonly #seriesFilter: SeriesFilter | null;
  /** Aborts the scrapes in flight. */
  readonly #scrapeAbort = new AbortController();
  /** Aborts the outbox's drain at shutdown. */
  readonly #drainAbort = new AbortController();
  readonly #inflight = new Set<Promise<void>>();

  constructor(task: ConsumerTask, parts: ConsumerParts) {
    this.#task = task;
    this.#spec = task.spec;
    this.#parts = parts;
    const spec = task.spec;
    // One listener per in-flight scrape and waiting send, removed after: not a leak.
    setMaxListeners(Number.POSITIVE_INFINITY, this.#scrapeAbort.signal);
    this.#channel = LaneSet.attach(task.lanes, { pollMs: POP_WAIT_MS });
    this.#own = this.#channel.lanes[task.workerIndex % this.#channel.lanes.length] as TargetChannel;
    this.#scraper = new Scraper({
      timeoutMs: spec.scrape.timeoutSeconds * 1000,
      maxBodyBytes: spec.scrape.maxBodyBytes,
      maxSockets: spec.scrape.concurrency,
      maxBodies: spec.scrape.bodyConcurrency,
      ...(parts.tls === undefined ? {} : { tls: parts.tls }),
      ...(parts.auth === undefined ? {} : { auth: parts.auth }),
    });
    this.#seriesFilter = compileSeriesFilter(spec.filters);
    this.#reporter = new Reporter(task.port, task.workerIndex, () => this.#extraReport());
    const delivery = new DeliveryStage({
      filter: compileFilters(spec.filters),
      encoder: parts.encoder,
      outbox: parts.outbox,
      counters: parts.counters,
      held: parts.held,
    });
    this.#runner = new TargetRunner({
      collector: task.key,
      workerIndex: task.workerIndex,
      spec,
      scraper: this.#scraper,
      delivery,
      counters: parts.counters,
      held: parts.held,
      reporter: this.#reporter,
      signal: this.#scrapeAbort.signal,
      seriesFilter: this.#seriesFilter,
    });
    this.#pacer = GcPacer.create(task.gcBudgetMb);
    // The pool tells every worker which targets discovery stopped listing (any worker may hold
    // their series caches); unref'd: the port never keeps the thread alive.
    task.port.on('message', (m: PoolMessage) => {
      if (m?.kind !== 'targetsGone' || !Array.isArray(m.keys)) return;
      const p = this.#runner.gone(m.keys).finally(() => this.#inflight.delete(p));
      this.#inflight.add(p);
    });
    task.port.unref();
  }

  /** Takes targets until the pool stops, then shuts down; returns the number taken. */
  async run(): Promise<{ targets: number }> {
    const { held, outbox } = this.#parts;
    const spec = this.#spec;
    const lane = this.#task.workerIndex % this.#channel.lanes.length;
    const inflight = this.#inflight;
    const blocking = outbox.policy === FullPolicy.Block && this.#parts.spool === null;
    const half = outbox.maxBytes / 2;
    let taken = 0;
    this.#reporter.started();
    try {
      while (held.state === ControlState.Running) {
        this.#pace();
        if (inflight.size >= spec.scrape.concurrency) {
          await Promise.race(inflight);
          continue;
        }
        if (blocking && inflight.size > 0 && outbox.memoryBytes > half) {
          await Promise.race([...inflight, outbox.whenBelow(half)]);
          continue;
        }
        // Steal from another worker's lane only when its owner cannot take it all now.
        const rec = this.#channel.tryPop(lane, spec.scrape.concurrency) ?? (await this.#own.pop(POP_WAIT_MS));
        if (rec === null) {
          if (this.#channel.closed && this.#channel.size === 0) break;
          this.#reporter.maybeFlush();
          continue;
        }
        taken++;
        const p = this.#runner.run(rec.payload, rec.enqueuedAt).finally(() => inflight.delete(p));
        inflight.add(p);
        this.#reporter.maybeFlush();
      }
    } finally {
      await this.close();
    }
    return { targets: taken };
  }

  /** Finishes what is held, drains and closes the outbox, flushes and closes the sink. */
  async close(): Promise<void> {
    const { held, outbox, sink, spool, unlock, counters } = this.#parts;
    const abortAll = (): void => {
      this.#scrapeAbort.abort();
      this.#drainAbort.abort();
    };
    if (held.state === ControlState.Abort) abortAll();
    const watch = setInterval(() => {
      if (held.state === ControlState.Abort) abortAll();
    }, 50);
    try {
      await Promise.allSettled(this.#inflight);
      await outbox.drain(this.#drainAbort.signal);
      await outbox.close();
      if (spool !== null) {
        // What stays on disk is handed to the next pool of this Collector (or process).
        const left = counters.take('spoolSamples', spool.samples);
        counters.add('spoolClosedSamples', left);
      }
      try {
        await sink.flush(AbortSignal.timeout(FLUSH_MS));
      } catch {
        // what a failed flush loses was counted by the outbox where samples were involved
      }
      await sink.close();
    } finally {
      clearInterval(watch);
      this.#scraper.close();
      await unlock?.();
      this.#reporter.flush();
    }
  }

  #pace(): void {
    const ms = this.#pacer?.maybeCollect(this.#inflight.size === 0) ?? 0;
    if (ms > 0) {
      this.#parts.counters.add('pacedGcs', 1);
      this.#parts.counters.add('pacedGcMicrosTotal', ms * 1000);
    }
  }

  #extraReport(): { sink?: ReturnType<SinkHealth['take']> & object; buffer: BufferReport; seriesFilters?: readonly { matcher: string; dropped: number }[] } {
    const { outbox, spool, health } = this.#parts;
    const buffer: BufferReport = {
      memoryBytes: outbox.memoryBytes,
      memoryMessages: outbox.memoryMessages,
      spoolBytes: spool?.bytes ?? 0,
      spoolRecords: spool?.records ?? 0,
    };
    const sink = health.take();
    const seriesFilters = this.#seriesFilter?.matcherStats();
    return { buffer, ...(sink === null ? {} : { sink }), ...(seriesFilters === undefined ? {} : { seriesFilters }) };
  }
}
