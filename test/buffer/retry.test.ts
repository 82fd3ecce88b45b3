import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backoffDelay, type DropReason, RetryingSender, type RetryingSenderOptions } from '../../src/buffer/index.js';
import { ConfigError } from '../../src/errors.js';
import { FileSink, type SendOutcome, type Sink } from '../../src/sink/index.js';
import { hookedFs, sysError } from '../sink/fake-fs.js';
import { seeded, settled } from '../sink/contract.js';

const never = (): AbortSignal => new AbortController().signal;
const ok: SendOutcome = { result: 'ok' };
const again = (reason = 'peer down', retryAfterMs?: number): SendOutcome =>
  retryAfterMs === undefined ? { result: 'retry', reason } : { result: 'retry', reason, retryAfterMs };
const msg = (bytes: number): Uint8Array[] => [new Uint8Array(bytes)];

/** A sink that answers from a script (the last answer repeats), recording each call. */
class ScriptedSink implements Sink {
  readonly kind = 'scripted';
  readonly calls: number[] = [];
  readonly #script: (SendOutcome | (() => Promise<SendOutcome>))[];

  constructor(...script: (SendOutcome | (() => Promise<SendOutcome>))[]) {
    this.#script = script;
  }

  async send(messages: readonly Uint8Array[]): Promise<SendOutcome> {
    this.calls.push(messages.length);
    const next = this.#script.length > 1 ? this.#script.shift() : this.#script[0];
    if (next === undefined) throw new Error('script ran out');
    return typeof next === 'function' ? next() : next;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A sleep that records the delays and returns at once (or rejects when the signal has aborted). */
function recordingSleep(): { delays: number[]; sleep: (ms: number, signal: AbortSignal) => Promise<void> } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms, signal) => {
      delays.push(ms);
      signal.throwIfAborted();
    },
  };
}

function sender(sink: Sink, options: Partial<RetryingSenderOptions> = {}) {
  const { delays, sleep } = recordingSleep();
  const drops: [DropReason, number, string][] = [];
  const s = new RetryingSender({
    sink,
    maxInFlightBytes: 1000,
    sleep,
    random: () => 0.5,
    onDrop: (reason, samples, detail) => drops.push([reason, samples, detail]),
    ...options,
  });
  return { s, delays, drops };
}

describe('backoffDelay', () => {
  const options = { initialBackoffMs: 100, maxBackoffMs: 30_000, jitter: 0.2 };
  const cases: { input: { n: number; random: number }; want: number }[] = [
    { input: { n: 1, random: 0.5 }, want: 100 },
    { input: { n: 2, random: 0.5 }, want: 200 },
    { input: { n: 3, random: 0.5 }, want: 400 },
    { input: { n: 9, random: 0.5 }, want: 25_600 },
    { input: { n: 10, random: 0.5 }, want: 30_000 },
    { input: { n: 1000, random: 0.5 }, want: 30_000 },
    { input: { n: 1, random: 0 }, want: 80 },
    { input: { n: 3, random: 0 }, want: 320 },
    { input: { n: 3, random: 0.75 }, want: 440 },
    { input: { n: 12, random: 0 }, want: 24_000 },
    { input: { n: 12, random: 0.999 }, want: 30_000 },
  ];
  for (const { input, want } of cases) {
    it(`waits ${want} ms before retry ${input.n} when the jitter draw is ${input.random}`, () => {
      expect(backoffDelay(input.n, options, () => input.random)).toBeCloseTo(want, 6);
    });
  }

  it('stays within [base·(1-jitter), min(max, base·(1+jitter))] for any draw', () => {
    const random = seeded(42);
    for (let n = 1; n <= 20; n++) {
      const base = Math.min(30_000, 100 * 2 ** (n - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, options, random);
        expect(d).toBeGreaterThanOrEqual(base * 0.8 - 1e-9);
        expect(d).toBeLessThanOrEqual(Math.min(30_000, base * 1.2) + 1e-9);
      }
    }
  });

  it('waits nothing with a zero initial backoff, however many retries', () => {
    expect(backoffDelay(100, { initialBackoffMs: 0, maxBackoffMs: 10, jitter: 0.2 }, Math.random)).toBe(0);
  });
});

