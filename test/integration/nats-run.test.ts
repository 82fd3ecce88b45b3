// SPDX-License-Identifier: Apache-2.0
/**
 * End to end through NATS with real processes: `strata demo-target` serves a synthetic exporter,
 * `strata run` scrapes it with worker threads and publishes to a real `nats-server`, and a
 * subscriber counts the samples (NDJSON lines) that arrive. Once the target is gone and the
 * counts are still, every sample `/status` counts as sent has been delivered, no more and no
 * less, and the accounting adds up. Needs `npm run build` (npm test does).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { startNats } from '../fixtures/nats-server.js';
import { resourcesYaml, tempDir, waitFor, writeResources } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const strata = join(root, 'bin/strata.js');

interface Child {
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, [strata, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = {
    proc,
    out: '',
    err: '',
    exited: new Promise((r) => proc.on('exit', (code) => r(code))),
  };
  proc.stdout?.on('data', (d: Buffer) => (child.out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (child.err += d.toString()));
  return child;
}

interface StatusView {
  metricsCollected: number;
  totalSent: number;
  totalFiltered: number;
  totalDropped: number;
}

async function status(base: string): Promise<StatusView> {
  const body = (await (await fetch(`${base}/status`)).json()) as { collectors: { status: StatusView }[] };
  return body.collectors[0]?.status as StatusView;
}

describe('strata run into NATS', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const kill = (c: Child) => async () => {
    if (c.proc.exitCode === null && c.proc.signalCode === null) {
      c.proc.kill('SIGKILL');
      await c.exited;
    }
  };

  it('delivers every sample /status counts as sent to a subscriber, and the counts add up', async () => {
    const server = await startNats();
    cleanups.push(() => server.stop());
    const nc: NatsConnection = await connect({ servers: server.url });
    cleanups.push(() => nc.close());
    let delivered = 0;
    let messages = 0;
    const names = new Set<string>();
    const malformed: string[] = [];
    nc.subscribe('strata.samples', {
      callback: (_e, msg) => {
        messages++;
        const text = Buffer.from(msg.data).toString();
        const lines = text.split('\n');
        if (lines.pop() !== '') malformed.push(`a message not ending with \\n: ${text.slice(-80)}`);
        for (const line of lines) {
          const sample = JSON.parse(line) as { name: string; tags: Record<string, string> };
          if (sample.tags['target'] !== 'demo') malformed.push(line);
          names.add(sample.name);
        }
        delivered += lines.length;
      },
    });
    await nc.flush();

    const demo = start(['demo-target', '--series', '2000', '--port', '0']);
    cleanups.push(kill(demo));
    await waitFor(() => /^http:\/\/\S+\n/.test(demo.out), 20_000, 'the demo target');
    const targetUrl = (demo.out.split('\n')[0] as string).trim();

    const dir = tempDir('strata-nats-run-');
    const file = writeResources(
      dir,
      resourcesYaml({ output: `{nats: {url: "${server.url}", subject: strata.samples}}`, workers: 2 }, [{ url: targetUrl, labels: { target: 'demo' } }], 1),
    );
    const run = start(['run', '-f', file, '--telemetry-port', '0', '--no-progress']);
    cleanups.push(kill(run));
    await waitFor(() => /self-metrics on (http:\/\/[^/]+)\/metrics/.test(run.err), 20_000, 'the telemetry server');
    const base = (/self-metrics on (http:\/\/[^/]+)\/metrics/.exec(run.err) as RegExpExecArray)[1] as string;

    // A few scrapes' worth, then the target goes away: the counts stop moving.
    let sent = 0;
    await waitFor(() => delivered >= 6000, 60_000, `three scrapes delivered (run stderr: ${run.err.slice(-500)})`);
    demo.proc.kill('SIGTERM');
    await demo.exited;
    let last = -1;
    let stableSince = Date.now();
    const until = Date.now() + 30_000;
    for (;;) {
      const s = await status(base);
      sent = s.totalSent;
      if (sent !== last) {
        last = sent;
        stableSince = Date.now();
      }
      await nc.flush();
      if (Date.now() - stableSince > 3000 && delivered === sent) break;
      if (Date.now() > until) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const s = await status(base);
    expect(delivered).toBe(s.totalSent);
    expect(s.totalSent).toBeGreaterThanOrEqual(6000);
    expect(s.metricsCollected).toBe(s.totalSent + s.totalFiltered + s.totalDropped);
    expect(malformed.slice(0, 3)).toEqual([]);
    expect(messages).toBeGreaterThan(0);
    expect(names.size).toBeGreaterThan(10);

    run.proc.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  }, 120_000);
});
