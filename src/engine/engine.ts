// SPDX-License-Identifier: Apache-2.0
/**
 * The standalone engine behind `strata run -f FILE`: reads Collectors and Discoveries from YAML
 * files, reconciles the registry and the discovery services with them, serves self-metrics and
 * status, and re-applies the files when they change.
 *
 * Reconciling applies a diff: only resources whose spec changed are replaced; a replaced
 * Collector keeps its channel and queued targets (see the registry). An edit that does not
 * validate is rejected with all its errors and the running configuration stays.
 *
 * Shutdown (`stop()`): discovery stops first (nothing new is queued), then every pool finishes
 * what it holds within the grace period and flushes its sink; counters are final after it.
 *
 * Loud failures: before a Collector's pool starts, the files its `tls` names must be readable
 * PEM (else the change is rejected with a ConfigError naming the field, `spec.tls.ca`). A worker that fails is
 * logged with the reason, shown in `/status` (`workers.failed`) and fails `/readyz` for its
 * Collector until it starts again. A sink's failures are counted by code
 * (`strata_sink_failures_total`), the last one is in `/status` (`sink.lastError`), a line goes
 * to stderr at most once per Collector per `SINK_LOG_EVERY_MS` (saying how many more were not
 * shown), and a Collector whose sink has failed every send for `SINK_FAILING_UNREADY_MS` fails
 * `/readyz` with the reason.
 */
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { CollectorPool } from '../pool/pool.js';
import type { ConsumerReport, TargetStatus } from '../collector/consumer.js';
import { type CounterSnapshot, total } from '../channel/counters.js';
import type { BufferReport } from '../collector/reporter.js';
import type { SinkFailure } from '../collector/sink-health.js';
import { ConfigError } from '../errors.js';
import { type Collector, type Discovery, formatResourceError, parseResources, type Resource } from '../config/index.js';
import { DiscoveryService } from '../discovery/service.js';
import type { DiscoveredTarget, TargetSource } from '../discovery/source.js';
import { redactUrlsIn } from '../net/redact.js';
import { Registry } from '../registry/registry.js';
import { checkScrapeAuthFiles, readFileTls } from '../scrape/index.js';
import { StrataMetrics } from '../telemetry/index.js';
import { SeriesLedger, type SeriesStatusView } from '../registry/series-ledger.js';

export interface EngineOptions {
  readonly files: readonly string[];
  /** Grace period for pools to finish what they hold on replace, delete and shutdown. */
  readonly graceMs?: number;
  /** Re-read the files when they change. Default true. */
  readonly watch?: boolean;
  /** How often the files are checked for changes. Default 1000 ms. */
  readonly watchIntervalMs?: number;
  readonly log?: (line: string) => void;
  readonly metrics?: StrataMetrics;
  /** Spread each discovery run's targets over its interval (default true; see DiscoveryService). */
  readonly spreadTargets?: boolean;
  /** The clock of the health checks (tests). */
  readonly now?: () => number;
  /** The target sources of a Discovery; default its static targets and target files (`strata operator` adds Kubernetes). */
  readonly sources?: (d: Discovery) => TargetSource[];
  /** Which discovered targets this process scrapes (shards); default all. */
  readonly accept?: (t: DiscoveredTarget) => boolean;
}

/** A Collector's status: the DESIGN fields, every shared counter, and its health. */
export type CollectorStatusView = CounterSnapshot & {
  readonly id: string;
  readonly enabled: boolean;
  readonly registeredDiscoveries: number;
  readonly inFlightResources: number;
  readonly metricsCollected: number;
  readonly totalSent: number;
  readonly totalErrors: number;
  readonly totalFiltered: number;
  readonly totalClamped: number;
  readonly totalDropped: number;
  readonly channelDepth: number;
  readonly channelCapacity: number;
  /** Seconds of the workers' paced GCs (`pacedGcMicrosTotal` in seconds). */
  readonly pacedGcSeconds: number;
  readonly targetsUp: number;
  readonly targets: readonly TargetStatus[];
  /** False with `notReady` saying why when this Collector fails `/readyz`. */
  readonly ready: boolean;
  readonly notReady: readonly string[];
  readonly sink: SinkStatusView;
  readonly workerStatus: { readonly failed: readonly { readonly worker: number; readonly error: string; readonly at: string }[] };
  /** The workers' send buffers, summed. */
  readonly buffer: BufferReport;
  /** Samples each series filter matcher dropped (`filters.dropSeries[0]`, `filters.keepSeries`). */
  readonly seriesFilters: Readonly<Record<string, number>>;
  /** Active series, and the top 10 targets by active series and by new series (series-ledger.ts). */
  readonly series: SeriesStatusView;
};

