/**
 * The consumer: what one worker thread of a Collector's pool runs. It takes targets from the
 * shared channel and, for each, scrapes → parses → filters → encodes → sends, keeping up to
 * `scrape.concurrency` targets in flight (scraping mostly waits on the network).
 *
 * Accounting (every sample ends up sent, or counted as an error or a drop):
 * - a target older than its interval when taken is dropped as `stale`;
 * - a failed scrape or parse counts one error by reason (the target yields nothing);
 * - past `scrape.sampleLimit`, policy `fail` fails the target (error `sample_limit`, its samples
 *   counted as dropped) and `truncate` keeps the first N samples in exposition order and counts
 *   the rest as dropped;
 * - `collected` counts samples parsed (after the limit), `filtered`/`clamped` what the filters
 *   did, `sent` what the sink acknowledged, and the sender counts its drops by reason.
 * Counters are summed locally per target and added to shared memory once.
 *
 * Series caches are per target, per worker (a target may be taken by any worker), bounded by
 * `MAX_TARGET_CACHES` with least-recently-used eviction.
 *
 * Stopping: when the control word says stop, no new target is taken; in-flight targets finish
 * and the sink is flushed and closed. On abort the in-flight scrapes are cancelled.
 */
import { setMaxListeners } from 'node:events';
import type { MessagePort } from 'node:worker_threads';
import { RetryingSender } from '../buffer/retry.js';
import { LaneSet, type TargetChannel } from '../channel/index.js';
import type { CollectorSpec } from '../config/index.js';
import { decodeTarget, type Target, targetKey } from '../discovery/target.js';
import { createEncoder } from '../encode/index.js';
import type { Encoder } from '../encode/index.js';
import { ParseError, StrataError } from '../errors.js';
import { compileFilters } from '../filter/index.js';
import { ExpositionParser, SeriesCache } from '../parse/index.js';
import { SampleBatch } from '../sample.js';
import { readFileTls, ScrapeError, Scraper } from '../scrape/index.js';
import { createSink } from '../sink/index.js';
import { Control, ControlState } from './control.js';
import { GcPacer } from './gc.js';
import { lowerThreadPriority } from './priority.js';
import { DropReason, ErrorReason, SharedCounters, TargetDropReason } from './counters.js';

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

/** The last scrape of one target, for /status. */
export interface TargetStatus {
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly discovery: string;
  readonly up: boolean;
  readonly lastScrape: string;
  readonly durationMs: number;
  readonly bytes: number;
  readonly samples: number;
  readonly series: number;
  readonly error: string | null;
  readonly worker: number;
}

export type ConsumerReport =
  | {
      kind: 'observations';
      workerIndex: number;
      scrapeSeconds: number[];
      queueDelaySeconds: number[];
      targets: TargetStatus[];
    }
  | { kind: 'failed'; workerIndex: number; message: string }
  | { kind: 'done'; workerIndex: number };

const MAX_TARGET_CACHES = 10_000;
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;
const REPORT_EVERY_MS = 1000;
/**
 * Longest wait for a target before the loop turns again (checks the stop word, flushes its
 * reports, steals from other lanes); also the channel's poll bound for this consumer. Each
 * wait costs two thread wake-ups, which add up on an idle worker, so it is not short.
 */
const POP_WAIT_MS = 250;

