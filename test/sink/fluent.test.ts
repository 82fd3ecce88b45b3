// SPDX-License-Identifier: Apache-2.0
/**
 * The fluent sink against a Forward protocol receiver on 127.0.0.1 (test/fixtures/
 * forward-receiver.ts). The receiver is first proven against fluent-logger, an independent
 * client, in every mode it speaks (acks and the shared-key handshake included); then the sink's
 * frames, made by the real fluent encoder, must decode to the same events fluent-logger's do.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluentEncoder } from '../../src/encode/fluent.js';
import { SampleBatch, SampleType, Series } from '../../src/sample.js';
import { chunkOf, FluentSink, type FluentSinkOptions } from '../../src/sink/fluent.js';
import type { Sink } from '../../src/sink/index.js';
import { doc, parse, specOf } from '../config/helpers.js';
import { ForwardReceiver, type ForwardReceiverOptions } from '../fixtures/forward-receiver.js';
import { makeCerts, type TestCerts } from '../fixtures/tls-certs.js';
import { settled, sinkContract, ticks } from './contract.js';

// fluent-logger is CommonJS without types for its sender options; the part used here.
interface FluentSender {
  emit(label: string, data: Record<string, unknown>, timestamp: unknown, callback: (err?: Error) => void): void;
  end(label?: string, data?: unknown, callback?: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}
interface FluentLoggerModule {
  createFluentSender(tagPrefix: string, options: Record<string, unknown>): FluentSender;
  EventTime: { fromTimestamp(ms: number): unknown };
}
const fluentLogger = (await import('fluent-logger')).default as unknown as FluentLoggerModule;

const never = (): AbortSignal => new AbortController().signal;
const packr = new Packr({ useRecords: false });
/** fluent-logger logs its handshake steps to stdout unless given a logger. */
const quiet = { info: () => undefined, error: () => undefined };

async function withReceiver<T>(options: ForwardReceiverOptions, run: (r: ForwardReceiver) => Promise<T>): Promise<T> {
  const receiver = await ForwardReceiver.start(options);
  try {
    return await run(receiver);
  } finally {
    await receiver.close();
  }
}

async function withSink<T>(options: FluentSinkOptions, run: (s: FluentSink) => Promise<T>): Promise<T> {
  const sink = new FluentSink(options);
  try {
    return await run(sink);
  } finally {
    await sink.close();
  }
}

/** Emits `records` through fluent-logger and resolves once each callback has come. */
async function emitAll(sender: FluentSender, records: readonly { data: Record<string, unknown>; ms: number }[]): Promise<void> {
  await Promise.all(
    records.map(
      ({ data, ms }) =>
        new Promise<void>((resolve, reject) => {
          sender.emit('metrics', data, fluentLogger.EventTime.fromTimestamp(ms), (err) => (err ? reject(err) : resolve()));
        }),
    ),
  );
}

const SERIES: Series[] = [
  new Series('http_requests_total', SampleType.Counter, { code: '200', job: 'api' }),
  new Series('temperature_celsius', SampleType.Gauge, { room: 'lab' }),
  new Series('queue_depth', SampleType.Gauge, {}),
];

function batchOf(values: readonly number[], timestamps: readonly number[]): SampleBatch {
  const batch = new SampleBatch(values.length);
  values.forEach((v, i) => batch.push(SERIES[i % SERIES.length] as Series, v, timestamps[i] as number));
  return batch;
}

