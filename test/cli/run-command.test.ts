// SPDX-License-Identifier: Apache-2.0
/**
 * `strata run` as a process: serves self-metrics, health and status, prints samples on stdout
 * and a progress line on stderr, and stops cleanly on SIGTERM (exit 0, counts add up).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resourcesYaml, serve, tempDir, waitFor, writeResources } from '../integration/helpers.js';

const root = new URL('../../', import.meta.url).pathname;

describe('strata run', () => {
  const closers: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of closers) await c();
  });

  it('collects to stdout, serves /metrics, /healthz, /readyz and /status, and stops on SIGTERM', async () => {
    const target = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('# TYPE up gauge\nup{x="1"} 1\nup{x="2"} 0\n');
    });
    closers.push(() => target.close());
    const dir = tempDir('strata-run-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}' }, [{ url: target.url, labels: { job: 'j' } }], 1));
    const child = spawn(process.execPath, [join(root, 'bin/strata.js'), 'run', '-f', file, '--telemetry-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(() => /self-metrics on (http:\/\/[^/]+)\/metrics/.test(err), 10_000, 'the telemetry server');
    const base = (/self-metrics on (http:\/\/[^/]+)\/metrics/.exec(err) as RegExpExecArray)[1] as string;
    await waitFor(() => out.split('\n').length > 4 && /samples\/s/.test(err), 10_000, 'samples and a progress line');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/strata_samples_collected_total\{collector="test\/it"\} \d+/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const status = (await (await fetch(`${base}/status`)).json()) as { collectors: { status: { metricsCollected: number; targets: unknown[] } }[] };
    expect(status.collectors[0]?.status.metricsCollected).toBeGreaterThan(0);
    expect(status.collectors[0]?.status.targets).toHaveLength(1);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const lines = out.trim().split('\n');
    const sent = Number((/sent (\d+) ·/.exec(err.split('stopped.')[1] ?? '') ?? [])[1]);
    expect(lines.length).toBe(sent);
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ name: 'up', tags: { job: 'j' }, type: 'gauge' });
  }, 30_000);

  it('exits 1 with every error when the file does not validate', async () => {
    const dir = tempDir('strata-run-bad-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}', workers: 0 }, [{ url: 'ftp://x', labels: {} }], 0));
    const child = spawn(process.execPath, [join(root, 'bin/strata.js'), 'run', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toContain('spec.workers: must be ≥ 1, got 0');
    expect(err).toContain('spec.intervalSeconds');
    expect(err).toContain('spec.static[0].url');
  }, 20_000);

  it('exits 1 naming STRATA_GC_BUDGET_MB when it is not a whole number', async () => {
    const dir = tempDir('strata-run-gc-');
    const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}' }, [{ url: 'http://127.0.0.1:9/metrics', labels: {} }]));
    const child = spawn(process.execPath, [join(root, 'bin/strata.js'), 'run', '-f', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STRATA_GC_BUDGET_MB: 'lots' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toBe('strata: STRATA_GC_BUDGET_MB: must be a whole number of MB ≥ 0 (0: no paced GC), got "lots"\n');
  }, 20_000);
});