export async function runConsumer(task: ConsumerTask): Promise<{ targets: number }> {
  lowerThreadPriority();
  const channel = LaneSet.attach(task.lanes, { pollMs: POP_WAIT_MS });
  const own = channel.lanes[task.workerIndex % channel.lanes.length] as TargetChannel;
  const counters = new SharedCounters(task.counters);
  const held = new Control(task.control);
  const spec = task.spec;
  const scrapeAbort = new AbortController();
  // One listener per in-flight scrape and waiting send, removed after: not a leak.
  setMaxListeners(Number.POSITIVE_INFINITY, scrapeAbort.signal);
  const tls = spec.tls === undefined ? undefined : await readFileTls(spec.tls);
  const scraper = new Scraper({
    timeoutMs: spec.scrape.timeoutSeconds * 1000,
    maxBodyBytes: spec.scrape.maxBodyBytes,
    maxSockets: spec.scrape.concurrency,
    maxBodies: spec.scrape.bodyConcurrency,
    ...(tls === undefined ? {} : { tls }),
  });
  const filter = compileFilters(spec.filters);
  const encoder = createEncoder(spec.encoder, spec.batch);
  const sink = createSink(spec.output, { workerIndex: task.workerIndex });
  const sender = new RetryingSender({
    sink,
    fullPolicy: 'block', // a slow sink slows scraping (stale targets are counted) rather than dropping scraped samples
    // A few targets' messages (a 10k-series target is ~3 MB of JSON): enough to keep the sink
    // busy, and the consumer takes no new target past half of it.
    maxInFlightBytes: IN_FLIGHT_BYTES,
  });
  const caches = new Map<string, SeriesCache>();
  // A body is parsed as it arrives, so every scrape in flight fills its own batch; pooled, so
  // each grows once to the largest target it has held.
  const batches: SampleBatch[] = [];
  // Targets being scraped by this worker. A target queued again before its last scrape ended
  // (an interval shorter than the scrape) is dropped and counted, as a Prometheus scrape loop
  // never overlaps itself: a second scrape would compete for the same cache and the same target.
  const scraping = new Set<string>();
  const reporter = new Reporter(task.port, task.workerIndex);
  const inflight = new Set<Promise<void>>();
  let taken = 0;

  const pacer = GcPacer.create(task.gcBudgetMb);
  const pace = (): void => {
    const ms = pacer?.maybeCollect(inflight.size === 0) ?? 0;
    if (ms > 0) {
      counters.add('pacedGcs', 1);
      counters.add('pacedGcMicrosTotal', ms * 1000);
    }
  };

  const state = (): number => held.state;
  while (state() === ControlState.Running) {
    pace();
    // Backpressure: while the sink is behind (half its in-flight bound used), take no new target;
    // queued targets wait in the channel (and are counted as stale if they wait too long)
    // rather than being scraped only to be dropped for lack of room.
    if (inflight.size >= spec.scrape.concurrency || (inflight.size > 0 && sender.inFlightBytes > sender.maxInFlightBytes / 2)) {
      await Promise.race(inflight);
      continue;
    }
    // Steal from another worker's lane only when its owner cannot take it all now.
    const rec = channel.tryPop(task.workerIndex % channel.lanes.length, spec.scrape.concurrency) ?? (await own.pop(POP_WAIT_MS));
    if (rec === null) {
      if (channel.closed && channel.size === 0) break;
      reporter.maybeFlush();
      continue;
    }
    taken++;
    const p = handle(rec.payload, rec.enqueuedAt).finally(() => inflight.delete(p));
    inflight.add(p);
    reporter.maybeFlush();
  }
  if (state() === ControlState.Abort) scrapeAbort.abort();
  const abortWatch = setInterval(() => {
    if (state() === ControlState.Abort) scrapeAbort.abort();
  }, 50);
  await Promise.allSettled(inflight);
  clearInterval(abortWatch);
  try {
    await sink.flush(AbortSignal.timeout(5000));
  } catch {
    // counted by the sender where samples were involved
  }
  await sink.close();
  scraper.close();
  reporter.flush();
  return { targets: taken };

  async function handle(payload: Uint8Array, enqueuedAt: number): Promise<void> {
    const target = decodeTarget(payload);
    if (target === null) {
      counters.dropTarget(TargetDropReason.Undecodable);
      return;
    }
    const takenAt = performance.timeOrigin + performance.now();
    const delay = Math.max(0, takenAt - enqueuedAt);
    reporter.queueDelay(delay / 1000);
    counters.add('queueDelayMsTotal', delay);
    if (delay > target.intervalMs) {
      counters.dropTarget(TargetDropReason.Stale);
      return;
    }
    const key = targetKey(target);
    if (scraping.has(key)) {
      counters.dropTarget(TargetDropReason.InProgress);
      return;
    }
    scraping.add(key);
    try {
      await take(target, key);
    } finally {
      scraping.delete(key);
    }
  }

  async function take(target: Target, key: string): Promise<void> {
    counters.add('targetsTaken', 1);
    counters.add('inFlight', 1);
    held.hold(1, 0);
    const batch = batches.pop() ?? new SampleBatch(4096);
    try {
      await collectInto(target, key, batch);
    } finally {
      batch.clear();
      batches.push(batch);
      counters.add('inFlight', -1);
      held.hold(-1, 0);
    }
  }

  async function collectInto(target: Target, key: string, batch: SampleBatch): Promise<void> {
    const started = Date.now();
    let bytes = 0;
    const cache = cacheFor(key);
    let parser: ExpositionParser | undefined;
    const open = (contentType: string | undefined): ExpositionParser =>
      new ExpositionParser({
        cache,
        ...(contentType === undefined ? {} : { contentType }),
        targetTags: target.labels,
        maxLineBytes: spec.scrape.maxLineBytes,
        batch,
      });
    try {
      // Parsed chunk by chunk as the body arrives: no chunk outlives its turn, so a scrape leaves
      // nothing for the old generation (the series cache copies the lines it keeps).
      const res = await scraper.scrape(target.url, scrapeAbort.signal, (chunk, contentType) => {
        parser ??= open(contentType);
        parser.push(chunk);
      });
      bytes = res.bytes;
      parser ??= open(res.contentType);
      parser.end();
    } catch (e) {
      parser?.abort();
      const reason = e instanceof ScrapeError ? (e.reason as ErrorReason) : e instanceof ParseError ? ErrorReason.Parse : ErrorReason.Internal;
      fail(target, started, bytes, reason, e);
      return;
    }
    const parsed = batch.length;
    const limit = spec.scrape.sampleLimit;
    if (limit > 0 && parsed > limit) {
      if (spec.scrape.sampleLimitPolicy === 'fail') {
        counters.drop(DropReason.SampleLimit, parsed);
        fail(target, started, bytes, ErrorReason.SampleLimit, new Error(`${parsed} samples, over the limit of ${limit} (scrape.sampleLimit)`));
        return;
      }
      counters.drop(DropReason.SampleLimit, parsed - limit);
      batch.length = limit;
    }
    const collected = batch.length;
    counters.add('collected', collected);
    const holding = { samples: collected };
    held.hold(0, collected);
    try {
      await deliver(target, batch, started, bytes, collected, holding);
    } finally {
      held.hold(0, -holding.samples);
    }
  }

  /** Filters, encodes and sends the batch of one target; every sample ends sent or counted. */
  async function deliver(target: Target, batch: SampleBatch, started: number, bytes: number, collected: number, holding: { samples: number }): Promise<void> {
    // Samples are released from the pool's held count right where they are counted (sent,
    // filtered or dropped), not after an await: a thread terminated in between then neither
    // loses nor double-counts them.
    const settle = (n: number): void => {
      held.hold(0, -n);
      holding.samples -= n;
    };
    const stats = { filtered: 0, clamped: 0 };
    filter(batch, stats);
    counters.add('filtered', stats.filtered);
    settle(stats.filtered);
    counters.add('clamped', stats.clamped);
    let messages: Uint8Array[] = [];
    try {
      if (encoder.encodeTo !== undefined && sender.canSendNow) {
        // Each message is written as soon as it is made, from the encoder's scratch memory
        // while it is still in the CPU's cache (no copy, no message kept). From the first one
        // the sink cannot take now, the rest are copied and sent as usual.
        encoder.encodeTo(batch, started, (message, samples) => {
          if (messages.length === 0 && sender.sendNow(message, samples)) {
            counters.add('sent', samples);
            counters.add('sentMessages', 1);
            settle(samples);
          } else {
            messages.push(new Uint8Array(message)); // a copy (Buffer#slice would be a view)
          }
        });
      } else {
        messages = encoder.encode(batch, started);
      }
    } catch (e) {
      const lost = holding.samples;
      counters.drop(DropReason.Encode, lost);
      settle(lost);
      fail(target, started, bytes, ErrorReason.Encode, e);
      return;
    }
    const skipped = skippedNonFinite(encoder);
    if (skipped > 0) {
      counters.drop(DropReason.NonFinite, skipped);
      settle(skipped);
    }
    if (messages.length > 0) {
      // What is still held: the samples of the messages not yet written.
      const sendable = holding.samples;
      const delivery = await sender.send(messages, sendable, scrapeAbort.signal);
      if (delivery.delivered) {
        counters.add('sent', sendable);
        counters.add('sentMessages', messages.length);
      } else {
        counters.drop(dropReasonOf(delivery.reason), sendable);
      }
      settle(sendable);
      encoder.recycle?.(messages); // delivered or dropped: nothing reads them any more
    }
    counters.add('scrapes', 1);
    const durationMs = Date.now() - started;
    reporter.scrape(durationMs / 1000, {
      url: target.url,
      labels: target.labels,
      discovery: target.discovery,
      up: true,
      lastScrape: new Date(started).toISOString(),
      durationMs,
      bytes,
      samples: collected,
      series: collected,
      error: null,
      worker: task.workerIndex,
    });
  }

  function fail(target: Target, started: number, bytes: number, reason: ErrorReason, e: unknown): void {
    counters.error(reason);
    counters.add('scrapes', 1);
    counters.add('scrapesFailed', 1);
    const durationMs = Date.now() - started;
    reporter.scrape(durationMs / 1000, {
      url: target.url,
      labels: target.labels,
      discovery: target.discovery,
      up: false,
      lastScrape: new Date(started).toISOString(),
      durationMs,
      bytes,
      samples: 0,
      series: 0,
      error: e instanceof StrataError || e instanceof Error ? e.message : String(e),
      worker: task.workerIndex,
    });
  }

  function cacheFor(key: string): SeriesCache {
    let cache = caches.get(key);
    if (cache !== undefined) {
      caches.delete(key); // re-insert: Map order is the LRU order
    } else {
      cache = new SeriesCache();
      if (caches.size >= MAX_TARGET_CACHES) {
        const oldest = caches.keys().next();
        if (oldest.done !== true) caches.delete(oldest.value);
      }
    }
    caches.set(key, cache);
    return cache;
  }
}

