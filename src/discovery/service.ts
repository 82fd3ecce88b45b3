/**
 * One discovery service per Discovery: every `intervalSeconds` it asks its sources for targets
 * and queues them to every referenced Collector through the registry.
 *
 * - A run still going when the next is due is skipped and counted (`skippedRuns`).
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

export class DiscoveryService {
  readonly key: string;
  readonly #resource: Discovery;
  readonly #queue: TargetQueue;
  readonly #sources: TargetSource[];
  readonly #intervalMs: number;
  readonly #abort = new AbortController();
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #status: DiscoveryStatus;

  constructor(resource: Discovery, queue: TargetQueue, sources: TargetSource[] = sourcesFor(resource)) {
    this.#resource = resource;
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
    let ready = 0;
    status.inFlightResources = payloads.length * spec.collector.length;
    await Promise.all(
      spec.collector.map(async (ref) => {
        const state = this.#queue.collectorState(ref);
        if (state !== 'ready') {
          if (state === 'missing') errors.push(`collector ${ref.namespace}/${ref.name} not found`);
          return;
        }
        ready++;
        const { queued, dropped } = await this.#queue.enqueue(ref, payloads, deadline, signal);
        status.queued += queued;
        status.dropped += dropped;
      }),
    );
    status.inFlightResources = 0;
    status.readyCollectors = ready;
    status.errors = errors;
  }
}
