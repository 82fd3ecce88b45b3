// SPDX-License-Identifier: Apache-2.0
/**
 * A 30-second NATS outage under steady load, with real processes: `strata run` scrapes a
 * `strata demo-target` every second into a JetStream stream; the `nats-server` is stopped for
 * 30 s and started again with the same store. Afterwards the samples stored in the stream
 * (each message once: the stream drops a resent message by its `Nats-Msg-Id`) plus the samples
 * `/status` counts as dropped equal the samples collected. With a small memory buffer and no
 * spool, the oldest messages are dropped (and counted); with `buffer.path` the overflow goes to
 * the spool and nothing is dropped. Needs `npm run build` (npm test does).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { connect } from 'nats';
import { afterEach, describe, expect, it } from 'vitest';
import { type NatsServer, startNats } from '../fixtures/nats-server.js';
import { resourcesYaml, tempDir, waitFor, writeResources } from './helpers.js';

const root = new URL('../../', import.meta.url).pathname;
const strata = join(root, 'bin/strata.js');
const OUTAGE_MS = 30_000;

interface Child {
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

function start(args: string[]): Child {
  const proc = spawn(process.execPath, [strata, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { proc, out: '', err: '', exited: new Promise((r) => proc.on('exit', (code) => r(code))) };
  proc.stdout?.on('data', (d: Buffer) => (child.out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (child.err += d.toString()));
  return child;
}

interface StatusView {
  metricsCollected: number;
  totalSent: number;
  totalFiltered: number;
  totalDropped: number;
  dropped?: Record<string, number>;
  buffer?: { memoryMessages: number; spoolRecords: number };
}

async function status(base: string): Promise<StatusView> {
  const body = (await (await fetch(`${base}/status`)).json()) as { collectors: { status: StatusView }[] };
  return body.collectors[0]?.status as StatusView;
}

/** Samples (NDJSON lines) of every message stored in `stream`. */
async function storedSamples(server: NatsServer, stream: string): Promise<{ samples: number; messages: number; ids: Set<string> }> {
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    let samples = 0;
    const ids = new Set<string>();
    for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      const id = m.header?.get('Nats-Msg-Id');
      if (id) ids.add(id);
      for (const byte of m.data) if (byte === 0x0a) samples++;
    }
    return { samples, messages: info.state.messages, ids };
  } finally {
    await nc.close();
  }
}

describe('a 30 s NATS outage under steady load', () => {
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

  async function outage(spool: boolean): Promise<{ s: StatusView; stored: { samples: number; messages: number; ids: Set<string> } }> {
    const server = await startNats({ jetstream: true });
    cleanups.push(() => server.stop());
    const demo = start(['demo-target', '--series', '1000', '--port', '0']);
    cleanups.push(kill(demo));
    await waitFor(() => /^http:\/\/\S+\n/.test(demo.out), 20_000, 'the demo target');
    const targetUrl = (demo.out.split('\n')[0] as string).trim();

    const dir = tempDir('strata-nats-outage-');
    const buffer = spool ? `{maxBytes: 1048576, policy: dropOldest, path: "${join(dir, 'spool')}"}` : '{maxBytes: 1048576, policy: dropOldest}';
    const nats = `{url: "${server.url}", subject: strata.outage, timeoutSeconds: 2, jetstream: {stream: OUTAGE, create: true, duplicateWindow: 600}}`;
    const file = writeResources(dir, resourcesYaml({ output: `{nats: ${nats}}`, extra: `  buffer: ${buffer}` }, [{ url: targetUrl, labels: { target: 'demo' } }], 1));
    const run = start(['run', '-f', file, '--telemetry-port', '0', '--no-progress']);
    cleanups.push(kill(run));
    await waitFor(() => /self-metrics on (http:\/\/[^/]+)\/metrics/.test(run.err) || run.proc.exitCode !== null, 20_000, 'the telemetry server');
    expect(run.err).toMatch(/self-metrics on/);
    const base = (/self-metrics on (http:\/\/[^/]+)\/metrics/.exec(run.err) as RegExpExecArray)[1] as string;

    // Steady flow first, then the outage, then the flow again.
    let s = await status(base);
    const until = Date.now() + 60_000;
    while (s.totalSent < 3000 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      s = await status(base);
    }
    expect(s.totalSent).toBeGreaterThanOrEqual(3000);
    await server.down();
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const duringOutage = await status(base);
    await server.up();
    // Scrapes kept going during the outage: samples were collected and held or dropped.
    expect(duringOutage.metricsCollected - duringOutage.totalSent).toBeGreaterThan(10_000);
    await new Promise((r) => setTimeout(r, 5_000));

    // The target goes away; wait until every collected sample is sent or dropped, and still.
    demo.proc.kill('SIGTERM');
    await demo.exited;
    let last = '';
    let stableSince = Date.now();
    const settleBy = Date.now() + 90_000;
    for (;;) {
      s = await status(base);
      const key = `${s.metricsCollected}/${s.totalSent}/${s.totalDropped}`;
      if (key !== last) {
        last = key;
        stableSince = Date.now();
      }
      const settled = s.metricsCollected === s.totalSent + s.totalFiltered + s.totalDropped;
      if (settled && Date.now() - stableSince > 3_000) break;
      if (Date.now() > settleBy) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const stored = await storedSamples(server, 'OUTAGE');
    run.proc.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    return { s, stored };
  }

  it('without a spool: stored + counted drops = collected, and the small memory buffer dropped the oldest', async () => {
    const { s, stored } = await outage(false);
    expect(s.totalFiltered).toBe(0);
    expect(stored.samples + s.totalDropped).toBe(s.metricsCollected);
    expect(stored.samples).toBe(s.totalSent);
    expect(s.totalDropped).toBeGreaterThan(0);
    expect(stored.ids.size).toBe(stored.messages); // every stored message once
  }, 240_000);

  it('with buffer.path: nothing is dropped, and everything collected is stored once', async () => {
    const { s, stored } = await outage(true);
    expect({ dropped: s.totalDropped, reasons: s.dropped }).toEqual({ dropped: 0, reasons: s.dropped });
    expect(stored.samples).toBe(s.metricsCollected);
    expect(stored.samples).toBe(s.totalSent);
    expect(stored.ids.size).toBe(stored.messages);
  }, 240_000);
});