export interface SinkStatusView {
  /** Failed sends by code since the Collector was created. */
  readonly failures: Readonly<Record<string, number>>;
  readonly lastError: { readonly code: string; readonly reason: string; readonly at: string; readonly result: string } | null;
  /** Since when every send has failed (no success since); null when the last send succeeded. */
  readonly failingSince: string | null;
}

/** A stderr line about a Collector's sink at most this often. */
export const SINK_LOG_EVERY_MS = 10_000;
/** A Collector whose sink has failed every send for this long fails `/readyz`. */
export const SINK_FAILING_UNREADY_MS = 30_000;

/** What the main thread keeps of a Collector's workers (from their reports). */
class CollectorHealth {
  readonly sinkFailures: Record<string, number> = {};
  lastSinkError: SinkFailure | null = null;
  readonly sinkByWorker = new Map<number, { lastOkAt: number | null; failingSince: number | null }>();
  readonly buffers = new Map<number, BufferReport>();
  /** Per worker: samples each series filter matcher dropped (totals since the worker started). */
  readonly seriesFilters = new Map<number, readonly { readonly matcher: string; readonly dropped: number }[]>();
  readonly failedWorkers = new Map<number, { error: string; at: number }>();
  lastSinkLogAt = 0;
  suppressedSinkLines = 0;

  /** Since when no worker's send has succeeded while some failed; null when not failing. */
  failingSince(): number | null {
    let lastOk = -1;
    let since: number | null = null;
    for (const w of this.sinkByWorker.values()) {
      if (w.lastOkAt !== null && w.lastOkAt > lastOk) lastOk = w.lastOkAt;
      if (w.failingSince !== null && (since === null || w.failingSince < since)) since = w.failingSince;
    }
    return since !== null && lastOk < since ? since : null;
  }

  /** Samples dropped by each series filter matcher, summed over the workers. */
  seriesFilterDrops(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const stats of this.seriesFilters.values()) for (const s of stats) out[s.matcher] = (out[s.matcher] ?? 0) + s.dropped;
    return out;
  }

  buffer(): BufferReport {
    const b = { memoryBytes: 0, memoryMessages: 0, spoolBytes: 0, spoolRecords: 0 };
    for (const r of this.buffers.values()) {
      b.memoryBytes += r.memoryBytes;
      b.memoryMessages += r.memoryMessages;
      b.spoolBytes += r.spoolBytes;
      b.spoolRecords += r.spoolRecords;
    }
    return b;
  }
}

export class ConfigRejected extends Error {
  readonly errors: readonly string[];
  constructor(errors: readonly string[]) {
    super(`configuration rejected:\n${errors.join('\n')}`);
    this.errors = errors;
  }
}

export class Engine {
  readonly metrics: StrataMetrics;
  readonly registry: Registry;
  readonly #options: EngineOptions;
  readonly #log: (line: string) => void;
  readonly #discoveries = new Map<string, DiscoveryService>();
  readonly #targets = new Map<string, Map<string, TargetStatus>>();
  readonly #health = new Map<string, CollectorHealth>();
  /** Per Collector: its targets' active series (the seriesBudget's main-thread side). */
  readonly #ledgers = new Map<string, SeriesLedger>();
  readonly #now: () => number;
  #applied = new Map<string, Resource>();
  #reloading: Promise<void> = Promise.resolve();
  #lastContents = '';
  #started = false;
  #stopped = false;
  /** Reloads applied and rejected since start. */
  reloads = { applied: 0, rejected: 0 };

