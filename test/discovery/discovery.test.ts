// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseResources, type CollectorRef, type Discovery } from '../../src/config/index.js';
import { FileSource } from '../../src/discovery/file-source.js';
import { DiscoveryService, SPREAD_FRACTION, type CollectorState, type TargetQueue } from '../../src/discovery/service.js';
import { StaticSource } from '../../src/discovery/source.js';
import { StrataMetrics } from '../../src/telemetry/metrics.js';
import { decodeTarget, targetKey } from '../../src/discovery/target.js';

function discovery(spec: string): Discovery {
  const { resources, errors } = parseResources(
    `apiVersion: strata.ctx.sh/v1beta1\nkind: Discovery\nmetadata: {name: d, namespace: ns}\nspec:\n${spec}`,
    'test.yaml',
  );
  expect(errors).toEqual([]);
  return resources[0] as Discovery;
}

class FakeQueue implements TargetQueue {
  queued: { ref: string; urls: string[] }[] = [];
  states = new Map<string, CollectorState>();
  delayMs = 0;
  collectorState(ref: CollectorRef): CollectorState {
    return this.states.get(`${ref.namespace}/${ref.name}`) ?? 'missing';
  }
  async enqueue(ref: CollectorRef, payloads: readonly Uint8Array[], _deadline: number): Promise<{ queued: number; dropped: number }> {
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.queued.push({ ref: `${ref.namespace}/${ref.name}`, urls: payloads.map((p) => decodeTarget(p)?.url ?? '?') });
    return { queued: payloads.length, dropped: 0 };
  }
}

