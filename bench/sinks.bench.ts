// SPDX-License-Identifier: Apache-2.0
/**
 * Sink throughput: samples/s through each queue sink at 1, 100 and 1000 samples per message,
 * against a baseline in the same run (the sink's client library driven bare, without the sink's
 * per-send confirmation).
 *
 *   npx tsx bench/sinks.bench.ts                 (all sinks)
 *   npx tsx bench/sinks.bench.ts nats            (entries whose name starts with "nats")
 *   BENCH_SERIES=20000 BENCH_SINK_RUNS=7 npx tsx bench/sinks.bench.ts
 *
 * Input: the cluster-mix payload (BENCH_SERIES series, 100k by default) parsed once by Strata's
 * parser and encoded once per batch size by the JSON encoder (maxBytes 1 MiB), outside the timed
 * part. The messages are grouped into sends as the consumer makes them: one send per target of
 * BENCH_SINK_TARGET samples (10k by default), BENCH_SINK_INFLIGHT sends in flight (4, a worker's
 * targets in flight). A run sends the whole set and is timed from the first send to the last
 * answer; the table gives the median of BENCH_SINK_RUNS runs (5) after one warm-up run.
 *
 * Entries: `nats core` (publish, then one flush per send), `nats jetstream` (every message
 * acknowledged by a file-backed stream, with a `Nats-Msg-Id` each), and the baseline `nats.js
 * bare` (publish every message, one flush at the end). Each entry starts its own `nats-server`
 * (test/fixtures/nats-server.ts) on 127.0.0.1 with no subscriber, and stops it after. To add a
 * sink (Kafka, say), add a `SinkEntry` to ENTRIES: a name, a `start()` that gives a sink and a
 * `stop()`, and the targets it is held to.
 *
 * Target (issue 11): NATS core at batch 1000 carries ≥ 1 million samples/s on one worker.
 */
