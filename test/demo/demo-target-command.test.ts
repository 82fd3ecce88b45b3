// SPDX-License-Identifier: Apache-2.0
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { demoTargetCommand } from '../../src/cli/demo-target-command.js';
import type { DemoTarget } from '../../src/demo/index.js';
import { UsageError } from '../../src/errors.js';
import { parseExposition } from '../../src/parse/index.js';
import { get } from './http.js';

function capture(): { io: { stdout: { write(c: Uint8Array | string): boolean }; stderr: { write(c: string): boolean } }; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (c) => (out.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8')), true) },
      stderr: { write: (c) => (err.push(c), true) },
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

describe('strata demo-target', () => {
  it('starts K targets, prints their URLs, serves them, and stops with status 0 when aborted', async () => {
    const c = capture();
    const stop = new AbortController();
    const sigint = process.listenerCount('SIGINT');
    let ready: (targets: readonly DemoTarget[]) => void = () => {};
    const listening = new Promise<readonly DemoTarget[]>((resolve) => {
      ready = resolve;
    });
    const done = demoTargetCommand(['--series', '300', '--port', '0', '--count', '3', '--seed', '5'], c.io, { signal: stop.signal, onReady: ready });
    const targets = await listening;
    expect(process.listenerCount('SIGINT')).toBe(sigint + 1);
    expect(targets).toHaveLength(3);
    expect(c.out()).toBe(targets.map((t) => `${t.url}\n`).join(''));
    expect(c.err()).toMatch(/^strata demo-target: 3 target\(s\), 300 series each/);
    const bodies = await Promise.all(targets.map(async (t) => (await get(t.url)).body));
    for (const b of bodies) expect(parseExposition(b).stats.samples).toBe(300);
    // Seeds 5, 6 and 7: different series.
    expect(bodies[0]?.equals(bodies[1] as Buffer)).toBe(false);
    stop.abort();
    expect(await done).toBe(0);
    expect(process.listenerCount('SIGINT')).toBe(sigint);
    await expect(get(targets[0]?.url as string)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('puts K targets on consecutive ports from --port', async () => {
    // Find two free consecutive ports (retry a few times: another process may take one).
    for (let attempt = 0; ; attempt++) {
      const probe = createServer();
      await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
      const base = (probe.address() as AddressInfo).port;
      await new Promise<void>((r) => probe.close(() => r()));
      if (base >= 65535) continue;
      const c = capture();
      const stop = new AbortController();
      let targets: readonly DemoTarget[] = [];
      const code = await demoTargetCommand(['--series', '10', '--port', String(base), '--count', '2'], c.io, {
        signal: stop.signal,
        onReady: (t) => {
          targets = t;
          stop.abort();
        },
      });
      if (code !== 0 && attempt < 5) continue;
      expect(code).toBe(0);
      expect(targets.map((t) => t.port)).toEqual([base, base + 1]);
      expect(c.out()).toBe(`http://127.0.0.1:${base}/metrics\nhttp://127.0.0.1:${base + 1}/metrics\n`);
      return;
    }
  });

  it('exits 1, naming the address, when a port is taken, and closes what it started', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const c = capture();
      expect(await demoTargetCommand(['--series', '10', '--port', String(port)], c.io)).toBe(1);
      expect(c.err()).toMatch(new RegExp(`^strata demo-target: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      expect(c.out()).toBe('');
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
    }
  });

  it('returns 0 at once when the signal is already aborted', async () => {
    const c = capture();
    expect(await demoTargetCommand(['--port', '0'], c.io, { signal: AbortSignal.abort() })).toBe(0);
    expect(c.out()).toBe('');
  });

  it.each([
    { input: ['--series=-1'], err: '--series must be an integer in 0..10000000, got "-1"' },
    { input: ['--series', '1e3'], err: '--series must be an integer in 0..10000000, got "1e3"' },
    { input: ['--series', ''], err: '--series must be an integer in 0..10000000, got ""' },
    { input: ['--port', '65536'], err: '--port must be an integer in 0..65535, got "65536"' },
    { input: ['--port', '0x50'], err: '--port must be an integer in 0..65535, got "0x50"' },
    { input: ['--count', '0'], err: '--count must be an integer in 1..1000, got "0"' },
    { input: ['--seed', 'abc'], err: '--seed must be an integer in 0..4294967295, got "abc"' },
    { input: ['--gzip-level', '10'], err: '--gzip-level must be an integer in 1..9, got "10"' },
    { input: ['--host', ''], err: '--host must not be empty' },
    { input: ['--port', '65535', '--count', '2'], err: '--port 65535 with --count 2 runs past port 65535' },
    { input: ['extra'], err: 'unexpected argument "extra"; usage: strata demo-target' },
    { input: ['--bogus'], err: "Unknown option '--bogus'" },
    { input: ['--series'], err: "Option '--series <value>' argument missing" },
  ])('rejects $input with a usage error', async ({ input, err }) => {
    const c = capture();
    const run = demoTargetCommand(input, c.io);
    await expect(run).rejects.toThrow(UsageError);
    await expect(demoTargetCommand(input, c.io)).rejects.toThrow(err);
  });
});
