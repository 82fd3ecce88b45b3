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
 */
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { CollectorPool } from '../collector/pool.js';
import type { ConsumerReport, TargetStatus } from '../collector/consumer.js';
import { total } from '../collector/counters.js';
import { type Collector, type Discovery, formatResourceError, parseResources, type Resource } from '../config/index.js';
import { DiscoveryService } from '../discovery/service.js';
import { Registry } from '../registry/registry.js';
import { StrataMetrics } from '../telemetry/index.js';

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
}

export interface CollectorStatusView {
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
  /** Targets taken from the channel and scraped (not stale, not undecodable). */
  readonly targetsTaken: number;
  /** Full GCs run by the workers' pacers (src/collector/gc.ts), and their total seconds. */
  readonly pacedGcs: number;
  readonly pacedGcSeconds: number;
  readonly errors: Readonly<Record<string, number>>;
  readonly dropped: Readonly<Record<string, number>>;
  readonly targetsDropped: Readonly<Record<string, number>>;
  readonly targetsUp: number;
  readonly targets: readonly TargetStatus[];
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
    this.registry = new Registry({
      graceMs: options.graceMs ?? 10_000,
      poolFactory: (ctx) => new CollectorPool(ctx, { onReport: (key, report) => this.#onReport(key, report) }),
    });
  }

  get ready(): boolean {
    return this.#started && !this.#stopped;
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
        this.#log(`strata: configuration change rejected, keeping the running configuration:\n  ${errors.join('\n  ')}`);
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
    const c = rt.counters.snapshot();
    const targets = [...(this.#targets.get(key)?.values() ?? [])];
    let registered = 0;
    for (const d of this.#discoveries.values()) {
      if (d.resource.spec.collector.some((r) => `${r.namespace}/${r.name}` === key)) registered++;
    }
    return {
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
      targetsTaken: c.targetsTaken,
      pacedGcs: c.pacedGcs,
      pacedGcSeconds: c.pacedGcMicrosTotal / 1e6,
      errors: c.errors,
      dropped: c.dropped,
      targetsDropped: c.targetsDropped,
      targetsUp: targets.filter((t) => t.up).length,
      targets,
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
      if (r.kind === 'Discovery' && !next.has(k)) await this.#stopDiscovery(k);
    }
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
    await this.registry.applyCollector(r);
    if (isNew) {
      this.#targets.set(key, new Map());
      this.metrics.registerCollectorSource(key, () => {
        const s = this.collectorStatus(key);
        return {
          collected: s?.metricsCollected ?? 0,
          filtered: s?.totalFiltered ?? 0,
          clamped: s?.totalClamped ?? 0,
          sent: s?.totalSent ?? 0,
          errors: { ...(s?.errors ?? {}) },
          dropped: { ...(s?.dropped ?? {}) },
          targetsDropped: { ...(s?.targetsDropped ?? {}) },
          targetsUp: s?.targetsUp ?? 0,
          channelDepth: s?.channelDepth ?? 0,
          pacedGcs: s?.pacedGcs ?? 0,
          pacedGcSeconds: s?.pacedGcSeconds ?? 0,
        };
      });
    }
  }

  async #deleteCollector(key: string): Promise<void> {
    await this.registry.deleteCollector(key);
    this.metrics.unregisterCollectorSource(key);
    this.#targets.delete(key);
  }

  async #applyDiscovery(k: string, r: Discovery): Promise<void> {
    await this.#stopDiscovery(k);
    const service = new DiscoveryService(r, this.registry, { spread: this.#options.spreadTargets ?? true });
    this.#discoveries.set(k, service);
    service.start();
  }

  async #stopDiscovery(k: string): Promise<void> {
    const d = this.#discoveries.get(k);
    if (d === undefined) return;
    this.#discoveries.delete(k);
    await d.stop();
  }

  #onReport(key: string, report: ConsumerReport): void {
    if (report.kind === 'failed') {
      const which = report.workerIndex < 0 ? 'a worker thread failed' : `worker ${report.workerIndex} failed (it starts again on a new thread)`;
      this.#log(`strata: collector ${key} ${which}: ${report.message}`);
      return;
    }
    if (report.kind !== 'observations') return;
    for (const s of report.scrapeSeconds) this.metrics.observeScrapeDuration(key, s);
    for (const s of report.queueDelaySeconds) this.metrics.observeQueueDelay(key, s);
    const targets = this.#targets.get(key);
    if (targets === undefined) return;
    for (const t of report.targets) targets.set(`${t.url}\u0000${t.discovery}`, t);
  }
}
