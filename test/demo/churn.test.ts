// SPDX-License-Identifier: Apache-2.0
/**
 * Series churn of the demo exposition and target: a share of the series replaced by new ones on
 * every scrape (pods rescheduled), never coming back, and no churn unless asked.
 */
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type DemoTarget, createDemoExposition, startDemoTarget } from '../../src/demo/index.js';
import { churnOf } from '../../src/demo/target.js';
import { demoTargetCommand } from '../../src/cli/demo-target-command.js';
import { UsageError } from '../../src/errors.js';
import { get } from './http.js';

/** The series (everything before the value) of each sample line, in order. */
function seriesOf(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.slice(0, l.lastIndexOf(' ')));
}

const started: DemoTarget[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((t) => t.close()));
});

describe('demo exposition churn', () => {
  it('renders exactly the body without churn at churn 0 and at churn scrape 0', () => {
    const demo = createDemoExposition({ series: 3000, seed: 5 });
    for (const n of [0, 1, 7]) {
      expect(demo.render(n, { churn: 0 }).equals(demo.render(n))).toBe(true);
      expect(demo.render(n, { churn: 0.3, churnScrape: 0 }).equals(demo.render(n))).toBe(true);
    }
  });

  it('replaces about the given share of the series per scrape, with series never seen before', () => {
    const demo = createDemoExposition({ series: 10_000, seed: 3 });
    const seen = new Set<string>();
    let prev = seriesOf(demo.render(0, { churn: 0.1 }));
    for (const s of prev) seen.add(s);
    for (let n = 1; n <= 30; n++) {
      const body = demo.render(n, { churn: 0.1 });
      const cur = seriesOf(body);
      expect(cur.length).toBe(10_000);
      // Lines keep their length and order: only the pod name changes.
      expect(body.length).toBe(demo.render(n).length);
      let changed = 0;
      for (let i = 0; i < cur.length; i++) {
        if (cur[i] === prev[i]) continue;
        changed++;
        expect(seen.has(cur[i] as string), `scrape ${n}: ${cur[i]} came back`).toBe(false);
        seen.add(cur[i] as string);
      }
      // 25 of 250 pods (±1) of ~40 series each: 10% of the series, within the pods' spread.
      expect(changed / cur.length, `scrape ${n}`).toBeGreaterThan(0.07);
      expect(changed / cur.length, `scrape ${n}`).toBeLessThan(0.13);
      expect(new Set(cur).size).toBe(cur.length);
      prev = cur;
    }
    expect(seen.size).toBeGreaterThan(10_000 * (1 + 30 * 0.08));
  });

  it('changes only the pod label value, to another name of the same shape', () => {
    const demo = createDemoExposition({ series: 500, seed: 2 });
    const a = seriesOf(demo.render(4));
    const b = seriesOf(demo.render(4, { churn: 1, churnScrape: 4 }));
    const pod = /pod="([^"]*)"/;
    for (let i = 0; i < a.length; i++) {
      const pa = pod.exec(a[i] as string)?.[1] as string;
      const pb = pod.exec(b[i] as string)?.[1] as string;
      expect(pb).not.toBe(pa);
      expect(pb.slice(0, -5)).toBe(pa.slice(0, -5));
      expect(pb).toMatch(/-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      expect((b[i] as string).replace(pb, pa)).toBe(a[i]);
    }
  });

  it('rejects a share outside 0..1', () => {
    const demo = createDemoExposition({ series: 10 });
    expect(() => demo.render(1, { churn: 1.5 })).toThrow('churn must be a share in 0..1, got 1.5');
    expect(() => demo.render(1, { churn: Number.NaN })).toThrow('churn must be a share');
    expect(() => demo.render(1, { churn: 0.1, churnScrape: -1 })).toThrow('churnScrape must be a non-negative integer');
  });
});

