// SPDX-License-Identifier: Apache-2.0
/**
 * examples/nats-consumer.mjs against a real nats-server, fed by Strata's NATS sink: it prints
 * every sample once, in order, from a core subject (dropping a message whose Nats-Msg-Id it has
 * seen) and from a JetStream stream (resuming after the samples it acknowledged).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { JsonEncoder } from '../../src/encode/json.js';
import { SampleBatch } from '../../src/sample.js';
import { NatsSink } from '../../src/sink/nats.js';
import { startNats } from '../fixtures/nats-server.js';

const root = new URL('../../', import.meta.url).pathname;
const never = (): AbortSignal => new AbortController().signal;

interface Run {
  readonly proc: ChildProcess;
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
}

function consumer(args: string[]): Run {
  const proc = spawn(process.execPath, [`${root}examples/nats-consumer.mjs`, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const run: Run = { proc, out: '', err: '', exited: new Promise((r) => proc.on('exit', (code) => r(code))) };
  proc.stdout?.on('data', (d: Buffer) => (run.out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (run.err += d.toString()));
  return run;
}

async function until(cond: () => boolean, ms: number, what: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Messages of `n` samples `g{i="<k>"} <k>` at 2 samples per message, as the JSON encoder writes them. */
function messages(n: number, from = 0): Uint8Array[] {
  const samples = Array.from({ length: n }, (_, k) => ({ name: 'g', tags: { i: String(from + k) }, timestamp: 1_700_000_000_000 + from + k, type: 'gauge' as const, value: from + k }));
  return new JsonEncoder({ maxSamples: 2 }).encode(SampleBatch.from(samples), null);
}

const want = (n: number, from = 0): string[] => Array.from({ length: n }, (_, k) => `g{i="${from + k}"} ${from + k} ${1_700_000_000_000 + from + k}`);

describe('examples/nats-consumer.mjs', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  const kill = (r: Run) => async () => {
    if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
    await r.exited;
  };

  it('prints every sample of a core subject once, in order, dropping a repeated message id', async () => {
    const server = await startNats();
    cleanups.push(() => server.stop());
    const run = consumer(['--url', server.url, '--subject', 'strata.samples', '--count', '10']);
    cleanups.push(kill(run));
    await until(() => run.err.includes('reading strata.samples'), 20_000, () => `the consumer to subscribe (stderr: ${run.err})`);
    const sink = new NatsSink({ url: server.url, subject: 'strata.samples' });
    cleanups.push(() => sink.close());
    const first = messages(6);
    const ids = first.map((_, k) => `c/t/1/${k}`);
    expect(await sink.send(first, never(), { ids })).toEqual({ result: 'ok' });
    // A retry of the same messages (Strata resending after a lost answer): dropped by id.
    expect(await sink.send(first, never(), { ids })).toEqual({ result: 'ok' });
    const second = messages(4, 6);
    expect(await sink.send(second, never(), { ids: second.map((_, k) => `c/t/2/${k}`) })).toEqual({ result: 'ok' });
    expect(await run.exited).toBe(0);
    expect(run.out.trim().split('\n')).toEqual(want(10));
  }, 60_000);

  it('reads a JetStream stream with a durable consumer, and resumes after what it acknowledged', async () => {
    const server = await startNats({ jetstream: true });
    cleanups.push(() => server.stop());
    const sink = new NatsSink({ url: server.url, subject: 'strata.js', jetstream: { stream: 'STRATA', create: true } });
    cleanups.push(() => sink.close());
    const batch = messages(8);
    expect(await sink.send(batch, never(), { ids: batch.map((_, k) => `a/${k}`) })).toEqual({ result: 'ok' });

    const first = consumer(['--url', server.url, '--stream', 'STRATA', '--durable', 'reader', '--count', '8']);
    cleanups.push(kill(first));
    expect(await first.exited).toBe(0);
    expect(first.out.trim().split('\n')).toEqual(want(8));

    const more = messages(4, 8);
    expect(await sink.send(more, never(), { ids: more.map((_, k) => `b/${k}`) })).toEqual({ result: 'ok' });
    const second = consumer(['--url', server.url, '--stream', 'STRATA', '--durable', 'reader', '--count', '4', '--format', 'ndjson']);
    cleanups.push(kill(second));
    expect(await second.exited).toBe(0);
    expect(second.out).toBe(Buffer.concat(more).toString());
  }, 60_000);
});
