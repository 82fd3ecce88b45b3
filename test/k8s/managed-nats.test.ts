// SPDX-License-Identifier: Apache-2.0
/**
 * The managed NATS server (src/k8s/managed-nats.ts): the committed kustomize component equals
 * the TypeScript definition; its configuration starts a real nats-server with JetStream (the
 * `nats` image cannot run here; nats-server on PATH, Debian package `nats-server`, runs the same
 * file); and, through @kubernetes/client-node against the API server fixture, the operator
 * creates the StatefulSet, Service and ConfigMap when a Collector asks, writes nothing while
 * nothing changed, follows its users, leaves a hand-applied server alone, survives two replicas
 * reconciling at once, and deletes everything (the volume too) when the last user goes.
 *
 * The fixture serves no ConfigMaps or PersistentVolumeClaims of its own; `serveCoreKind` adds
 * them as the fixture adds any kind, through a CustomResourceDefinition (in the core group here)
 * that it serves at once under `/api/v1`, with the same verbs and watch as a built-in kind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import {
  HASH_ANNOTATION,
  MANAGED_BY,
  ManagedNats,
  managedNatsUrl,
  NATS_CONF,
  natsObjects,
  renderNatsComponent,
  USERS_ANNOTATION,
  wantsManagedNats,
} from '../../src/k8s/managed-nats.js';
import { ApiServer, type KObject } from '../fixtures/k8s/api-server.js';

const root = join(import.meta.dirname, '..', '..');
const NS = 'strata';

function serveCoreKind(server: ApiServer, plural: string, kind: string): void {
  try {
    server.list(kind);
    server.upsert({ apiVersion: 'v1', kind, metadata: { name: 'probe', namespace: 'default' } });
    server.remove(kind, 'default', 'probe');
    return; // served already
  } catch {
    // unknown kind: serve it below
  }
  server.upsert({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: plural },
    spec: { group: '', scope: 'Namespaced', names: { plural, singular: kind.toLowerCase(), kind }, versions: [{ name: 'v1', served: true, storage: true }] },
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const writes = (server: ApiServer, from: number): string[] =>
  server.requests
    .slice(from)
    .filter((r) => r.method !== 'GET')
    .map((r) => `${r.method} ${r.path} ${r.status}`);

describe('managed NATS: the definition', () => {
  it('is what deploy/nats/nats.yaml holds (regenerate with npm run docs)', () => {
    expect(readFileSync(join(root, 'deploy', 'nats', 'nats.yaml'), 'utf8')).toBe(renderNatsComponent());
  });

  it('differs from the kustomize component only in who manages it and where it lives', () => {
    const component = parseAllDocuments(renderNatsComponent()).map((d) => d.toJSON() as KObject);
    const managed = natsObjects({ namespace: NS, managedBy: MANAGED_BY });
    const strip = (o: unknown): unknown => JSON.parse(JSON.stringify(o).replaceAll(`"${MANAGED_BY}"`, '"kustomize"').replaceAll(`,"namespace":"${NS}"`, ''));
    expect(component).toEqual([managed.configMap, managed.service, managed.statefulSet].map(strip));
  });

  it('asks for the managed server only with output.nats.managed: true', () => {
    expect(wantsManagedNats({ output: { nats: { managed: true } } })).toBe(true);
    expect(wantsManagedNats({ output: { nats: { managed: false } } })).toBe(false);
    expect(wantsManagedNats({ output: { nats: {} } })).toBe(false);
    expect(wantsManagedNats({ output: {} })).toBe(false);
    expect(wantsManagedNats({})).toBe(false);
    expect(managedNatsUrl('strata')).toBe('nats://strata-nats.strata.svc:4222');
  });

  it('runs a real nats-server with JetStream in the store directory, named after the pod', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-nats-conf-'));
    let child: ChildProcess | undefined;
    try {
      // The image's two paths (/data, /var/run/nats/nats.pid) moved to the temp dir; everything else as it is.
      const conf = NATS_CONF.replace('store_dir: /data\n', `store_dir: ${join(dir, 'data')}\n`).replace('/var/run/nats/nats.pid', join(dir, 'nats.pid'));
      expect(conf).not.toBe(NATS_CONF);
      writeFileSync(join(dir, 'nats.conf'), conf);
      const [port, monitor] = [await freePort(), await freePort()];
      child = spawn('nats-server', ['-c', join(dir, 'nats.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)], {
        env: { ...process.env, SERVER_NAME: 'strata-nats-0' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
      let jsz: { config?: { store_dir?: string; max_storage?: number; max_memory?: number } } | undefined;
      const until = Date.now() + 20_000;
      while (jsz === undefined) {
        if (Date.now() > until) throw new Error(`nats-server did not serve /jsz: ${log}`);
        jsz = await fetch(`http://127.0.0.1:${monitor}/jsz`)
          .then((r) => (r.ok ? (r.json() as Promise<typeof jsz>) : undefined))
          .catch(() => undefined);
        if (jsz === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      expect(jsz.config?.store_dir).toBe(join(dir, 'data', 'jetstream'));
      expect(jsz.config?.max_storage).toBe(8 * 1024 ** 3);
      expect(jsz.config?.max_memory).toBe(256 * 1024 ** 2);
      const varz = (await (await fetch(`http://127.0.0.1:${monitor}/varz`)).json()) as { server_name: string; port: number };
      expect(varz.server_name).toBe('strata-nats-0');
      expect(varz.port).toBe(port);
    } finally {
      if (child !== undefined && child.exitCode === null) {
        const exited = new Promise((r) => child?.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('managed NATS: the operator', () => {
  let server: ApiServer;
  let config: KubeConfig;

  beforeAll(async () => {
    server = await ApiServer.start();
    server.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    serveCoreKind(server, 'configmaps', 'ConfigMap');
    serveCoreKind(server, 'persistentvolumeclaims', 'PersistentVolumeClaim');
    config = new KubeConfig();
    config.loadFromFile(server.writeKubeconfig(NS));
  }, 30_000);
  afterAll(async () => {
    await server.close();
  });

  it('creates the server for its first user, writes nothing while nothing changes, follows its users, and deletes it all with the last', async () => {
    const nats = new ManagedNats({ config, namespace: NS });
    expect(await nats.reconcile([{ namespace: 'shop', name: 'orders' }])).toBe('nats://strata-nats.strata.svc:4222');

    const desired = natsObjects({ namespace: NS, managedBy: MANAGED_BY });
    const sts = server.get('StatefulSet', NS, 'strata-nats') as KObject;
    const svc = server.get('Service', NS, 'strata-nats') as KObject;
    const cm = server.get('ConfigMap', NS, 'strata-nats-config') as KObject;
    expect(sts.spec).toEqual(desired.statefulSet.spec);
    expect(svc.spec).toEqual(desired.service.spec);
    expect((cm as { data?: unknown }).data).toEqual({ 'nats.conf': NATS_CONF });
    for (const o of [sts, svc, cm]) {
      expect(o.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/instance': 'strata-nats' });
      expect(o.metadata.annotations?.[HASH_ANNOTATION]).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(sts.metadata.annotations?.[USERS_ANNOTATION]).toBe('shop/orders');
    expect(sts.metadata['ownerReferences']).toBeUndefined();
    // Service and ConfigMap are owned by the StatefulSet, so the garbage collector removes them with it.
    for (const o of [svc, cm]) expect(o.metadata['ownerReferences']).toEqual([{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'strata-nats', uid: sts.metadata.uid, blockOwnerDeletion: false }]);
    expect(nats.state()).toMatchObject({ server: 'present', users: ['shop/orders'], url: 'nats://strata-nats.strata.svc:4222', writes: 3, lastError: null });

    // Reconciling again with the same users: reads only.
    let mark = server.requests.length;
    await nats.reconcile([{ namespace: 'shop', name: 'orders' }]);
    expect(writes(server, mark)).toEqual([]);

    // A second user: only the StatefulSet's users annotation is written.
    mark = server.requests.length;
    await nats.reconcile([
      { namespace: 'shop', name: 'orders' },
      { namespace: 'ops', name: 'nodes' },
    ]);
    expect(writes(server, mark)).toEqual([`PUT /apis/apps/v1/namespaces/${NS}/statefulsets/strata-nats 200`]);
    expect(server.get('StatefulSet', NS, 'strata-nats')?.metadata.annotations?.[USERS_ANNOTATION]).toBe('ops/nodes,shop/orders');

    // The StatefulSet controller's claim for pod 0, as a cluster would have made it.
    server.upsert({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data-strata-nats-0', namespace: NS }, spec: {} });
    server.upsert({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'someone-else', namespace: NS }, spec: {} });

    // One user left: still there. None: all gone, the volume too, and nothing else.
    expect(await nats.reconcile([{ namespace: 'ops', name: 'nodes' }])).toBe('nats://strata-nats.strata.svc:4222');
    expect(server.get('StatefulSet', NS, 'strata-nats')).toBeDefined();
    expect(await nats.reconcile([])).toBeNull();
    expect(server.get('StatefulSet', NS, 'strata-nats')).toBeUndefined();
    expect(server.get('Service', NS, 'strata-nats')).toBeUndefined();
    expect(server.get('ConfigMap', NS, 'strata-nats-config')).toBeUndefined();
    expect(server.get('PersistentVolumeClaim', NS, 'data-strata-nats-0')).toBeUndefined();
    expect(server.get('PersistentVolumeClaim', NS, 'someone-else')).toBeDefined();
    expect(nats.state()).toMatchObject({ server: 'absent', users: [], url: null });

    // Nothing to remove: no writes.
    mark = server.requests.length;
    expect(await nats.reconcile([])).toBeNull();
    expect(writes(server, mark)).toEqual([]);
    server.remove('PersistentVolumeClaim', NS, 'someone-else');
  }, 60_000);

  it('brings a managed object whose definition changed back to the current one, keeping its immutable fields', async () => {
    const nats = new ManagedNats({ config, namespace: NS });
    await nats.reconcile([{ namespace: 'shop', name: 'orders' }]);
    const old = server.get('StatefulSet', NS, 'strata-nats') as KObject & { spec: { template: { spec: { containers: { image: string }[] } } } };
    // As an older operator would have left it: another image and another hash.
    (old.spec.template.spec.containers[0] as { image: string }).image = 'nats:2.9.0-alpine';
    old.metadata.annotations = { ...old.metadata.annotations, [HASH_ANNOTATION]: '0000000000000000' };
    server.upsert(old);
    const uid = old.metadata.uid;
    await nats.reconcile([{ namespace: 'shop', name: 'orders' }]);
    const now = server.get('StatefulSet', NS, 'strata-nats') as KObject;
    expect(now.spec).toEqual(natsObjects({ namespace: NS, managedBy: MANAGED_BY }).statefulSet.spec);
    expect(now.metadata.uid).toBe(uid);
    await nats.reconcile([]);
    expect(server.get('StatefulSet', NS, 'strata-nats')).toBeUndefined();
  }, 60_000);

  it('uses a strata-nats applied by hand as it is, and never deletes it', async () => {
    const mine = natsObjects({ namespace: NS, managedBy: 'kustomize' });
    for (const o of [mine.configMap, mine.service, mine.statefulSet]) server.upsert(o as unknown as KObject);
    const nats = new ManagedNats({ config, namespace: NS });
    const mark = server.requests.length;
    expect(await nats.reconcile([{ namespace: 'shop', name: 'orders' }])).toBe('nats://strata-nats.strata.svc:4222');
    expect(nats.state().server).toBe('foreign');
    expect(await nats.reconcile([])).toBeNull();
    expect(writes(server, mark)).toEqual([]);
    expect(server.get('StatefulSet', NS, 'strata-nats')?.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('kustomize');
    expect(server.get('Service', NS, 'strata-nats')).toBeDefined();
    server.remove('StatefulSet', NS, 'strata-nats');
    server.remove('Service', NS, 'strata-nats');
    server.remove('ConfigMap', NS, 'strata-nats-config');
  }, 60_000);

  it('converges when two replicas reconcile at once', async () => {
    const a = new ManagedNats({ config, namespace: NS });
    const b = new ManagedNats({ config, namespace: NS });
    const users = [{ namespace: 'shop', name: 'orders' }];
    const [ua, ub] = await Promise.all([a.reconcile(users), b.reconcile(users), a.reconcile(users), b.reconcile(users)]);
    expect(ua).toBe(ub);
    expect(server.list('StatefulSet', NS)).toHaveLength(1);
    expect(server.list('Service', NS)).toHaveLength(1);
    expect(server.list('ConfigMap', NS)).toHaveLength(1);
    await Promise.all([a.reconcile([]), b.reconcile([])]);
    expect(server.list('StatefulSet', NS)).toHaveLength(0);
    expect(server.list('ConfigMap', NS)).toHaveLength(0);
  }, 60_000);

  it('keeps an API error in its state and throws it, then recovers', async () => {
    const nats = new ManagedNats({ config, namespace: NS });
    server.failNext(1, { status: 503, reason: 'ServiceUnavailable', match: (m, p) => m === 'GET' && p.includes('/statefulsets/') });
    await expect(nats.reconcile([{ namespace: 'shop', name: 'orders' }])).rejects.toThrow();
    expect(nats.state().lastError).toMatch(/503|ServiceUnavailable/);
    expect(await nats.reconcile([{ namespace: 'shop', name: 'orders' }])).toBe('nats://strata-nats.strata.svc:4222');
    expect(nats.state().lastError).toBeNull();
    await nats.reconcile([]);
  }, 60_000);
});