describe('the retrying sender', () => {
  it('counts a send delivered at once as sent', async () => {
    const { s, delays, drops } = sender(new ScriptedSink(ok));
    expect(await s.send([new Uint8Array(3), new Uint8Array(4)], 10, never())).toEqual({ delivered: true, attempts: 1 });
    expect(s.counters).toEqual({
      sentMessages: 2,
      sentSamples: 10,
      retries: 0,
      droppedSamples: { rejected: 0, retries_exhausted: 0, shutdown: 0, buffer_full: 0 },
    });
    expect(delays).toEqual([]);
    expect(drops).toEqual([]);
    expect(s.inFlightBytes).toBe(0);
  });

  it('backs off exponentially, capped, and counts retried data as sent, not dropped', async () => {
    const sink = new ScriptedSink(again(), again(), again(), again(), again(), again(), again(), ok);
    const { s, delays, drops } = sender(sink, { maxBackoffMs: 1000 });
    expect(await s.send(msg(10), 5, never())).toEqual({ delivered: true, attempts: 8 });
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    expect(s.counters.retries).toBe(7);
    expect(s.counters.sentSamples).toBe(5);
    expect(Object.values(s.counters.droppedSamples).every((n) => n === 0)).toBe(true);
    expect(drops).toEqual([]);
  });

  it('jitters each delay within its bounds', async () => {
    const sink = new ScriptedSink(again(), again(), again(), again(), ok);
    const { s, delays } = sender(sink, { random: seeded(7), jitter: 0.5 });
    await s.send(msg(1), 1, never());
    expect(delays).toHaveLength(4);
    delays.forEach((d, i) => {
      const base = 100 * 2 ** i;
      expect(d).toBeGreaterThanOrEqual(base * 0.5);
      expect(d).toBeLessThanOrEqual(base * 1.5);
    });
    expect(new Set(delays.map((d, i) => d / 2 ** i)).size).toBeGreaterThan(1);
  });

  it('waits the Retry-After the sink passes on instead of its own backoff', async () => {
    const sink = new ScriptedSink(again('429', 1234), again('429', 60_000), again(), ok);
    const { s, delays } = sender(sink);
    await s.send(msg(1), 1, never());
    expect(delays).toEqual([1234, 60_000, 400]);
  });

  it('counts a rejected send once, as rejected, without retrying it', async () => {
    const sink = new ScriptedSink({ result: 'reject', reason: 'EACCES: /var/log' });
    const { s, delays, drops } = sender(sink);
    expect(await s.send(msg(10), 7, never())).toEqual({ delivered: false, reason: 'rejected', detail: 'EACCES: /var/log', attempts: 1 });
    expect(sink.calls).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(s.counters.droppedSamples.rejected).toBe(7);
    expect(s.counters.sentSamples).toBe(0);
    expect(drops).toEqual([['rejected', 7, 'EACCES: /var/log']]);
  });

  it('counts a send rejected after retries once, as rejected', async () => {
    const sink = new ScriptedSink(again(), again(), { result: 'reject', reason: 'too large' });
    const { s, drops } = sender(sink);
    await s.send(msg(10), 3, never());
    expect(s.counters.retries).toBe(2);
    expect(drops).toEqual([['rejected', 3, 'too large']]);
  });

  it('gives up after maxAttempts attempts and counts the samples as retries_exhausted', async () => {
    const sink = new ScriptedSink(again('ENOSPC'));
    const { s, delays, drops } = sender(sink, { maxAttempts: 3 });
    const delivery = await s.send(msg(10), 4, never());
    expect(delivery).toEqual({
      delivered: false,
      reason: 'retries_exhausted',
      detail: '3 attempts (maxAttempts 3); last: ENOSPC',
      attempts: 3,
    });
    expect(sink.calls).toHaveLength(3);
    expect(delays).toEqual([100, 200]); // no wait after the last attempt
    expect(s.counters.retries).toBe(2);
    expect(s.counters.droppedSamples.retries_exhausted).toBe(4);
    expect(drops).toHaveLength(1);
  });

  it('tries once with maxAttempts 1', async () => {
    const sink = new ScriptedSink(again());
    const { s, delays } = sender(sink, { maxAttempts: 1 });
    expect((await s.send(msg(1), 1, never())).delivered).toBe(false);
    expect(sink.calls).toHaveLength(1);
    expect(delays).toEqual([]);
  });

  it('drops a new send as buffer_full while the held bytes would pass maxInFlightBytes', async () => {
    let answer!: (o: SendOutcome) => void;
    const held = new Promise<SendOutcome>((resolve) => (answer = resolve));
    const sink = new ScriptedSink(() => held, ok);
    const { s, drops } = sender(sink, { maxInFlightBytes: 100 });
    const first = s.send(msg(60), 6, never());
    expect(s.inFlightBytes).toBe(60);
    expect(await s.send(msg(50), 5, never())).toEqual({
      delivered: false,
      reason: 'buffer_full',
      detail: '60 bytes in flight + 50 would exceed maxInFlightBytes 100 (policy drop_newest)',
      attempts: 0,
    });
    expect(sink.calls).toHaveLength(1); // the dropped send never reached the sink
    const fits = s.send(msg(40), 4, never());
    expect(s.inFlightBytes).toBe(100);
    answer(again());
    expect(await first).toEqual({ delivered: true, attempts: 2 });
    expect(await fits).toEqual({ delivered: true, attempts: 1 });
    expect(s.inFlightBytes).toBe(0);
    expect(s.counters.droppedSamples.buffer_full).toBe(5);
    expect(s.counters.sentSamples).toBe(10);
    expect(drops.map(([reason, samples]) => [reason, samples])).toEqual([['buffer_full', 5]]);
    expect(s.fullPolicy).toBe('drop_newest');
  });

  it('accepts a send larger than the whole bound when nothing else is held', async () => {
    const { s } = sender(new ScriptedSink(ok), { maxInFlightBytes: 10 });
    expect(await s.send(msg(50), 1, never())).toEqual({ delivered: true, attempts: 1 });
  });

  it('drops as shutdown, without calling the sink, when the signal has already aborted', async () => {
    const sink = new ScriptedSink(ok);
    const { s, drops } = sender(sink);
    const delivery = await s.send(msg(1), 9, AbortSignal.abort(new Error('stopping')));
    expect(delivery).toEqual({ delivered: false, reason: 'shutdown', detail: 'aborted: stopping', attempts: 0 });
    expect(sink.calls).toHaveLength(0);
    expect(drops).toEqual([['shutdown', 9, 'aborted: stopping']]);
  });

  it('drops as shutdown when the signal aborts during a backoff wait, at once', async () => {
    const sink = new ScriptedSink(again());
    const s = new RetryingSender({ sink, maxInFlightBytes: 1000, initialBackoffMs: 60_000, maxBackoffMs: 60_000 });
    const controller = new AbortController();
    const sending = s.send(msg(8), 3, controller.signal);
    expect(await settled(sending)).toBe(false);
    controller.abort(new Error('stopping'));
    expect(await sending).toEqual({ delivered: false, reason: 'shutdown', detail: 'aborted: stopping; last: peer down', attempts: 1 });
    expect(s.counters.droppedSamples.shutdown).toBe(3);
    expect(s.counters.retries).toBe(0);
    expect(s.inFlightBytes).toBe(0);
  });

  it('drops as shutdown when the signal aborts during an attempt that answers retry', async () => {
    const controller = new AbortController();
    const sink = new ScriptedSink(async () => {
      controller.abort(new Error('stopping'));
      return again('aborted');
    });
    const { s } = sender(sink);
    const delivery = await s.send(msg(1), 2, controller.signal);
    expect(delivery).toMatchObject({ delivered: false, reason: 'shutdown', attempts: 1 });
    expect(s.counters.droppedSamples.shutdown).toBe(2);
  });

  it('counts a send as sent when its attempt succeeds even though the signal aborted meanwhile', async () => {
    const controller = new AbortController();
    const sink = new ScriptedSink(async () => {
      controller.abort();
      return ok;
    });
    const { s } = sender(sink);
    expect(await s.send(msg(1), 2, controller.signal)).toEqual({ delivered: true, attempts: 1 });
  });

  it('treats a sink that throws as answering retry', async () => {
    const sink = new ScriptedSink(async () => {
      throw new Error('socket hang up');
    }, ok);
    const { s } = sender(sink);
    expect(await s.send(msg(1), 1, never())).toEqual({ delivered: true, attempts: 2 });
    const always = new ScriptedSink(async () => {
      throw new Error('socket hang up');
    });
    const { s: s2, drops } = sender(always, { maxAttempts: 2 });
    await s2.send(msg(1), 1, never());
    expect(drops).toEqual([['retries_exhausted', 1, '2 attempts (maxAttempts 2); last: the scripted sink threw: socket hang up']]);
  });

  it('delivers through a file sink after a transient ENOSPC, once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-retry-'));
    try {
      const path = join(dir, 'out.ndjson');
      let full = 2;
      const fs = hookedFs({
        write: () => {
          if (full-- > 0) throw sysError('ENOSPC', 'write', path);
          return undefined;
        },
      });
      const { s, delays } = sender(new FileSink({ path, maxBytes: 1000, fs }));
      const delivery = await s.send([Buffer.from('a\n'), Buffer.from('b\n')], 2, never());
      expect(delivery).toEqual({ delivered: true, attempts: 3 });
      expect(delays).toEqual([100, 200]);
      expect((await readFile(path)).toString()).toBe('a\nb\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const invalid: { options: Partial<RetryingSenderOptions>; err: string }[] = [
    { options: { maxAttempts: 0 }, err: 'buffer.maxAttempts: must be an integer ≥ 1; got 0' },
    { options: { initialBackoffMs: -1 }, err: 'buffer.initialBackoffMs: must be a number ≥ 0; got -1' },
    { options: { maxBackoffMs: 50 }, err: 'buffer.maxBackoffMs: must be a number ≥ initialBackoffMs (100); got 50' },
    { options: { jitter: 1.5 }, err: 'buffer.jitter: must be a number in [0, 1]; got 1.5' },
    { options: { maxInFlightBytes: 0 }, err: 'buffer.maxInFlightBytes: must be a number > 0; got 0' },
  ];
  for (const { options, err } of invalid) {
    it(`refuses ${JSON.stringify(options)} with a ConfigError`, () => {
      expect(() => new RetryingSender({ sink: new ScriptedSink(ok), ...options })).toThrow(ConfigError);
      expect(() => new RetryingSender({ sink: new ScriptedSink(ok), ...options })).toThrow(err);
    });
  }

  it('has the documented defaults', () => {
    const s = new RetryingSender({ sink: new ScriptedSink(ok) });
    expect([s.maxAttempts, s.backoff, s.maxInFlightBytes]).toEqual([
      8,
      { initialBackoffMs: 100, maxBackoffMs: 30_000, jitter: 0.2 },
      64 * 1024 * 1024,
    ]);
  });
});

