// SPDX-License-Identifier: Apache-2.0
/**
 * One target taken from the channel: checks it (decodable, not stale, not being scraped
 * already), scrapes and parses it into a pooled batch, applies `scrape.sampleLimit`, counts
 * `collected`, hands the batch to the delivery stage, and reports the target's status.
 *
 * Accounting (see delivery.ts for what happens after `collected`):
 * - a target older than its interval when taken is dropped as `stale`, one already being scraped
 *   by this worker as `scrape_in_progress`, an undecodable record as `undecodable`;
 * - a failed scrape or parse counts one error by reason (the target yields nothing);
 * - past `scrape.sampleLimit`, policy `fail` fails the target (error `sample_limit`, its samples
 *   counted as dropped) and `truncate` keeps the first N samples in exposition order and counts
 *   the rest as dropped;
 * - `collected` counts the samples kept, which are held (control.ts) until delivery counts them.
 *
 * Series caches are per target, per worker (a target may be taken by any worker), bounded by
 * `MAX_TARGET_CACHES` with least-recently-used eviction.
 */
import type { CollectorSpec } from '../config/index.js';
import { decodeTarget, type Target, targetKey } from '../discovery/target.js';
import { LabelLimitError, ParseError } from '../errors.js';
import { remoteWriteTargetLabels } from '../encode/remote-write.js';
import type { SeriesFilter } from '../filter/index.js';
import { ExpositionParser, SeriesCache } from '../parse/index.js';
import { SampleBatch } from '../sample.js';
import { ScrapeError, type Scraper } from '../scrape/index.js';
import type { Control } from '../channel/control.js';
import { DropReason, ErrorReason, type SharedCounters, TargetDropReason } from '../channel/counters.js';
import { type DeliveryStage, targetId } from './delivery.js';
import { type Reporter, targetStatus } from './reporter.js';

const MAX_TARGET_CACHES = 10_000;

interface TargetMemory {
  readonly cache: SeriesCache;
  readonly id: string;
  /** The tags every sample of the target gets (remote write adds `job` and `instance`). */
  readonly tags: Readonly<Record<string, string>>;
}

export interface TargetRunnerOptions {
  readonly collector: string;
  readonly workerIndex: number;
  readonly spec: CollectorSpec;
  readonly scraper: Scraper;
  readonly delivery: DeliveryStage;
  readonly counters: SharedCounters;
  readonly held: Control;
  readonly reporter: Reporter;
  /** Aborts the scrapes in flight (shutdown past the grace period). */
  readonly signal: AbortSignal;
  /** The Collector's series filters (dropSeries, keepSeries, dropLabels), decided once per series. */
  readonly seriesFilter?: SeriesFilter | null;
}

export class TargetRunner {
  readonly #o: TargetRunnerOptions;
  readonly #memory = new Map<string, TargetMemory>();
  /** A body is parsed as it arrives, so each scrape in flight fills its own batch; pooled. */
  readonly #batches: SampleBatch[] = [];
  /**
   * Targets being scraped by this worker. A target queued again before its last scrape ended is
   * dropped and counted, as a Prometheus scrape loop never overlaps itself.
   */
  readonly #scraping = new Set<string>();

  constructor(options: TargetRunnerOptions) {
    this.#o = options;
  }

  /** Runs the target of one channel record; never throws. */
  async run(payload: Uint8Array, enqueuedAt: number): Promise<void> {
    const { counters, reporter } = this.#o;
    const target = decodeTarget(payload);
    if (target === null) {
      counters.dropTarget(TargetDropReason.Undecodable);
      return;
    }
    const delay = Math.max(0, performance.timeOrigin + performance.now() - enqueuedAt);
    reporter.queueDelay(delay / 1000);
    counters.add('queueDelayMsTotal', delay);
    if (delay > target.intervalMs) {
      counters.dropTarget(TargetDropReason.Stale);
      return;
    }
    const key = targetKey(target);
    if (this.#scraping.has(key)) {
      counters.dropTarget(TargetDropReason.InProgress);
      return;
    }
    this.#scraping.add(key);
    counters.add('targetsTaken', 1);
    counters.add('inFlight', 1);
    this.#o.held.hold(1, 0);
    const batch = this.#batches.pop() ?? new SampleBatch(4096);
    try {
      await this.#collect(target, key, batch);
    } catch (e) {
      // A defect, not a target's failure: counted as one, so the loop goes on.
      this.#fail(target, Date.now(), 0, ErrorReason.Internal, e);
    } finally {
      batch.clear();
      this.#batches.push(batch);
      counters.add('inFlight', -1);
      this.#o.held.hold(-1, 0);
      this.#scraping.delete(key);
    }
  }

