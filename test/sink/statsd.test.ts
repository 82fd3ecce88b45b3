// SPDX-License-Identifier: Apache-2.0
/**
 * The statsd sink against the real etsy statsd daemon (test/fixtures/statsd-daemon.ts), whose
 * flushed values the test reads back, and against a plain UDP socket on 127.0.0.1 where the
 * exact datagrams matter (sizes, splitting, order).
 *
 * The shared sink contract (test/sink/contract.ts) needs a medium that can be stalled so a send
 * waits; UDP has no backpressure at all and a TCP peer's kernel buffers take megabytes before a
 * write waits, so the contract's other promises (order, wholeness, empty sends, close, an
 * aborted signal) are checked here one by one over UDP instead.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsdEncoder, type StatsdEncoderOptions } from '../../src/encode/statsd.js';
import { SampleBatch, SampleType, Series } from '../../src/sample.js';
import { packDatagrams, StatsdSink, type StatsdSinkOptions } from '../../src/sink/statsd.js';
import { doc, parse, specOf } from '../config/helpers.js';
import { StatsdDaemon } from '../fixtures/statsd-daemon.js';
import { textSends } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;

/** A UDP socket on 127.0.0.1 that keeps every datagram it receives, in order. */
class UdpReceiver {
  readonly datagrams: Buffer[] = [];
  private constructor(readonly socket: UdpSocket) {
    socket.on('message', (msg) => this.datagrams.push(msg));
  }
  static async start(): Promise<UdpReceiver> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
    return new UdpReceiver(socket);
  }
  get port(): number {
    return this.socket.address().port;
  }
  async waitFor(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.datagrams.length < count) {
      if (Date.now() > deadline) throw new Error(`got ${this.datagrams.length} datagrams, want ${count}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

async function withSink<T>(options: StatsdSinkOptions, run: (s: StatsdSink) => Promise<T>): Promise<T> {
  const sink = new StatsdSink(options);
  try {
    return await run(sink);
  } finally {
    await sink.close();
  }
}

interface Point {
  readonly name: string;
  readonly type: SampleType;
  readonly tags: Record<string, string>;
  readonly value: number;
}

function encode(points: readonly Point[], options: StatsdEncoderOptions = {}): Uint8Array[] {
  const batch = new SampleBatch(points.length);
  for (const p of points) batch.push(new Series(p.name, p.type, p.tags), p.value, Number.NaN);
  return new StatsdEncoder(options).encode(batch, null);
}

const lines = (bufs: readonly Uint8Array[]): string[] => bufs.flatMap((b) => Buffer.from(b).toString('utf8').split('\n'));

describe('the statsd sink, against the statsd daemon', () => {
  let daemon: StatsdDaemon;
  beforeAll(async () => {
    daemon = await StatsdDaemon.start();
  });
  afterAll(async () => {
    await daemon?.stop();
  });

  const gauges: Point[] = [
    { name: 'http_requests_in_flight', type: SampleType.Gauge, tags: { code: '200', job: 'api' }, value: 1027 },
    { name: 'temperature_celsius', type: SampleType.Gauge, tags: { room: 'lab' }, value: -5.25 },
    { name: 'queue_depth', type: SampleType.Gauge, tags: {}, value: 0.000001 },
    { name: 'big', type: SampleType.Gauge, tags: { k: 'v' }, value: 1e21 },
  ];
  const want = {
    'http_requests_in_flight;code=200;job=api': 1027,
    'temperature_celsius;room=lab': -5.25,
    queue_depth: 0.000001,
    'big;k=v': 1e21,
  };

  for (const protocol of ['udp', 'tcp'] as const) {
    it(`delivers DogStatsD gauges over ${protocol} that the daemon flushes with their exact values`, async () => {
      const prefix = `g${protocol}`;
      const port = protocol === 'udp' ? daemon.udpPort : daemon.tcpPort;
      await withSink({ host: '127.0.0.1', port, protocol }, async (sink) => {
        expect(await sink.send(encode(gauges, { prefix }), never())).toEqual({ result: 'ok' });
        const keys = Object.entries(want).map(([k, v]) => [`${prefix}.${k}`, v] as const);
        await daemon.waitFor(() => {
          const flushed = daemon.gauges();
          return keys.every(([k, v]) => flushed.get(k) === v);
        });
      });
      expect(daemon.badLines()).toBe(0);
    });
  }

  it('delivers counters as deltas the daemon adds up, across many sends', async () => {
    const counter = (value: number): Point => ({ name: 'jobs_done', type: SampleType.Counter, tags: { queue: 'q1' }, value });
    await withSink({ host: '127.0.0.1', port: daemon.udpPort }, async (sink) => {
      for (let i = 1; i <= 20; i++) {
        expect(await sink.send(encode([counter(i)], { counterAs: 'counter', prefix: 'c' }), never())).toEqual({ result: 'ok' });
      }
      await daemon.waitFor(() => daemon.counterTotal('c.jobs_done;queue=q1') === 210);
    });
  });

  it('delivers a thousand gauges split over many datagrams, none lost or changed', async () => {
    const points: Point[] = Array.from({ length: 1000 }, (_, i) => ({
      name: `series_${i}`,
      type: SampleType.Gauge,
      tags: { shard: String(i % 7) },
      value: i * 1.5,
    }));
    const messages = encode(points, { prefix: 'many' });
    expect(messages.length).toBeGreaterThan(10);
    await withSink({ host: '127.0.0.1', port: daemon.udpPort }, async (sink) => {
      expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
      await daemon.waitFor(() => {
        const flushed = daemon.gauges();
        return points.every((p, i) => flushed.get(`many.series_${i};shard=${i % 7}`) === p.value);
      });
    });
  });
});

describe('the statsd sink, datagram by datagram', () => {
  let receiver: UdpReceiver;
  beforeAll(async () => {
    receiver = await UdpReceiver.start();
  });
  afterAll(async () => {
    await receiver.close();
  });
  const fresh = (): number => {
    receiver.datagrams.length = 0;
    return receiver.port;
  };

  it('keeps every datagram within maxDatagramBytes, splitting only at line boundaries', async () => {
    const port = fresh();
    const message = Buffer.from(Array.from({ length: 40 }, (_, i) => `line_${i}:${i}|g`).join('\n'));
    await withSink({ host: '127.0.0.1', port, maxDatagramBytes: 64 }, async (sink) => {
      expect(await sink.send([message], never())).toEqual({ result: 'ok' });
      expect(sink.lastTooLarge).toBe(0);
    });
    await receiver.waitFor(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(receiver.datagrams.every((d) => d.length <= 64)).toBe(true);
    expect(lines(receiver.datagrams)).toEqual(lines([message]));
  });

  it('leaves out a line larger than a datagram, counts it, and sends the rest', async () => {
    const port = fresh();
    const long = `too_long:${'9'.repeat(100)}|g`;
    const message = Buffer.from(['a:1|g', long, 'b:2|g'].join('\n'));
    await withSink({ host: '127.0.0.1', port, maxDatagramBytes: 64 }, async (sink) => {
      expect(await sink.send([message], never())).toEqual({ result: 'ok' });
      expect(sink.lastTooLarge).toBe(1);
      expect(await sink.send([Buffer.from(long)], never())).toEqual({
        result: 'reject',
        reason: 'every line of the send is over maxDatagramBytes (64 bytes) and was left out',
        code: 'too_large',
      });
      expect(sink.tooLargeLines).toBe(2);
    });
    await receiver.waitFor(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(lines(receiver.datagrams)).toEqual(['a:1|g', 'b:2|g']);
  });

  it('packs small messages together into full datagrams, in order', async () => {
    const port = fresh();
    const messages = Array.from({ length: 200 }, (_, i) => Buffer.from(`m${i}:${i}|g`));
    await withSink({ host: '127.0.0.1', port }, async (sink) => {
      expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
    });
    const { datagrams } = packDatagrams(messages, 1432);
    await receiver.waitFor(datagrams.length);
    expect(receiver.datagrams.length).toBe(datagrams.length);
    expect(receiver.datagrams.length).toBeLessThan(10);
    expect(receiver.datagrams.every((d) => d.length <= 1432)).toBe(true);
    expect(lines(receiver.datagrams)).toEqual(messages.map((m) => m.toString()));
  });

  it('keeps concurrent sends whole and in call order', async () => {
    const port = fresh();
    const sends = textSends(50, 3, 20).map((send) => send.map((m) => m.subarray(0, m.length - 1)));
    await withSink({ host: '127.0.0.1', port, maxDatagramBytes: 100 }, async (sink) => {
      const outcomes = await Promise.all(sends.map((send) => sink.send(send, never())));
      expect(outcomes.every((o) => o.result === 'ok')).toBe(true);
    });
    const want = sends.flat().map((m) => m.toString());
    const deadline = Date.now() + 10_000;
    while (lines(receiver.datagrams).length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(lines(receiver.datagrams)).toEqual(want);
  });

  it('answers ok to an empty send, retry to an aborted signal, and reject once closed, sending nothing for them', async () => {
    const port = fresh();
    const sink = new StatsdSink({ host: '127.0.0.1', port });
    expect(await sink.send([], never())).toEqual({ result: 'ok' });
    const controller = new AbortController();
    controller.abort();
    expect(await sink.send([Buffer.from('x:1|g')], controller.signal)).toEqual({ result: 'retry', reason: 'aborted' });
    const pending = sink.send([Buffer.from('before:1|g')], never());
    await sink.close();
    expect(await pending).toEqual({ result: 'ok' });
    const late = await sink.send([Buffer.from('late:1|g')], never());
    expect(late).toMatchObject({ result: 'reject', reason: 'the statsd sink is closed' });
    await sink.close();
    await receiver.waitFor(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(lines(receiver.datagrams)).toEqual(['before:1|g']);
  });

  it('answers retry with code ECONNREFUSED once the kernel reports the port unreachable', async () => {
    const gone = await UdpReceiver.start();
    const port = gone.port;
    await gone.close();
    await withSink({ host: '127.0.0.1', port }, async (sink) => {
      // The first datagram goes out (UDP cannot know); the ICMP answer fails a later send.
      const outcomes = [];
      for (let i = 0; i < 5; i++) {
        outcomes.push(await sink.send([Buffer.from('x:1|g')], never()));
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(outcomes[0]).toEqual({ result: 'ok' });
      expect(outcomes).toContainEqual(expect.objectContaining({ result: 'retry', code: 'ECONNREFUSED' }));
    });
  });

  it('answers retry with code ECONNREFUSED over TCP when nothing listens, then backs off', async () => {
    const gone = await UdpReceiver.start(); // a port number nothing listens on over TCP either, most likely
    const port = gone.port;
    await gone.close();
    await withSink({ host: '127.0.0.1', port, protocol: 'tcp' }, async (sink) => {
      expect(await sink.send([Buffer.from('x:1|g')], never())).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
      const waiting = await sink.send([Buffer.from('x:1|g')], never());
      expect(waiting).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
      expect((waiting as { retryAfterMs?: number }).retryAfterMs).toBeGreaterThan(0);
    });
  });
});

describe('packDatagrams', () => {
  it.each([
    { input: ['a:1|g', 'b:2|g'], max: 11, want: [['a:1|g', 'b:2|g']], tooLarge: 0 },
    { input: ['a:1|g', 'b:2|g'], max: 10, want: [['a:1|g'], ['b:2|g']], tooLarge: 0 },
    { input: ['a:1|g\nb:2|g\nc:3|g'], max: 11, want: [['a:1|g', 'b:2|g'], ['c:3|g']], tooLarge: 0 },
    { input: ['a:1|g\nlonger:22|g\nc:3|g'], max: 8, want: [['a:1|g'], ['c:3|g']], tooLarge: 1 },
    { input: ['', 'a:1|g'], max: 8, want: [['a:1|g']], tooLarge: 0 },
  ])('packs $input into datagrams of at most $max bytes', ({ input, max, want, tooLarge }) => {
    const got = packDatagrams(input.map((s) => Buffer.from(s)), max);
    expect(got.tooLarge).toBe(tooLarge);
    expect(got.datagrams.map((d) => Buffer.concat(d).toString().split('\n'))).toEqual(want);
  });
});

describe('output.statsd validation', () => {
  const output = (yaml: string): string => doc('Collector', `encoder: statsd\noutput:\n  statsd: ${yaml}`);
  it('fills in the defaults', () => {
    expect((specOf(output('{host: statsd.monitoring}')) as { output: unknown }).output).toEqual({
      statsd: { host: 'statsd.monitoring', port: 8125, protocol: 'udp', maxDatagramBytes: 1432, tagStyle: 'dogstatsd', counterAs: 'gauge' },
    });
  });
  const cases: { input: string; errors: string[] }[] = [
    { input: '{}', errors: ['spec.output.statsd.host: required'] },
    { input: '{host: "bad host"}', errors: ['spec.output.statsd.host: must be a host name or an IP address, got "bad host"'] },
    { input: '{host: "::1", port: 0}', errors: ['spec.output.statsd.port: must be ≥ 1, got 0'] },
    { input: '{host: h, port: 70000}', errors: ['spec.output.statsd.port: must be ≤ 65535, got 70000'] },
    { input: '{host: h, protocol: sctp}', errors: ['spec.output.statsd.protocol: must be one of udp, tcp, got "sctp"'] },
    { input: '{host: h, maxDatagramBytes: 65508}', errors: ['spec.output.statsd.maxDatagramBytes: must be ≤ 65507, got 65508'] },
    { input: '{host: h, protocol: tcp, maxDatagramBytes: 512}', errors: ['spec.output.statsd.maxDatagramBytes: only applies to protocol udp'] },
    { input: '{host: h, tagStyle: influx}', errors: ['spec.output.statsd.tagStyle: must be one of dogstatsd, telegraf, none, got "influx"'] },
    { input: '{host: h, counterAs: delta}', errors: ['spec.output.statsd.counterAs: must be one of gauge, counter, got "delta"'] },
  ];
  it.each(cases)('reports $input', ({ input, errors }) => {
    expect(parse(output(input)).errors).toEqual(errors);
  });
});