  constructor(options: EngineOptions) {
    this.#options = options;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.metrics = options.metrics ?? new StrataMetrics();
    this.#now = options.now ?? Date.now;
    this.registry = new Registry({
      graceMs: options.graceMs ?? 10_000,
      poolFactory: (ctx) => new CollectorPool(ctx, { onReport: (key, report) => this.#onReport(key, report) }),
    });
  }

  get ready(): boolean {
    return this.readiness().ready;
  }

  /** Whether `/readyz` answers 200, and if not, why (one line per reason). */
  readiness(): { ready: boolean; reasons: string[] } {
    if (!this.#started) return { ready: false, reasons: ['starting'] };
    if (this.#stopped) return { ready: false, reasons: ['stopping'] };
    const reasons: string[] = [];
    for (const rt of this.registry.collectors()) {
      if (rt.resource.spec.enabled) reasons.push(...this.#notReady(rt.key));
    }
    return { ready: reasons.length === 0, reasons };
  }

  #notReady(key: string): string[] {
    const h = this.#health.get(key);
    if (h === undefined) return [];
    const out: string[] = [];
    for (const [worker, f] of h.failedWorkers) out.push(`collector ${key}: worker ${worker} failed: ${f.error}`);
    const since = h.failingSince();
    if (since !== null && this.#now() - since >= SINK_FAILING_UNREADY_MS) {
      const last = h.lastSinkError;
      const why = last === null ? 'no detail' : `${last.code}: ${last.reason}`;
      out.push(`collector ${key}: every send has failed for ${Math.round((this.#now() - since) / 1000)} s (last: ${why})`);
    }
    return out;
  }

  /**
   * Applies a whole desired set of resources as a diff (`strata operator`'s source of resources),
   * after any apply or reload in progress. Throws ConfigRejected when a Collector's files cannot
   * be read; the running configuration then stays.
   */
  applyResources(resources: readonly Resource[]): Promise<void> {
    const applied = this.#reloading.then(() => (this.#stopped ? undefined : this.#apply(resources)));
    this.#reloading = applied.catch(() => {});
    return applied;
  }

  /** The discovery services running. */
  discoveries(): readonly DiscoveryService[] {
    return [...this.#discoveries.values()];
  }

  /** Loads the files and starts everything. Throws ConfigRejected when they do not validate. */
  async start(): Promise<void> {
    const resources = (await this.#load()) as Resource[];
    await this.#apply(resources);
    this.#started = true;
    if (this.#options.watch !== false) {
      for (const f of this.#options.files) {
        watchFile(f, { interval: this.#options.watchIntervalMs ?? 1000 }, () => {
          void this.reload();
        });
      }
    }
  }

  /** Re-reads the files; applies the change as a diff, or logs why it was rejected. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      if (this.#stopped) return;
      try {
        const resources = await this.#load(true);
        if (resources === null) return; // the files did not change
        await this.#apply(resources);
        this.reloads.applied++;
        this.#log('strata: configuration reloaded');
      } catch (e) {
        this.reloads.rejected++;
        const errors = e instanceof ConfigRejected ? e.errors : [(e as Error).message];
        this.#log(redactUrlsIn(`strata: configuration change rejected, keeping the running configuration:\n  ${errors.join('\n  ')}`));
      }
    });
    return this.#reloading;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const f of this.#options.files) unwatchFile(f);
    await this.#reloading;
    await Promise.all([...this.#discoveries.values()].map((d) => d.stop()));
    await this.registry.close();
    for (const key of this.#targets.keys()) this.metrics.unregisterCollectorSource(key);
  }

  status(): unknown {
    const collectors = this.registry.collectors().map((rt) => ({
      name: rt.resource.metadata.name,
      namespace: rt.resource.metadata.namespace,
      status: this.collectorStatus(rt.key),
    }));
    const discoveries = [...this.#discoveries.values()].map((d) => ({
      name: d.resource.metadata.name,
      namespace: d.resource.metadata.namespace,
      status: d.status(),
    }));
    return { collectors, discoveries, reloads: this.reloads };
  }

  collectorStatus(key: string): CollectorStatusView | undefined {
    const rt = this.registry.get(key);
    if (rt === undefined) return undefined;
    // Before the snapshot: expiring targets changes activeSeries.
    const series = this.#ledger(key)?.view() ?? { active: 0, targets: 0, topActive: [], topNewSeries: [] };
    const c = rt.counters.snapshot();
    const targets = [...(this.#targets.get(key)?.values() ?? [])];
    let registered = 0;
    for (const d of this.#discoveries.values()) {
      if (d.resource.spec.collector.some((r) => `${r.namespace}/${r.name}` === key)) registered++;
    }
    const h = this.#health.get(key) ?? new CollectorHealth();
    const since = h.failingSince();
    const last = h.lastSinkError;
    const notReady = rt.resource.spec.enabled ? this.#notReady(key) : [];
    return {
      ...c,
      id: rt.id,
      enabled: rt.resource.spec.enabled,
      registeredDiscoveries: registered,
      inFlightResources: rt.channel.size + c.inFlight,
      metricsCollected: c.collected,
      totalSent: c.sent,
      totalErrors: total(c.errors),
      totalFiltered: c.filtered,
      totalClamped: c.clamped,
      totalDropped: total(c.dropped),
      channelDepth: rt.channel.size,
      channelCapacity: rt.channel.capacity,
      pacedGcSeconds: c.pacedGcMicrosTotal / 1e6,
      targetsUp: targets.filter((t) => t.up).length,
      targets,
      ready: notReady.length === 0,
      notReady,
      sink: {
        failures: { ...h.sinkFailures },
        lastError: last === null ? null : { code: last.code, reason: last.reason, at: new Date(last.at).toISOString(), result: last.result },
        failingSince: since === null ? null : new Date(since).toISOString(),
      },
      workerStatus: {
        failed: [...h.failedWorkers].map(([worker, f]) => ({ worker, error: f.error, at: new Date(f.at).toISOString() })),
      },
      buffer: h.buffer(),
      seriesFilters: h.seriesFilterDrops(),
      series,
    };
  }

  /** Reads and validates the files; null when `skipUnchanged` and they are as last read. */
  async #load(skipUnchanged = false): Promise<Resource[] | null> {
    const all: Resource[] = [];
    const errors: string[] = [];
    const texts: string[] = [];
    for (const f of this.#options.files) {
      let text: string;
      try {
        text = await readFile(f, 'utf8');
      } catch (e) {
        errors.push(`${f}: ${(e as Error).message}`);
        continue;
      }
      texts.push(text);
      const parsed = parseResources(text, f);
      all.push(...parsed.resources);
      errors.push(...parsed.errors.map(formatResourceError));
    }
    const contents = texts.join('\u0000');
    if (skipUnchanged && contents === this.#lastContents) return null;
    this.#lastContents = contents;
    if (errors.length > 0) throw new ConfigRejected(errors);
    return all;
  }

  async #apply(resources: readonly Resource[]): Promise<void> {
    const next = new Map<string, Resource>();
    for (const r of resources) next.set(`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r);
    const prev = this.#applied;
    const changed = (k: string, r: Resource): boolean => {
      const p = prev.get(k);
      return p === undefined || !isDeepStrictEqual(p.spec, r.spec);
    };
    // Removed discoveries stop first: nothing queues to a collector about to go.
    for (const [k, r] of prev) {
      if (r.kind === 'Discovery' && !next.has(k)) (await this.#stopDiscovery(k))?.retire();
    }
    // Files a Collector names must be readable before its pool starts: a worker could not use them.
    const unreadable: string[] = [];
    for (const [k, r] of next) {
      if (r.kind === 'Collector' && changed(k, r)) {
        for (const e of await checkCollectorFiles(r)) unreadable.push(`Collector ${r.metadata.namespace}/${r.metadata.name}: ${e.message}`);
      }
    }
    if (unreadable.length > 0) throw new ConfigRejected(unreadable);
    for (const [k, r] of next) {
      if (r.kind === 'Collector' && changed(k, r)) await this.#applyCollector(r);
    }
    for (const [k, r] of next) {
      if (r.kind === 'Discovery' && changed(k, r)) await this.#applyDiscovery(k, r);
    }
    for (const [k, r] of prev) {
      if (r.kind === 'Collector' && !next.has(k)) await this.#deleteCollector(`${r.metadata.namespace}/${r.metadata.name}`);
    }
    this.#applied = next;
  }

  async #applyCollector(r: Collector): Promise<void> {
    const key = `${r.metadata.namespace}/${r.metadata.name}`;
    const isNew = this.registry.get(key) === undefined;
    const h = this.#health.get(key);
    if (h !== undefined) {
      // A new pool: its workers report afresh (failure counts and the last error stay).
      h.sinkByWorker.clear();
      h.buffers.clear();
      h.failedWorkers.clear();
    }
    await this.registry.applyCollector(r);
    if (isNew) {
      this.#targets.set(key, new Map());
      this.#health.set(key, new CollectorHealth());
      this.metrics.registerCollectorSource(key, () => {
        const s = this.collectorStatus(key);
        if (s === undefined) return { targetsUp: 0, channelDepth: 0 };
        const b = s.buffer;
        return { ...s, sinkFailures: s.sink.failures, bufferBytes: b.memoryBytes, spoolBytes: b.spoolBytes };
      });
    }
  }

  async #deleteCollector(key: string): Promise<void> {
    await this.registry.deleteCollector(key);
    this.metrics.unregisterCollectorSource(key);
    this.#targets.delete(key);
    this.#health.delete(key);
    this.#ledgers.delete(key);
  }

  async #applyDiscovery(k: string, r: Discovery): Promise<void> {
    const old = await this.#stopDiscovery(k);
    const service = new DiscoveryService(r, this.registry, {
      ...(old === undefined ? {} : { listed: old.listed }),
      spread: this.#options.spreadTargets ?? true,
      metrics: this.metrics,
      ...(this.#options.sources === undefined ? {} : { sources: this.#options.sources(r) }),
      ...(this.#options.accept === undefined ? {} : { accept: this.#options.accept }),
    });
    this.#discoveries.set(k, service);
    service.start();
  }

  /** Stops the Discovery's service; returns it (what it listed hands over to a replacement). */
  async #stopDiscovery(k: string): Promise<DiscoveryService | undefined> {
    const d = this.#discoveries.get(k);
    if (d === undefined) return undefined;
    this.#discoveries.delete(k);
    await d.stop();
    return d;
  }

  #onReport(key: string, report: ConsumerReport): void {
    const h = this.#health.get(key);
    if (report.kind === 'failed') {
      const which = report.workerIndex < 0 ? 'a worker thread failed' : `worker ${report.workerIndex} failed (it starts again on a new thread)`;
      this.#log(`strata: collector ${key} ${which}: ${report.message}`);
      if (report.workerIndex >= 0) h?.failedWorkers.set(report.workerIndex, { error: report.message, at: this.#now() });
      return;
    }
    if (report.kind === 'started') {
      this.#ledger(key)?.workerStarted(report.workerIndex);
      h?.failedWorkers.delete(report.workerIndex);
      return;
    }
    if (report.kind !== 'observations') return;
    for (const s of report.scrapeSeconds) this.metrics.observeScrapeDuration(key, s);
    for (const s of report.queueDelaySeconds) this.metrics.observeQueueDelay(key, s);
    if (h !== undefined) {
      if (report.buffer !== undefined) h.buffers.set(report.workerIndex, report.buffer);
      if (report.seriesFilters !== undefined) h.seriesFilters.set(report.workerIndex, report.seriesFilters);
      if (report.sink !== undefined) this.#onSinkReport(key, h, report.workerIndex, report.sink);
    }
    const targets = this.#targets.get(key);
    if (targets === undefined) return;
    for (const t of report.targets) targets.set(`${t.url}\u0000${t.discovery}`, t);
    const ledger = this.#ledger(key);
    if (ledger !== undefined) for (const t of report.targets) ledger.report(t);
  }

  /** The Collector's series ledger, made on first use; undefined once the Collector is gone. */
  #ledger(key: string): SeriesLedger | undefined {
    let l = this.#ledgers.get(key);
    if (l === undefined) {
      const rt = this.registry.get(key);
      if (rt === undefined) return undefined;
      l = new SeriesLedger(rt.counters, this.#now);
      this.#ledgers.set(key, l);
    }
    return l;
  }

  #onSinkReport(key: string, h: CollectorHealth, worker: number, r: NonNullable<Extract<ConsumerReport, { kind: 'observations' }>['sink']>): void {
    let failed = 0;
    for (const code in r.failures) {
      const n = r.failures[code] as number;
      h.sinkFailures[code] = (h.sinkFailures[code] ?? 0) + n;
      failed += n;
    }
    h.sinkByWorker.set(worker, { lastOkAt: r.lastOkAt, failingSince: r.failingSince });
    if (failed === 0 || r.lastFailure === null) return;
    h.lastSinkError = r.lastFailure;
    const now = this.#now();
    if (now - h.lastSinkLogAt < SINK_LOG_EVERY_MS) {
      h.suppressedSinkLines += failed;
      return;
    }
    const more = h.suppressedSinkLines + failed - 1;
    const f = r.lastFailure;
    const what = f.result === 'reject' ? 'rejected a send (its samples are dropped, sink_rejected)' : 'failed a send (it is retried)';
    const suppressed = more > 0 ? `; ${more} more failed sends not shown (at most one line per ${SINK_LOG_EVERY_MS / 1000} s)` : '';
    this.#log(`strata: collector ${key}: the sink ${what}: ${f.code}: ${f.reason}${suppressed}`);
    h.lastSinkLogAt = now;
    h.suppressedSinkLines = 0;
  }
}

/**
 * The files a Collector names that its workers read at start (`tls.ca`, `tls.cert`, `tls.key`),
 * read and checked here as a worker would (`readFileTls`): a ConfigError naming the field
 * (`spec.tls.ca`) when one cannot be used.
 */
export async function checkCollectorFiles(r: Collector): Promise<ConfigError[]> {
  const errors: ConfigError[] = [];
  const check = async (read: () => Promise<unknown>): Promise<void> => {
    try {
      await read();
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const prefix = `${e.field}: `;
      const reason = e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
      errors.push(new ConfigError(`spec.${e.field}`, reason, { cause: e }));
    }
  };
  await check(() => checkScrapeAuthFiles(r.spec.scrape));
  const tls = r.spec.tls;
  if (tls !== undefined) await check(() => readFileTls(tls));
  return errors;
}
