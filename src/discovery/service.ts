// SPDX-License-Identifier: Apache-2.0
/**
 * One discovery service per Discovery: every `intervalSeconds` it asks its sources for targets
 * and queues them to every referenced Collector through the registry.
 *
 * - Spread: every run, the first included, queues each target at its own offset in the first
 *   `SPREAD_FRACTION` of the time to the next run, evenly spaced in the order of a hash of the
 *   target, as Prometheus offsets its scrape loops. Scrapes, bodies in flight and their memory
 *   are spread over the interval instead of all landing together (a burst raises the process's
 *   resident high-water mark, which malloc keeps).
 * - Targets due by the time the loop wakes are queued together in one batch, and the loop
 *   sleeps at least `MIN_SLEEP_MS`: thousands of targets cost a few hundred wake-ups a second,
 *   not one timer each, and a late timer is caught up in one batch rather than target by target.
 * - Slack: a run's last target is due at `SPREAD_FRACTION` of the time to the next run, and its
 *   queueing (the registry's retries of a full channel included) ends by `QUEUE_FRACTION` of it,
 *   so a run ends before the next is due even with late timers. A run still going when the next
 *   is due is skipped, and counted in `skippedRuns` and `strata_discovery_runs_skipped_total`.
 * - A reference to a missing or disabled Collector is counted as not ready; it stops nothing.
 * - The registry retries a full channel until the queue deadline (`QUEUE_FRACTION` of the time
 *   to the next run), then drops and counts.
 * - A failing source keeps the other sources' targets (and its own last good ones); the error is
 *   kept in status; its message redacts any URL it quotes (`src/net/redact.ts`).
 */
import type { CollectorRef, Discovery } from '../config/index.js';
import { redactUrlsIn } from '../net/redact.js';
import type { DiscoveredTarget, TargetSource } from './source.js';
import { FileSource } from './file-source.js';
import { StaticSource } from './source.js';
import { encodeTarget, type Target, targetKey } from './target.js';
import { type IncludeSpec, type KubeTarget, tagsFor } from './tags.js';

const NO_INCLUDES: IncludeSpec = { includeLabels: [], includeAnnotations: [], includeMetadata: false };

export type CollectorState = 'ready' | 'missing' | 'disabled';

/** Share of the time to the next run that a run's targets are spread over. */
export const SPREAD_FRACTION = 0.75;
/** Share of the time to the next run by which a run's queueing, retries included, gives up. */
export const QUEUE_FRACTION = 0.9;
/** Shortest sleep of the spread loop: targets due within it are queued in one batch. */
export const MIN_SLEEP_MS = 5;

/** Where a discovery service counts what `strata_*` metrics show (`StrataMetrics` is one). */
export interface DiscoveryMetrics {
  /** `count` runs of `discovery` (`namespace/name`) were skipped; 0 makes the series exist. */
  runsSkipped(discovery: string, count: number): void;
}

/** What the registry offers a discovery service. */
export interface TargetQueue {
  collectorState(ref: CollectorRef): CollectorState;
  /** What a Collector includes as tags from a Kubernetes target's resource; undefined: nothing. */
  includesOf?(ref: CollectorRef): IncludeSpec | undefined;
  /** Queues the payloads, retrying a full channel until `deadline` (ms since epoch). */
  enqueue(ref: CollectorRef, payloads: readonly Uint8Array[], deadline: number, signal: AbortSignal): Promise<{ queued: number; dropped: number }>;
  /** Targets (by `targetKey`) the Collector was sent before that discovery no longer lists. */
  targetsGone?(ref: CollectorRef, keys: readonly string[]): void;
}

export interface DiscoveryStatus {
  discoveredResourcesCount: number;
  lastDiscovered: string | null;
  readyCollectors: number;
  totalCollectors: number;
  inFlightResources: number;
  runs: number;
  skippedRuns: number;
  queued: number;
  dropped: number;
  errors: string[];
}

export function sourcesFor(d: Discovery): TargetSource[] {
  const sources: TargetSource[] = [];
  if (d.spec.static.length > 0) sources.push(new StaticSource(d.spec.static));
  for (const f of d.spec.files) sources.push(new FileSource(f));
  return sources;
}

