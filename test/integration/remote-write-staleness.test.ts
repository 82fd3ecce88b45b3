// SPDX-License-Identifier: Apache-2.0
/**
 * What Prometheus users expect of remote write, through the engine (real worker threads) into a
 * real Prometheus 2.42: the per-target series (`up`, `scrape_duration_seconds`,
 * `scrape_samples_scraped`, `scrape_series_added`) with `job` and `instance`, and stale markers,
 * so that an instant query stops returning a series at once when it vanishes from its target,
 * when its target dies (`up` becomes 0), or when discovery stops listing its target. Every
 * sample, markers included, is sent or counted. Needs `npm run build` (npm test does).
 */
import { rmSync, writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { type Receiver, startPrometheus, type VectorSample } from '../fixtures/prometheus-server.js';
import { eventually, resourcesYaml, serve, startEngine, statusOf, type TestServer, tempDir, writeResources } from './helpers.js';

/** `t` label → value of an instant query's vector. */
function byTarget(v: readonly VectorSample[]): Record<string, string> {
  return Object.fromEntries(v.map((s) => [s.metric['t'] as string, s.value[1]]));
}

describe('remote write staleness and per-target series into Prometheus 2.42', () => {
  const closers: (() => Promise<void>)[] = [];
  let receiver: Receiver | undefined;
  let engine: Engine | undefined;
  afterAll(async () => {
    await engine?.stop();
    for (const close of closers) await close();
    await receiver?.stop();
  }, 60_000);

  it('writes up and the scrape_* series, and marks stale what vanished, what a dead target had and what a removed target had', async () => {
    receiver = await startPrometheus();
    const r = receiver;
    let bodyA = '# TYPE st_keep gauge\nst_keep{k="a"} 1\n# TYPE st_going gauge\nst_going{k="b"} 2\n';
    const text = (body: () => string) => (_req: unknown, res: import('node:http').ServerResponse) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body());
    };
    const a = await serve(text(() => bodyA));
    const b = await serve(text(() => 'st_dead 5\n'));
    const c = await serve(text(() => 'st_removed 6\n'));
    const servers: TestServer[] = [a, b, c];
    closers.push(async () => {
      for (const s of servers) await s.close().catch(() => {});
    });
    const dir = tempDir('strata-rw-stale-');
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const collector = { name: 'st', output: `{remoteWrite: {url: "${r.writeUrl}"}}` };
    const all = [
      { url: a.url, labels: { t: 'a' } },
      { url: b.url, labels: { t: 'b' } },
      { url: c.url, labels: { t: 'c' } },
    ];
    const file = writeResources(dir, resourcesYaml(collector, all, 1));
    engine = startEngine(file);
    await engine.start();

    // Every target is up, with job (the Discovery's name) and instance (host:port).
    const up = await eventually('up 1 for the three targets', () => r.query('up{job="st"}'), (v) => v.length === 3 && v.every((s) => s.value[1] === '1'));
    expect(Object.fromEntries(up.map((s) => [s.metric['t'], s.metric['instance']]))).toEqual({
      a: `127.0.0.1:${a.port}`,
      b: `127.0.0.1:${b.port}`,
      c: `127.0.0.1:${c.port}`,
    });
    await eventually('every series of the three targets', () => r.query('{__name__=~"st_.*",job="st"}'), (v) => v.length === 4);
    const scraped = await eventually('scrape_samples_scraped', () => r.query('scrape_samples_scraped{job="st"}'), (v) => v.length === 3);
    expect(byTarget(scraped)).toEqual({ a: '2', b: '1', c: '1' });
    // A series is new in the first scrape only.
    const added = await eventually('scrape_series_added 0 after the first scrape', () => r.query('scrape_series_added{job="st"}'), (v) => v.length === 3 && v.every((s) => s.value[1] === '0'));
    expect(added).toHaveLength(3);
    expect(await r.query('scrape_duration_seconds{job="st"} >= 0')).toHaveLength(3);

    // A series vanishes from a; b dies; c is no longer listed by the Discovery.
    bodyA = '# TYPE st_keep gauge\nst_keep{k="a"} 1\n';
    await b.close();
    servers.splice(servers.indexOf(b), 1);
    writeFileSync(file, resourcesYaml(collector, all.slice(0, 2), 1));

    // Without stale markers each would still be returned for five minutes.
    await eventually('st_going stale', () => r.query('st_going{job="st"}'), (v) => v.length === 0);
    await eventually('st_dead stale', () => r.query('st_dead{job="st"}'), (v) => v.length === 0);
    await eventually('st_removed stale', () => r.query('st_removed{job="st"}'), (v) => v.length === 0);
    const upAfter = await eventually(
      'up 1 for a, 0 for b, nothing for c',
      () => r.query('up{job="st"}'),
      (v) => v.length === 2 && byTarget(v)['a'] === '1' && byTarget(v)['b'] === '0',
    );
    expect(byTarget(upAfter)).toEqual({ a: '1', b: '0' });
    expect((await r.query('st_keep{job="st"}')).map((s) => s.value[1])).toEqual(['1']);
    const after = await eventually('scrape_samples_scraped after', () => r.query('scrape_samples_scraped{job="st"}'), (v) => byTarget(v)['a'] === '1' && byTarget(v)['b'] === '0');
    expect(Object.keys(byTarget(after)).sort()).toEqual(['a', 'b']);

    await engine.stop();
    const st = statusOf(engine, 'st');
    // st_going, st_dead, and c's st_removed with its four per-target series.
    expect(st.staleMarkers).toBeGreaterThanOrEqual(7);
    const dropped = Object.values(st.dropped).reduce((x, y) => x + y, 0);
    expect(st.collected).toBe(st.sent + st.filtered + dropped);
    expect(st.dropped.sink_rejected ?? 0).toBe(0);
  }, 240_000);
});
