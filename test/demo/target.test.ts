// SPDX-License-Identifier: Apache-2.0
import { Agent } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type DemoTarget, METRICS_CONTENT_TYPE, createDemoExposition, startDemoTarget } from '../../src/demo/index.js';
import { acceptsGzip } from '../../src/demo/target.js';
import { parseExposition } from '../../src/parse/index.js';
import { get } from './http.js';

const started: DemoTarget[] = [];
async function target(series: number, seed = 1): Promise<DemoTarget> {
  const t = await startDemoTarget({ series, port: 0, seed });
  started.push(t);
  return t;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.close()));
});

describe('the demo target', () => {
  it('serves a new rendering of the exposition on every scrape of /metrics', async () => {
    const t = await target(1000, 9);
    expect(t.url).toBe(`http://127.0.0.1:${t.port}/metrics`);
    const a = await get(t.url);
    const b = await get(`${t.url}?x=1`);
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe(METRICS_CONTENT_TYPE);
    expect(a.headers['content-encoding']).toBeUndefined();
    expect(Number(a.headers['content-length'])).toBe(a.body.length);
    expect(parseExposition(a.body).stats.samples).toBe(1000);
    expect(parseExposition(b.body).stats.samples).toBe(1000);
    expect(a.body.equals(b.body)).toBe(false);
    const demo = createDemoExposition({ series: 1000, seed: 9 });
    expect(a.body.equals(demo.render(0))).toBe(true);
    expect(b.body.equals(demo.render(1))).toBe(true);
    expect(t.scrapes()).toBe(2);
    expect(t.description.series).toBe(1000);
  });

  it('gzips the body when the request accepts it', async () => {
    const t = await target(500);
    const zipped = await get(t.url, { headers: { 'Accept-Encoding': 'deflate, gzip;q=0.8' } });
    expect(zipped.status).toBe(200);
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('Accept-Encoding');
    const body = gunzipSync(zipped.body);
    expect(zipped.body.length).toBeLessThan(body.length / 3);
    expect(parseExposition(body).stats.samples).toBe(500);
    const refused = await get(t.url, { headers: { 'Accept-Encoding': 'gzip;q=0' } });
    expect(refused.headers['content-encoding']).toBeUndefined();
    expect(parseExposition(refused.body).stats.samples).toBe(500);
  });

  it('with prerender K, serves scrapes 0…K−1 rendered once, in turn, plain or gzipped', async () => {
    const t = await startDemoTarget({ series: 300, port: 0, seed: 4, prerender: 3 });
    started.push(t);
    const demo = createDemoExposition({ series: 300, seed: 4 });
    const bodies: Buffer[] = [];
    for (let n = 0; n < 7; n++) {
      const gz = n % 2 === 1;
      const r = await get(t.url, gz ? { headers: { 'Accept-Encoding': 'gzip' } } : {});
      expect(r.headers['content-encoding']).toBe(gz ? 'gzip' : undefined);
      bodies.push(gz ? gunzipSync(r.body) : r.body);
    }
    bodies.forEach((b, n) => expect(b.equals(demo.render(n % 3)), `scrape ${n}`).toBe(true));
    expect(t.scrapes()).toBe(7);
    await expect(startDemoTarget({ series: 10, port: 0, prerender: 65 })).rejects.toThrow('prerender');
  });

  it('keeps every body intact when scrapes overlap and output buffers are recycled', async () => {
    const t = await target(2000, 4);
    const demo = createDemoExposition({ series: 2000, seed: 4 });
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    try {
      for (let round = 0; round < 3; round++) {
        const replies = await Promise.all(
          Array.from({ length: 12 }, (_, i) => get(t.url, { agent, headers: i % 3 === 0 ? { 'Accept-Encoding': 'gzip' } : {} })),
        );
        for (const r of replies) {
          const body = r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body;
          expect(parseExposition(body).stats.samples).toBe(2000);
        }
        const bodies = replies.map((r) => (r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body));
        // Each body is one scrape's rendering, and no two replies carry the same scrape.
        const matched = new Set<number>();
        for (const body of bodies) {
          for (let n = round * 12; n < round * 12 + 12; n++) {
            if (!matched.has(n) && body.equals(demo.render(n))) {
              matched.add(n);
              break;
            }
          }
        }
        expect(matched.size).toBe(12);
      }
      expect(t.scrapes()).toBe(36);
    } finally {
      agent.destroy();
    }
  });

  it('answers 404 elsewhere, 405 to other methods, and headers only to HEAD', async () => {
    const t = await target(10);
    const base = t.url.replace('/metrics', '');
    expect((await get(`${base}/`)).status).toBe(404);
    expect((await get(`${base}/metrics/x`)).status).toBe(404);
    const post = await get(t.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    const head = await get(t.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(t.scrapes()).toBe(0);
  });

  it('closes with keep-alive connections open, and refuses connections afterwards', async () => {
    const t = await startDemoTarget({ series: 100 });
    const agent = new Agent({ keepAlive: true });
    expect((await get(t.url, { agent })).status).toBe(200);
    await t.close();
    await t.close();
    await expect(get(t.url)).rejects.toThrow(/ECONNREFUSED/);
    agent.destroy();
  });

  it('rejects when the port is taken', async () => {
    const t = await target(10);
    await expect(startDemoTarget({ series: 10, port: t.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it.each([
    { input: undefined, want: false },
    { input: '', want: false },
    { input: 'gzip', want: true },
    { input: 'GZIP', want: true },
    { input: 'deflate, br', want: false },
    { input: 'br;q=1.0, gzip;q=0.5', want: true },
    { input: 'gzip;q=0', want: false },
    { input: 'gzip; q=0.0', want: false },
    { input: 'x-gzip', want: true },
    { input: '*', want: true },
    { input: 'identity', want: false },
  ])('reads Accept-Encoding $input as gzip: $want', ({ input, want }) => {
    expect(acceptsGzip(input)).toBe(want);
  });
});