describe('the forward receiver (test fixture), against fluent-logger', () => {
  const records = [
    { data: { name: 'a', value: 1.5, tags: { k: 'v' } }, ms: 1_700_000_000_123 },
    { data: { name: 'b', value: -2, tags: {} }, ms: 1_700_000_001_000 },
    { data: { name: 'c', value: 1e300, tags: { x: 'y', z: 'w' } }, ms: 1_700_000_002_999 },
  ];

  for (const eventMode of ['Message', 'PackedForward', 'CompressedPackedForward'] as const) {
    it(`decodes fluent-logger's ${eventMode} frames and acks their chunks`, async () => {
      await withReceiver({}, async (receiver) => {
        const sender = fluentLogger.createFluentSender('test', {
          host: '127.0.0.1',
          port: receiver.port,
          eventMode,
          requireAckResponse: true,
          ackResponseTimeout: 10_000,
          flushInterval: 10,
          reconnectInterval: 600_000,
          internalLogger: quiet,
        });
        sender.on('error', () => undefined);
        try {
          // fluent-logger's callbacks fire only once the receiver's ack matched the chunk.
          await emitAll(sender, records);
          expect(receiver.errors).toEqual([]);
          expect(receiver.frames.every((f) => f.mode === eventMode && typeof f.option?.['chunk'] === 'string')).toBe(true);
          expect(receiver.acked).toBe(receiver.frames.length);
          expect(receiver.events.map((e) => ({ tag: e.tag, record: e.record, seconds: e.time.seconds, nanos: e.time.nanos }))).toEqual(
            records.map((r) => ({
              tag: 'test.metrics',
              record: r.data,
              seconds: Math.floor(r.ms / 1000),
              nanos: (r.ms % 1000) * 1e6,
            })),
          );
        } finally {
          sender.end();
        }
      });
    });
  }

  it("runs the shared-key handshake with fluent-logger's client side", async () => {
    await withReceiver({ sharedKey: 'sekrit' }, async (receiver) => {
      const sender = fluentLogger.createFluentSender('test', {
        host: '127.0.0.1',
        port: receiver.port,
        requireAckResponse: true,
        ackResponseTimeout: 10_000,
        security: { clientHostname: 'client.test', sharedKey: 'sekrit' },
        reconnectInterval: 600_000,
          internalLogger: quiet,
      });
      sender.on('error', () => undefined);
      try {
        await emitAll(sender, records.slice(0, 1));
        expect(receiver.errors).toEqual([]);
        expect(receiver.events.map((e) => e.record)).toEqual([records[0]?.data]);
      } finally {
        sender.end();
      }
    });
  });
});

/**
 * The contract over a real connection with acks: each contract message travels as the `data`
 * field of one Forward frame with a chunk id, and the stall holds the receiver's acks.
 */
function wrapped(inner: Sink): Sink {
  const wrap = (m: Uint8Array): Uint8Array =>
    packr.pack(['contract', [[1_700_000_000, { data: Buffer.from(m) }]], { size: 1, chunk: randomBytes(16).toString('base64') }]);
  return {
    kind: inner.kind,
    send: (messages, signal, meta) => inner.send(messages.map(wrap), signal, meta),
    flush: (signal) => inner.flush(signal),
    close: () => inner.close(),
  };
}

