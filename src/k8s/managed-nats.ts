// SPDX-License-Identifier: Apache-2.0
/**
 * The managed default queue (issue 13 §4): a NATS server with JetStream that the operator runs in
 * its own namespace for the Collectors whose output is `nats: {managed: true}` (no `url`), and
 * points their sinks at (`nats://strata-nats.<namespace>.svc:4222`).
 *
 * One definition, two uses: `natsObjects()` builds the ConfigMap (`nats.conf` with
 * `jetstream { store_dir }`), the headless Service (client 4222, monitoring 8222) and the
 * StatefulSet (one replica of the official `nats` image, non-root, read-only root filesystem,
 * a PersistentVolumeClaim `data` for the JetStream store). `renderNatsComponent()` writes the same
 * objects as the kustomize component `deploy/nats/` for shops that apply it themselves;
 * test/k8s/managed-nats.test.ts fails when the committed files differ from it.
 *
 * Ownership: a Kubernetes owner reference cannot cross namespaces (the garbage collector looks for
 * a namespaced owner in the dependent's own namespace and, not finding it, deletes the
 * dependent), and Collectors live in any namespace while the server lives in the operator's. So
 * the StatefulSet is owned by nothing: `reconcile(users)` is given every Collector that asks for
 * the managed server, records them in the annotation `strata.ctx.sh/managed-nats-users`, and
 * deletes the server when that list becomes empty (the last user went). The Service and the
 * ConfigMap carry an owner reference to the StatefulSet (same namespace), so the garbage collector
 * removes them with it even if the operator is gone before it deletes them itself; the volume
 * goes through the StatefulSet's `persistentVolumeClaimRetentionPolicy.whenDeleted: Delete` and,
 * for clusters without that feature, an explicit delete of `data-strata-nats-0`.
 *
 * Invariants: only objects labelled `app.kubernetes.io/managed-by: strata-operator` are ever
 * changed or deleted; a `strata-nats` applied by hand (from `deploy/nats/`) is used as it is and
 * never removed. An object is written only when what the operator wants of it changed: the hash
 * of the desired object is kept in its annotation `strata.ctx.sh/spec-hash` (comparing specs
 * would see the API server's defaults as drift), so reconciling every few seconds costs three
 * reads, and a hand edit of a managed object stays until the operator's definition changes. `reconcile` is idempotent and safe when two replicas run it at once:
 * `409 AlreadyExists` re-reads, `409 Conflict` retries on the fresh object.
 */
import { createHash } from 'node:crypto';
import { AppsV1Api, CoreV1Api, type KubeConfig, type V1ConfigMap, type V1ObjectMeta, type V1OwnerReference, type V1Service, type V1StatefulSet } from '@kubernetes/client-node';
import { stringify } from 'yaml';

export const NATS_NAME = 'strata-nats';
/** The official image; the 2.10 series has the JetStream and `/healthz?js-enabled-only` used here. */
export const NATS_IMAGE = 'nats:2.10.24-alpine';
export const NATS_CLIENT_PORT = 4222;
export const NATS_MONITOR_PORT = 8222;
export const MANAGED_BY = 'strata-operator';
export const USERS_ANNOTATION = 'strata.ctx.sh/managed-nats-users';
export const HASH_ANNOTATION = 'strata.ctx.sh/spec-hash';
/** NATS keeps its streams in `<store_dir>/jetstream`: here /data/jetstream on the volume. */
const STORE_DIR = '/data';
const CLAIM = 'data';
const WRITE_RETRIES = 5;

/** The server's configuration file. `$SERVER_NAME` is the pod's name (downward API). */
export const NATS_CONF = [
  `port: ${NATS_CLIENT_PORT}`,
  `http_port: ${NATS_MONITOR_PORT}`,
  'server_name: $SERVER_NAME',
  'pid_file: /var/run/nats/nats.pid',
  'lame_duck_duration: 30s',
  'jetstream {',
  `  store_dir: ${STORE_DIR}`,
  '  max_memory_store: 256MB',
  '  max_file_store: 8GB',
  '}',
  '',
].join('\n');

export interface NatsObjects {
  readonly configMap: V1ConfigMap;
  readonly service: V1Service;
  readonly statefulSet: V1StatefulSet;
}

export interface NatsObjectOptions {
  /** Omitted for the kustomize component (its kustomization sets the namespace). */
  readonly namespace?: string;
  /** `strata-operator` for the managed server, `kustomize` for `deploy/nats/`. */
  readonly managedBy: string;
}

const selectorLabels = { 'app.kubernetes.io/name': 'nats', 'app.kubernetes.io/instance': NATS_NAME } as const;

