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
 * - seriesBudget (series-budget.ts): new series past it are dropped (dropNew, counted collected
 *   and dropped `series_budget`) or fail the scrape (failTarget, error `series_budget`, its
 *   samples collected and dropped);
 * - `collected` counts the samples kept, which are held (control.ts) until delivery counts them;
 * - with `scrape.targetSeries`, `up` and the scrape_* series are added to every scrape (a failed
 *   one too, `up` 0), and with remote write's `staleMarkers` a marker for each series the last
 *   scrape had and this one has not (every series after a failure, or of a target discovery no
 *   longer lists: `gone`); both are counted collected like the target's own samples.
 *
 * Series caches are per target, per worker (a target may be taken by any worker), bounded by
 * `MAX_TARGET_CACHES` with least-recently-used eviction.
 */
import type { CollectorSpec } from '../config/index.js';
import { decodeTarget, type Target, targetKey } from '../discovery/target.js';
import { LabelLimitError, ParseError } from '../errors.js';
import { remoteWriteTargetLabels, ScrapeSeries, StaleTracker } from '../encode/remote-write.js';
import type { SeriesFilter } from '../filter/index.js';
import { ExpositionParser, SeriesCache } from '../parse/index.js';
import { SampleBatch, type Series } from '../sample.js';
import { ScrapeError, type Scraper } from '../scrape/index.js';
import type { Control } from '../channel/control.js';
import { DropReason, ErrorReason, type SharedCounters, TargetDropReason } from '../channel/counters.js';
import { type DeliveryStage, targetId } from './delivery.js';
import { type Reporter, targetStatus } from './reporter.js';
import { admissionOf, seriesAdmission, settleSeries } from './series-budget.js';

const MAX_TARGET_CACHES = 10_000;
/**
 * Batches kept for reuse (each as large as the largest scrape it held). More scrapes in flight
 * than this allocate their own, which the GC takes back.
 */
const MAX_POOLED_BATCHES = 8;

