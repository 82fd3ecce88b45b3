/**
 * One discovery service per Discovery: every `intervalSeconds` it asks its sources for targets
 * and queues them to every referenced Collector through the registry.
 *
 * - Spread: every run, the first included, queues each target at its own offset in the
 *   interval, evenly spaced in the order of a hash of the target, as Prometheus offsets its
 *   scrape loops. Scrapes, bodies in flight and their memory are spread over the interval instead
 *   of all landing together. Measured with 20 targets × 10k series: resident memory 300–335 MiB,
 *   against 360–400 MiB when every target is queued at once (malloc keeps the high-water mark of
 *   that burst, and of the first run's cold parse most of all).
 * - A run still going when the next is due is skipped and counted (`skippedRuns`); a spread run
 *   queues its last target (n−1)/n of an interval after it starts.
 * - A reference to a missing or disabled Collector is counted as not ready; it stops nothing.
 * - The registry retries a full channel until the next run is due, then drops and counts; the
 *   deadline handed to it is the start of the next run.
 * - A failing source keeps the other sources' targets (and its own last good ones); the error is
 *   kept in status.
 */
import type { CollectorRef, Discovery } from '../config/index.js';
import type { DiscoveredTarget, TargetSource } from './source.js';
import { FileSource } from './file-source.js';
import { StaticSource } from './source.js';
import { encodeTarget, type Target } from './target.js';

export type CollectorState = 'ready' | 'missing' | 'disabled';

/** What the registry offers a discovery service. */
export interface TargetQueue {
  collectorState(ref: CollectorRef): CollectorState;
  /** Queues the payloads, retrying a full channel until `deadline` (ms since epoch). */
  enqueue(ref: CollectorRef, payloads: readonly Uint8Array[], deadline: number, signal: AbortSignal): Promise<{ queued: number; dropped: number }>;
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
}

export class DiscoveryService {
  readonly key: string;
  readonly #resource: Discovery;
  readonly #queue: TargetQueue;
  readonly #sources: TargetSource[];
  readonly #intervalMs: number;
  readonly #spread: boolean;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #status: DiscoveryStatus;

  constructor(resource: Discovery, queue: TargetQueue, options: DiscoveryServiceOptions = {}) {
    this.#resource = resource;
    this.#spread = options.spread ?? true;
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

  get resource(): Discovery {
    return this.#resource;
  }

  status(): DiscoveryStatus {
    return { ...this.#status, errors: [...this.#status.errors] };
  }

  /** Starts the schedule: a first run now, then one every interval. */
  start(): void {
    if (!this.#resource.spec.enabled || this.#timer !== null) return;
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
      return;
    }
    this.#running = this.runOnce(Date.now() + this.#intervalMs).finally(() => {
      this.#running = null;
    });
  }

  /** One discovery run; `deadline` is when the next run is due. */
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
        errors.push(`${source.name}: ${(e as Error).message}`);
      }
    }
    const spec = this.#resource.spec;
    const payloads = found.map((t) => {
      const target: Target = { url: t.url, labels: t.labels, discovery: this.key, intervalMs: this.#intervalMs };
      return encodeTarget(target);
    });
    status.discoveredResourcesCount = found.length;
    status.lastDiscovered = new Date().toISOString();
    const refs = spec.collector.filter((ref) => {
      const state = this.#queue.collectorState(ref);
      if (state === 'missing') errors.push(`collector ${ref.namespace}/${ref.name} not found`);
      return state === 'ready';
    });
    status.inFlightResources = payloads.length * refs.length;
    const queue = async (batch: readonly Uint8Array[]): Promise<void> => {
      status.inFlightResources -= batch.length * refs.length;
      await Promise.all(
        refs.map(async (ref) => {
          const { queued, dropped } = await this.#queue.enqueue(ref, batch, deadline, signal);
          status.queued += queued;
          status.dropped += dropped;
        }),
      );
    };
    if (!this.#spread || payloads.length < 2) {
      await queue(payloads);
    } else {
      const start = Date.now();
      const order = spreadOrder(found);
      for (let i = 0; i < order.length && !signal.aborted; i++) {
        const due = start + Math.floor((i * this.#intervalMs) / order.length);
        if (due > Date.now()) await sleep(due - Date.now(), signal);
        if (signal.aborted) break;
        await queue([payloads[order[i] as number] as Uint8Array]);
      }
    }
    status.inFlightResources = 0;
    status.readyCollectors = refs.length;
    status.errors = errors;
  }
}