describe('the discovery service', () => {
  it('queues static targets to every referenced, ready collector and counts the others', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    q.states.set('ns/b', 'disabled');
    const d = discovery('  collector: [{name: a}, {name: b}, {name: c}]\n  static:\n    - url: http://127.0.0.1:1/metrics\n      labels: {job: x}\n');
    const svc = new DiscoveryService(d, q);
    await svc.runOnce(Date.now() + 1000);
    expect(q.queued).toEqual([{ ref: 'ns/a', urls: ['http://127.0.0.1:1/metrics'] }]);
    const st = svc.status();
    expect(st).toMatchObject({ discoveredResourcesCount: 1, readyCollectors: 1, totalCollectors: 3, runs: 1 });
    expect(st.errors).toEqual(['collector ns/c not found']);
  });

  it('carries labels, the discovery and its interval in each target record', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    let payload: Uint8Array | undefined;
    q.enqueue = async (_ref, payloads) => {
      payload = payloads[0];
      return { queued: 1, dropped: 0 };
    };
    const svc = new DiscoveryService(discovery('  collector: [{name: a}]\n  intervalSeconds: 7\n  static: [{url: "http://h:1/m", labels: {job: j}}]\n'), q);
    await svc.runOnce(Date.now() + 1000);
    expect(decodeTarget(payload as Uint8Array)).toEqual({ url: 'http://h:1/m', labels: { job: 'j' }, discovery: 'ns/d', intervalMs: 7000 });
  });

  it('spreads the targets of every run evenly over the interval, in the same order each run', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    const at: { url: string; t: number }[] = [];
    q.enqueue = async (_ref, payloads) => {
      for (const p of payloads) at.push({ url: decodeTarget(p)?.url ?? '?', t: performance.now() });
      return { queued: payloads.length, dropped: 0 };
    };
    const urls = [0, 1, 2, 3].map((i) => `http://127.0.0.1:${9000 + i}/metrics`);
    const svc = new DiscoveryService(discovery(`  collector: [{name: a}]\n  intervalSeconds: 1\n  static:\n${urls.map((u) => `    - url: ${u}\n`).join('')}`), q);
    let first: string[] = [];
    const spacing = (1000 * SPREAD_FRACTION) / urls.length;
    for (const run of [1, 2, 3]) {
      at.length = 0;
      const start = performance.now();
      await svc.runOnce(Date.now() + 1000);
      expect(at.map((a) => a.url).sort()).toEqual([...urls].sort());
      // Due at 0, 1, 2 and 3 spacings into the run. A timer fires late on a loaded machine (so
      // no upper bound is asserted here), never early: each target waited for its turn.
      at.forEach((a, i) => {
        expect(a.t - start, `run ${run} target ${i}`).toBeGreaterThanOrEqual(i * spacing - 5);
      });
      if (run === 1) first = at.map((a) => a.url);
      else expect(at.map((a) => a.url)).toEqual(first);
    }
    expect(svc.status()).toMatchObject({ runs: 3, queued: 12, inFlightResources: 0 });
  });

  it('stops spreading a run when stopped, queueing nothing more', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    const urls = [0, 1, 2, 3].map((i) => `http://127.0.0.1:${9000 + i}/metrics`);
    const svc = new DiscoveryService(discovery(`  collector: [{name: a}]\n  intervalSeconds: 60\n  static:\n${urls.map((u) => `    - url: ${u}\n`).join('')}`), q);
    const run = svc.runOnce(Date.now() + 60_000);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    await svc.stop();
    await run;
    expect(performance.now() - t0).toBeLessThan(10_000); // not the 60 s interval
    expect(q.queued.flatMap((e) => e.urls)).toHaveLength(1); // the one due at 0 s
  });

  it('skips a run that is due while the previous one is still going, and counts it in status and metrics', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    // The first run's queueing outlasts several intervals (however late the timers fire).
    q.delayMs = 4500;
    const metrics = new StrataMetrics({ defaultMetrics: false });
    try {
      const svc = new DiscoveryService(discovery('  collector: [{name: a}]\n  intervalSeconds: 1\n  static: [{url: "http://h:1/m"}]\n'), q, { metrics });
      svc.start();
      expect(await metrics.metrics()).toContain('strata_discovery_runs_skipped_total{discovery="ns/d"} 0');
      const end = Date.now() + 30_000;
      while (svc.status().skippedRuns === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      await svc.stop();
      const { skippedRuns, runs } = svc.status();
      expect(skippedRuns).toBeGreaterThanOrEqual(1);
      expect(runs).toBe(1);
      expect(await metrics.metrics()).toContain(`strata_discovery_runs_skipped_total{discovery="ns/d"} ${skippedRuns}`);
    } finally {
      metrics.close();
    }
  });

  it('queues 5,000 targets once per interval, run after run, skipping none', async () => {
    const n = 5000;
    const targets = Array.from({ length: n }, (_, i) => ({ url: `http://10.0.${i >> 8}.${i & 255}:9100/metrics`, labels: { i: String(i) } }));
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    // Each run's enqueues carry the run's queue deadline: it tells the runs apart.
    const byRun = new Map<number, string[]>();
    q.enqueue = async (_ref, payloads, deadline) => {
      const urls = byRun.get(deadline) ?? [];
      for (const p of payloads) urls.push(decodeTarget(p)?.url ?? '?');
      byRun.set(deadline, urls);
      return { queued: payloads.length, dropped: 0 };
    };
    const metrics = new StrataMetrics({ defaultMetrics: false });
    const svc = new DiscoveryService(discovery('  collector: [{name: a}]\n  intervalSeconds: 2\n'), q, { sources: [new StaticSource(targets)], metrics });
    try {
      svc.start();
      // Four runs started: the first three are complete.
      const end = Date.now() + 30_000;
      while (svc.status().runs < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await svc.stop();
      metrics.close();
    }
    expect(svc.status().runs).toBeGreaterThanOrEqual(4);
    expect(svc.status().skippedRuns).toBe(0);
    expect(await metrics.metrics()).toContain('strata_discovery_runs_skipped_total{discovery="ns/d"} 0');
    const runs = [...byRun.entries()].sort((a, b) => a[0] - b[0]).map(([, urls]) => urls);
    const complete = runs.slice(0, svc.status().runs - 1);
    expect(complete.length).toBeGreaterThanOrEqual(3);
    const all = targets.map((t) => t.url).sort();
    complete.forEach((urls, run) => {
      expect(urls.length, `run ${run + 1}`).toBe(n);
      expect([...urls].sort(), `run ${run + 1}`).toEqual(all);
    });
  }, 60_000);

  it('spreads a run over its share of the time to the next run given to it', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    const targets = Array.from({ length: 200 }, (_, i) => ({ url: `http://h:${i + 1}/m`, labels: {} }));
    const svc = new DiscoveryService(discovery('  collector: [{name: a}]\n  intervalSeconds: 60\n'), q, { sources: [new StaticSource(targets)] });
    // Measured against the deadline given: the last target is due at SPREAD_FRACTION of it.
    const start = Date.now();
    await svc.runOnce(start + 2000);
    const took = Date.now() - start;
    expect(took).toBeGreaterThanOrEqual(Math.floor(2000 * SPREAD_FRACTION * (199 / 200)) - 5);
    expect(q.queued.flatMap((e) => e.urls)).toHaveLength(200);
  });

  it('does nothing when disabled', async () => {
    const q = new FakeQueue();
    q.states.set('ns/a', 'ready');
    const svc = new DiscoveryService(discovery('  collector: [{name: a}]\n  enabled: false\n  static: [{url: "http://h:1/m"}]\n'), q);
    svc.start();
    await new Promise((r) => setTimeout(r, 50));
    await svc.stop();
    expect(q.queued).toEqual([]);
  });
});