describe('the retrying sender with the block policy', () => {
  /** A sink whose sends finish only when released, in order. */
  class GatedSink implements Sink {
    readonly kind = 'gated';
    readonly pending: (() => void)[] = [];
    sent = 0;
    async send(): Promise<SendOutcome> {
      await new Promise<void>((r) => this.pending.push(r));
      this.sent++;
      return ok;
    }
    async flush(): Promise<void> {}
    async close(): Promise<void> {}
  }

  it('makes a send wait for room instead of dropping it, and delivers it once room is made', async () => {
    const sink = new GatedSink();
    const s = new RetryingSender({ sink, maxInFlightBytes: 100, fullPolicy: 'block' });
    const first = s.send(msg(80), 8, never());
    const second = s.send(msg(80), 8, never());
    await new Promise((r) => setTimeout(r, 20));
    expect(sink.pending).toHaveLength(1); // the second waits for room, it is not dropped
    sink.pending.shift()?.();
    expect(await first).toMatchObject({ delivered: true });
    await new Promise((r) => setTimeout(r, 20));
    sink.pending.shift()?.();
    expect(await second).toMatchObject({ delivered: true });
    expect(s.counters.droppedSamples.buffer_full).toBe(0);
    expect(s.counters.sentSamples).toBe(16);
  });

  it('drops a waiting send as shutdown when its signal aborts', async () => {
    const sink = new GatedSink();
    const s = new RetryingSender({ sink, maxInFlightBytes: 100, fullPolicy: 'block' });
    void s.send(msg(80), 8, never());
    const ac = new AbortController();
    const waiting = s.send(msg(80), 5, ac.signal);
    ac.abort();
    expect(await waiting).toMatchObject({ delivered: false, reason: 'shutdown' });
    expect(s.counters.droppedSamples.shutdown).toBe(5);
    sink.pending.shift()?.();
  });
});