describe('the fluent sink', () => {
  sinkContract('fluent', async () => {
    const receiver = await ForwardReceiver.start();
    return {
      sink: wrapped(new FluentSink({ host: '127.0.0.1', port: receiver.port, requireAck: true })),
      readBack: async () => Buffer.concat(receiver.events.map((e) => (e.record as { data: Uint8Array }).data)),
      stall: () => receiver.holdAcks(),
      cleanup: () => receiver.close(),
    };
  });

  it('sends frames that decode to the same events as fluent-logger sends for the same samples', async () => {
    const values = [1, 2.5, -3, 1e21, 0.000001, Number.NaN];
    const timestamps = [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999, 1_700_000_001_000, 1_700_000_002_500, 1_700_000_003_000];
    const messages = new FluentEncoder({ tag: 'metrics', maxSamples: 4 }).encode(batchOf(values, timestamps), null);
    expect(messages.length).toBe(2);
    const ours = await withReceiver({}, (receiver) =>
      withSink({ host: '127.0.0.1', port: receiver.port }, async (sink) => {
        expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
        await receiver.waitFor(() => receiver.events.length === values.length);
        expect(receiver.frames.map((f) => f.mode)).toEqual(['Forward', 'Forward']);
        return receiver.events;
      }),
    );
    const theirs = await withReceiver({}, async (receiver) => {
      const sender = fluentLogger.createFluentSender('', { host: '127.0.0.1', port: receiver.port, reconnectInterval: 600_000, internalLogger: quiet });
      sender.on('error', () => undefined);
      try {
        await emitAll(
          sender,
          ours.map((e, i) => ({ data: e.record as Record<string, unknown>, ms: timestamps[i] as number })),
        );
        await receiver.waitFor(() => receiver.events.length === values.length);
        return receiver.events;
      } finally {
        sender.end();
      }
    });
    expect(ours).toEqual(theirs);
    expect(ours.map((e) => (e.record as { value: unknown }).value)).toEqual([1, 2.5, -3, 1e21, 0.000001, 'NaN']);
    expect(ours.map((e) => e.tag)).toEqual(Array(values.length).fill('metrics'));
    expect(ours[2]?.time).toMatchObject({ seconds: 1_700_000_000, nanos: 999_000_000, eventTime: true });
  });

  it('answers ok only after the ack of every chunk of the send', async () => {
    await withReceiver({}, (receiver) =>
      withSink({ host: '127.0.0.1', port: receiver.port, requireAck: true }, async (sink) => {
        const encoder = new FluentEncoder({ requireAck: true, maxSamples: 1 });
        const messages = encoder.encode(batchOf([1, 2, 3], [1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_000]), null);
        expect(messages.map((m) => chunkOf(m)).every((c) => c !== null && c.length === 24)).toBe(true);
        const release = receiver.holdAcks();
        const sending = sink.send(messages, never());
        await receiver.waitFor(() => receiver.frames.length === 3);
        expect(await settled(sending)).toBe(false);
        release();
        expect(await sending).toEqual({ result: 'ok' });
        expect(receiver.frames.map((f) => f.option?.['chunk'])).toEqual(messages.map((m) => chunkOf(m)));
      }),
    );
  });

  for (const acks of ['none', 'wrong'] as const) {
    it(`answers retry with code no_ack when the server sends ${acks === 'none' ? 'no ack' : 'a wrong ack'}, and reconnects`, async () => {
      await withReceiver({ acks }, (receiver) =>
        withSink({ host: '127.0.0.1', port: receiver.port, requireAck: true, ackTimeoutSeconds: 0.3 }, async (sink) => {
          const encoder = new FluentEncoder({ requireAck: true });
          const message = encoder.encode(batchOf([7], [1_700_000_000_000]), null);
          const outcome = await sink.send(message, never());
          expect(outcome).toMatchObject({ result: 'retry', code: 'no_ack' });
          expect((outcome as { reason: string }).reason).toMatch(/no ack for 1 of 1 messages within 0.3 s/);
          expect(await sink.send(message, never())).toMatchObject({ result: 'retry', code: 'no_ack' });
          // The connection is dropped after a missing ack, so the second send came on a new one.
          expect(receiver.connections).toBe(2);
        }),
      );
    });
  }

  it('rejects a message without a chunk id when requireAck is set, writing nothing', async () => {
    await withReceiver({}, (receiver) =>
      withSink({ host: '127.0.0.1', port: receiver.port, requireAck: true }, async (sink) => {
        const message = new FluentEncoder().encode(batchOf([1], [1_700_000_000_000]), null);
        expect(await sink.send(message, never())).toEqual({
          result: 'reject',
          reason: 'message 1 of 1 has no chunk id while requireAck is set (the fluent encoder must be built with requireAck too)',
          code: 'no_chunk',
        });
        expect(receiver.connections).toBe(0);
      }),
    );
  });

  it('answers retry while the server is down, backs off, then reconnects and delivers', async () => {
    const first = await ForwardReceiver.start();
    const port = first.port;
    await first.close();
    await withSink({ host: '127.0.0.1', port, requireAck: true, reconnectMaxSeconds: 1 }, async (sink) => {
      const encoder = new FluentEncoder({ requireAck: true });
      const message = (v: number): Uint8Array[] => encoder.encode(batchOf([v], [1_700_000_000_000]), null);
      const refused = await sink.send(message(1), never());
      expect(refused).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
      const waiting = await sink.send(message(1), never());
      expect(waiting).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
      expect((waiting as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0);
      expect((waiting as { reason: string }).reason).toMatch(/^reconnecting in \d+ ms after: /);
      await withReceiver({ port }, async (receiver) => {
        await new Promise((resolve) => setTimeout(resolve, ((waiting as { retryAfterMs: number }).retryAfterMs ?? 0) + 50));
        expect(await sink.send(message(2), never())).toEqual({ result: 'ok' });
        // The server drops the connection: the next send reconnects at once and delivers.
        receiver.dropConnections();
        await ticks(20);
        let outcome = await sink.send(message(3), never());
        if (outcome.result === 'retry') outcome = await sink.send(message(3), never());
        expect(outcome).toEqual({ result: 'ok' });
        expect(receiver.events.map((e) => (e.record as { value: number }).value).slice(-1)).toEqual([3]);
        expect(receiver.connections).toBe(2);
      });
    });
  });

  describe('over TLS', () => {
    let certs: TestCerts;
    beforeAll(() => {
      certs = makeCerts();
    });
    afterAll(() => certs.remove());

    it('delivers to a TLS server whose certificate the configured CA signed', async () => {
      await withReceiver({ tls: { cert: certs.pem('server.crt'), key: certs.pem('server.key') } }, (receiver) =>
        withSink({ host: '127.0.0.1', port: receiver.port, requireAck: true, tls: { ca: certs.path('ca.crt') } }, async (sink) => {
          const messages = new FluentEncoder({ requireAck: true }).encode(batchOf([42], [1_700_000_000_000]), null);
          expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
          expect(receiver.events.map((e) => (e.record as { value: number }).value)).toEqual([42]);
        }),
      );
    });

    it('refuses a server certificate another CA signed, and sends nothing', async () => {
      await withReceiver({ tls: { cert: certs.pem('server.crt'), key: certs.pem('server.key') } }, (receiver) =>
        withSink({ host: '127.0.0.1', port: receiver.port, tls: { ca: certs.path('other-ca.crt') } }, async (sink) => {
          const messages = new FluentEncoder().encode(batchOf([42], [1_700_000_000_000]), null);
          const outcome = await sink.send(messages, never());
          expect(outcome).toMatchObject({ result: 'retry' });
          expect((outcome as { reason: string }).reason).toMatch(/certificate/);
          expect(receiver.events).toEqual([]);
        }),
      );
    });

    it('answers retry with code tls_files when a TLS file cannot be read', async () => {
      await withSink({ host: '127.0.0.1', port: 1, tls: { ca: join(tmpdir(), 'strata-no-such-ca.pem') } }, async (sink) => {
        const outcome = await sink.send([Buffer.from([0x90])], never());
        expect(outcome).toMatchObject({ result: 'retry', code: 'tls_files' });
      });
    });
  });

  describe('with a shared key', () => {
    it('runs the handshake and delivers when the keys match', async () => {
      await withReceiver({ sharedKey: 'k3y' }, (receiver) =>
        withSink({ host: '127.0.0.1', port: receiver.port, sharedKey: 'k3y', requireAck: true }, async (sink) => {
          const messages = new FluentEncoder({ requireAck: true }).encode(batchOf([5], [1_700_000_000_000]), null);
          expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
          expect(receiver.events.length).toBe(1);
        }),
      );
    });

    it('answers retry with code auth when the server refuses the key', async () => {
      await withReceiver({ sharedKey: 'right' }, (receiver) =>
        withSink({ host: '127.0.0.1', port: receiver.port, sharedKey: 'wrong' }, async (sink) => {
          const messages = new FluentEncoder().encode(batchOf([5], [1_700_000_000_000]), null);
          const outcome = await sink.send(messages, never());
          expect(outcome).toMatchObject({ result: 'retry', code: 'auth' });
          expect((outcome as { reason: string }).reason).toMatch(/refused the handshake: shared key mismatch/);
          expect(receiver.events).toEqual([]);
        }),
      );
    });
  });

  it('finds the chunk id at the end of a message, and nothing in one without it', () => {
    const chunk = randomBytes(16).toString('base64');
    expect(chunkOf(packr.pack(['t', [], { size: 0, chunk }]))).toBe(chunk);
    expect(chunkOf(packr.pack(['t', [], { size: 0 }]))).toBeNull();
    expect(chunkOf(new Uint8Array(0))).toBeNull();
    expect(chunkOf(packr.pack(['t', [], { size: 0, chunk: 'abc' }]))).toBe('abc');
  });
});

describe('output.fluent validation', () => {
  const output = (yaml: string): string => doc('Collector', `encoder: fluent\noutput:\n  fluent: ${yaml}`);
  it('fills in the defaults', () => {
    expect((specOf(output('{host: fluentd.logging}')) as { output: unknown }).output).toEqual({
      fluent: { host: 'fluentd.logging', port: 24224, tag: 'strata', requireAck: false, ackTimeoutSeconds: 30, connectTimeoutSeconds: 10, reconnectMaxSeconds: 30 },
    });
  });
  const cases: { input: string; errors: string[] }[] = [
    { input: '{}', errors: ['spec.output.fluent.host: required'] },
    { input: '{host: h, tag: "a b"}', errors: ['spec.output.fluent.tag: must be a Fluent tag (dot-separated parts, printable ASCII, no spaces), got "a b"'] },
    { input: '{host: h, tag: "a..b"}', errors: ['spec.output.fluent.tag: must be a Fluent tag (dot-separated parts, printable ASCII, no spaces), got "a..b"'] },
    { input: '{host: h, requireAck: yes}', errors: ['spec.output.fluent.requireAck: must be true or false, got string "yes"'] },
    { input: '{host: h, ackTimeoutSeconds: -1}', errors: ['spec.output.fluent.ackTimeoutSeconds: must be > 0, got -1'] },
    { input: '{host: h, tls: {key: /k.pem}}', errors: ['spec.output.fluent.tls.cert: required when key is set'] },
    { input: '{host: h, selfHostname: me}', errors: ['spec.output.fluent.selfHostname: only applies with sharedKeyFile'] },
    { input: '{host: h, sharedKey: s}', errors: ['spec.output.fluent.sharedKey: unknown field'] },
  ];
  it.each(cases)('reports $input', ({ input, errors }) => {
    expect(parse(output(input)).errors).toEqual(errors);
  });
});
