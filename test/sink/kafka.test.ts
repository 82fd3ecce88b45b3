// SPDX-License-Identifier: Apache-2.0
/**
 * The Kafka sink against the in-process broker fixture (`test/fixtures/kafka/`): the sink
 * contract, records read back in order per partition with their keys and headers, gzip, the
 * idempotent producer, injected broker errors, a broker that goes away, SASL (plain, SCRAM),
 * TLS (a certificate made with openssl), outcomes that must be rejections, and the validation
 * of `output.kafka`. Every broker is started on a free port of 127.0.0.1 by the test and
 * stopped after it.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { type KafkaOutputSpec, kafkaOutputSchema } from '../../src/config/output-kafka.js';
import { decode } from '../../src/config/schema.js';
import { ABORTED_IN_FLIGHT, KAFKA_DEFAULT_MAX_BYTES, KAFKA_DEFAULT_MAX_RECORDS, type KafkaOutput, KafkaSink, type KafkaSinkOptions, kafkaSinkOptions, LINE_HEADER, MSG_ID_HEADER, nameKey, rateLimited, seriesKey } from '../../src/sink/kafka.js';
import { createSink, type SendOutcome } from '../../src/sink/index.js';
import { KafkaBroker } from '../fixtures/kafka/broker.js';
import type { StoredRecord } from '../fixtures/kafka/records.js';
import { sinkContract, textSends } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;
const run = promisify(execFile);
const TOPIC = 'samples';

/** A sink on `broker` with short timeouts and its kafkajs lines kept. */
function sinkOn(broker: KafkaBroker, options: Partial<KafkaSinkOptions> = {}, log: string[] = []): KafkaSink {
  return new KafkaSink({ brokers: [broker.address], topic: TOPIC, clientId: 'strata-test', timeoutMs: 15_000, log: (l) => log.push(l), ...options });
}

async function withBroker(partitions: number, test: (broker: KafkaBroker) => Promise<void>, options: { maxBatchBytes?: number } = {}): Promise<void> {
  const broker = await KafkaBroker.start({ topics: { [TOPIC]: partitions }, ...options });
  try {
    await test(broker);
  } finally {
    await broker.stop();
  }
}

const header = (r: StoredRecord, key: string): string | undefined => r.headers.find((h) => h.key === key)?.value?.toString('utf8');

/** A json encoder line for series `name{job}` at `t`. */
const line = (name: string, job: string, t: number, value: number): string =>
  `{"name":"${name}","tags":{"job":"${job}"},"timestamp":${t},"type":"gauge","value":${value}}\n`;