/** The ConfigMap, Service and StatefulSet of the NATS server, without owner references. */
export function natsObjects(o: NatsObjectOptions): NatsObjects {
  const labels = { ...selectorLabels, 'app.kubernetes.io/part-of': 'strata', 'app.kubernetes.io/managed-by': o.managedBy };
  const meta = (name: string): V1ObjectMeta => ({ name, ...(o.namespace === undefined ? {} : { namespace: o.namespace }), labels: { ...labels } });
  const confHash = createHash('sha256').update(NATS_CONF).digest('hex').slice(0, 16);
  const configMap: V1ConfigMap = { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(`${NATS_NAME}-config`), data: { 'nats.conf': NATS_CONF } };
  const service: V1Service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(NATS_NAME),
    spec: {
      // Headless: the StatefulSet's governing service, and one stable DNS name for its one pod.
      clusterIP: 'None',
      publishNotReadyAddresses: false,
      selector: { ...selectorLabels },
      ports: [
        { name: 'client', port: NATS_CLIENT_PORT, targetPort: 'client', protocol: 'TCP' },
        { name: 'monitor', port: NATS_MONITOR_PORT, targetPort: 'monitor', protocol: 'TCP' },
      ],
    },
  };
  const statefulSet: V1StatefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(NATS_NAME),
    spec: {
      serviceName: NATS_NAME,
      replicas: 1,
      selector: { matchLabels: { ...selectorLabels } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
      template: {
        metadata: { labels: { ...labels }, annotations: { 'strata.ctx.sh/config-hash': confHash } },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 60,
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'nats',
              image: NATS_IMAGE,
              args: ['--config', '/etc/nats/nats.conf'],
              env: [{ name: 'SERVER_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
              ports: [
                { name: 'client', containerPort: NATS_CLIENT_PORT, protocol: 'TCP' },
                { name: 'monitor', containerPort: NATS_MONITOR_PORT, protocol: 'TCP' },
              ],
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { cpu: '1', memory: '1Gi' } },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
              startupProbe: { httpGet: { path: '/healthz', port: 'monitor' }, periodSeconds: 5, failureThreshold: 60 },
              livenessProbe: { httpGet: { path: '/healthz?js-enabled-only=true', port: 'monitor' }, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 3 },
              readinessProbe: { httpGet: { path: '/healthz?js-server-only=true', port: 'monitor' }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3 },
              lifecycle: { preStop: { exec: { command: ['nats-server', '--signal', 'ldm=/var/run/nats/nats.pid'] } } },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/nats', readOnly: true },
                { name: CLAIM, mountPath: '/data' },
                { name: 'pid', mountPath: '/var/run/nats' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: `${NATS_NAME}-config` } },
            { name: 'pid', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          metadata: { name: CLAIM, labels: { ...selectorLabels } },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
        },
      ],
    },
  };
  return { configMap, service, statefulSet };
}