describe('the retrying sender writing now (sendNow)', () => {
  /** A sink whose `writeNow` answers from a script; its sends finish when released. */
  class NowSink implements Sink {
    readonly kind = 'now';
    readonly written: number[] = [];
    readonly pending: (() => void)[] = [];
    answer: SendOutcome | null | 'throw' = ok;
    writeNow(message: Uint8Array): SendOutcome | null {
      if (this.answer === 'throw') throw new Error('against the contract');
      if (this.answer?.result === 'ok') this.written.push(message.byteLength);
      return this.answer;
    }
    async send(): Promise<SendOutcome> {
      await new Promise<void>((r) => this.pending.push(r));
      return ok;
    }
    async flush(): Promise<void> {}
    async close(): Promise<void> {}
  }

  it('counts a message the sink wrote at once as sent', () => {
    const sink = new NowSink();
    const { s } = sender(sink);
    expect(s.canSendNow).toBe(true);
    expect(s.sendNow(new Uint8Array(7), 3)).toBe(true);
    expect(s.sendNow(new Uint8Array(5), 2)).toBe(true);
    expect(sink.written).toEqual([7, 5]);
    expect(s.counters).toMatchObject({ sentMessages: 2, sentSamples: 5, retries: 0 });
    expect(s.inFlightBytes).toBe(0);
  });

  it('does not write while a send is held, so a later message cannot overtake it', async () => {
    const sink = new NowSink();
    const { s } = sender(sink);
    const held = s.send(msg(10), 4, never());
    expect(s.canSendNow).toBe(false);
    expect(s.sendNow(new Uint8Array(3), 1)).toBe(false);
    expect(sink.written).toEqual([]);
    sink.pending.shift()?.();
    expect(await held).toMatchObject({ delivered: true });
    expect(s.sendNow(new Uint8Array(3), 1)).toBe(true);
    expect(s.counters).toMatchObject({ sentMessages: 2, sentSamples: 5 });
  });

  const refusals: [string, SendOutcome | null | 'throw'][] = [
    ['cannot write now (null)', null],
    ['answers retry', again('disk full')],
    ['answers reject', { result: 'reject', reason: 'read-only' }],
    ['throws', 'throw'],
  ];
  for (const [what, answer] of refusals) {
    it(`leaves the message to send, counting nothing, when the sink ${what}`, () => {
      const sink = new NowSink();
      sink.answer = answer;
      const { s, drops } = sender(sink);
      expect(s.sendNow(new Uint8Array(3), 1)).toBe(false);
      expect(s.counters).toEqual({ sentMessages: 0, sentSamples: 0, retries: 0, droppedSamples: { rejected: 0, retries_exhausted: 0, shutdown: 0, buffer_full: 0 } });
      expect(drops).toEqual([]);
    });
  }

  it('cannot write now through a sink without writeNow', () => {
    const { s } = sender(new ScriptedSink(ok));
    expect(s.canSendNow).toBe(false);
    expect(s.sendNow(new Uint8Array(3), 1)).toBe(false);
    expect(s.counters.sentMessages).toBe(0);
  });
});