/** Indices of `targets` in the order of a hash of their URL and labels: stable across runs. */
export function spreadOrder(targets: readonly DiscoveredTarget[]): number[] {
  const keys = targets.map((t) => fnv1a(`${t.url}\u0000${Object.entries(t.labels).sort().join('\u0000')}`));
  return keys.map((_, i) => i).sort((a, b) => (keys[a] as number) - (keys[b] as number) || a - b);
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface DiscoveryServiceOptions {
  /** Where targets come from; by default the Discovery's static list and files. */
  readonly sources?: TargetSource[];
  /** Spread each run's targets over the interval (default); false queues them all at once. */
  readonly spread?: boolean;
  /** Where skipped runs are counted besides `status().skippedRuns`. */
  readonly metrics?: DiscoveryMetrics;
  /** Which targets this process scrapes (a shard of them); default all. */
  readonly accept?: (t: DiscoveredTarget) => boolean;
  /** What the service this one replaces listed (`listed`), so a target the change removed is gone. */
  readonly listed?: ReadonlyMap<string, ReadonlySet<string>>;
}

function collectorKey(ref: CollectorRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export class DiscoveryService {
  readonly key: string;
  readonly #resource: Discovery;
  readonly #queue: TargetQueue;
  readonly #sources: TargetSource[];
  readonly #intervalMs: number;
  readonly #spread: boolean;
  readonly #metrics: DiscoveryMetrics | undefined;
  readonly #accept: ((t: DiscoveredTarget) => boolean) | undefined;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #status: DiscoveryStatus;
  /**
   * Per Collector (`namespace/name`), the `targetKey`s the last run whose every source answered
   * listed. A target missing from the next such run is gone: the Collector's workers free its
   * memory and mark its series stale. A run with a failing source says nothing is gone.
   */
  readonly #listed: Map<string, ReadonlySet<string>>;

  constructor(resource: Discovery, queue: TargetQueue, options: DiscoveryServiceOptions = {}) {
    this.#resource = resource;
    this.#spread = options.spread ?? true;
    this.#metrics = options.metrics;
    this.#accept = options.accept;
    this.#listed = new Map(options.listed ?? []);
    const sources = options.sources ?? sourcesFor(resource);
    this.key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    this.#queue = queue;
    this.#sources = sources;
    this.#intervalMs = resource.spec.intervalSeconds * 1000;
    this.#status = {
      discoveredResourcesCount: 0,
      lastDiscovered: null,
      readyCollectors: 0,
      totalCollectors: resource.spec.collector.length,
      inFlightResources: 0,
      runs: 0,
      skippedRuns: 0,
      queued: 0,
      dropped: 0,
      errors: [],
    };
  }

  /** What the last complete run listed, per Collector (see `#listed`). */
  get listed(): ReadonlyMap<string, ReadonlySet<string>> {
    return this.#listed;
  }

  /** The Discovery was deleted: every target it listed is gone. Call after `stop`. */
  retire(): void {
    for (const ref of this.#resource.spec.collector) {
      const keys = this.#listed.get(collectorKey(ref));
      if (keys !== undefined && keys.size > 0) this.#queue.targetsGone?.(ref, [...keys]);
    }
    this.#listed.clear();
  }

  get resource(): Discovery {
    return this.#resource;
  }

  status(): DiscoveryStatus {
    return { ...this.#status, errors: [...this.#status.errors] };
  }

  /** Starts the schedule: a first run now, then one every interval. */
  start(): void {
    if (!this.#resource.spec.enabled || this.#timer !== null) return;
    this.#metrics?.runsSkipped(this.key, 0);
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), this.#intervalMs);
    this.#timer.unref?.();
  }

  /** Stops the schedule and waits for a run in progress (its queueing is aborted). */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#abort.abort();
    for (const s of this.#sources) s.close?.();
    await this.#running;
  }

  #tick(): void {
    if (this.#running !== null) {
      this.#status.skippedRuns++;
      this.#metrics?.runsSkipped(this.key, 1);
      return;
    }
    this.#running = this.runOnce(Date.now() + this.#intervalMs).finally(() => {
      this.#running = null;
    });
  }

  /** Records what a complete run listed for `ref`, and tells the Collector what it no longer lists. */
  #noteListed(ref: CollectorRef, keys: readonly string[]): void {
    const now = new Set(keys);
    const before = this.#listed.get(collectorKey(ref));
    this.#listed.set(collectorKey(ref), now);
    if (before === undefined) return;
    const gone: string[] = [];
    for (const k of before) if (!now.has(k)) gone.push(k);
    if (gone.length > 0) this.#queue.targetsGone?.(ref, gone);
  }

  /**
   * One discovery run; `deadline` is when the next run is due. Its targets are queued by
   * `SPREAD_FRACTION`, and its queueing ends by `QUEUE_FRACTION`, of the time until then.
   */
  async runOnce(deadline: number): Promise<void> {
    const signal = this.#abort.signal;
    const status = this.#status;
    status.runs++;
    const errors: string[] = [];
    const found: DiscoveredTarget[] = [];
    for (const source of this.#sources) {
      try {
        found.push(...(await source.discover(signal)));
      } catch (e) {
        errors.push(redactUrlsIn(`${source.name}: ${(e as Error).message}`));
      }
    }
    const spec = this.#resource.spec;
    if (this.#accept !== undefined) {
      const accept = this.#accept;
      const mine = found.filter((t) => accept(t));
      found.length = 0;
      found.push(...mine);
    }
    // A Kubernetes target carries its resource: each Collector adds the labels, annotations and
    // metadata it includes, so its payload is its own.
    const perCollector = found.some((t) => t.resource !== undefined);
    const encode = (t: DiscoveredTarget, labels: Readonly<Record<string, string>>): Uint8Array =>
      encodeTarget({ url: t.url, labels, discovery: this.key, intervalMs: this.#intervalMs } satisfies Target);
    const complete = errors.length === 0;
    const track = complete && this.#queue.targetsGone !== undefined;
    const shared = perCollector ? null : { payloads: found.map((t) => encode(t, t.labels)), keys: track ? found.map((t) => targetKey(t)) : [] };
    const payloadsFor = (ref: CollectorRef): { payloads: readonly Uint8Array[]; keys: readonly string[] } => {
      if (shared !== null) return shared;
      const include = this.#queue.includesOf?.(ref) ?? NO_INCLUDES;
      const payloads: Uint8Array[] = [];
      const keys: string[] = [];
      for (const t of found) {
        const labels = t.resource === undefined ? t.labels : tagsFor(t as KubeTarget, include);
        payloads.push(encode(t, labels));
        if (track) keys.push(targetKey({ url: t.url, labels }));
      }
      return { payloads, keys };
    };
    status.discoveredResourcesCount = found.length;
    status.lastDiscovered = new Date().toISOString();
    const refs = spec.collector.filter((ref) => {
      const state = this.#queue.collectorState(ref);
      if (state === 'missing') errors.push(`collector ${ref.namespace}/${ref.name} not found`);
      return state === 'ready';
    });
    const byRef = new Map<CollectorRef, readonly Uint8Array[]>();
    for (const ref of refs) {
      const { payloads, keys } = payloadsFor(ref);
      byRef.set(ref, payloads);
      if (track) this.#noteListed(ref, keys);
    }
    status.inFlightResources = found.length * refs.length;
    const start = Date.now();
    const window = Math.max(0, Math.min(deadline - start, this.#intervalMs));
    const queueDeadline = start + Math.floor(window * QUEUE_FRACTION);
    /** Queues the targets at `indices` (of `found`) to every ready Collector. */
    const queue = async (indices: readonly number[]): Promise<void> => {
      status.inFlightResources -= indices.length * refs.length;
      await Promise.all(
        refs.map(async (ref) => {
          const all = byRef.get(ref) as readonly Uint8Array[];
          const batch = indices.map((i) => all[i] as Uint8Array);
          const { queued, dropped } = await this.#queue.enqueue(ref, batch, queueDeadline, signal);
          status.queued += queued;
          status.dropped += dropped;
        }),
      );
    };
    if (!this.#spread || found.length < 2) {
      await queue(found.map((_, i) => i));
    } else {
      const spreadMs = window * SPREAD_FRACTION;
      const order = spreadOrder(found);
      const n = order.length;
      const dueAt = (i: number): number => start + Math.floor((i * spreadMs) / n);
      let next = 0;
      while (next < n && !signal.aborted) {
        const now = Date.now();
        let end = next;
        while (end < n && dueAt(end) <= now) end++;
        if (end === next) {
          await sleep(Math.max(MIN_SLEEP_MS, dueAt(next) - now), signal);
          continue;
        }
        const batch: number[] = [];
        for (let i = next; i < end; i++) batch.push(order[i] as number);
        next = end;
        await queue(batch);
      }
    }
    status.inFlightResources = 0;
    status.readyCollectors = refs.length;
    status.errors = errors;
  }
}
