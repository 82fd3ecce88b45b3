// SPDX-License-Identifier: Apache-2.0
/**
 * Strata's self-metrics (`strata_*`), on a prom-client `Registry` of their own (never the
 * global one, so two instances in one process, as in tests, do not collide).
 *
 * Per-collector counters and gauges are not kept here: each collector registers a source, a
 * function reading its current totals (from shared memory, without any message round trip),
 * and every exposition calls each source once and publishes what it read. So the numbers on
 * `/metrics` are exactly the totals at scrape time, and a source's counters must be monotonic
 * (the registry's shared counters are, across pool replacements). Histograms cannot be rebuilt
 * from totals: scrape durations and queue delays are fed as observations (`observe*`), which
 * the main thread forwards from the workers' batched reports.
 *
 * Every per-collector metric has a `collector` label (`namespace/name`). Reasons are bounded:
 * a reason must look like a label value we would choose (`[a-z][a-z0-9_]*`, at most 64 bytes)
 * and each metric keeps at most `maxReasons` distinct ones (64 by default); anything else is
 * counted under `other`. `unregisterCollectorSource()` removes a collector's series from every
 * metric, histograms included.
 *
 * Metrics (counters end in `_total`):
 * - every scalar counter with a metric in `SCALARS` (src/channel/counters.ts) {collector}:
 *   strata_samples_collected_total, _filtered_total, _clamped_total, _sent_total,
 *   _replayed_total, strata_messages_sent_total, strata_worker_failures_total, ...
 * - strata_errors_total, strata_samples_dropped_total, strata_targets_dropped_total {collector, reason}
 * - strata_sink_failures_total {collector, code}: failed sends by the sink's bounded code
 * - strata_targets_up, strata_channel_depth, strata_buffer_bytes, strata_spool_bytes {collector} (gauges)
 * - strata_scrape_duration_seconds, strata_queue_delay_seconds {collector} (histograms)
 * - strata_event_loop_delay_seconds {stat="p50"|"p99"|"max"}: the main thread's event-loop delay
 *   (perf_hooks.monitorEventLoopDelay) since the previous exposition
 * - strata_telemetry_source_errors_total {collector}: sources that threw (their collector is
 *   left out of that exposition rather than failing it)
 * - strata_discovery_runs_skipped_total {discovery}: discovery runs skipped because the previous
 *   run of the same Discovery was still going when it was due (`runsSkipped`)
 * - prom-client's default process metrics, prefixed `strata_`.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REASON_METRICS, SCALARS, type Scalar } from '../channel/counters.js';

/**
 * A collector's totals since it was created, as its source reads them: the shared counters
 * (each declared once, in `SCALARS` and `REASON_METRICS` of src/channel/counters.ts; a missing
 * one reads 0), and what the main thread keeps of the collector.
 */
export type CollectorTotals = { readonly [K in Scalar]?: number } & {
  readonly [K in keyof typeof REASON_METRICS]?: Readonly<Record<string, number>>;
} & {
  /** Failed sends by the sink's bounded code (`ENOSPC`, `http_503`, `timeout`, ...). */
  readonly sinkFailures?: Readonly<Record<string, number>>;
  /** Targets whose last scrape succeeded. */
  readonly targetsUp: number;
  /** Targets waiting in the collector's channel. */
  readonly channelDepth: number;
  /** Bytes of encoded messages waiting in the workers' memory buffers, and in their spools. */
  readonly bufferBytes?: number;
  readonly spoolBytes?: number;
};

/**
 * Default resolution of the event-loop delay monitor: it wakes the main thread this often, and
 * each wake-up is a cost on a collector whose main thread has little else to do (~100 µs of CPU
 * each on the 2-core virtual machines we measure on: at 20 ms the main thread woke 58 times a
 * second and took ~12% of the collector's CPU at 40k samples/s, at 100 ms 18 times and ~8%;
 * prom-client's default is 10 ms). It samples how late a timer runs, 10 times a second: a stall
 * delays the tick due in it by the stall less up to this much (its phase), and a stall shorter
 * than this may fall between ticks and go unseen.
 */
export const EVENT_LOOP_RESOLUTION_MS = 100;

export interface StrataMetricsOptions {
  /** Register prom-client's default process metrics (prefix `strata_`); default true. */
  readonly defaultMetrics?: boolean;
  /** Most distinct reasons a metric keeps before counting new ones as `other`; default 64. */
  readonly maxReasons?: number;
  /**
   * Resolution of the event-loop delay monitors (Strata's and prom-client's, which then wake
   * the loop together) in milliseconds; default `EVENT_LOOP_RESOLUTION_MS`.
   */
  readonly eventLoopResolutionMs?: number;
  /** Bucket bounds (seconds) of strata_scrape_duration_seconds. */
  readonly scrapeDurationBuckets?: readonly number[];
  /** Bucket bounds (seconds) of strata_queue_delay_seconds. */
  readonly queueDelayBuckets?: readonly number[];
}

