// SPDX-License-Identifier: Apache-2.0
/**
 * Target channel throughput against postMessage, the baseline any worker pool would otherwise
 * use to hand targets to its threads.
 *
 * Run:  npx tsx bench/channel.bench.ts          (BENCH_TIME_MS=2000 for longer runs)
 *
 * Data set "pod-targets-1000": 1,000 JSON-encoded scrape targets (url, labels, id) of 150 to
 * 260 bytes each, the kind of payload the registry will push. One benchmark iteration moves the
 * whole set; tinybench times iterations, and the table reports the median iteration as
 * records/s and MB/s, with the ratio to the baseline of the same group.
 *
 * Groups:
 * - 1 thread: `tryPush` ×1000 then `tryPopInto` ×1000 (zero allocation) or `tryPop` ×1000
 *   (a fresh payload copy each), against `postMessage` of the same payloads through a
 *   MessageChannel within the thread (a structured clone each), and a plain JS array queue as
 *   the floor (no sharing, no copy).
 * - 1 producer → 2 consumer threads: the main thread pushes the set (`push` waits if full; the
 *   channel holds 1,024 records) and waits until the consumers have counted all of it, against
 *   `postMessage` round-robin to 2 threads through MessageChannels. Both kinds of consumer
 *   count into the same shared counter, and the last record of an iteration notifies the main
 *   thread, so the completion signal costs the same on both sides.
 *
 * Workers are this file again, loaded through tsx's CommonJS hook (Node 20 applies no `--import`
 * hooks to a worker's entry file); hence no top-level await here.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import {
  isMainThread,
  MessageChannel,
  type MessagePort,
  parentPort,
  Worker,
  workerData,
} from 'node:worker_threads';
import { TargetChannel } from '../src/channel/index.js';
import { waitChange } from '../src/channel/wait.js';

const RECORDS = 1000;
const RECORD_BYTES = 512;
const CAPACITY = 1024;

/** Counter words shared by the main thread and the consumer threads. */
const Count = { Done: 0, Target: 1 } as const;

interface ChannelConsumerData {
  readonly role: 'channel';
  readonly script: string;
  readonly channel: SharedArrayBuffer;
  readonly counter: SharedArrayBuffer;
}

interface MessageConsumerData {
  readonly role: 'message';
  readonly script: string;
  readonly counter: SharedArrayBuffer;
}

type ConsumerData = ChannelConsumerData | MessageConsumerData;

/** Counts `n` records; the one that reaches the main thread's target wakes it. */
function count(counter: Int32Array, n: number): void {
  const done = Atomics.add(counter, Count.Done, n) + n;
  if (done >= Atomics.load(counter, Count.Target)) Atomics.notify(counter, Count.Done);
}

async function channelConsumer(data: ChannelConsumerData): Promise<void> {
  const channel = TargetChannel.attach(data.channel);
  const counter = new Int32Array(data.counter);
  const dest = new Uint8Array(channel.recordBytes);
  let checksum = 0;
  for (;;) {
    let n = 0;
    while (n < 256) {
      const length = channel.tryPopInto(dest);
      if (length < 0) break;
      checksum += dest[length - 1] as number;
      n++;
    }
    if (n > 0) {
      count(counter, n);
      continue;
    }
    const record = await channel.pop(1000);
    if (record !== null) {
      checksum += record.payload[record.payload.length - 1] as number;
      count(counter, 1);
    } else if (channel.closed) {
      break;
    }
  }
  parentPort?.postMessage(checksum);
}

function messageConsumer(data: MessageConsumerData): void {
  const counter = new Int32Array(data.counter);
  let checksum = 0;
  parentPort?.once('message', (port: MessagePort) => {
    port.on('message', (payload: Uint8Array) => {
      checksum += payload[payload.length - 1] as number;
      count(counter, 1);
    });
    port.on('close', () => parentPort?.postMessage(checksum));
  });
}

/** "pod-targets-1000": deterministic JSON targets, 150 to 260 bytes each. */
function podTargets(): Uint8Array[] {
  const encoder = new TextEncoder();
  const out: Uint8Array[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const labels: Record<string, string> = {
      namespace: `team-${i % 17}`,
      pod: `checkout-${(i * 2654435761) % 1e8}-${i.toString(36)}`,
      app: 'checkout',
      version: `v${i % 5}.${i % 11}`,
    };
    if (i % 3 === 0) labels['zone'] = `eu-west-1${'abc'[i % 3]}`;
    const target = {
      id: `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`,
      url: `http://10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:9100/metrics`,
      labels,
    };
    out.push(encoder.encode(JSON.stringify(target)));
  }
  return out;
}

async function waitForCount(counter: Int32Array, target: number): Promise<void> {
  Atomics.store(counter, Count.Target, target);
  for (;;) {
    const done = Atomics.load(counter, Count.Done);
    if (done >= target) return;
    const wait = waitChange(counter, Count.Done, done, 100);
    if (wait !== undefined) await wait;
  }
}

function exited(worker: Worker): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let result: unknown;
    worker.on('message', (m: unknown) => {
      result = m;
    });
    worker.on('error', reject);
    worker.on('exit', () => resolve(result));
  });
}

