// SPDX-License-Identifier: Apache-2.0
/**
 * The admission webhooks over real HTTPS: AdmissionReview v1 requests for good and bad
 * resources, defaults as a JSON patch that adds only what is missing, every validation error
 * with its field path, and the certificate reloaded when its files change.
 */
import { copyFileSync } from 'node:fs';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebhookServer } from '../../src/k8s/webhook.js';
import { makeCerts, type TestCerts } from '../fixtures/tls-certs.js';

function post(url: string, path: string, body: unknown, ca: string): Promise<{ status: number; body: any; cert: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: 'POST', ca, headers: { 'content-type': 'application/json' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const cert = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: res.headers['content-type'] === 'application/json' ? JSON.parse(text) : text, cert });
      });
    });
    req.on('error', reject);
    req.end(typeof body === 'string' ? body : JSON.stringify(body));
  });
}

const review = (object: unknown, operation = 'CREATE') => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', operation, kind: { group: 'strata.ctx.sh', version: 'v1beta1', kind: (object as { kind: string }).kind }, object },
});

const collector = (spec: unknown) => ({ apiVersion: 'strata.ctx.sh/v1beta1', kind: 'Collector', metadata: { name: 'main', namespace: 'shop' }, spec });

describe('admission webhooks', () => {
  let certs: TestCerts;
  let other: TestCerts;
  let server: WebhookServer;

  beforeAll(async () => {
    certs = makeCerts('strata-webhook-');
    other = makeCerts('strata-webhook-other-');
    server = await WebhookServer.start({ certFile: certs.path('server.crt'), keyFile: certs.path('server.key'), port: 0, host: '127.0.0.1', reloadMs: 100 });
  }, 30_000);
  afterAll(async () => {
    await server.close();
    certs.remove();
    other.remove();
  });

  it('defaults a Collector with a JSON patch that adds only what is missing', async () => {
    const res = await post(server.url, '/mutate', review(collector({ workers: 2, scrape: { timeoutSeconds: 3 } })), certs.pem('ca.crt'));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true, patchType: 'JSONPatch' } });
    const ops = JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString('utf8')) as { op: string; path: string; value: unknown }[];
    const paths = ops.map((o) => o.path);
    expect(paths).toContain('/spec/enabled');
    expect(paths).toContain('/spec/output');
    expect(paths).toContain('/spec/scrape/maxBodyBytes');
    expect(paths).not.toContain('/spec/workers');
    expect(paths).not.toContain('/spec/scrape/timeoutSeconds');
    expect(ops.every((o) => o.op === 'add')).toBe(true);
    expect(ops.find((o) => o.path === '/spec/enabled')?.value).toBe(true);
  });

  it('defaults the namespace of a Discovery\'s collector references', async () => {
    const d = { apiVersion: 'strata.ctx.sh/v1beta1', kind: 'Discovery', metadata: { name: 'd', namespace: 'shop' }, spec: { collector: [{ name: 'main' }] } };
    const res = await post(server.url, '/mutate', review(d), certs.pem('ca.crt'));
    const ops = JSON.parse(Buffer.from(res.body.response.patch, 'base64').toString('utf8')) as { path: string; value: unknown }[];
    expect(ops).toContainEqual({ op: 'add', path: '/spec/collector/0/namespace', value: 'shop' });
  });

  it('allows a valid resource and refuses an invalid one with every error and its field path', async () => {
    const ok = await post(server.url, '/validate', review(collector({ workers: 2 })), certs.pem('ca.crt'));
    expect(ok.body.response).toEqual({ uid: 'u-1', allowed: true });
    const bad = await post(server.url, '/validate', review(collector({ workers: 0, scrape: { timeoutSeconds: -1 }, encoder: 'xml' })), certs.pem('ca.crt'));
    expect(bad.body.response.allowed).toBe(false);
    expect(bad.body.response.status.code).toBe(422);
    expect(bad.body.response.status.message).toContain('Collector shop/main is invalid: ');
    expect(bad.body.response.status.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.encoder', 'spec.scrape.timeoutSeconds', 'spec.workers']);
    expect(bad.body.response.status.message).toContain('spec.workers: must be ≥ 1, got 0');
  });

  it('allows deletes and other kinds untouched, and answers 400 to a body that is not an AdmissionReview', async () => {
    expect((await post(server.url, '/validate', review(collector({ workers: 0 }), 'DELETE'), certs.pem('ca.crt'))).body.response.allowed).toBe(true);
    expect((await post(server.url, '/mutate', review({ kind: 'Pod', metadata: { name: 'x' } }), certs.pem('ca.crt'))).body.response).toEqual({ uid: 'u-1', allowed: true });
    const bad = await post(server.url, '/validate', '{"kind":"Nope"}', certs.pem('ca.crt'));
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('not an AdmissionReview');
  });

  it('serves a new certificate once its files change', async () => {
    const before = (await post(server.url, '/validate', review(collector({})), certs.pem('ca.crt'))).cert;
    copyFileSync(other.path('server.crt'), certs.path('server.crt'));
    copyFileSync(other.path('server.key'), certs.path('server.key'));
    const until = Date.now() + 20_000;
    let after = before;
    while (after === before && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 100));
      after = (await post(server.url, '/validate', review(collector({})), other.pem('ca.crt')).catch(() => ({ cert: before }))).cert;
    }
    expect(after).not.toBe(before);
    expect(server.reloads).toBeGreaterThan(0);
  }, 30_000);
});