describe('the kafka sink', () => {
  sinkContract('kafka', async () => {
    const broker = await KafkaBroker.start({ topics: { [TOPIC]: 1 } });
    return {
      sink: sinkOn(broker),
      readBack: async () => Buffer.concat(broker.records(TOPIC, 0).map((r) => r.value ?? Buffer.alloc(0))),
      stall: () => broker.hold(),
      cleanup: () => broker.stop(),
    };
  });

  it('gives every record the id of its message and reads back in order on one partition', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker);
      try {
        const sends = textSends(20, 5, 30);
        for (let s = 0; s < sends.length; s++) {
          const ids = (sends[s] as Buffer[]).map((_, m) => `c/t/1700000000000/${s}.${m}`);
          expect(await sink.send(sends[s] as Buffer[], never(), { ids })).toEqual({ result: 'ok' });
        }
        const records = broker.records(TOPIC, 0);
        expect(records.map((r) => r.value?.toString())).toEqual(sends.flat().map((b) => b.toString()));
        expect(records.map((r) => header(r, MSG_ID_HEADER))).toEqual(sends.flatMap((send, s) => send.map((_, m) => `c/t/1700000000000/${s}.${m}`)));
        expect(records.map((r) => Number(r.offset))).toEqual(records.map((_, i) => i));
        expect(records.every((r) => r.key === null)).toBe(true);
      } finally {
        await sink.close();
      }
    }));

  it('keys each line by its series, keeping each series in one partition and in order', () =>
    withBroker(4, async (broker) => {
      const sink = sinkOn(broker, { key: 'series' });
      const jobs = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
      try {
        for (let t = 0; t < 30; t++) {
          const message = Buffer.from(jobs.map((job, j) => line(j % 2 === 0 ? 'up' : 'load', job, 1000 + t, t)).join(''));
          expect(await sink.send([message], never(), { ids: [`m${t}`] })).toEqual({ result: 'ok' });
        }
        const all = broker.topicRecords(TOPIC);
        expect(all).toHaveLength(30 * jobs.length);
        const partitionsOf = new Map<string, Set<number>>();
        const seen = new Map<string, number[]>();
        for (const { partition, record } of all) {
          const key = record.key?.toString() as string;
          const parsed = JSON.parse(record.value?.toString() as string) as { name: string; tags: { job: string }; timestamp: number };
          expect(key).toBe(`{"name":"${parsed.name}","tags":{"job":"${parsed.tags.job}"}`);
          expect(header(record, MSG_ID_HEADER)).toBe(`m${parsed.timestamp - 1000}`);
          expect(header(record, LINE_HEADER)).toBe(String(jobs.indexOf(parsed.tags.job)));
          partitionsOf.set(key, (partitionsOf.get(key) ?? new Set()).add(partition));
          seen.set(key, [...(seen.get(key) ?? []), parsed.timestamp]);
        }
        expect([...partitionsOf.values()].every((p) => p.size === 1)).toBe(true);
        expect(new Set([...partitionsOf.values()].map((p) => [...p][0])).size).toBeGreaterThan(1);
        for (const times of seen.values()) expect(times).toEqual(times.map((_, i) => 1000 + i));
      } finally {
        await sink.close();
      }
    }));

  it('keys each line by its metric name', () =>
    withBroker(3, async (broker) => {
      const sink = sinkOn(broker, { key: 'name' });
      try {
        const message = Buffer.from(line('up', 'a', 1, 1) + line('load', 'a', 1, 2) + line('up', 'b', 1, 3));
        expect(await sink.send([message], never())).toEqual({ result: 'ok' });
        const all = broker.topicRecords(TOPIC).map(({ partition, record }) => ({ partition, key: record.key?.toString(), value: record.value?.toString() }));
        expect(all.map((r) => r.key).sort()).toEqual(['load', 'up', 'up']);
        const up = all.filter((r) => r.key === 'up');
        expect(up[0]?.partition).toBe(up[1]?.partition);
        expect(up.map((r) => r.value)).toEqual([line('up', 'a', 1, 1).trimEnd(), line('up', 'b', 1, 3).trimEnd()]);
      } finally {
        await sink.close();
      }
    }));

  it('rejects a message that is not NDJSON when records are keyed, sending nothing', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker, { key: 'series' });
      try {
        const outcome = await sink.send([Buffer.from('up:1|g\n')], never());
        expect(outcome).toEqual({
          result: 'reject',
          code: 'not_ndjson',
          reason: `kafka ${broker.address} topic samples: key "series" needs newline-delimited JSON from the json encoder; message 0 line 0 starts "up:1|g"`,
        });
        expect(broker.records(TOPIC, 0)).toHaveLength(0);
      } finally {
        await sink.close();
      }
    }));

  it('compresses with gzip; the broker checks the CRC-32C and inflates the batch', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker, { compression: 'gzip' });
      try {
        const sends = textSends(5, 50, 100);
        for (const send of sends) expect(await sink.send(send, never())).toEqual({ result: 'ok' });
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(sends.flat().map((b) => b.toString()));
      } finally {
        await sink.close();
      }
    }));

  it('splits a send into produce requests by record count and bytes, in order', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker, { batch: { maxRecords: 7, maxBytes: 2000 } });
      try {
        const before = broker.count('Produce');
        const send = textSends(1, 40, 100)[0] as Buffer[];
        expect(await sink.send(send, never())).toEqual({ result: 'ok' });
        expect(broker.count('Produce') - before).toBeGreaterThanOrEqual(Math.ceil(40 / 7));
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(send.map((b) => b.toString()));
      } finally {
        await sink.close();
      }
    }));

  it('coalesces concurrent small sends into fewer produce requests', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker);
      try {
        expect(await sink.send([Buffer.from('warm\n')], never())).toEqual({ result: 'ok' });
        const before = broker.count('Produce');
        const sends = textSends(200, 1, 10);
        const outcomes = await Promise.all(sends.map((s) => sink.send(s, never())));
        expect(outcomes.every((o) => o.result === 'ok')).toBe(true);
        expect(broker.count('Produce') - before).toBeLessThan(200);
        expect(broker.records(TOPIC, 0).slice(1).map((r) => r.value?.toString())).toEqual(sends.flat().map((b) => b.toString()));
      } finally {
        await sink.close();
      }
    }));

  it('uses InitProducerId and sequence numbers when idempotent, so a lost acknowledgement stores nothing twice', () =>
    withBroker(2, async (broker) => {
      const sink = sinkOn(broker, { idempotent: true, key: 'series' });
      try {
        const message = (t: number) => Buffer.from(line('up', 'a', t, 1) + line('up', 'b', t, 2) + line('load', 'c', t, 3));
        expect(await sink.send([message(1)], never(), { ids: ['m1'] })).toEqual({ result: 'ok' });
        expect(broker.count('InitProducerId')).toBe(1);
        // The broker stores the next produce but its answer never arrives.
        broker.loseAcks(1);
        const lost = await sink.send([message(2)], never(), { ids: ['m2'] });
        expect(lost.result === 'ok' || lost.result === 'retry').toBe(true);
        if (lost.result === 'retry') {
          expect(await sink.send([message(2)], never(), { ids: ['m2'] })).toEqual({ result: 'ok' });
        }
        expect(broker.duplicatesDropped).toBeGreaterThan(0);
        expect(await sink.send([message(3)], never(), { ids: ['m3'] })).toEqual({ result: 'ok' });
        const ids = broker.topicRecords(TOPIC).map(({ record }) => `${header(record, MSG_ID_HEADER)}:${header(record, LINE_HEADER)}`);
        expect(ids.sort()).toEqual(['m1:0', 'm1:1', 'm1:2', 'm2:0', 'm2:1', 'm2:2', 'm3:0', 'm3:1', 'm3:2']);
        expect(broker.count('InitProducerId')).toBe(1);
      } finally {
        await sink.close();
      }
    }));

  for (const error of ['LEADER_NOT_AVAILABLE', 'REQUEST_TIMED_OUT', 'NOT_ENOUGH_REPLICAS'] as const) {
    it(`answers retry with code ${error.toLowerCase()} when the broker answers ${error}, then ok`, () =>
      withBroker(1, async (broker) => {
        const sink = sinkOn(broker);
        try {
          expect(await sink.send([Buffer.from('first\n')], never())).toEqual({ result: 'ok' });
          broker.failNext('Produce', error);
          const failed = await sink.send([Buffer.from('second\n')], never());
          expect(failed).toMatchObject({ result: 'retry', code: error.toLowerCase() });
          expect((failed as { reason: string }).reason).toMatch(new RegExp(`^kafka ${broker.address} topic samples: `));
          expect(await sink.send([Buffer.from('second\n')], never())).toEqual({ result: 'ok' });
          expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(['first\n', 'second\n']);
        } finally {
          await sink.close();
        }
      }));
  }

  it('answers reject when the broker refuses a batch as too large', () =>
    withBroker(
      1,
      async (broker) => {
        const sink = sinkOn(broker);
        try {
          const outcome = await sink.send([Buffer.alloc(8000, 0x61)], never());
          expect(outcome).toMatchObject({ result: 'reject', code: 'message_too_large' });
          expect(await sink.send([Buffer.from('small\n')], never())).toEqual({ result: 'ok' });
        } finally {
          await sink.close();
        }
      },
      { maxBatchBytes: 4096 },
    ));

  it('answers retry while the topic does not exist, and ok once it is created', () =>
    withBroker(1, async (broker) => {
      const sink = new KafkaSink({ brokers: [broker.address], topic: 'missing', timeoutMs: 5000, log: () => undefined });
      try {
        const outcome = await sink.send([Buffer.from('x\n')], never());
        expect(outcome.result).toBe('retry');
        broker.createTopic('missing', 1);
        let ok: SendOutcome = outcome;
        for (let i = 0; i < 20 && ok.result !== 'ok'; i++) ok = await sink.send([Buffer.from('x\n')], never());
        expect(ok).toEqual({ result: 'ok' });
      } finally {
        await sink.close();
      }
    }));

  it('answers retry with an errno while the broker is gone, and ok once it is back', () =>
    withBroker(2, async (broker) => {
      const log: string[] = [];
      const sink = sinkOn(broker, { key: 'series' }, log);
      try {
        expect(await sink.send([Buffer.from(line('up', 'a', 1, 1))], never())).toEqual({ result: 'ok' });
        await broker.stop();
        const down = await sink.send([Buffer.from(line('up', 'a', 2, 1))], never());
        expect(down.result).toBe('retry');
        expect((down as { code: string }).code).toMatch(/^(ECONNREFUSED|ECONNRESET|EPIPE|connection_closed|request_timeout)$/);
        const again = await sink.send([Buffer.from(line('up', 'a', 2, 1))], never());
        expect(again).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
        await broker.restart();
        let outcome: SendOutcome = again;
        for (let i = 0; i < 20 && outcome.result !== 'ok'; i++) outcome = await sink.send([Buffer.from(line('up', 'a', 2, 1))], never());
        expect(outcome).toEqual({ result: 'ok' });
        const times = broker.topicRecords(TOPIC).map(({ record }) => (JSON.parse(record.value?.toString() as string) as { timestamp: number }).timestamp);
        expect(times).toEqual([1, 2]);
        // kafkajs's own error lines: one, rate-limited, naming the sink.
        expect(log).toHaveLength(1);
        expect(log[0]).toMatch(new RegExp(`^kafka ${broker.address} topic samples: kafkajs `));
      } finally {
        await sink.close();
      }
    }));

  it('answers retry with ECONNREFUSED when no broker ever listened', async () => {
    const broker = await KafkaBroker.start();
    const address = broker.address;
    await broker.stop();
    const sink = new KafkaSink({ brokers: [address], topic: TOPIC, timeoutMs: 3000, log: () => undefined });
    try {
      expect(await sink.send([Buffer.from('x\n')], never())).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
    } finally {
      await sink.close();
    }
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`authenticates with SASL ${mechanism} and rejects a wrong password`, async () => {
      const broker = await KafkaBroker.start({ topics: { [TOPIC]: 1 }, sasl: { strata: 's3cret' } });
      const good = sinkOn(broker, { sasl: { mechanism, username: 'strata', password: 's3cret' } });
      const bad = sinkOn(broker, { sasl: { mechanism, username: 'strata', password: 'wrong' } });
      try {
        expect(await good.send([Buffer.from('in\n')], never())).toEqual({ result: 'ok' });
        expect(await bad.send([Buffer.from('out\n')], never())).toMatchObject({ result: 'reject', code: 'sasl_authentication_failed' });
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(['in\n']);
      } finally {
        await good.close();
        await bad.close();
        await broker.stop();
      }
    });
  }

  it('speaks TLS, verifying the broker with the given CA, and refuses a broker it cannot verify', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-kafka-tls-'));
    let broker: KafkaBroker | undefined;
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
      broker = await KafkaBroker.start({ topics: { [TOPIC]: 1 }, tls: { key: await readFile(key), cert: await readFile(cert) } });
      const verified = sinkOn(broker, { tls: { ca: await readFile(cert, 'utf8') } });
      const unverified = sinkOn(broker, { tls: {} });
      const skipping = sinkOn(broker, { tls: { insecureSkipVerify: true } });
      try {
        expect(await verified.send([Buffer.from('verified\n')], never())).toEqual({ result: 'ok' });
        const refused = await unverified.send([Buffer.from('refused\n')], never());
        expect(refused.result).toBe('retry');
        expect((refused as { reason: string }).reason).toMatch(/self[- ]signed certificate/);
        expect(await skipping.send([Buffer.from('skipped\n')], never())).toEqual({ result: 'ok' });
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(['verified\n', 'skipped\n']);
      } finally {
        await Promise.all([verified.close(), unverified.close(), skipping.close()]);
      }
    } finally {
      await broker?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is what createSink makes of a decoded output.kafka', () =>
    withBroker(1, async (broker) => {
      const decoded = decode(kafkaOutputSchema, { brokers: [broker.address], topic: TOPIC, timeoutSeconds: 5 }, { namespace: 'default' });
      if (!('value' in decoded)) throw new Error(JSON.stringify(decoded));
      const sink = createSink({ kafka: decoded.value });
      try {
        expect(sink.kind).toBe('kafka');
        expect(await sink.send([Buffer.from('via createSink\n')], never(), { ids: ['x/1'] })).toEqual({ result: 'ok' });
        expect(broker.records(TOPIC, 0).map((r) => [r.value?.toString(), header(r, MSG_ID_HEADER)])).toEqual([['via createSink\n', 'x/1']]);
      } finally {
        await sink.close();
      }
    }));

  it('refuses an idempotent producer without acks=all', () => {
    expect(() => new KafkaSink({ brokers: ['127.0.0.1:1'], topic: TOPIC, idempotent: true, acks: 1 })).toThrow('output.kafka.acks: must be all when idempotent is true');
  });

  it('answers retry at once when the signal aborts while the records are in flight', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker);
      try {
        expect(await sink.send([Buffer.from('warm\n')], never())).toEqual({ result: 'ok' });
        const release = broker.hold();
        const controller = new AbortController();
        const sending = sink.send([Buffer.from('held\n')], controller.signal);
        for (let i = 0; i < 100 && broker.count('Produce') < 2; i++) await new Promise((r) => setTimeout(r, 10));
        controller.abort();
        expect(await sending).toEqual({ result: 'retry', reason: ABORTED_IN_FLIGHT, code: 'aborted' });
        release();
        await sink.flush(never());
        expect(await sink.send([Buffer.from('after\n')], never())).toEqual({ result: 'ok' });
        // The broker stored what was in flight: at-least-once.
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(['warm\n', 'held\n', 'after\n']);
      } finally {
        await sink.close();
      }
    }));

  it('answers ok with acks=0 once written, and the records arrive', () =>
    withBroker(1, async (broker) => {
      const sink = sinkOn(broker, { acks: 0 });
      try {
        for (let i = 0; i < 5; i++) expect(await sink.send([Buffer.from(`r${i}\n`)], never())).toEqual({ result: 'ok' });
        for (let i = 0; i < 100 && broker.records(TOPIC, 0).length < 5; i++) await new Promise((r) => setTimeout(r, 20));
        expect(broker.records(TOPIC, 0).map((r) => r.value?.toString())).toEqual(['r0\n', 'r1\n', 'r2\n', 'r3\n', 'r4\n']);
      } finally {
        await sink.close();
      }
    }));
});