function skippedNonFinite(encoder: Encoder): number {
  const e = encoder as { lastSkippedNonFinite?: number };
  return e.lastSkippedNonFinite ?? 0;
}

function dropReasonOf(reason: string): DropReason {
  switch (reason) {
    case 'rejected':
      return DropReason.SinkRejected;
    case 'retries_exhausted':
      return DropReason.RetriesExhausted;
    case 'buffer_full':
      return DropReason.BufferFull;
    default:
      return DropReason.Shutdown;
  }
}

/** Batches what the main thread wants to know and posts it at most once a second. */
class Reporter {
  readonly #port: MessagePort;
  readonly #worker: number;
  #scrapes: number[] = [];
  #delays: number[] = [];
  #targets = new Map<string, TargetStatus>();
  #last = Date.now();

  constructor(port: MessagePort, worker: number) {
    this.#port = port;
    this.#worker = worker;
  }

  queueDelay(seconds: number): void {
    this.#delays.push(seconds);
  }

  scrape(seconds: number, status: TargetStatus): void {
    this.#scrapes.push(seconds);
    this.#targets.set(`${status.url}\u0000${status.discovery}`, status);
    this.maybeFlush();
  }

  maybeFlush(): void {
    if (Date.now() - this.#last >= REPORT_EVERY_MS) this.flush();
  }

  flush(): void {
    this.#last = Date.now();
    if (this.#scrapes.length === 0 && this.#delays.length === 0 && this.#targets.size === 0) return;
    const report: ConsumerReport = {
      kind: 'observations',
      workerIndex: this.#worker,
      scrapeSeconds: this.#scrapes,
      queueDelaySeconds: this.#delays,
      targets: [...this.#targets.values()],
    };
    this.#port.postMessage(report);
    this.#scrapes = [];
    this.#delays = [];
    this.#targets = new Map();
  }
}
