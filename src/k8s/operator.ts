// SPDX-License-Identifier: Apache-2.0
/**
 * `strata operator`: Kubernetes is a second source of resources and of targets for the same
 * engine that runs `strata run`. The operator
 * - watches Collectors and Discoveries (custom resources) and hands the engine the whole valid
 *   set on every change (`ResourceWatch`); the engine applies it as a diff;
 * - gives every Discovery a Kubernetes target source (`KubeSource`: pods, services, endpoints
 *   through shared list + watch caches) beside its static targets and target files;
 * - writes each resource's status subresource on its own timer (`StatusWriter`).
 *
 * What the engine must offer is `OperatorEngine`; `src/engine/engine.ts` implements it.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Discovery, Resource } from '../config/index.js';
import type { TargetSource } from '../discovery/source.js';
import { InformerPool, KubeSource } from './kube-source.js';
import { ResourceWatch } from './resource-watch.js';
import { type StatusEntry, StatusWriter } from './status-writer.js';

export interface OperatorEngine {
  /** Applies the whole desired set as a diff. */
  applyResources(resources: readonly Resource[]): Promise<void>;
  /** The status of each resource in force, as the CRDs define it. */
  statusEntries(): readonly StatusEntry[];
}

export interface OperatorOptions {
  readonly config: KubeConfig;
  readonly namespaces?: readonly string[];
  readonly statusIntervalMs?: number;
  readonly log?: (line: string) => void;
}

/** Rate-limits repeated error lines: one per `key` per minute. */
class ErrorLog {
  readonly #last = new Map<string, number>();
  constructor(readonly log: (line: string) => void) {}
  say(key: string, line: string): void {
    const now = Date.now();
    if (now - (this.#last.get(key) ?? 0) < 60_000) return;
    this.#last.set(key, now);
    this.log(line);
  }
}

export class Operator {
  readonly pool: InformerPool;
  readonly #options: OperatorOptions;
  readonly #sources = new Map<string, KubeSource>();
  #watch: ResourceWatch | undefined;
  #status: StatusWriter | undefined;
  readonly #errors: ErrorLog;

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.pool = new InformerPool(options.config, options.namespaces);
    this.#errors = new ErrorLog(options.log ?? (() => {}));
  }

  /** The Kubernetes target source of a Discovery (a new one each time the Discovery is (re)applied). */
  sourcesFor(d: Discovery): TargetSource[] {
    const { pods, services, endpoints } = d.spec.resources;
    if (!pods && !services && !endpoints) return [];
    const source = new KubeSource(d.spec, this.pool);
    const key = `${d.metadata.namespace}/${d.metadata.name}`;
    const close = source.close.bind(source);
    source.close = () => {
      if (this.#sources.get(key) === source) this.#sources.delete(key);
      close();
    };
    this.#sources.set(key, source);
    return [source];
  }

  /** Refused annotations of a Discovery's last run. */
  refusedOf(discovery: string): { readonly count: number; readonly total: number; readonly last: readonly { object: string; reason: string }[] } {
    const s = this.#sources.get(discovery);
    return { count: s?.refused.length ?? 0, total: s?.refusedTotal ?? 0, last: s?.refused.slice(0, 10) ?? [] };
  }

  /** Resources that failed validation as they are now in the cluster, by `Kind/namespace/name`. */
  get rejected(): ReadonlyMap<string, readonly string[]> {
    return this.#watch?.rejected ?? new Map();
  }

  /** Starts watching resources; resolves after the first set has been applied. */
  async start(engine: OperatorEngine): Promise<void> {
    const log = this.#options.log ?? (() => {});
    let applying = Promise.resolve();
    let first: (() => void) | undefined;
    const applied = new Promise<void>((resolve) => (first = resolve));
    this.#watch = new ResourceWatch({
      config: this.#options.config,
      ...(this.#options.namespaces === undefined ? {} : { namespaces: this.#options.namespaces }),
      onResources: (resources) => {
        applying = applying
          .then(() => engine.applyResources(resources))
          .catch((e: unknown) => log(`strata operator: applying resources failed: ${e instanceof Error ? e.message : String(e)}`))
          .finally(() => first?.());
        for (const [key, errors] of this.#watch?.rejected ?? []) this.#errors.say(key, `strata operator: ${key} is not valid, not applied: ${errors.join('; ')}`);
      },
      onError: (message) => this.#errors.say(message, `strata operator: ${message} (retrying)`),
    });
    this.#status = new StatusWriter({
      config: this.#options.config,
      snapshot: () => engine.statusEntries(),
      ...(this.#options.statusIntervalMs === undefined ? {} : { intervalMs: this.#options.statusIntervalMs }),
      onError: (message) => this.#errors.say('status', `strata operator: writing status failed: ${message}`),
    });
    await this.#watch.start();
    await applied;
    this.#status.start();
  }

  /** What `/status` shows of the operator itself. */
  status(): unknown {
    return {
      informers: this.pool.size,
      watchErrors: this.#watch?.errors ?? [],
      rejected: Object.fromEntries(this.#watch?.rejected ?? []),
      statusWrites: this.#status?.writes ?? 0,
      statusWriteFailures: this.#status?.failures ?? 0,
      lastStatusError: this.#status?.lastError ?? null,
    };
  }

  /** Writes every status now (tests, and the last write at shutdown). */
  async flushStatus(): Promise<void> {
    await this.#status?.writeOnce();
  }

  async stop(): Promise<void> {
    await this.#watch?.stop();
    await this.#status?.stop();
    await this.#status?.writeOnce().catch(() => {});
    await this.pool.close();
  }
}
