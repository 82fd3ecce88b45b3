// SPDX-License-Identifier: Apache-2.0
/**
 * Lifecycle with real worker threads: graceful shutdown finishes what the pool holds; a hot
 * reload that replaces the Collector loses no queued target; an invalid edit is rejected and the
 * running configuration stays. Needs `npm run build` (npm test does).
 */
import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('lifecycle', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('on stop, finishes in-flight scrapes, flushes the sink, and the counts add up', async () => {
    // Every scrape takes 600 ms: stop() lands while they are in flight.
    const slow = await serve((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('a 1\nb 2\nc 3\n');
      }, 600);
    });
    closers.push(() => slow.close());
    const dir = tempDir('strata-stop-');
    const targets = Array.from({ length: 8 }, (_, i) => ({ url: `${slow.url}?t=${i}`, labels: { i: String(i) } }));
    const file = writeResources(dir, resourcesYaml({ workers: 2, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}` }, targets, 5));
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => slow.hits >= 8, 5000, 'all 8 scrapes in flight');
    await engine.stop();
    const st = statusOf(engine);
    expect(st.metricsCollected).toBe(24);
    expect(st.totalSent).toBe(24);
    expect(readSinkLines(dir, 'out.')).toHaveLength(24);
    expect(st.totalErrors + st.totalDropped).toBe(0);
  }, 20_000);

  it('a hot reload that replaces the Collector loses no queued target', async () => {
    // A slow target and one worker scraping one at a time: targets pile up in the channel.
    const slow = await serve((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('x 1\n');
      }, 100);
    });
    closers.push(() => slow.close());
    const dir = tempDir('strata-reload-');
    const targets = Array.from({ length: 30 }, (_, i) => ({ url: `${slow.url}?t=${i}`, labels: { i: String(i) } }));
    const yaml = (workers: number, concurrency: number): string =>
      resourcesYaml(
        { workers, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: `  scrape: {concurrency: ${concurrency}}` },
        targets,
        30, // one discovery run: the 30 targets are queued once
      );
    const file = writeResources(dir, yaml(1, 1));
    const engine = startEngine(file, 5000, { spreadTargets: false });
    await engine.start();
    await waitFor(() => slow.hits >= 3, 5000, 'the first scrapes');
    const queuedBefore = statusOf(engine).channelDepth;
    expect(queuedBefore).toBeGreaterThan(10);
    writeFileSync(file, yaml(2, 4));
    await engine.reload();
    await waitFor(() => slow.hits >= 30, 10_000, 'all 30 targets scraped');
    await engine.stop();
    const st = statusOf(engine);
    expect(slow.hits).toBe(30);
    expect(st.totalSent).toBe(30);
    expect(Object.values(st.targetsDropped).reduce((a, b) => a + b, 0)).toBe(0);
    expect(readSinkLines(dir, 'out.')).toHaveLength(30);
    expect(engine.reloads).toEqual({ applied: 1, rejected: 0 });
  }, 30_000);

  it('rejects an invalid edit with its errors and keeps running the previous configuration', async () => {
    const ok = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('y 1\n');
    });
    closers.push(() => ok.close());
    const dir = tempDir('strata-bad-edit-');
    const good = resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}` }, [{ url: ok.url, labels: {} }], 1);
    const file = writeResources(dir, good);
    const engine = startEngine(file);
    await engine.start();
    await waitFor(() => ok.hits >= 1, 5000, 'a first scrape');
    writeFileSync(file, good.replace('workers: 1', 'workers: 0'));
    await engine.reload();
    const logs = (engine as unknown as { logs: string[] }).logs;
    expect(logs.join('\n')).toContain('configuration change rejected, keeping the running configuration');
    expect(logs.join('\n')).toContain('spec.workers: must be ≥ 1, got 0');
    const hits = ok.hits;
    await waitFor(() => ok.hits >= hits + 2, 5000, 'scrapes continuing after the rejected edit');
    await engine.stop();
    expect(engine.reloads).toEqual({ applied: 0, rejected: 1 });
  }, 20_000);
});

describe('a stop that outlasts its grace period', () => {
  it('counts what the terminated workers held, as aborted scrapes or shutdown drops', async () => {
    const { createServer } = await import('node:net');
    const sockets: import('node:net').Socket[] = [];
    let hits = 0;
    const silent = createServer((s) => {
      hits++;
      sockets.push(s);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const port = (silent.address() as { port: number }).port;
    const dir = tempDir('strata-grace-');
    const targets = Array.from({ length: 5 }, (_, i) => ({ url: `http://127.0.0.1:${port}/metrics?t=${i}`, labels: { i: String(i) } }));
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: '  scrape: {timeoutSeconds: 30}' }, targets, 60),
    );
    const engine = startEngine(file, 300, { spreadTargets: false });
    await engine.start();
    await waitFor(() => hits >= 5, 5000, 'five scrapes hanging');
    const started = Date.now();
    await engine.stop();
    expect(Date.now() - started).toBeLessThan(5000);
    const st = statusOf(engine);
    expect((st.errors.aborted ?? 0) + (st.targetsDropped.shutdown ?? 0)).toBe(5);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }, 20_000);
});