describe('demo target churn', () => {
  it('reads the share from the query string, with the default when absent and null when malformed', () => {
    const table: { query: string; want: number | null }[] = [
      { query: '', want: 0.25 },
      { query: 'copy=2', want: 0.25 },
      { query: 'churn=0.1', want: 0.1 },
      { query: 'copy=1&churn=.5', want: 0.5 },
      { query: 'churn=0', want: 0 },
      { query: 'churn=1', want: 1 },
      { query: 'churn=1.5', want: null },
      { query: 'churn=-0.1', want: null },
      { query: 'churn=', want: null },
      { query: 'churn=0x1', want: null },
      { query: 'churn=1e-1', want: null },
    ];
    for (const { query, want } of table) expect(churnOf(query, 0.25), query).toBe(want);
  });

  it('serves churn scrape k of each query string, rendered ahead or when asked, and no churn by default', async () => {
    const t = await startDemoTarget({ series: 2000, port: 0, seed: 6, prerender: 2 });
    started.push(t);
    const demo = createDemoExposition({ series: 2000, seed: 6 });
    const churned = (k: number): Buffer => demo.render(k, { churn: 0.2, churnScrape: k });
    const plain = await get(t.url);
    expect(plain.body.equals(demo.render(0))).toBe(true);
    const c0 = await get(`${t.url}?churn=0.2`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gunzipSync(c0.body).equals(churned(0))).toBe(true);
    const other0 = await get(`${t.url}?churn=0.2&copy=1`);
    expect(other0.body.equals(churned(0))).toBe(true);
    // Immediately (maybe before the look-ahead is done), then after it has had time.
    const c1 = await get(`${t.url}?churn=0.2`);
    expect(c1.body.equals(churned(1))).toBe(true);
    expect(c1.body.equals(demo.render(1))).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const c2 = await get(`${t.url}?churn=0.2`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gunzipSync(c2.body).equals(churned(2))).toBe(true);
    const c3 = await get(`${t.url}?churn=0.2`);
    expect(c3.body.equals(churned(3))).toBe(true);
    const bad = await get(`${t.url}?churn=2`);
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toBe('churn must be a share in 0..1 (churn=0.1)\n');
    const again = await get(t.url);
    expect(again.body.equals(demo.render(0))).toBe(true); // scrape 6 of the target (a 400 is none), prerendered 6 mod 2
    expect(t.scrapes()).toBe(7);
  });

  it('keeps churning bodies intact when scrapes of one query overlap', async () => {
    const t = await startDemoTarget({ series: 1500, port: 0, seed: 2 });
    started.push(t);
    const demo = createDemoExposition({ series: 1500, seed: 2 });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => get(`${t.url}?churn=0.1`, i % 2 === 0 ? { headers: { 'Accept-Encoding': 'gzip' } } : {})));
    const bodies = replies.map((r, i) => (i % 2 === 0 ? gunzipSync(r.body) : r.body));
    // Each of churn scrapes 0..7 served exactly once, whichever request got which.
    const served = bodies.map((b) => [0, 1, 2, 3, 4, 5, 6, 7].find((k) => b.equals(demo.render(k, { churn: 0.1, churnScrape: k }))));
    expect(served.sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('takes a default churn from its option, which a query overrides', async () => {
    const t = await startDemoTarget({ series: 1000, port: 0, seed: 8, churn: 0.5 });
    started.push(t);
    const demo = createDemoExposition({ series: 1000, seed: 8 });
    expect((await get(t.url)).body.equals(demo.render(0, { churn: 0.5, churnScrape: 0 }))).toBe(true);
    expect((await get(t.url)).body.equals(demo.render(1, { churn: 0.5, churnScrape: 1 }))).toBe(true);
    expect((await get(`${t.url}?churn=0`)).body.equals(demo.render(2))).toBe(true);
    expect((await get(t.url)).body.equals(demo.render(2, { churn: 0.5, churnScrape: 2 }))).toBe(true);
    await expect(startDemoTarget({ series: 10, port: 0, churn: 2 })).rejects.toThrow('churn');
  });

  it('strata demo-target --churn serves churning targets and rejects a share outside 0..1', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (s: string) => (out.push(s), true) }, stderr: { write: (s: string) => (err.push(s), true) } };
    const controller = new AbortController();
    let urls: string[] = [];
    const run = demoTargetCommand(['--series', '800', '--port', '0', '--churn', '0.5', '--seed', '4'], io, {
      signal: controller.signal,
      onReady: (ts) => {
        urls = ts.map((x) => x.url);
      },
    });
    try {
      await expect.poll(() => urls.length, { timeout: 20_000 }).toBe(1);
      const demo = createDemoExposition({ series: 800, seed: 4 });
      await get(urls[0] as string);
      const second = await get(urls[0] as string);
      expect(second.body.equals(demo.render(1, { churn: 0.5, churnScrape: 1 }))).toBe(true);
      expect(err.join('')).toContain('churn 0.5 of the series per scrape');
    } finally {
      controller.abort();
    }
    expect(await run).toBe(0);
    await expect(demoTargetCommand(['--churn', '1.5'], io)).rejects.toThrow(UsageError);
    await expect(demoTargetCommand(['--churn', 'x'], io)).rejects.toThrow('--churn must be a share in 0..1');
  });
});
