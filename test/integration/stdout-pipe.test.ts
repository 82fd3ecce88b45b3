// SPDX-License-Identifier: Apache-2.0
/**
 * `strata run` with the stdout sink, as a process whose standard output is a real pipe or a
 * full device: a reader that goes away (`| head -n 1`) stops it cleanly (exit 0, final counts
 * on stderr, the samples written after the reader left counted as dropped); `> /dev/full`
 * makes every send fail with ENOSPC, retried and counted, and the process lives on; two
 * workers writing one pipe through a slow reader never tear a line. Needs `npm run build`
 * (npm test builds first): the workers run the compiled consumer.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { READER_GONE } from '../../src/sink/index.js';
import { resourcesYaml, serve, type TestServer, tempDir, waitFor, writeResources } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const strata = join(root, 'bin/strata.js');

/** An exposition of `n` gauges with ~100-byte JSON each: one scrape is far more than a pipe holds. */
function exposition(n: number): string {
  let body = '# TYPE pipe_test gauge\n';
  for (let i = 0; i < n; i++) body += `pipe_test{series="${i}",pad="${'p'.repeat(40)}"} ${i}\n`;
  return body;
}

/** The final line's counts: `strata: stopped. collected N · filtered N · sent N · scrape errors N · samples dropped N`. */
function finalCounts(stderr: string): { collected: number; filtered: number; sent: number; dropped: number } {
  const m = /strata: stopped\. collected (\d+) · filtered (\d+) · sent (\d+) · scrape errors \d+ · samples dropped (\d+)/.exec(stderr);
  if (m === null) throw new Error(`no final counts on stderr:\n${stderr}`);
  return { collected: Number(m[1]), filtered: Number(m[2]), sent: Number(m[3]), dropped: Number(m[4]) };
}

describe('strata run writing standard output', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers.splice(0)) await c();
  });

  async function target(series: number): Promise<TestServer> {
    const body = exposition(series);
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
    closers.push(() => server.close());
    return server;
  }

  it('stops cleanly when the reader closes the pipe after one line (| head -n 1): exit 0, final counts on stderr', async () => {
    const server = await target(3000);
    const dir = tempDir('strata-pipe-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}' }, [{ url: server.url, labels: { job: 'pipe' } }], 1));
    const [err, out, rc] = [join(dir, 'stderr'), join(dir, 'stdout'), join(dir, 'rc')];
    // A real shell pipeline: strata's standard output is the pipe that head reads one line of.
    const script = '"$0" "$1" run -f "$2" --telemetry-port 0 --no-progress 2>"$3" | head -n 1 >"$4"; echo "${PIPESTATUS[0]}" >"$5"';
    const shell = spawn('bash', ['-c', script, process.execPath, strata, file, err, out, rc], { stdio: 'ignore' });
    const killed = setTimeout(() => shell.kill('SIGKILL'), 60_000);
    await new Promise<void>((resolve) => shell.on('exit', () => resolve()));
    clearTimeout(killed);
    const stderr = readFileSync(err, 'utf8');
    expect(readFileSync(rc, 'utf8').trim(), stderr).toBe('0');
    const lines = readFileSync(out, 'utf8').split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ name: 'pipe_test', tags: { job: 'pipe' } });
    expect(stderr).toContain(`strata: ${READER_GONE}`);
    expect(stderr).not.toMatch(/Unhandled|Emitted 'error'|EPIPE.*\n\s+at /);
    const counts = finalCounts(stderr);
    // A send the reader left in the middle of is not delivered: its samples count as dropped
    // (here the first send is already larger than the pipe, so `sent` may well be 0).
    expect(counts.dropped).toBeGreaterThan(0);
    expect(counts.collected).toBe(counts.sent + counts.filtered + counts.dropped);
  }, 90_000);

  it.runIf(existsSync('/dev/full'))('lives on with stdout on a full device (> /dev/full), retrying, and stops on SIGTERM with every sample counted', async () => {
    const server = await target(200);
    const dir = tempDir('strata-full-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}' }, [{ url: server.url, labels: { job: 'full' } }], 1));
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [strata, 'run', '-f', file, '--telemetry-port', '0', '--no-progress'], { stdio: ['ignore', full, 'pipe'] });
    closeSync(full);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    closers.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    await waitFor(() => /self-metrics on (http:\/\/[^/]+)\/metrics/.test(stderr), 20_000, 'the telemetry server');
    const base = (/self-metrics on (http:\/\/[^/]+)\/metrics/.exec(stderr) as RegExpExecArray)[1] as string;
    type Status = { collectors: { status: { metricsCollected: number; totalSent: number; targetsTaken: number } }[] };
    const status = async (): Promise<Status['collectors'][number]['status']> =>
      ((await (await fetch(`${base}/status`)).json()) as Status).collectors[0]?.status as Status['collectors'][number]['status'];
    let s = await status();
    const until = Date.now() + 30_000;
    while (s.targetsTaken < 2 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      s = await status();
    }
    expect(s.targetsTaken).toBeGreaterThanOrEqual(2); // two scrapes, each written and failed
    expect(child.exitCode).toBeNull(); // alive
    expect(s.metricsCollected).toBeGreaterThan(0);
    expect(s.totalSent).toBe(0);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/Emitted 'error'|Unhandled|\n\s+at /);
    const counts = finalCounts(stderr);
    expect(counts.sent).toBe(0);
    expect(counts.collected).toBeGreaterThan(0);
    expect(counts.collected).toBe(counts.filtered + counts.dropped);
  }, 90_000);

  it('keeps every line whole when two workers write one pipe through a slow reader', async () => {
    const servers = await Promise.all([target(2000), target(2000), target(2000), target(2000)]);
    const dir = tempDir('strata-pipe2-');
    const file = writeResources(
      dir,
      resourcesYaml({ workers: 2, output: '{stdout: {}}' }, servers.map((s, i) => ({ url: s.url, labels: { job: `t${i}` } })), 1),
    );
    const child = spawn(process.execPath, [strata, 'run', '-f', file, '--telemetry-port', '0', '--no-progress'], { stdio: ['ignore', 'pipe', 'pipe'] });
    closers.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const chunks: Buffer[] = [];
    let bytes = 0;
    child.stdout.on('data', (d: Buffer) => {
      chunks.push(d);
      bytes += d.length;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // A slow reader: the pipe fills, so each worker's write stops part way and waits.
    const slow = setInterval(() => (child.stdout.isPaused() ? child.stdout.resume() : child.stdout.pause()), 30);
    try {
      await waitFor(() => bytes > 4 * 1024 * 1024, 60_000, '4 MiB of samples');
    } finally {
      clearInterval(slow);
      child.stdout.resume();
    }
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = Buffer.concat(chunks).toString().split('\n');
    expect(lines.pop()).toBe(''); // ends with a whole line
    for (const l of lines) expect(() => JSON.parse(l), l.slice(0, 200)).not.toThrow();
    const jobs = new Set(lines.map((l) => (JSON.parse(l) as { tags: { job: string } }).tags.job));
    expect(jobs.size).toBe(4);
    expect(lines.length).toBe(finalCounts(stderr).sent);
  }, 120_000);
});
