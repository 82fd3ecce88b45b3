// SPDX-License-Identifier: Apache-2.0
/**
 * What a consumer tells the main thread, and how: the per-target status for `/status`, the
 * histogram observations, its sink's health and its buffer's size, batched and posted on the
 * worker's port at most once a second (`REPORT_EVERY_MS`); plus `started` once a consumer is
 * set up (a worker that failed before is healthy again) and `failed` from the pool.
 *
 * Invariant: one `TargetStatus` per target and discovery is kept between posts (the latest);
 * counts are never sent here (they live in shared memory, see counters.ts).
 */
import { redactUrl } from '../net/redact.js';
import { type MessagePort, threadId } from 'node:worker_threads';
import type { Target } from '../discovery/target.js';
import type { ScrapeSeriesCounts } from './series-budget.js';
import type { SinkHealthReport } from './sink-health.js';

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
  /**
   * Distinct series of the scrape: those it delivered a sample for (before the value filters);
   * 0 when it failed. A series listed twice in one body counts twice.
   */
  readonly series: number;
  /**
   * New series (not in the target's series cache) of the successful scrapes since the worker's
   * last report, summed; 0 when it failed. Also what those scrapes reserved of the seriesBudget.
   */
  readonly newSeries: number;
  /** The target's scrape interval (the ledger forgets a target not scraped for 3 of them). */
  readonly intervalMs: number;
  /**
   * On a failed scrape's status: the series of a successful scrape of the target it replaced
   * before the report was posted (whose count the main thread would otherwise never see).
   */
  readonly okSeries?: number;
  readonly error: string | null;
  readonly worker: number;
}

/** What a worker adds to each report besides its scrapes. */
type Extra = { sink?: SinkHealthReport; buffer?: BufferReport; seriesFilters?: readonly { readonly matcher: string; readonly dropped: number }[] };

/** A worker's send buffer, now. */
export interface BufferReport {
  readonly memoryBytes: number;
  readonly memoryMessages: number;
  readonly spoolBytes: number;
  readonly spoolRecords: number;
}

export type ConsumerReport =
  | {
      kind: 'observations';
      workerIndex: number;
      scrapeSeconds: number[];
      queueDelaySeconds: number[];
      targets: TargetStatus[];
      sink?: SinkHealthReport;
      buffer?: BufferReport;
      /** Samples each series filter matcher dropped since the worker started (totals). */
      seriesFilters?: readonly { readonly matcher: string; readonly dropped: number }[];
    }
  | { kind: 'started'; workerIndex: number; threadId?: number }
  | { kind: 'failed'; workerIndex: number; message: string }
  | { kind: 'done'; workerIndex: number };

export const REPORT_EVERY_MS = 1000;

/**
 * The status of one scrape of `target`: `up` when `error` is null. `counts` (series-budget.ts
 * `settleSeries`): its series and new series; without them, one series per sample.
 */
export function targetStatus(
  target: Target,
  worker: number,
  started: number,
  bytes: number,
  samples: number,
  error: string | null,
  counts?: ScrapeSeriesCounts,
): TargetStatus {
  return {
    url: redactUrl(target.url),
    labels: target.labels,
    discovery: target.discovery,
    up: error === null,
    lastScrape: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    bytes,
    samples,
    series: counts?.series ?? samples,
    newSeries: counts?.newSeries ?? 0,
    intervalMs: target.intervalMs,
    error,
    worker,
  };
}

/** Batches what the main thread wants to know and posts it at most once a second. */
export class Reporter {
  readonly #port: MessagePort;
  readonly #worker: number;
  readonly #extra: () => Extra;
  #scrapes: number[] = [];
  #delays: number[] = [];
  #targets = new Map<string, TargetStatus>();
  #last = Date.now();

  constructor(port: MessagePort, worker: number, extra: () => Extra = () => ({})) {
    this.#port = port;
    this.#worker = worker;
    this.#extra = extra;
  }

  started(): void {
    this.#port.postMessage({ kind: 'started', workerIndex: this.#worker, threadId } satisfies ConsumerReport);
  }

  queueDelay(seconds: number): void {
    this.#delays.push(seconds);
  }

  scrape(status: TargetStatus): void {
    this.#scrapes.push(status.durationMs / 1000);
    const key = `${status.url}\u0000${status.discovery}`;
    // The latest status wins, but the new series of the one it replaces are added up: the main
    // thread releases what they reserved of the seriesBudget from these sums.
    const prev = this.#targets.get(key);
    if (prev !== undefined && prev.newSeries > 0) status = { ...status, newSeries: status.newSeries + prev.newSeries };
    if (prev !== undefined && !status.up) {
      const okSeries = prev.up ? prev.series : prev.okSeries;
      if (okSeries !== undefined) status = { ...status, okSeries };
    }
    this.#targets.set(key, status);
    this.maybeFlush();
  }

  maybeFlush(): void {
    if (Date.now() - this.#last >= REPORT_EVERY_MS) this.flush();
  }

  flush(): void {
    this.#last = Date.now();
    const extra = this.#extra();
    if (this.#scrapes.length === 0 && this.#delays.length === 0 && this.#targets.size === 0 && extra.sink === undefined && extra.buffer === undefined) return;
    const report: ConsumerReport = {
      kind: 'observations',
      workerIndex: this.#worker,
      scrapeSeconds: this.#scrapes,
      queueDelaySeconds: this.#delays,
      targets: [...this.#targets.values()],
      ...extra,
    };
    this.#port.postMessage(report);
    this.#scrapes = [];
    this.#delays = [];
    this.#targets = new Map();
  }
}