import kafkajs from 'kafkajs';
import { connect } from 'nats';
import { JsonEncoder } from '../src/encode/json.js';
import { parseExposition, SeriesCache } from '../src/parse/index.js';
import { createSocket as createUdpSocket } from 'node:dgram';
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, createServer as createTcpServer } from 'node:net';
import { FluentSink } from '../src/sink/fluent.js';
import { HttpSink } from '../src/sink/http.js';
import { KafkaSink } from '../src/sink/kafka.js';
import { NatsSink } from '../src/sink/nats.js';
import { StatsdSink } from '../src/sink/statsd.js';
import type { SendMeta, Sink } from '../src/sink/sink.js';
import { KafkaBroker } from '../test/fixtures/kafka/broker.js';
import { startNats } from '../test/fixtures/nats-server.js';
import { env, intEnv, machineLine } from './lib/env.js';
import type { Measured } from './lib/measure.js';
import { progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { median, printTable, type Row, saveResults, type Target, target } from './lib/report.js';

const SCRAPE_TIME = 1_700_000_015_000;
const BATCHES = [1, 100, 1000] as const;
const RUNS = intEnv('BENCH_SINK_RUNS', 5);
const TARGET_SAMPLES = intEnv('BENCH_SINK_TARGET', 10_000);
const INFLIGHT = intEnv('BENCH_SINK_INFLIGHT', 4);

/** One send: the messages of one target's encode, their samples and their ids. */
interface Send {
  readonly messages: Uint8Array[];
  readonly samples: number;
  readonly meta: SendMeta;
}

/** What an entry gives for one batch size: something that sends, and a way to stop it. */
interface Running {
  readonly send: (send: Send) => Promise<boolean>;
  /** Called once after the last send of a run (the bare baseline flushes here). */
  readonly settle?: () => Promise<void>;
  readonly stop: () => Promise<void>;
}

interface SinkEntry {
  readonly name: string;
  /** The row this entry is compared with. */
  readonly vs?: string;
  start(): Promise<Running>;
  targets?(batch: number, samplesPerSec: number): Target[];
}

function viaSink(sink: Sink, stop: () => Promise<void>): Running {
  const never = new AbortController().signal;
  return {
    send: async (s) => (await sink.send(s.messages, never, s.meta)).result === 'ok',
    stop: async () => {
      await sink.close();
      await stop();
    },
  };
}

/** A Kafka broker fixture with one 4-partition topic that checks but does not keep each record. */
function startKafkaFixture(): Promise<KafkaBroker> {
  return KafkaBroker.start({ topics: { 'strata-bench': 4 }, storeRecords: false, maxBatchBytes: 64 << 20 });
}

const ENTRIES: SinkEntry[] = [
  {
    name: 'nats.js bare',
    async start() {
      const server = await startNats();
      const nc = await connect({ servers: server.url });
      return {
        send: async (s) => {
          for (const m of s.messages) nc.publish('strata.bench', m);
          return true;
        },
        settle: () => nc.flush(),
        stop: async () => {
          await nc.close();
          await server.stop();
        },
      };
    },
  },
  {
    name: 'nats core',
    vs: 'nats.js bare',
    async start() {
      const server = await startNats();
      return viaSink(new NatsSink({ url: server.url, subject: 'strata.bench' }), () => server.stop());
    },
    targets: (batch, rate) => (batch === 1000 ? [target('≥ 1M samples/s', rate >= 1e6)] : []),
  },
  {
    name: 'nats jetstream',
    vs: 'nats.js bare',
    async start() {
      const server = await startNats({ jetstream: true });
      // One file-backed stream for every run: the ids differ per run, so no message is a
      // duplicate; maxAge keeps the store from growing past a minute of runs.
      const sink = new NatsSink({ url: server.url, subject: 'strata.bench', jetstream: { stream: 'BENCH', create: true, maxAge: 60 } });
      return viaSink(sink, () => server.stop());
    },
  },
  // Kafka: the in-process broker fixture (test/fixtures/kafka/) runs on this same thread, so its
  // decoding and CRC checks are part of every Kafka row; compare the rows with each other.
  {
    name: 'kafkajs bare',
    async start() {
      const broker = await startKafkaFixture();
      const kafka = new kafkajs.Kafka({ brokers: [broker.address], logLevel: kafkajs.logLevel.NOTHING });
      const producer = kafka.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
      await producer.connect();
      return {
        send: async (s) => {
          const messages = s.messages.map((m, k) => ({ value: Buffer.from(m.buffer, m.byteOffset, m.byteLength), headers: { 'strata-msg-id': s.meta.ids?.[k] ?? '' } }));
          await producer.send({ topic: 'strata-bench', acks: -1, messages });
          return true;
        },
        stop: async () => {
          await producer.disconnect();
          await broker.stop();
        },
      };
    },
  },
  {
    name: 'kafka',
    vs: 'kafkajs bare',
    async start() {
      const broker = await startKafkaFixture();
      return viaSink(new KafkaSink({ brokers: [broker.address], topic: 'strata-bench', log: () => undefined }), () => broker.stop());
    },
  },
  {
    name: 'kafka series-keyed',
    vs: 'kafkajs bare',
    async start() {
      const broker = await startKafkaFixture();
      return viaSink(new KafkaSink({ brokers: [broker.address], topic: 'strata-bench', key: 'series', log: () => undefined }), () => broker.stop());
    },
  },
  // Push sinks (issue 12). Their peers are discard servers on this same thread (an HTTP server
  // answering 204, a UDP socket, a TCP socket), so the rows measure the sink and the syscalls, not
  // a collector. The messages are the JSON encoder's, as for every row: the statsd sink carries
  // them as lines (JSON lines are longer than statsd lines, so more datagrams than real use).
  {
    name: 'http',
    async start() {
      const server = createHttpServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(204).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const { port } = server.address() as AddressInfo;
      return viaSink(new HttpSink({ url: `http://127.0.0.1:${port}/` }), () => new Promise<void>((resolve) => server.close(() => resolve())));
    },
  },
  {
    name: 'statsd udp',
    async start() {
      const socket = createUdpSocket('udp4');
      socket.on('message', () => undefined);
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      const sink = new StatsdSink({ host: '127.0.0.1', port: socket.address().port });
      return viaSink(sink, () => new Promise<void>((resolve) => socket.close(() => resolve())));
    },
  },
  {
    name: 'fluent (no ack)',
    async start() {
      const server = createTcpServer((c) => {
        c.resume();
        c.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
      const { port } = server.address() as AddressInfo;
      return viaSink(new FluentSink({ host: '127.0.0.1', port }), () => new Promise<void>((resolve) => server.close(() => resolve())));
    },
  },
];

// ── input ──
const payload = clusterMix(0);
const parsed = parseExposition(payload.body, { cache: new SeriesCache() }).batch;
const totalSamples = parsed.length;
let runCounter = 0;

/** The sends of the whole set at `batch` samples per message; fresh ids for every run. */
function encodeSends(batch: number): { sends: Send[]; bytes: number } {
  const encoder = new JsonEncoder({ maxSamples: batch, maxBytes: 1 << 20 });
  const messages = encoder.encode(parsed, SCRAPE_TIME);
  const perSend = Math.max(1, Math.round(TARGET_SAMPLES / batch));
  const sends: Send[] = [];
  let bytes = 0;
  for (let i = 0; i < messages.length; i += perSend) {
    const group = messages.slice(i, i + perSend);
    for (const m of group) bytes += m.byteLength;
    sends.push({ messages: group, samples: Math.min(totalSamples - i * batch, group.length * batch), meta: { ids: [] } });
  }
  return { sends, bytes };
}

function withIds(sends: readonly Send[], run: number): Send[] {
  return sends.map((s, i) => ({ ...s, meta: { ids: s.messages.map((_, k) => `bench/${run}/${i}/${k}`) } }));
}

/** One run: every send, INFLIGHT at a time; ms from the first send to the last answer. */
async function timedRun(running: Running, sends: readonly Send[]): Promise<number> {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < sends.length) {
      const s = sends[next++] as Send;
      if (!(await running.send(s))) failed++;
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, lane));
  await running.settle?.();
  const ms = performance.now() - t0;
  if (failed > 0) throw new Error(`${failed} of ${sends.length} sends did not answer ok`);
  return ms;
}

const wanted = process.argv.slice(2);
const picked = (e: SinkEntry): boolean => wanted.some((w) => e.name.startsWith(w));
// The entries asked for, and the baselines they are compared with.
const entries = wanted.length === 0 ? ENTRIES : ENTRIES.filter((e) => picked(e) || ENTRIES.some((x) => picked(x) && x.vs === e.name));
const rows: Row[] = [];
const notes: string[] = [`${totalSamples} samples per run; sends of ${TARGET_SAMPLES} samples, ${INFLIGHT} in flight; median of ${RUNS} runs`];

for (const batch of BATCHES) {
  const { sends, bytes } = encodeSends(batch);
  for (const entry of entries) {
    const name = `${entry.name} · batch ${batch}`;
    progress(name);
    let running: Running | undefined;
    try {
      running = await entry.start();
      await timedRun(running, withIds(sends, runCounter++)); // warm-up
      const times: number[] = [];
      for (let r = 0; r < RUNS; r++) times.push(await timedRun(running, withIds(sends, runCounter++)));
      const med = median(times);
      const measured: Measured = {
        name,
        medianMs: med,
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        runs: times.length,
        samples: totalSamples,
        bytes,
        samplesPerSec: totalSamples / (med / 1000),
        mbPerSec: bytes / 1e6 / (med / 1000),
        alloc: undefined,
        allocPerSample: undefined,
      };
      rows.push({
        name,
        measured,
        ...(entry.vs === undefined ? {} : { vs: `${entry.vs} · batch ${batch}` }),
        ...(entry.targets === undefined ? {} : { targets: entry.targets(batch, measured.samplesPerSec) }),
      });
    } catch (err) {
      rows.push({ name, skipped: err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err) });
    } finally {
      await running?.stop().catch(() => undefined);
    }
  }
}

const machine = machineLine();
printTable('sinks', [machine, payloadLine(payload), ...notes, `BENCH_SERIES=${env.series}`], rows);
saveResults('sinks', payload.description.name, machine, rows, notes);
