// SPDX-License-Identifier: Apache-2.0
/**
 * Hostile targets through the whole engine (real worker threads): a gzip bomb, an endless slow
 * body, a 10 MB line, a connection reset and a target that never answers each fail alone,
 * within their limits and counted by reason, while a healthy target keeps being collected.
 * Needs `npm run build` (npm test does).
 */
import type { Socket } from 'node:net';
import { createServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { readSinkLines, resourcesYaml, serve, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('hostile targets', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('each fails alone within its limits while a healthy target keeps being collected', async () => {
    const healthy = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('healthy 1\n');
    });
    // 64 KB of gzip, made once and sent at once, that inflates to 64 MiB of valid lines (comments,
    // cheap to parse, so that the parsing is not what the deadline catches on a busy machine):
    // only the body limit stops it.
    const bombBody = gzipSync(Buffer.alloc(64 << 20, '# bomb\n'), { level: 9 });
    const bomb = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(bombBody);
    });
    const slow = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const t = setInterval(() => res.write('slow 1\n'), 50);
      res.on('close', () => clearInterval(t));
    });
    const hugeLine = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`big{x="${'y'.repeat(10 << 20)}"} 1\n`);
    });
    const reset = await serve((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('reset 1\nreset');
      setTimeout(() => req.socket.resetAndDestroy(), 20);
    });
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s)); // accepts and never answers
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/metrics`;
    for (const s of [healthy, bomb, slow, hugeLine, reset]) closers.push(() => s.close());
    closers.push(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          silent.close(() => r());
        }),
    );

    const dir = tempDir('strata-hostile-');
    const targets = [
      { url: healthy.url, labels: { job: 'healthy' } },
      { url: bomb.url, labels: { job: 'bomb' } },
      { url: slow.url, labels: { job: 'slow' } },
      { url: hugeLine.url, labels: { job: 'huge' } },
      { url: reset.url, labels: { job: 'reset' } },
      { url: silentUrl, labels: { job: 'silent' } },
    ];
    const file = writeResources(
      dir,
      resourcesYaml(
        { output: `{file: {path: ${dir}/out.ndjson, maxBytes: 1048576}}`, extra: '  scrape: {timeoutSeconds: 1, maxBodyBytes: 2097152}' },
        targets,
        1,
      ),
    );
    const engine = startEngine(file);
    await engine.start();
    const started = Date.now();
    await waitFor(() => healthy.hits >= 4 && statusOf(engine).targets.length === 6, 15_000, 'four healthy scrapes and every target tried');
    await engine.stop();
    const st = statusOf(engine);
    const byJob = new Map(st.targets.map((t) => [t.labels.job, t]));
    expect(byJob.get('healthy')?.up).toBe(true);
    for (const job of ['bomb', 'slow', 'huge', 'reset', 'silent']) expect(byJob.get(job)?.up, job).toBe(false);
    expect(byJob.get('bomb')?.error, byJob.get('bomb')?.error ?? '').toMatch(/body limit of 2097152 bytes/);
    // The body is parsed as it arrives, so the 10 MB line meets the 1 MiB line limit first.
    expect(byJob.get('huge')?.error).toMatch(/line is over the limit of 1048576 bytes \(maxLineBytes\)/);
    expect(byJob.get('slow')?.error).toMatch(/deadline/);
    expect(byJob.get('silent')?.error).toMatch(/deadline/);
    expect(byJob.get('reset')?.error).toMatch(/reset|socket hang up|ECONNRESET/i);
    // Each failure finished within its limit (1 s deadline), not the test's patience.
    for (const job of ['slow', 'silent']) expect(byJob.get(job)?.durationMs ?? 0).toBeLessThan(1500);
    expect(st.errors.body_too_large).toBeGreaterThanOrEqual(1);
    expect(st.errors.parse).toBeGreaterThanOrEqual(1);
    expect(st.errors.timeout).toBeGreaterThanOrEqual(2);
    expect(st.errors.reset).toBeGreaterThanOrEqual(1);
    const lines = readSinkLines(dir, 'out.');
    expect(lines.length).toBe(st.totalSent);
    expect(lines.every((l) => l.includes('"job":"healthy"'))).toBe(true);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 30_000);
});