  async #collect(target: Target, key: string, batch: SampleBatch): Promise<void> {
    const { spec, counters, held } = this.#o;
    const started = Date.now();
    let bytes = 0;
    const memory = this.#remember(key, target);
    let seriesFiltered = 0;
    let parser: ExpositionParser | undefined;
    const open = (contentType: string | undefined): ExpositionParser =>
      new ExpositionParser({
        cache: memory.cache,
        ...(contentType === undefined ? {} : { contentType }),
        targetTags: memory.tags,
        honorLabels: spec.honorLabels,
        maxLineBytes: spec.scrape.maxLineBytes,
        batch,
        seriesFilter: this.#o.seriesFilter ?? null,
        labelLimits: {
          labelLimit: spec.scrape.labelLimit,
          labelNameLengthLimit: spec.scrape.labelNameLengthLimit,
          labelValueLengthLimit: spec.scrape.labelValueLengthLimit,
        },
      });
    try {
      // Parsed chunk by chunk as the body arrives: no chunk outlives its turn.
      const res = await this.#o.scraper.scrape(target.url, this.#o.signal, (chunk, contentType) => {
        parser ??= open(contentType);
        parser.push(chunk);
      });
      bytes = res.bytes;
      parser ??= open(res.contentType);
      seriesFiltered = parser.end().stats.filtered;
    } catch (e) {
      parser?.abort();
      const reason =
        e instanceof ScrapeError
          ? (e.reason as ErrorReason)
          : e instanceof LabelLimitError
            ? ErrorReason.LabelLimit
            : e instanceof ParseError
              ? ErrorReason.Parse
              : ErrorReason.Internal;
      this.#fail(target, started, bytes, reason, e);
      return;
    }
    const parsed = batch.length;
    const limit = spec.scrape.sampleLimit;
    if (limit > 0 && parsed > limit) {
      if (spec.scrape.sampleLimitPolicy === 'fail') {
        counters.drop(DropReason.SampleLimit, parsed);
        this.#fail(target, started, bytes, ErrorReason.SampleLimit, new Error(`${parsed} samples, over the limit of ${limit} (scrape.sampleLimit)`));
        return;
      }
      counters.drop(DropReason.SampleLimit, parsed - limit);
      batch.length = limit;
    }
    const collected = batch.length;
    // Samples of series the series filters drop are collected and filtered at once, never held.
    counters.add('collected', collected + seriesFiltered);
    if (seriesFiltered > 0) counters.add('filtered', seriesFiltered);
    held.hold(0, collected);
    const err = await this.#o.delivery.deliver(batch, { time: started, target: memory.id });
    if (err !== null) {
      this.#fail(target, started, bytes, ErrorReason.Encode, err);
      return;
    }
    counters.add('scrapes', 1);
    this.#o.reporter.scrape(targetStatus(target, this.#o.workerIndex, started, bytes, collected, null));
  }

  #fail(target: Target, started: number, bytes: number, reason: ErrorReason, e: unknown): void {
    const { counters } = this.#o;
    counters.error(reason);
    counters.add('scrapes', 1);
    counters.add('scrapesFailed', 1);
    const message = e instanceof Error ? e.message : String(e);
    this.#o.reporter.scrape(targetStatus(target, this.#o.workerIndex, started, bytes, 0, message));
  }

  /** The target's series cache and id, least recently used evicted past the bound. */
  #remember(key: string, target: Target): TargetMemory {
    const memory = this.#memory;
    let m = memory.get(key);
    if (m !== undefined) {
      memory.delete(key); // re-insert: Map order is the LRU order
    } else {
      const tags = 'remoteWrite' in this.#o.spec.output ? remoteWriteTargetLabels(target) : target.labels;
      m = { cache: new SeriesCache(), id: targetId(this.#o.collector, key), tags };
      if (memory.size >= MAX_TARGET_CACHES) {
        const oldest = memory.keys().next();
        if (oldest.done !== true) memory.delete(oldest.value);
      }
    }
    memory.set(key, m);
    return m;
  }
}
