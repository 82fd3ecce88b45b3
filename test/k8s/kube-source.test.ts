// SPDX-License-Identifier: Apache-2.0
/**
 * Kubernetes discovery through the real client library against the API server fixture: pods,
 * services and headless services appear, change labels and annotations, and go, and the target
 * set follows; hostile annotations are refused; informers are shared; an API outage keeps the
 * last targets and says why, and discovery recovers.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InformerPool, KubeSource } from '../../src/k8s/kube-source.js';
import type { KubeTarget } from '../../src/k8s/targets.js';
import { ApiServer, type KObject } from '../fixtures/k8s/api-server.js';

const P = 'prometheus.io';

function pod(name: string, ip: string, labels: Record<string, string>, annotations: Record<string, string>, phase = 'Running'): KObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'shop', labels, annotations }, spec: {}, status: { phase, podIP: ip } };
}

function service(name: string, clusterIP: string, annotations: Record<string, string>, labels: Record<string, string> = { app: 'web' }): KObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop', labels, annotations }, spec: { clusterIP } };
}

function slice(service: string, endpoints: [string, string][]): KObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${service}-abc`, namespace: 'shop', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: endpoints.map(([ip, podName]) => ({ addresses: [ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: podName, namespace: 'shop' } })),
  } as KObject;
}

const scrape = (port: string, extra: Record<string, string> = {}): Record<string, string> => ({ [`${P}/scrape`]: 'true', [`${P}/port`]: port, ...extra });

async function eventually(check: () => Promise<void>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const urls = (ts: readonly KubeTarget[]): string[] => ts.map((t) => t.url).sort();

describe('KubeSource', () => {
  let server: ApiServer;
  let config: KubeConfig;

  beforeAll(async () => {
    server = await ApiServer.start();
    config = new KubeConfig();
    config.loadFromFile(server.writeKubeconfig());
  }, 30_000);
  afterAll(async () => {
    await server.close();
  });

  it('follows pods, services and headless endpoints as they come, change and go', async () => {
    const pool = new InformerPool(config);
    const source = new KubeSource({ prefix: P, selector: { matchLabels: { app: 'web' } }, resources: { pods: true, services: true, endpoints: true } }, pool);
    try {
      server.upsert(pod('web-0', '10.0.0.1', { app: 'web' }, scrape('9100')));
      server.upsert(pod('web-1', '10.0.0.2', { app: 'web' }, scrape('9100'), 'Pending'));
      server.upsert(pod('db-0', '10.0.0.3', { app: 'db' }, scrape('9100')));
      server.upsert(service('web', '10.96.0.1', scrape('8080')));
      server.upsert(service('web-headless', 'None', scrape('9200')));
      server.upsert(slice('web-headless', [['10.0.0.1', 'web-0'], ['10.0.0.2', 'web-1']]));
      await source.synced();
      await eventually(async () => {
        expect(urls(await source.discover())).toEqual([
          'http://10.0.0.1:9100/metrics',
          'http://10.0.0.1:9200/metrics',
          'http://10.0.0.2:9200/metrics',
          'http://10.96.0.1:8080/metrics',
        ]);
      });
      const endpoint = (await source.discover()).find((t) => t.url === 'http://10.0.0.2:9200/metrics');
      expect(endpoint?.labels).toEqual({ pod: 'web-1' });
      expect(endpoint?.resource).toMatchObject({ kind: 'Endpoints', namespace: 'shop', name: 'web-headless' });

      // web-1 starts running; web-0 loses its label; the service's port annotation changes.
      server.upsert(pod('web-1', '10.0.0.2', { app: 'web' }, scrape('9100')));
      server.upsert(pod('web-0', '10.0.0.1', { app: 'legacy' }, scrape('9100')));
      server.upsert(service('web', '10.96.0.1', scrape('8081')));
      await eventually(async () => {
        expect(urls(await source.discover())).toEqual([
          'http://10.0.0.1:9200/metrics',
          'http://10.0.0.2:9100/metrics',
          'http://10.0.0.2:9200/metrics',
          'http://10.96.0.1:8081/metrics',
        ]);
      });

      // The headless service goes: its endpoints go with it.
      server.remove('Service', 'shop', 'web-headless');
      server.remove('Pod', 'shop', 'web-1');
      await eventually(async () => {
        expect(urls(await source.discover())).toEqual(['http://10.96.0.1:8081/metrics']);
      });
    } finally {
      source.close();
      await pool.close();
    }
  }, 60_000);

  it('scrapes endpoints of a headless service with service discovery off', async () => {
    const pool = new InformerPool(config);
    const source = new KubeSource({ prefix: P, selector: {}, resources: { pods: false, services: false, endpoints: true } }, pool);
    try {
      server.upsert(service('cache', 'None', scrape('9121'), { app: 'cache' }));
      server.upsert(service('api', '10.96.0.9', scrape('9121'), { app: 'api' }));
      server.upsert(slice('cache', [['10.0.5.1', 'cache-0']]));
      await source.synced();
      await eventually(async () => {
        expect(urls(await source.discover())).toEqual(['http://10.0.5.1:9121/metrics']);
      });
    } finally {
      source.close();
      await pool.close();
    }
  }, 60_000);

  it('refuses hostile annotations, with the object and the reason, and scrapes the rest', async () => {
    const pool = new InformerPool(config);
    const source = new KubeSource({ prefix: 'hostile.io', selector: { matchLabels: { app: 'h' } }, resources: { pods: true, services: false, endpoints: false } }, pool);
    try {
      const h = (port: string, path = '/metrics'): Record<string, string> => ({ 'hostile.io/scrape': 'true', 'hostile.io/port': port, 'hostile.io/path': path });
      server.upsert(pod('h-0', '10.0.9.1', { app: 'h' }, h('99999')));
      server.upsert(pod('h-1', '10.0.9.2', { app: 'h' }, h('80', '//169.254.169.254/latest/meta-data')));
      server.upsert(pod('h-2', '10.0.9.3', { app: 'h' }, h('80', '/ok')));
      await source.synced();
      await eventually(async () => {
        expect(urls(await source.discover())).toEqual(['http://10.0.9.3:80/ok']);
        expect(source.refused).toEqual([
          { object: 'pod shop/h-0', reason: 'hostile.io/port must be a number in 1-65535, got "99999"' },
          { object: 'pod shop/h-1', reason: 'hostile.io/path must not name a host (//…), got "//169.254.169.254/latest/meta-data"' },
        ]);
      });
      expect(source.refusedTotal).toBeGreaterThanOrEqual(2);
    } finally {
      source.close();
      await pool.close();
    }
  }, 60_000);

  it('shares one informer between Discoveries that ask for the same objects', async () => {
    const pool = new InformerPool(config);
    const spec = { prefix: P, selector: { matchLabels: { app: 'web' } }, resources: { pods: true, services: false, endpoints: false } };
    const a = new KubeSource(spec, pool);
    const b = new KubeSource(spec, pool);
    expect(pool.size).toBe(1);
    a.close();
    expect(pool.size).toBe(1);
    b.close();
    expect(pool.size).toBe(0);
    await pool.close();
  });

  it('keeps the last targets through an API outage, says why, and recovers', async () => {
    const pool = new InformerPool(config);
    const source = new KubeSource({ prefix: P, selector: { matchLabels: { app: 'out' } }, resources: { pods: true, services: false, endpoints: false } }, pool);
    try {
      server.upsert(pod('out-0', '10.0.7.1', { app: 'out' }, scrape('9100')));
      await source.synced();
      await eventually(async () => expect(urls(await source.discover())).toEqual(['http://10.0.7.1:9100/metrics']));
      server.failNext(3, { status: 503, reason: 'ServiceUnavailable', match: (_m, path) => path.endsWith('/pods') });
      server.endWatches();
      await eventually(async () => {
        await expect(source.discover()).rejects.toThrow(/kubernetes: \/api\/v1\/pods: HTTP 503/);
      });
      server.upsert(pod('out-1', '10.0.7.2', { app: 'out' }, scrape('9100')));
      await eventually(async () => expect(urls(await source.discover())).toEqual(['http://10.0.7.1:9100/metrics', 'http://10.0.7.2:9100/metrics']), 40_000);
    } finally {
      source.close();
      await pool.close();
    }
  }, 90_000);
});