export const SCRAPE_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] as const;
export const QUEUE_DELAY_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300] as const;

/** Label value for reasons beyond the bound, or not shaped like a reason. */
export const OTHER_REASON = 'other';
const REASON_SHAPE = /^[a-z][a-z0-9_]{0,63}$/;
/** A sink failure code: an errno (`ENOSPC`), `http_503`, or a sink's own word. */
const CODE_SHAPE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

type Source = () => CollectorTotals;

/** Keeps the set of reasons a metric exposes bounded. */
class ReasonBound {
  readonly #seen = new Set<string>();
  readonly #max: number;
  readonly #shape: RegExp;
  constructor(max: number, shape: RegExp) {
    this.#max = max;
    this.#shape = shape;
  }
  label(reason: string): string {
    if (this.#seen.has(reason)) return reason;
    if (!this.#shape.test(reason) || this.#seen.size >= this.#max) return OTHER_REASON;
    this.#seen.add(reason);
    return reason;
  }
}

export class StrataMetrics {
  readonly registry: Registry;
  readonly #sources = new Map<string, Source>();
  /** Totals read once per exposition, shared by every metric's collect(). */
  #snapshot: Map<string, CollectorTotals> | null = null;
  #snapshotUsers = 0;
  readonly #loop: IntervalHistogram;
  readonly #scrapeDuration: Histogram<'collector'>;
  readonly #queueDelay: Histogram<'collector'>;
  readonly #sourceErrors: Counter<'collector'>;
  readonly #runsSkipped: Counter<'discovery'>;
  #closed = false;

  constructor(options: StrataMetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    const maxReasons = options.maxReasons ?? 64;
    const registers = [registry];
    const totals = (): Map<string, CollectorTotals> => this.#snapshot ?? this.#read();

    const scalar = (name: string, help: string, pick: (t: CollectorTotals) => number): void => {
      new Counter({
        name,
        help,
        labelNames: ['collector'] as const,
        registers,
        collect() {
          this.reset();
          for (const [collector, t] of totals()) this.inc({ collector }, nonNegative(pick(t)));
        },
      });
    };
    const gauge = (name: string, help: string, pick: (t: CollectorTotals) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['collector'] as const,
        registers,
        collect() {
          this.reset();
          for (const [collector, t] of totals()) this.set({ collector }, pick(t));
        },
      });
    };
    const byReason = (
      name: string,
      help: string,
      label: 'reason' | 'code',
      pick: (t: CollectorTotals) => Readonly<Record<string, number>> | undefined,
    ): void => {
      const bound = new ReasonBound(maxReasons, label === 'code' ? CODE_SHAPE : REASON_SHAPE);
      new Counter({
        name,
        help,
        labelNames: ['collector', label] as const,
        registers,
        collect() {
          this.reset();
          for (const [collector, t] of totals()) {
            const counts = pick(t);
            if (counts === undefined) continue;
            for (const reason in counts) this.inc({ collector, [label]: bound.label(reason) }, nonNegative(counts[reason] as number));
          }
        },
      });
    };
    for (const [field, c] of Object.entries(REASON_METRICS) as [keyof typeof REASON_METRICS, (typeof REASON_METRICS)[keyof typeof REASON_METRICS]][]) {
      byReason(c.metric, c.help, 'reason', (t) => t[field]);
    }
    byReason('strata_sink_failures_total', "Failed sends (answered retry or reject), by the sink's bounded code.", 'code', (t) => t.sinkFailures);

    for (const [name, c] of Object.entries(SCALARS) as [Scalar, (typeof SCALARS)[Scalar]][]) {
      if (c.metric === null) continue;
      const scale = 'scale' in c ? c.scale : 1;
      const pick = (t: CollectorTotals): number => (t[name] ?? 0) * scale;
      if ('gauge' in c && c.gauge) gauge(c.metric, c.help, pick);
      else scalar(c.metric, c.help, pick);
    }

    gauge('strata_targets_up', 'Targets whose last scrape succeeded.', (t) => t.targetsUp);
    gauge('strata_channel_depth', "Targets waiting in the collector's channel.", (t) => t.channelDepth);
    gauge('strata_buffer_bytes', "Bytes of encoded messages waiting in the workers' memory buffers.", (t) => t.bufferBytes ?? 0);
    gauge('strata_spool_bytes', "Bytes in the workers' on-disk spools.", (t) => t.spoolBytes ?? 0);

    this.#scrapeDuration = new Histogram({
      name: 'strata_scrape_duration_seconds',
      help: 'Time to scrape, parse, filter, encode and hand over one target, in seconds.',
      labelNames: ['collector'] as const,
      buckets: [...(options.scrapeDurationBuckets ?? SCRAPE_DURATION_BUCKETS)],
      registers,
    });
    this.#queueDelay = new Histogram({
      name: 'strata_queue_delay_seconds',
      help: 'Time from queueing a target to a worker taking it, in seconds.',
      labelNames: ['collector'] as const,
      buckets: [...(options.queueDelayBuckets ?? QUEUE_DELAY_BUCKETS)],
      registers,
    });
    this.#sourceErrors = new Counter({
      name: 'strata_telemetry_source_errors_total',
      help: 'Times reading a collector source threw; its collector was left out of that exposition.',
      labelNames: ['collector'] as const,
      registers,
    });

    this.#runsSkipped = new Counter({
      name: 'strata_discovery_runs_skipped_total',
      help: 'Discovery runs skipped because the previous run was still going when they were due.',
      labelNames: ['discovery'] as const,
      registers,
    });

    const resolution = options.eventLoopResolutionMs ?? EVENT_LOOP_RESOLUTION_MS;
    const loop = monitorEventLoopDelay({ resolution });
    loop.enable();
    this.#loop = loop;
    new Gauge({
      name: 'strata_event_loop_delay_seconds',
      help: "The main thread's event-loop delay since the previous exposition, in seconds (p50, p99, max).",
      labelNames: ['stat'] as const,
      registers,
      collect() {
        // The monitor records the time between its ticks, which includes its own resolution;
        // the delay is what is beyond it.
        const delay = (ns: number): number => (loop.count === 0 ? 0 : Math.max(0, ns / 1e6 - resolution) / 1e3);
        this.set({ stat: 'p50' }, delay(loop.percentile(50)));
        this.set({ stat: 'p99' }, delay(loop.percentile(99)));
        this.set({ stat: 'max' }, delay(loop.max));
        loop.reset();
      },
    });

    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'strata_', eventLoopMonitoringPrecision: resolution });
  }

  /** The Content-Type of `metrics()`. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * Publishes `read()`'s totals under `collector="<collectorKey>"` from now on. Registering a
   * key again replaces its source (the numbers must carry on from the old source's).
   */
  registerCollectorSource(collectorKey: string, read: () => CollectorTotals): void {
    this.#sources.set(collectorKey, read);
  }

  /** Stops publishing a collector and removes its series from every metric. */
  unregisterCollectorSource(collectorKey: string): boolean {
    const had = this.#sources.delete(collectorKey);
    this.#scrapeDuration.remove({ collector: collectorKey });
    this.#queueDelay.remove({ collector: collectorKey });
    this.#sourceErrors.remove({ collector: collectorKey });
    return had;
  }

  /** Collector keys with a source. */
  collectorKeys(): string[] {
    return [...this.#sources.keys()];
  }

  observeScrapeDuration(collectorKey: string, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.#scrapeDuration.observe({ collector: collectorKey }, seconds);
  }

  observeQueueDelay(collectorKey: string, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.#queueDelay.observe({ collector: collectorKey }, seconds);
  }

  /** Counts `count` skipped runs of a Discovery (`namespace/name`); 0 makes its series exist. */
  runsSkipped(discovery: string, count: number): void {
    if (Number.isFinite(count) && count >= 0) this.#runsSkipped.inc({ discovery }, count);
  }

  /** The exposition (Prometheus text 0.0.4); every source is read exactly once. */
  async metrics(): Promise<string> {
    if (this.#snapshotUsers++ === 0) this.#snapshot = this.#read();
    try {
      return await this.registry.metrics();
    } finally {
      if (--this.#snapshotUsers === 0) this.#snapshot = null;
    }
  }

  /** Stops the event-loop monitor. The registry stays readable. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#loop.disable();
  }

  #read(): Map<string, CollectorTotals> {
    const out = new Map<string, CollectorTotals>();
    for (const [key, read] of this.#sources) {
      try {
        out.set(key, read());
      } catch {
        this.#sourceErrors.inc({ collector: key });
      }
    }
    return out;
  }
}

/** Counters cannot go below zero; a negative or non-finite total is shown as 0. */
function nonNegative(v: number): number {
  return Number.isFinite(v) && v > 0 ? v : 0;
}