describe('target files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-targets-'));

  it('reads JSON and YAML lists and re-reads them when they change', async () => {
    const f = join(dir, 'targets.yaml');
    writeFileSync(f, '- url: http://a:1/metrics\n  labels: {job: a}\n');
    const src = new FileSource(f);
    expect(await src.discover()).toEqual([{ url: 'http://a:1/metrics', labels: { job: 'a' } }]);
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(f, JSON.stringify([{ url: 'http://b:1/metrics' }, { url: 'https://c:2/m', labels: { x: 'y' } }]));
    expect(await src.discover()).toEqual([
      { url: 'http://b:1/metrics', labels: {} },
      { url: 'https://c:2/m', labels: { x: 'y' } },
    ]);
  });

  it('keeps the last good targets when the file becomes invalid, and says why', async () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '[{"url": "http://a:1/metrics"}]');
    const src = new FileSource(f);
    await src.discover();
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(f, '[{"url": "ftp://nope"}]');
    await expect(src.discover()).rejects.toThrow(`${f}: [0].url: scheme must be http or https, got "ftp:"`);
    expect(src.lastError).toContain('scheme must be http or https');
    // the last good list is still served afterwards
    expect(await src.discover()).toEqual([{ url: 'http://a:1/metrics', labels: {} }]);
  });

  const bad: { content: string; err: string }[] = [
    { content: '{"url": "x"}', err: 'expected a list of {url, labels}' },
    { content: '[{"labels": {}}]', err: '[0].url: expected a string' },
    { content: '[{"url": "not a url"}]', err: '[0].url: not an absolute URL: "not a url"' },
    { content: '[{"url": "http://a/", "labels": {"1x": "y"}}]', err: '[0].labels.1x: invalid label name' },
    { content: '[{"url": "http://a/", "labels": {"x": 1}}]', err: '[0].labels.x: expected a string, got number' },
    { content: '[{"url": "http://a/", "port": 1}]', err: '[0].port: unknown field' },
  ];
  for (const { content, err } of bad) {
    it(`rejects ${content}`, async () => {
      const f = join(dir, `t${Math.random()}.json`);
      writeFileSync(f, content);
      await expect(new FileSource(f).discover()).rejects.toThrow(err);
    });
  }
});

describe('targets discovery no longer lists', () => {
  class GoneQueue extends FakeQueue {
    gone: { ref: string; keys: string[] }[] = [];
    targetsGone(ref: CollectorRef, keys: readonly string[]): void {
      this.gone.push({ ref: `${ref.namespace}/${ref.name}`, keys: [...keys].sort() });
    }
  }
  const key = (url: string, labels: Record<string, string> = {}): string => targetKey({ url, labels });

  it('are told to each ready Collector after a complete run, by target key; a failing source says nothing is gone', async () => {
    const q = new GoneQueue();
    q.states.set('ns/a', 'ready');
    q.states.set('ns/b', 'ready');
    let list = [
      { url: 'http://h:1/m', labels: { job: 'x' } },
      { url: 'http://h:2/m', labels: {} },
    ];
    let fail = false;
    const source = {
      name: 'test',
      discover: async () => {
        if (fail) throw new Error('down');
        return list;
      },
    };
    const svc = new DiscoveryService(discovery('  collector: [{name: a}, {name: b}]\n  intervalSeconds: 60\n'), q, { sources: [source], spread: false });
    await svc.runOnce(Date.now() + 1000);
    expect(q.gone).toEqual([]);
    list = [{ url: 'http://h:2/m', labels: {} }];
    fail = true;
    await svc.runOnce(Date.now() + 1000);
    expect(q.gone).toEqual([]);
    fail = false;
    await svc.runOnce(Date.now() + 1000);
    const gone = [key('http://h:1/m', { job: 'x' })];
    expect(q.gone).toEqual([
      { ref: 'ns/a', keys: gone },
      { ref: 'ns/b', keys: gone },
    ]);
    // A replacement service carries what this one listed; retiring tells every target gone.
    const next = new DiscoveryService(svc.resource, q, { sources: [{ name: 'none', discover: async () => [] }], listed: svc.listed });
    await next.runOnce(Date.now() + 1000);
    expect(q.gone.slice(2)).toEqual([
      { ref: 'ns/a', keys: [key('http://h:2/m')] },
      { ref: 'ns/b', keys: [key('http://h:2/m')] },
    ]);
    const last = new DiscoveryService(svc.resource, q, { sources: [source], listed: svc.listed });
    last.retire();
    expect(q.gone.slice(4)).toEqual([
      { ref: 'ns/a', keys: [key('http://h:2/m')] },
      { ref: 'ns/b', keys: [key('http://h:2/m')] },
    ]);
  });
});
