// SPDX-License-Identifier: Apache-2.0
/**
 * Channel stress tests with real worker threads: several producer workers and several consumer
 * workers share one channel through its SharedArrayBuffer. Every record carries (producer,
 * sequence); consumers check each payload byte, check that each producer's sequences only
 * increase at each consumer, and count every record in a shared array, so the test can assert
 * that the union of everything consumed holds each (producer, sequence) exactly once.
 *
 * Workers are TypeScript bodies under fixtures/ loaded through fixtures/tsx-worker.cjs (see its
 * header for why), so the tests run the source, with no build step. The channel is created with
 * guard bytes and with its counters a little before the 2^31 wrap, so the stress runs cross it.
 * SEED (env CHANNEL_SEED) picks the producers' burst lengths; a failure prints it.
 */
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { TargetChannel } from '../../src/channel/index.js';
import type { ConsumerData, ConsumerReport, ProducerData, ProducerReport } from './fixtures/records.js';

const SEED = Number(process.env['CHANNEL_SEED'] ?? 0x5eed);
const BOOT = fileURLToPath(new URL('./fixtures/tsx-worker.cjs', import.meta.url));
const PRODUCER = fileURLToPath(new URL('./fixtures/producer.ts', import.meta.url));
const CONSUMER = fileURLToPath(new URL('./fixtures/consumer.ts', import.meta.url));

interface Running<R> {
  readonly worker: Worker;
  /** Resolves with the worker's report once it has sent it and exited on its own. */
  readonly done: Promise<R>;
}

/** Workers not yet exited; only a failed test leaves any, and afterEach cleans them up. */
const live = new Set<Worker>();

afterEach(async () => {
  // The channel of a failed test is garbage, so terminating its workers here is safe.
  await Promise.all([...live].map((w) => w.terminate()));
  live.clear();
});

function start<R>(data: ProducerData | ConsumerData): Running<R> {
  const worker = new Worker(BOOT, { workerData: data });
  live.add(worker);
  worker.once('exit', () => live.delete(worker));
  const done = new Promise<R>((resolve, reject) => {
    let report: R | undefined;
    worker.on('message', (m: R) => {
      report = m;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (code !== 0 || report === undefined) reject(new Error(`worker exited with code ${code} and no report`));
      else resolve(report);
    });
  });
  return { worker, done };
}

interface Run {
  readonly channel: TargetChannel;
  readonly seen: Uint8Array;
  readonly progress: Int32Array;
  readonly producers: number;
  readonly perProducer: number;
  readonly shared: Pick<ConsumerData, 'buffer' | 'seen' | 'progress' | 'producers' | 'perProducer'>;
}

function setUp(producers: number, perProducer: number): Run {
  const channel = new TargetChannel({
    capacity: 1000, // not a power of two: 1024 slots, 1000 records at most
    recordBytes: 40,
    guards: true,
    startPosition: 2 ** 31 - 200_000,
  });
  const seenBuffer = new SharedArrayBuffer(producers * perProducer);
  const progressBuffer = new SharedArrayBuffer(4);
  return {
    channel,
    seen: new Uint8Array(seenBuffer),
    progress: new Int32Array(progressBuffer),
    producers,
    perProducer,
    shared: { buffer: channel.buffer, seen: seenBuffer, progress: progressBuffer, producers, perProducer },
  };
}

function startProducers(run: Run): Running<ProducerReport>[] {
  const out: Running<ProducerReport>[] = [];
  for (let p = 0; p < run.producers; p++) {
    out.push(
      start<ProducerReport>({
        script: PRODUCER,
        buffer: run.channel.buffer,
        producerId: p,
        count: run.perProducer,
        seed: SEED + p,
        waitForSpace: p % 2 === 0, // both ways of handling a full channel, at once
      }),
    );
  }
  return out;
}

let nextConsumerId = 0;
function startConsumers(run: Run, n: number): Running<ConsumerReport>[] {
  const out: Running<ConsumerReport>[] = [];
  for (let i = 0; i < n; i++) {
    out.push(start<ConsumerReport>({ script: CONSUMER, consumerId: nextConsumerId++, ...run.shared }));
  }
  return out;
}

/** Asks consumers to stop (a message, never terminate()) and waits for their reports. */
async function stopConsumers(consumers: Running<ConsumerReport>[]): Promise<ConsumerReport[]> {
  for (const c of consumers) c.worker.postMessage('stop');
  return Promise.all(consumers.map((c) => c.done));
}