/** `deploy/nats/nats.yaml`: the objects of `natsObjects({managedBy: 'kustomize'})`. */
export function renderNatsComponent(): string {
  const { configMap, service, statefulSet } = natsObjects({ managedBy: 'kustomize' });
  const header = '# Generated from src/k8s/managed-nats.ts (`npm run docs`); do not edit by hand.\n';
  return header + [configMap, service, statefulSet].map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

/** The URL a Collector's sink uses for the managed server in `namespace`. */
export function managedNatsUrl(namespace: string): string {
  return `nats://${NATS_NAME}.${namespace}.svc:${NATS_CLIENT_PORT}`;
}

/** Whether a Collector spec asks for the managed server. */
export function wantsManagedNats(spec: { readonly output?: { readonly nats?: { readonly managed?: boolean } | undefined } | undefined }): boolean {
  return spec.output?.nats?.managed === true;
}

export interface CollectorRef {
  readonly namespace: string;
  readonly name: string;
}

export interface ManagedNatsOptions {
  readonly config: KubeConfig;
  /** The operator's namespace: where the server runs. */
  readonly namespace: string;
  readonly log?: (line: string) => void;
}

export interface ManagedNatsState {
  /** `present`: ours and current; `foreign`: a `strata-nats` we did not create, used as it is. */
  readonly server: 'absent' | 'present' | 'foreign';
  readonly users: readonly string[];
  readonly url: string | null;
  readonly writes: number;
  readonly lastError: string | null;
}

type Kind = 'StatefulSet' | 'Service' | 'ConfigMap';
type Obj = V1StatefulSet | V1Service | V1ConfigMap;

const codeOf = (e: unknown): number | undefined => (e as { code?: number }).code;
const isOurs = (o: { metadata?: V1ObjectMeta } | undefined): boolean => o?.metadata?.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY;
const ownerUids = (refs: readonly V1OwnerReference[] | undefined): string => (refs ?? []).map((r) => `${r.kind}/${r.name}/${r.uid}`).join(',');
const hashOf = (o: Obj): string => createHash('sha256').update(JSON.stringify(o)).digest('hex').slice(0, 16);

export class ManagedNats {
  readonly #o: ManagedNatsOptions;
  readonly #apps: AppsV1Api;
  readonly #core: CoreV1Api;
  #state: ManagedNatsState = { server: 'absent', users: [], url: null, writes: 0, lastError: null };

  constructor(o: ManagedNatsOptions) {
    this.#o = o;
    this.#apps = o.config.makeApiClient(AppsV1Api);
    this.#core = o.config.makeApiClient(CoreV1Api);
  }

  get url(): string {
    return managedNatsUrl(this.#o.namespace);
  }

  state(): ManagedNatsState {
    return this.#state;
  }

  /**
   * Makes the cluster match `users` (every Collector asking for the managed server): the server
   * exists, current, while the list is not empty, and is deleted when it is. Returns the URL for
   * the sinks, or null when there are no users. API errors are thrown (the caller retries at its
   * next round) and kept in `state().lastError`.
   */
  async reconcile(users: readonly CollectorRef[]): Promise<string | null> {
    const names = [...new Set(users.map((u) => `${u.namespace}/${u.name}`))].sort();
    try {
      const server = names.length === 0 ? await this.#remove() : await this.#ensure(names);
      this.#state = { ...this.#state, server, users: names, url: server === 'absent' ? null : this.url, lastError: null };
      return names.length === 0 ? null : this.url;
    } catch (e) {
      this.#state = { ...this.#state, lastError: e instanceof Error ? e.message : String(e) };
      throw e;
    }
  }

  async #ensure(users: readonly string[]): Promise<'present' | 'foreign'> {
    const ns = this.#o.namespace;
    const desired = natsObjects({ namespace: ns, managedBy: MANAGED_BY });
    const sts = await this.#apply('StatefulSet', desired.statefulSet, { [USERS_ANNOTATION]: users.join(',') }, []);
    if (sts === 'foreign') {
      this.#o.log?.(`strata operator: managed NATS: ${ns}/${NATS_NAME} exists and was not created by the operator; using it as it is`);
      return 'foreign';
    }
    const owner: V1OwnerReference = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: NATS_NAME, uid: sts.metadata?.uid as string, blockOwnerDeletion: false };
    await this.#apply('ConfigMap', desired.configMap, {}, [owner]);
    await this.#apply('Service', desired.service, {}, [owner]);
    return 'present';
  }

  async #remove(): Promise<'absent' | 'foreign'> {
    const ns = this.#o.namespace;
    const sts = await this.#read('StatefulSet', NATS_NAME);
    if (sts !== undefined && !isOurs(sts)) return 'foreign';
    const gone = async (kind: Kind, name: string): Promise<void> => {
      const o = await this.#read(kind, name);
      if (o === undefined || !isOurs(o)) return;
      await this.#delete(kind, name);
      this.#o.log?.(`strata operator: managed NATS: deleted ${kind} ${ns}/${name} (no Collector uses it any more)`);
    };
    await gone('StatefulSet', NATS_NAME);
    await gone('Service', NATS_NAME);
    await gone('ConfigMap', `${NATS_NAME}-config`);
    if (sts !== undefined) {
      // The claim the StatefulSet made for its one pod; clusters with the retention policy have
      // already deleted it (404 is fine).
      await this.#core.deleteNamespacedPersistentVolumeClaim({ name: `${CLAIM}-${NATS_NAME}-0`, namespace: ns }).catch((e: unknown) => {
        if (codeOf(e) !== 404) throw e;
      });
    }
    return 'absent';
  }

  /**
   * Creates `desired` (with `annotations` and `owners`), or replaces the existing object when it
   * is ours and differs; a foreign object is left alone. Returns the object as stored.
   */
  async #apply<T extends Obj>(kind: Kind, desired: T, annotations: Record<string, string>, owners: V1OwnerReference[]): Promise<T | 'foreign'> {
    const name = desired.metadata?.name as string;
    const body = structuredClone(desired);
    const meta = body.metadata as V1ObjectMeta;
    meta.annotations = { ...annotations, [HASH_ANNOTATION]: hashOf(desired) };
    if (owners.length > 0) meta.ownerReferences = owners;
    for (let attempt = 0; ; attempt++) {
      const existing = (await this.#read(kind, name)) as T | undefined;
      try {
        if (existing === undefined) {
          const created = await this.#create(kind, body);
          this.#state = { ...this.#state, writes: this.#state.writes + 1 };
          this.#o.log?.(`strata operator: managed NATS: created ${kind} ${this.#o.namespace}/${name}`);
          return created as T;
        }
        if (!isOurs(existing)) return 'foreign';
        const em = existing.metadata as V1ObjectMeta;
        const same =
          em.annotations?.[HASH_ANNOTATION] === meta.annotations[HASH_ANNOTATION] &&
          Object.entries(annotations).every(([k, v]) => em.annotations?.[k] === v) &&
          ownerUids(em.ownerReferences) === ownerUids(meta.ownerReferences);
        if (same) return existing;
        const next = structuredClone(body) as T;
        (next.metadata as V1ObjectMeta).resourceVersion = em.resourceVersion as string;
        keepImmutable(kind, next, existing);
        const replaced = await this.#replace(kind, name, next);
        this.#state = { ...this.#state, writes: this.#state.writes + 1 };
        this.#o.log?.(`strata operator: managed NATS: updated ${kind} ${this.#o.namespace}/${name}`);
        return replaced as T;
      } catch (e) {
        // Another replica wrote first (AlreadyExists or a stale resourceVersion): read again.
        if (codeOf(e) !== 409 || attempt >= WRITE_RETRIES) throw e;
      }
    }
  }

  async #read(kind: Kind, name: string): Promise<Obj | undefined> {
    const q = { name, namespace: this.#o.namespace };
    try {
      switch (kind) {
        case 'StatefulSet':
          return await this.#apps.readNamespacedStatefulSet(q);
        case 'Service':
          return await this.#core.readNamespacedService(q);
        case 'ConfigMap':
          return await this.#core.readNamespacedConfigMap(q);
      }
    } catch (e) {
      if (codeOf(e) === 404) return undefined;
      throw e;
    }
  }

  #create(kind: Kind, body: Obj): Promise<Obj> {
    const namespace = this.#o.namespace;
    switch (kind) {
      case 'StatefulSet':
        return this.#apps.createNamespacedStatefulSet({ namespace, body: body as V1StatefulSet });
      case 'Service':
        return this.#core.createNamespacedService({ namespace, body: body as V1Service });
      case 'ConfigMap':
        return this.#core.createNamespacedConfigMap({ namespace, body: body as V1ConfigMap });
    }
  }

  #replace(kind: Kind, name: string, body: Obj): Promise<Obj> {
    const namespace = this.#o.namespace;
    switch (kind) {
      case 'StatefulSet':
        return this.#apps.replaceNamespacedStatefulSet({ name, namespace, body: body as V1StatefulSet });
      case 'Service':
        return this.#core.replaceNamespacedService({ name, namespace, body: body as V1Service });
      case 'ConfigMap':
        return this.#core.replaceNamespacedConfigMap({ name, namespace, body: body as V1ConfigMap });
    }
  }

  async #delete(kind: Kind, name: string): Promise<void> {
    const q = { name, namespace: this.#o.namespace, propagationPolicy: 'Background' };
    try {
      if (kind === 'StatefulSet') await this.#apps.deleteNamespacedStatefulSet(q);
      else if (kind === 'Service') await this.#core.deleteNamespacedService(q);
      else await this.#core.deleteNamespacedConfigMap(q);
    } catch (e) {
      if (codeOf(e) !== 404) throw e;
    }
  }
}

/** Fields the API server refuses to change on update keep the stored value. */
function keepImmutable(kind: Kind, next: Obj, existing: Obj): void {
  if (kind === 'StatefulSet') {
    const n = (next as V1StatefulSet).spec;
    const e = (existing as V1StatefulSet).spec;
    if (n !== undefined && e !== undefined) {
      if (e.volumeClaimTemplates !== undefined) n.volumeClaimTemplates = e.volumeClaimTemplates;
      n.selector = e.selector;
      if (e.serviceName !== undefined) n.serviceName = e.serviceName;
    }
  } else if (kind === 'Service') {
    const n = (next as V1Service).spec;
    const e = (existing as V1Service).spec;
    if (n !== undefined && e !== undefined) {
      if (e.clusterIP !== undefined) n.clusterIP = e.clusterIP;
      if (e.clusterIPs !== undefined) n.clusterIPs = e.clusterIPs;
    }
  }
}
