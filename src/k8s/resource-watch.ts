// SPDX-License-Identifier: Apache-2.0
/**
 * Collectors and Discoveries as custom resources: a list + watch cache of each (all namespaces,
 * or each of a list of them), validated with the same schema as `strata validate`, handed to the
 * engine as one whole desired set whenever anything changes (changes within `debounceMs` are
 * applied together). The engine applies it as a diff, so an unchanged resource is untouched.
 *
 * A resource that does not validate (the admission webhook should have refused it; it may have
 * been down) is not applied: its last valid version stays in force, or it is left out if it never
 * had one, and its errors are reported (`rejected`, and the status writer shows them in the
 * resource's status). Nothing here throws: an API error is retried by the informers and shown.
 */
import { CustomObjectsApi, type KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { formatResourceError, type Resource, validateResource } from '../config/index.js';
import { GROUP, VERSION } from './crds.js';
import { Watched } from './informer.js';

const PLURALS = { Collector: 'collectors', Discovery: 'discoveries' } as const;

export interface ResourceWatchOptions {
  readonly config: KubeConfig;
  /** Namespaces to watch; undefined: all. */
  readonly namespaces?: readonly string[];
  /** Called with the whole valid desired set after each change. */
  readonly onResources: (resources: readonly Resource[]) => void;
  readonly debounceMs?: number;
  readonly onError?: (message: string) => void;
}

export class ResourceWatch {
  readonly #options: ResourceWatchOptions;
  readonly #watched: Watched<KubernetesObject>[] = [];
  readonly #kinds = new Map<Watched<KubernetesObject>, 'Collector' | 'Discovery'>();
  /** The last valid version of each resource, by `Kind/namespace/name`. */
  readonly #lastGood = new Map<string, Resource>();
  /** Validation errors of resources as they are now, by `Kind/namespace/name`. */
  readonly rejected = new Map<string, string[]>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ResourceWatchOptions) {
    this.#options = options;
    const api = options.config.makeApiClient(CustomObjectsApi);
    for (const kind of ['Collector', 'Discovery'] as const) {
      const plural = PLURALS[kind];
      for (const ns of options.namespaces ?? [undefined]) {
        const path = ns === undefined ? `/apis/${GROUP}/${VERSION}/${plural}` : `/apis/${GROUP}/${VERSION}/namespaces/${ns}/${plural}`;
        const list = (): Promise<KubernetesListObject<KubernetesObject>> =>
          ns === undefined
            ? api.listClusterCustomObject({ group: GROUP, version: VERSION, plural })
            : api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns, plural });
        const watched = new Watched<KubernetesObject>({
          config: options.config,
          path,
          list,
          onChange: () => this.#changed(),
          ...(options.onError === undefined ? {} : { onError: options.onError }),
        });
        this.#watched.push(watched);
        this.#kinds.set(watched, kind);
      }
    }
  }

  /** Starts watching; resolves once every list has succeeded, after the first `onResources`. */
  async start(): Promise<void> {
    await Promise.all(this.#watched.map((w) => w.start()));
    this.#apply();
  }

  /** The errors of the informers that are failing now. */
  get errors(): string[] {
    return this.#watched.map((w) => w.lastError).filter((e): e is string => e !== null);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await Promise.all(this.#watched.map((w) => w.stop()));
  }

  #changed(): void {
    if (this.#stopped || !this.#watched.every((w) => w.synced)) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#apply(), this.#options.debounceMs ?? 100);
    this.#timer.unref();
  }

  #apply(): void {
    if (this.#stopped) return;
    const desired = new Map<string, Resource>();
    this.rejected.clear();
    for (const w of this.#watched) {
      const kind = this.#kinds.get(w) as string;
      for (const item of w.list()) {
        // List items may come without apiVersion and kind: they are those of the collection.
        const obj = { ...item, apiVersion: `${GROUP}/${VERSION}`, kind };
        const key = `${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
        const { resource, errors } = validateResource(obj, `${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`);
        if (resource !== undefined) {
          this.#lastGood.set(key, resource);
          desired.set(key, resource);
          continue;
        }
        this.rejected.set(key, errors.map(formatResourceError));
        const last = this.#lastGood.get(key);
        if (last !== undefined) desired.set(key, last);
      }
    }
    for (const key of this.#lastGood.keys()) if (!desired.has(key) && !this.rejected.has(key)) this.#lastGood.delete(key);
    this.#options.onResources([...desired.values()]);
  }
}