describe('record keys', () => {
  const cases: { input: string; name: string | null; series: string | null }[] = [
    { input: '{"name":"up","tags":{"job":"a"},"timestamp":1,"type":"gauge","value":1}', name: 'up', series: '{"name":"up","tags":{"job":"a"}' },
    { input: '{"name":"up","tags":{"timestamp":"x"},"timestamp":1,"type":"gauge","value":1}', name: 'up', series: '{"name":"up","tags":{"timestamp":"x"}' },
    { input: '{"name":"a\\"b","tags":{},"timestamp":null,"type":"untyped","value":"NaN"}', name: 'a\\"b', series: '{"name":"a\\"b","tags":{}' },
    { input: 'up:1|g|#job:a', name: null, series: null },
    { input: '{"name":"unterminated', name: null, series: null },
    { input: '{"name":"up","tags":{}}', name: 'up', series: null },
  ];
  for (const { input, name, series } of cases) {
    it(`reads ${JSON.stringify(input.slice(0, 40))}`, () => {
      expect(nameKey(Buffer.from(input))?.toString() ?? null).toBe(name);
      expect(seriesKey(Buffer.from(input))?.toString() ?? null).toBe(series);
    });
  }
});

describe('rateLimited', () => {
  it('writes the first line, then one a minute with the count left out', () => {
    let now = 0;
    const out: string[] = [];
    const log = rateLimited((l) => out.push(l), 60_000, () => now);
    log('a');
    log('b');
    log('c');
    now = 60_000;
    log('d');
    expect(out).toEqual(['a', 'd (2 more kafka client lines left out)']);
  });
});

