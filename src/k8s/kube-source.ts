// SPDX-License-Identifier: Apache-2.0
/**
 * The Kubernetes target source of a Discovery: pods, services and the endpoints of headless
 * services, read from list + watch caches (`Watched`), never by polling the API each interval.
 * Each discovery run reads the caches as they are, so a change in the cluster reaches the target
 * set at the next run.
 *
 * Caches are shared: every Discovery asking for the same kind, namespace and label selector
 * reads one informer (`InformerPool`, reference-counted), so ten Discoveries over the same pods
 * cost one watch. Services are watched whenever endpoints are wanted, selected by the same
 * selector, because a headless service's annotations say whether and how its endpoints are
 * scraped; EndpointSlices are watched unselected and joined to their service by name.
 *
 * Scope: the namespaces the operator watches (all by default); a namespaced Discovery finds
 * targets in all of them, as the annotation convention expects.
 *
 * Refused annotations are kept per run (`refused`, `refusedTotal`) for status and metrics;
 * an informer's error is thrown by `discover` (the service keeps this source's last good targets
 * and shows the error) until it recovers.
 */
import { CoreV1Api, DiscoveryV1Api, type KubeConfig, type KubernetesObject, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import type { DiscoverySpec } from '../config/index.js';
import type { TargetSource } from '../discovery/source.js';
import { Watched } from './informer.js';
import { endpointTargets, type KubeTarget, podTargets, type Refusal, selectorString, serviceTargets, sliceService } from './targets.js';

type Kind = 'pods' | 'services' | 'endpointslices';

/** Shared, reference-counted informers by kind, namespace and selector. */
export class InformerPool {
  readonly config: KubeConfig;
  /** The namespaces watched; undefined: all. */
  readonly namespaces: readonly string[] | undefined;
  readonly #entries = new Map<string, { watched: Watched<KubernetesObject>; refs: number }>();
  readonly #onChange: (() => void) | undefined;
  readonly #core: CoreV1Api;
  readonly #discovery: DiscoveryV1Api;

  constructor(config: KubeConfig, namespaces?: readonly string[], onChange?: () => void) {
    this.config = config;
    this.namespaces = namespaces;
    this.#onChange = onChange;
    this.#core = config.makeApiClient(CoreV1Api);
    this.#discovery = config.makeApiClient(DiscoveryV1Api);
  }

  /** Informers currently running (one per kind, namespace scope and selector). */
  get size(): number {
    return this.#entries.size;
  }

  /** One informer per namespace scope for `kind` and `selector`; release each with `release`. */
  acquire<T extends KubernetesObject>(kind: Kind, selector: string): Watched<T>[] {
    const scopes = this.namespaces ?? [undefined];
    return scopes.map((ns) => {
      const key = `${kind}\u0000${ns ?? ''}\u0000${selector}`;
      let e = this.#entries.get(key);
      if (e === undefined) {
        e = { watched: this.#make(kind, ns, selector), refs: 0 };
        this.#entries.set(key, e);
        void e.watched.start();
      }
      e.refs++;
      return e.watched as unknown as Watched<T>;
    });
  }

  release(watched: readonly Watched<KubernetesObject>[]): void {
    for (const w of watched) {
      for (const [key, e] of this.#entries) {
        if (e.watched !== w) continue;
        if (--e.refs === 0) {
          this.#entries.delete(key);
          void e.watched.stop();
        }
      }
    }
  }

  async close(): Promise<void> {
    const all = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(all.map((e) => e.watched.stop()));
  }

  #make(kind: Kind, ns: string | undefined, selector: string): Watched<KubernetesObject> {
    const sel = selector === '' ? {} : { labelSelector: selector };
    const base = kind === 'endpointslices' ? '/apis/discovery.k8s.io/v1' : '/api/v1';
    const path = ns === undefined ? `${base}/${kind}` : `${base}/namespaces/${ns}/${kind}`;
    const list = (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> => {
      switch (kind) {
        case 'pods':
          return ns === undefined ? this.#core.listPodForAllNamespaces(sel) : this.#core.listNamespacedPod({ namespace: ns, ...sel });
        case 'services':
          return ns === undefined ? this.#core.listServiceForAllNamespaces(sel) : this.#core.listNamespacedService({ namespace: ns, ...sel });
        case 'endpointslices':
          return ns === undefined ? this.#discovery.listEndpointSliceForAllNamespaces(sel) : this.#discovery.listNamespacedEndpointSlice({ namespace: ns, ...sel });
      }
    };
    return new Watched<KubernetesObject>({
      config: this.config,
      path,
      list: list as () => Promise<{ items: KubernetesObject[] } & KubernetesObject>,
      ...(selector === '' ? {} : { labelSelector: selector }),
      ...(this.#onChange === undefined ? {} : { onChange: this.#onChange }),
    });
  }
}

export class KubeSource implements TargetSource {
  readonly name = 'kubernetes';
  readonly #spec: Pick<DiscoverySpec, 'prefix' | 'resources' | 'selector'>;
  readonly #pool: InformerPool;
  readonly #pods: Watched<V1Pod>[];
  readonly #services: Watched<V1Service>[];
  readonly #slices: Watched<V1EndpointSlice>[];
  /** Annotations refused in the last run. */
  refused: readonly Refusal[] = [];
  /** Annotations refused over all runs (a refusal is counted once per run it is seen in). */
  refusedTotal = 0;

  constructor(spec: Pick<DiscoverySpec, 'prefix' | 'resources' | 'selector'>, pool: InformerPool) {
    this.#spec = spec;
    this.#pool = pool;
    const selector = selectorString(spec.selector);
    const { pods, services, endpoints } = spec.resources;
    this.#pods = pods ? pool.acquire<V1Pod>('pods', selector) : [];
    this.#services = services || endpoints ? pool.acquire<V1Service>('services', selector) : [];
    this.#slices = endpoints ? pool.acquire<V1EndpointSlice>('endpointslices', '') : [];
  }

  /** Resolves once every informer of this source has listed once (or stopped). */
  async synced(): Promise<void> {
    await Promise.all([...this.#pods, ...this.#services, ...this.#slices].map((w) => (w.synced ? undefined : w.start())));
  }

  async discover(): Promise<readonly KubeTarget[]> {
    const failing = [...this.#pods, ...this.#services, ...this.#slices].map((w) => w.lastError).filter((e): e is string => e !== null);
    if (failing.length > 0) throw new Error(`kubernetes: ${failing.join('; ')}`);
    const { prefix, resources } = this.#spec;
    const targets: KubeTarget[] = [];
    const refused: Refusal[] = [];
    const add = (d: { targets: KubeTarget[]; refused: Refusal[] }): void => {
      targets.push(...d.targets);
      refused.push(...d.refused);
    };
    for (const w of this.#pods) for (const p of w.list()) add(podTargets(p, prefix));
    const services = new Map<string, V1Service>();
    for (const w of this.#services) {
      for (const s of w.list()) {
        services.set(`${s.metadata?.namespace ?? ''}/${s.metadata?.name ?? ''}`, s);
        if (resources.services) add(serviceTargets(s, prefix));
      }
    }
    for (const w of this.#slices) {
      for (const slice of w.list()) {
        const name = sliceService(slice);
        if (name === undefined) continue;
        add(endpointTargets(slice, services.get(`${slice.metadata?.namespace ?? ''}/${name}`), prefix));
      }
    }
    this.refused = refused;
    this.refusedTotal += refused.length;
    return targets;
  }

  close(): void {
    this.#pool.release([...this.#pods, ...this.#services, ...this.#slices] as unknown as Watched<KubernetesObject>[]);
  }
}