interface TargetMemory {
  readonly cache: SeriesCache;
  readonly id: string;
  /** The tags every sample of the target gets (remote write adds `job` and `instance`). */
  readonly tags: Readonly<Record<string, string>>;
  /** `up` and the scrape_* series, when the Collector writes them (`scrape.targetSeries`). */
  readonly report: ScrapeSeries | null;
  /** What the last scrape had, when the encoder writes stale markers. */
  readonly stale: StaleTracker | null;
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
      batch.release();
      if (this.#batches.length < MAX_POOLED_BATCHES) this.#batches.push(batch);
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
    let seriesAdded = 0;
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
        admitNewSeries: seriesAdmission(target, counters, spec.seriesBudget).admit,
      });
    try {
      // Parsed chunk by chunk as the body arrives: no chunk outlives its turn.
      const res = await this.#o.scraper.scrape(target.url, this.#o.signal, (chunk, contentType) => {
        parser ??= open(contentType);
        parser.push(chunk);
      });
      bytes = res.bytes;
      parser ??= open(res.contentType);
      const { stats } = parser.end();
      seriesFiltered = stats.filtered;
      seriesAdded = stats.cacheMisses - stats.seriesRefused;
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
      await this.#afterFailure(memory, batch, started);
      return;
    }
    const parsed = batch.length;
    const limit = spec.scrape.sampleLimit;
    if (limit > 0 && parsed > limit) {
      if (spec.scrape.sampleLimitPolicy === 'fail') {
        counters.drop(DropReason.SampleLimit, parsed);
        this.#fail(target, started, bytes, ErrorReason.SampleLimit, new Error(`${parsed} samples, over the limit of ${limit} (scrape.sampleLimit)`));
        await this.#afterFailure(memory, batch, started);
        return;
      }
      counters.drop(DropReason.SampleLimit, parsed - limit);
      batch.length = limit;
    }
    // seriesBudget (series-budget.ts): the samples of refused new series are collected and
    // dropped; under failTarget a refusal fails the scrape whole, every sample dropped.
    const series = batch.length;
    const admission = admissionOf(target);
    if (admission !== undefined && admission.refused > 0) {
      const lost = admission.failed ? series + admission.refused : admission.refused;
      counters.add('collected', lost);
      counters.drop(DropReason.SeriesBudget, lost);
      if (admission.failed) {
        const why = `${admission.refused} new series refused: the Collector's ${spec.seriesBudget.maxSeries} series are taken (seriesBudget.maxSeries, policy failTarget)`;
        this.#fail(target, started, bytes, ErrorReason.SeriesBudget, new Error(why));
        await this.#afterFailure(memory, batch, started);
        return;
      }
    }
    memory.report?.appendTo(batch, {
      up: true,
      durationSeconds: (Date.now() - started) / 1000,
      samplesScraped: parsed + seriesFiltered,
      seriesAdded,
    });
    const collected = batch.length;
    // Samples of series the series filters drop are collected and filtered at once, never held.
    counters.add('collected', collected + seriesFiltered);
    if (seriesFiltered > 0) counters.add('filtered', seriesFiltered);
    held.hold(0, collected);
    const err = await this.#o.delivery.deliver(batch, { time: started, target: memory.id });
    await this.#markStale(memory, batch, started);
    if (err !== null) {
      this.#fail(target, started, bytes, ErrorReason.Encode, err);
      return;
    }
    counters.add('scrapes', 1);
    this.#o.reporter.scrape(targetStatus(target, this.#o.workerIndex, started, bytes, collected, null, settleSeries(target, true, series)));
  }

  #fail(target: Target, started: number, bytes: number, reason: ErrorReason, e: unknown): void {
    const { counters } = this.#o;
    counters.error(reason);
    counters.add('scrapes', 1);
    counters.add('scrapesFailed', 1);
    const message = e instanceof Error ? e.message : String(e);
    this.#o.reporter.scrape(targetStatus(target, this.#o.workerIndex, started, bytes, 0, message, settleSeries(target, false)));
  }

  /**
   * After a failed scrape, as Prometheus does: `up` 0 with the other scrape_* series (when the
   * Collector writes them), and stale markers for every series the last scrape had.
   */
  async #afterFailure(memory: TargetMemory, batch: SampleBatch, started: number): Promise<void> {
    if (memory.report === null && memory.stale === null) return;
    batch.clear();
    if (memory.report !== null) {
      memory.report.appendTo(batch, { up: false, durationSeconds: (Date.now() - started) / 1000, samplesScraped: 0, seriesAdded: 0 });
      this.#o.counters.add('collected', batch.length);
      this.#o.held.hold(0, batch.length);
      // An encoder error here was counted as dropped samples; the scrape failed already.
      await this.#o.delivery.deliver(batch, { time: started, target: memory.id });
    }
    await this.#markStale(memory, batch, started);
  }

  /**
   * Stale markers, at the scrape's time, for the series of the target's last scrape that `batch`
   * (this scrape's samples, as delivered) no longer has; counted like any sample.
   */
  async #markStale(memory: TargetMemory, batch: SampleBatch, started: number): Promise<void> {
    const tracker = memory.stale;
    if (tracker === null) return;
    await this.#deliverStale(memory, tracker.vanished(batch), started);
  }

  async #deliverStale(memory: TargetMemory, series: readonly Series[], time: number): Promise<void> {
    if (series.length === 0) return;
    const { counters, held } = this.#o;
    counters.add('collected', series.length);
    counters.add('staleMarkers', series.length);
    held.hold(0, series.length);
    await this.#o.delivery.deliverStale(series, { time, target: memory.id });
  }

  /**
   * Targets discovery no longer lists (by `targetKey`): their memory is freed and, when the
   * encoder writes them, every series of their last scrape is marked stale now. A target being
   * scraped right now only loses its memory (a marker newer than that scrape's samples would
   * make them out of order).
   */
  async gone(keys: readonly string[]): Promise<void> {
    const now = Date.now();
    for (const key of keys) {
      const m = this.#memory.get(key);
      if (m === undefined) continue;
      this.#memory.delete(key);
      if (m.stale === null || this.#scraping.has(key)) continue;
      await this.#deliverStale(m, m.stale.all(), now);
    }
  }

  /** The target's series cache and id, least recently used evicted past the bound. */
  #remember(key: string, target: Target): TargetMemory {
    const memory = this.#memory;
    let m = memory.get(key);
    if (m !== undefined) {
      memory.delete(key); // re-insert: Map order is the LRU order
    } else {
      const { spec, delivery } = this.#o;
      const remoteWrite = (spec.output as { remoteWrite?: { staleMarkers: boolean } }).remoteWrite;
      const tags = remoteWrite !== undefined ? remoteWriteTargetLabels(target) : target.labels;
      const report = spec.scrape.targetSeries ?? remoteWrite !== undefined;
      const stale = remoteWrite !== undefined && remoteWrite.staleMarkers && delivery.writesStaleMarkers;
      m = {
        cache: new SeriesCache(),
        id: targetId(this.#o.collector, key),
        tags,
        report: report ? new ScrapeSeries(tags) : null,
        stale: stale ? new StaleTracker() : null,
      };
      if (memory.size >= MAX_TARGET_CACHES) {
        const oldest = memory.keys().next();
        if (oldest.done !== true) memory.delete(oldest.value);
      }
    }
    memory.set(key, m);
    return m;
  }
}