/** Asserts that every (producer, seq) was consumed exactly once, and the rest of the books. */
function verify(run: Run, reports: readonly ConsumerReport[]): void {
  const context = `seed ${SEED}`;
  const total = run.producers * run.perProducer;
  let missing = 0;
  let duplicated = 0;
  const examples: string[] = [];
  for (let i = 0; i < run.seen.length; i++) {
    const n = run.seen[i] as number;
    if (n === 1) continue;
    if (n === 0) missing++;
    else duplicated++;
    if (examples.length < 5) {
      examples.push(`(producer ${Math.floor(i / run.perProducer)}, seq ${i % run.perProducer}) × ${n}`);
    }
  }
  expect({ missing, duplicated, examples }, context).toEqual({ missing: 0, duplicated: 0, examples: [] });
  expect(reports.reduce((s, r) => s + r.consumed, 0), context).toBe(total);
  expect(reports.reduce((s, r) => s + r.corrupt, 0), context).toBe(0);
  expect(reports.reduce((s, r) => s + r.orderViolations, 0), context).toBe(0);
  expect(run.channel.size).toBe(0);
  expect(run.channel.tryPop()).toBeNull();
  expect(run.channel.checkGuards(), context).toEqual([]);
}

// Typically 4 to 10 s for the two tests on 2 cores; the limit leaves room for a loaded machine.
describe('TargetChannel with real worker threads', { timeout: 60_000 }, () => {
  it('delivers 1,000,000 records from 3 producers to 3 consumers exactly once, in per-producer order', async () => {
    const run = setUp(3, 333_334);
    const consumers = startConsumers(run, 3);
    const producers = startProducers(run);
    const started = performance.now();
    const pushed = await Promise.all(producers.map((p) => p.done));
    run.channel.close(); // wakes the consumers blocked in pop; they drain what is left and exit
    const reports = await Promise.all(consumers.map((c) => c.done));
    const ms = performance.now() - started;
    const total = run.producers * run.perProducer;
    expect(total).toBeGreaterThanOrEqual(1_000_000);
    verify(run, reports);
    const fullRetries = pushed.reduce((s, r) => s + r.fullRetries, 0);
    const rate = ((total / ms) * 1000).toFixed(0);
    console.info(
      `channel stress: ${total} records in ${ms.toFixed(0)} ms (${rate} records/s incl. worker start), ` +
        `per consumer ${reports.map((r) => r.consumed).join('/')}, full retries ${fullRetries}`,
    );
  });

  it('loses and duplicates nothing when the consumer pool is replaced under load', async () => {
    const run = setUp(2, 150_000);
    const total = run.producers * run.perProducer;
    const reports: ConsumerReport[] = [];
    const generations: number[] = [];
    let consumers = startConsumers(run, 2);
    const producers = startProducers(run);

    const waitForProgress = async (fraction: number): Promise<number> => {
      while (Atomics.load(run.progress, 0) < total * fraction) await sleep(2);
      return Atomics.load(run.progress, 0);
    };

    // Replacement 1: start the new pool first, then stop the old one (both consume for a while).
    await waitForProgress(0.25);
    const second = startConsumers(run, 2);
    const first = await stopConsumers(consumers);
    reports.push(...first);
    generations.push(first.reduce((s, r) => s + r.consumed, 0));
    consumers = second;

    // Replacement 2: stop the old pool first (the channel fills up meanwhile), then start anew.
    const atStop = await waitForProgress(0.5);
    const secondReports = await stopConsumers(consumers);
    reports.push(...secondReports);
    generations.push(secondReports.reduce((s, r) => s + r.consumed, 0));
    expect(run.channel.size).toBeLessThanOrEqual(run.channel.capacity);
    consumers = startConsumers(run, 3);

    await Promise.all(producers.map((p) => p.done));
    run.channel.close();
    const last = await Promise.all(consumers.map((c) => c.done));
    reports.push(...last);
    generations.push(last.reduce((s, r) => s + r.consumed, 0));

    expect(first.every((r) => r.stopped) && secondReports.every((r) => r.stopped)).toBe(true);
    expect(atStop).toBeLessThan(total);
    expect(generations[2]).toBeGreaterThan(0);
    verify(run, reports);
    console.info(`channel pool replacement: ${total} records, consumed per generation ${generations.join('/')}`);
  });
});
