// SPDX-License-Identifier: Apache-2.0
import { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { startTelemetryServer } from '../../src/telemetry/index.js';
import { get } from '../demo/http.js';
import { metrics, serve } from './helpers.js';

describe('the telemetry server', () => {
  it('answers /healthz with 200 ok', async () => {
    const s = await serve(metrics());
    const r = await get(`${s.url}/healthz`);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok\n');
  });

  it('answers /readyz with 200 when ready and 503 when not, as ready() flips', async () => {
    let ready = false;
    const s = await serve(metrics(), () => ({}), () => ready);
    expect((await get(`${s.url}/readyz`)).status).toBe(503);
    ready = true;
    const ok = await get(`${s.url}/readyz`);
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('ready\n');
    ready = false;
    expect((await get(`${s.url}/readyz`)).status).toBe(503);
  });

  it('answers /readyz with 503 and the reasons when ready() gives them, 200 when it says ready', async () => {
    let r: { ready: boolean; reasons: string[] } = { ready: false, reasons: ['collector a/b: worker 0 failed: ENOENT', 'collector c/d: every send has failed for 31 s'] };
    const s = await serve(metrics(), () => ({}), () => r);
    const no = await get(`${s.url}/readyz`);
    expect(no.status).toBe(503);
    expect(no.body.toString()).toBe('not ready: collector a/b: worker 0 failed: ENOENT; collector c/d: every send has failed for 31 s\n');
    r = { ready: true, reasons: [] };
    expect((await get(`${s.url}/readyz`)).status).toBe(200);
  });

  it('answers /readyz with 503 and the message when ready() throws', async () => {
    const s = await serve(metrics(), () => ({}), () => {
      throw new Error('registry not loaded');
    });
    const r = await get(`${s.url}/readyz`);
    expect(r.status).toBe(503);
    expect(r.body.toString()).toBe('not ready: registry not loaded\n');
  });

  it('answers /status with the JSON of status(), awaited when it is a promise', async () => {
    let n = 0;
    const s = await serve(metrics(), () => ({ collectors: [{ key: 'ns/a', sent: ++n }] }));
    const r = await get(`${s.url}/status`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(r.body.toString())).toEqual({ collectors: [{ key: 'ns/a', sent: 1 }] });
    expect(JSON.parse((await get(`${s.url}/status`)).body.toString())).toEqual({ collectors: [{ key: 'ns/a', sent: 2 }] });
    const p = await serve(metrics(), async () => ({ ok: true }));
    expect(JSON.parse((await get(`${p.url}/status`)).body.toString())).toEqual({ ok: true });
    const u = await serve(metrics(), () => undefined);
    expect((await get(`${u.url}/status`)).body.toString()).toBe('null\n');
  });

  it.each([
    { name: 'throws', status: (): unknown => { throw new Error('status exploded'); }, want: 'status exploded' },
    { name: 'rejects', status: (): unknown => Promise.reject(new Error('async exploded')), want: 'async exploded' },
    { name: 'returns what JSON cannot hold', status: (): unknown => ({ big: 1n }), want: 'Do not know how to serialize a BigInt' },
  ])('answers /status with 500 and the message when status() $name', async ({ status, want }) => {
    const s = await serve(metrics(), status);
    const r = await get(`${s.url}/status`);
    expect(r.status).toBe(500);
    expect(JSON.parse(r.body.toString())).toEqual({ error: want });
    expect((await get(`${s.url}/healthz`)).status).toBe(200);
  });

  it('answers 404 to unknown paths and 405 to other methods', async () => {
    const s = await serve(metrics());
    expect((await get(`${s.url}/`)).status).toBe(404);
    expect((await get(`${s.url}/metricsx`)).status).toBe(404);
    const post = await get(`${s.url}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await get(`${s.url}/healthz`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
  });

  it('keeps connections alive between requests, and closes with one open', async () => {
    const s = await startTelemetryServer({ port: 0, metrics: metrics(), status: () => ({}), ready: () => true });
    expect(s.url).toBe(`http://127.0.0.1:${s.port}`);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    agent.on('free', (socket) => sockets.add(socket));
    const a = await get(`${s.url}/healthz`, { agent });
    const b = await get(`${s.url}/metrics`, { agent });
    expect(a.headers.connection).toBe('keep-alive');
    expect(b.status).toBe(200);
    expect(sockets.size).toBe(1);
    await s.close();
    await expect(get(`${s.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });
});