describe('output.kafka', () => {
  const ctx = { namespace: 'default' };
  const decodeKafka = (input: unknown) => decode(kafkaOutputSchema, input, ctx, 'spec.output.kafka');

  it('decodes to what the sink takes', () => {
    // A compile-time check: the decoded spec is the sink's KafkaOutput.
    const spec: KafkaOutputSpec = { brokers: ['k:1'], topic: 't', clientId: 'c', acks: 1, compression: 'gzip', key: 'name', idempotent: false, batch: { maxRecords: 1, maxBytes: 1024 }, timeoutSeconds: 1 };
    const output: KafkaOutput = spec;
    expect(kafkaSinkOptions(output).acks).toBe(1);
  });

  it('fills in the defaults', () => {
    const out = decodeKafka({ brokers: ['k1:9092'], topic: 'metrics' });
    const want: KafkaOutput = {
      brokers: ['k1:9092'],
      topic: 'metrics',
      clientId: 'strata',
      acks: 'all',
      compression: 'none',
      key: 'none',
      idempotent: false,
      batch: { maxRecords: 1000, maxBytes: 900 * 1024 },
      timeoutSeconds: 30,
    };
    expect(out).toEqual({ value: want });
    expect(want.batch).toEqual({ maxRecords: KAFKA_DEFAULT_MAX_RECORDS, maxBytes: KAFKA_DEFAULT_MAX_BYTES });
  });

  it('reads acks as all, 1 or 0, bare or quoted', () => {
    for (const [input, want] of [['all', 'all'], [-1, 'all'], [1, 1], ['1', 1], [0, 0], ['0', 0]] as const) {
      expect(decodeKafka({ brokers: ['k:1'], topic: 't', acks: input })).toMatchObject({ value: { acks: want } });
    }
  });

  const cases: { input: Record<string, unknown>; err: { path: string; reason: string }[] }[] = [
    { input: { topic: 't' }, err: [{ path: 'spec.output.kafka.brokers', reason: 'required' }] },
    { input: { brokers: [], topic: 't' }, err: [{ path: 'spec.output.kafka.brokers', reason: 'must not be empty' }] },
    {
      input: { brokers: ['ok:9092', 'kafka://b:9092', 'c:99999'], topic: 't' },
      err: [
        { path: 'spec.output.kafka.brokers[1]', reason: 'must be host:port, got "kafka://b:9092"' },
        { path: 'spec.output.kafka.brokers[2]', reason: 'must have a port from 1 to 65535, got "c:99999"' },
      ],
    },
    { input: { brokers: ['k:1'], topic: 'a b' }, err: [{ path: 'spec.output.kafka.topic', reason: `must be a Kafka topic name (at most 249 of a-z, A-Z, 0-9, '.', '_', '-'; not "." or ".."), got "a b"` }] },
    { input: { brokers: ['k:1'], topic: 't', acks: 2 }, err: [{ path: 'spec.output.kafka.acks', reason: 'must be all, 1 or 0, got number 2' }] },
    { input: { brokers: ['k:1'], topic: 't', acks: 1, idempotent: true }, err: [{ path: 'spec.output.kafka.acks', reason: 'must be all when idempotent is true, got 1' }] },
    { input: { brokers: ['k:1'], topic: 't', compression: 'snappy' }, err: [{ path: 'spec.output.kafka.compression', reason: 'must be one of none, gzip, got "snappy"' }] },
    { input: { brokers: ['k:1'], topic: 't', key: 'target' }, err: [{ path: 'spec.output.kafka.key', reason: 'must be one of none, name, series, got "target"' }] },
    {
      input: { brokers: ['k:1'], topic: 't', sasl: { mechanism: 'gssapi', username: 'u' } },
      err: [
        { path: 'spec.output.kafka.sasl.mechanism', reason: 'must be one of plain, scram-sha-256, scram-sha-512, got "gssapi"' },
        { path: 'spec.output.kafka.sasl.passwordFile', reason: 'required' },
      ],
    },
    { input: { brokers: ['k:1'], topic: 't', tls: { cert: '/c.pem' } }, err: [{ path: 'spec.output.kafka.tls.key', reason: 'required when cert is set' }] },
    { input: { brokers: ['k:1'], topic: 't', batch: { maxRecords: 0 } }, err: [{ path: 'spec.output.kafka.batch.maxRecords', reason: 'must be ≥ 1, got 0' }] },
    { input: { brokers: ['k:1'], topic: 't', linger: 5 }, err: [{ path: 'spec.output.kafka.linger', reason: 'unknown field' }] },
  ];
  for (const { input, err } of cases) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      expect(decodeKafka(input)).toEqual({ issues: err });
    });
  }

  it('reads the password file and the PEM files the output names, and names the field it cannot read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-kafka-'));
    try {
      await writeFile(join(dir, 'password'), 's3cret\n');
      await writeFile(join(dir, 'ca.pem'), 'CA');
      const decoded = decodeKafka({ brokers: ['k:1'], topic: 't', sasl: { mechanism: 'plain', username: 'u', passwordFile: join(dir, 'password') }, tls: { ca: join(dir, 'ca.pem') } });
      if (!('value' in decoded)) throw new Error(JSON.stringify(decoded));
      const options = kafkaSinkOptions(decoded.value);
      expect(options.sasl).toEqual({ mechanism: 'plain', username: 'u', password: 's3cret' });
      expect(options.tls).toEqual({ insecureSkipVerify: false, ca: 'CA' });
      expect(options.timeoutMs).toBe(30_000);
      const missing = { ...decoded.value, sasl: { mechanism: 'plain' as const, username: 'u', passwordFile: join(dir, 'nope') } };
      expect(() => kafkaSinkOptions(missing)).toThrow(/^output\.kafka\.sasl\.passwordFile: cannot read ".*nope": ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