async function main(): Promise<void> {
  const { Bench } = await import('tinybench');
  const script = fileURLToPath(import.meta.url);
  const tsxCjs = createRequire(import.meta.url).resolve('tsx/cjs/api');
  const boot =
    `require(${JSON.stringify(tsxCjs)}).register();` +
    `require(require('node:worker_threads').workerData.script);`;
  const spawn = (data: ConsumerData): Worker => new Worker(boot, { eval: true, workerData: data });

  const payloads = podTargets();
  const setBytes = payloads.reduce((s, p) => s + p.length, 0);
  const time = Number(process.env['BENCH_TIME_MS'] ?? 1000);

  // 1 thread.
  const local = new TargetChannel({ capacity: CAPACITY, recordBytes: RECORD_BYTES });
  const dest = new Uint8Array(RECORD_BYTES);
  const localPorts = new MessageChannel();
  let localReceived = 0;
  let localDone: (() => void) | undefined;
  localPorts.port2.on('message', (payload: Uint8Array) => {
    if (payload.length > 0 && ++localReceived === RECORDS) localDone?.();
  });

  // 1 producer → 2 consumer threads.
  const channel = new TargetChannel({ capacity: CAPACITY, recordBytes: RECORD_BYTES });
  const channelCounterBuffer = new SharedArrayBuffer(8);
  const messageCounterBuffer = new SharedArrayBuffer(8);
  const channelCounter = new Int32Array(channelCounterBuffer);
  const messageCounter = new Int32Array(messageCounterBuffer);
  const channelWorkers = [0, 1].map(() =>
    spawn({ role: 'channel', script, channel: channel.buffer, counter: channelCounterBuffer }),
  );
  const messagePorts: MessagePort[] = [];
  const messageWorkers = [0, 1].map(() => {
    const worker = spawn({ role: 'message', script, counter: messageCounterBuffer });
    const { port1, port2 } = new MessageChannel();
    worker.postMessage(port2, [port2]);
    messagePorts.push(port1);
    return worker;
  });
  const finished = [...channelWorkers, ...messageWorkers].map(exited);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // let the workers load
  let channelTarget = 0;
  let messageTarget = 0;

  const bench = new Bench({ time, warmupTime: Math.min(300, time) });
  bench
    .add('1 thread: channel tryPush + tryPopInto', () => {
      for (const p of payloads) local.tryPush(p);
      while (local.tryPopInto(dest) >= 0);
    })
    .add('1 thread: channel tryPush + tryPop', () => {
      for (const p of payloads) local.tryPush(p);
      while (local.tryPop() !== null);
    })
    .add('1 thread: postMessage via MessageChannel (baseline)', async () => {
      localReceived = 0;
      const done = new Promise<void>((resolve) => {
        localDone = resolve;
      });
      for (const p of payloads) localPorts.port1.postMessage(p);
      await done;
    })
    .add('1 thread: JS array queue (floor, no sharing)', () => {
      const queue: Uint8Array[] = [];
      for (const p of payloads) queue.push(p);
      let sum = 0;
      for (let p = queue.shift(); p !== undefined; p = queue.shift()) sum += p.length;
      if (sum === 0) throw new Error('unreachable');
    })
    .add('1 → 2 threads: channel', async () => {
      channelTarget += RECORDS;
      for (const p of payloads) {
        if (!channel.tryPush(p) && !(await channel.push(p, 10_000))) throw new Error('push timed out');
      }
      await waitForCount(channelCounter, channelTarget);
    })
    .add('1 → 2 threads: postMessage via MessageChannel (baseline)', async () => {
      messageTarget += RECORDS;
      for (let i = 0; i < RECORDS; i++) (messagePorts[i & 1] as MessagePort).postMessage(payloads[i]);
      await waitForCount(messageCounter, messageTarget);
    });
  await bench.run();

  channel.close();
  for (const port of messagePorts) port.close();
  localPorts.port1.close();
  await Promise.all(finished);

  const rows: Record<string, string>[] = [];
  const baselines = new Map<string, number>();
  for (const task of bench.tasks) {
    const result = task.result;
    if (result.state !== 'completed') {
      rows.push({ task: task.name, state: result.state });
      continue;
    }
    const ms = result.latency.p50;
    const perSecond = (RECORDS / ms) * 1000;
    const group = task.name.split(':')[0] ?? '';
    if (task.name.includes('baseline')) baselines.set(group, perSecond);
    rows.push({
      task: task.name,
      'median ms / 1000 records': ms.toFixed(3),
      'records/s (median)': Math.round(perSecond).toLocaleString('en-US'),
      'MB/s (median)': ((setBytes / ms) * 1000 / 1e6).toFixed(1),
      samples: String(result.latency.samplesCount ?? ''),
    });
  }
  for (const row of rows) {
    const group = row['task']?.split(':')[0] ?? '';
    const base = baselines.get(group);
    const rate = Number((row['records/s (median)'] ?? '').replace(/,/g, ''));
    if (base !== undefined && rate > 0) row['× baseline'] = (rate / base).toFixed(2);
  }
  const average = (setBytes / RECORDS).toFixed(0);
  console.log(`data set pod-targets-1000: ${RECORDS} records, ${setBytes} bytes (${average} B avg)`);
  console.table(rows);
}

if (isMainThread) {
  void main();
} else {
  const data = workerData as ConsumerData;
  if (data.role === 'channel') void channelConsumer(data);
  else messageConsumer(data);
}
