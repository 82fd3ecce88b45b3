// SPDX-License-Identifier: Apache-2.0
/**
 * The outbox: every sample pushed ends sent, dropped by reason, or in the spool (and, from the
 * spool, sent or dropped), for every answer a sink can give; order, fresh-first after an outage,
 * the full policies, maxAge, ids, the spool across a restart, and writeNow.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type BufferDropReason, type FailedOutcome, Outbox, type OutboxEntry, type OutboxListener, type OutboxOptions } from '../../src/buffer/index.js';
import { Spool } from '../../src/buffer/spool.js';
import { FileSink, OK, reject, retry, type SendMeta, type SendOutcome, type Sink } from '../../src/sink/index.js';
import { hookedFs, sysError } from '../sink/fake-fs.js';

const text = (m: Uint8Array): string => Buffer.from(m).toString();

/** A sink answering from `answer`, recording every call and what it acknowledged, in order. */
class ScriptedSink implements Sink {
  readonly kind = 'scripted';
  readonly calls: { messages: string[]; ids: string[] }[] = [];
  readonly delivered: string[] = [];
  answer: (call: number, messages: readonly string[]) => SendOutcome | Promise<SendOutcome> = () => OK;
  writeNow?: (message: Uint8Array) => SendOutcome | null;

  async send(messages: readonly Uint8Array[], _signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome> {
    const texts = messages.map(text);
    this.calls.push({ messages: texts, ids: [...(meta?.ids ?? [])] });
    const outcome = await this.answer(this.calls.length, texts);
    if (outcome.result === 'ok') this.delivered.push(...texts);
    return outcome;
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

/** Sums what the outbox reports. */
class Tally {
  sent = 0;
  sentMessages = 0;
  sentFromSpool = 0;
  spooled = 0;
  dropped: Partial<Record<BufferDropReason, number>> = {};
  droppedFromSpool = 0;
  readonly failures: FailedOutcome[] = [];
  oks = 0;

  sent_(samples: number, messages: number, fromSpool: boolean): void {
    this.sent += samples;
    this.sentMessages += messages;
    if (fromSpool) this.sentFromSpool += samples;
  }

  dropped_(reason: BufferDropReason, samples: number, fromSpool: boolean): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + samples;
    if (fromSpool) this.droppedFromSpool += samples;
  }

  get droppedTotal(): number {
    return Object.values(this.dropped).reduce((a, b) => a + (b ?? 0), 0);
  }

  listener(): OutboxListener {
    return {
      sent: (s, m, f) => this.sent_(s, m, f),
      dropped: (r, s, f) => this.dropped_(r, s, f),
      spooled: (s) => {
        this.spooled += s;
      },
      failed: (o) => {
        this.failures.push(o);
      },
      succeeded: () => {
        this.oks++;
      },
    };
  }
}

const SAMPLES = 3;
let clock = 1_000_000;
const entry = (name: string, createdAt = clock): OutboxEntry => ({ message: Buffer.from(name), samples: SAMPLES, id: `id-${name}`, createdAt });
const entries = (prefix: string, n: number): OutboxEntry[] => Array.from({ length: n }, (_, i) => entry(`${prefix}${i}`));

/** A sleep that records the delay and waits a millisecond (so a retry loop yields to timers). */
function shortSleep(delays: number[]) {
  return (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, rejectWait) => {
      delays.push(ms);
      if (signal.aborted) return rejectWait(signal.reason);
      const t = setTimeout(resolve, 1);
      signal.addEventListener('abort', () => {
        clearTimeout(t);
        rejectWait(signal.reason);
      }, { once: true });
    });
}

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const open: Outbox[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

function outbox(sink: Sink, tally: Tally, options: Partial<OutboxOptions> = {}, delays: number[] = []): Outbox {
  const o = new Outbox({
    sink,
    listener: tally.listener(),
    maxBytes: 1000,
    sleep: shortSleep(delays),
    random: () => 0.5,
    now: () => clock,
    ...options,
  });
  open.push(o);
  return o;
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'strata-outbox-'));
  dirs.push(d);
  return d;
}

describe('the outbox, for each answer a sink can give', () => {
  it('ok: sends in order with the ids, and counts samples sent only once the sink answered', async () => {
    const sink = new ScriptedSink();
    let answer: (o: SendOutcome) => void = () => {};
    sink.answer = () => new Promise((r) => (answer = r));
    const t = new Tally();
    const o = outbox(sink, t);
    await o.push(entries('a', 3));
    await until(() => sink.calls.length === 1, 'the send');
    expect(sink.calls[0]).toEqual({ messages: ['a0', 'a1', 'a2'], ids: ['id-a0', 'id-a1', 'id-a2'] });
    expect(t.sent).toBe(0); // not before the answer
    expect(o.memorySamples).toBe(9);
    answer(OK);
    await until(() => t.sent === 9, 'sent');
    expect(t.sentMessages).toBe(3);
    expect(o.memoryBytes).toBe(0);
    expect(t.droppedTotal).toBe(0);
  });

  it('retry then ok: backs off (capped, jittered) and counts the samples sent once, none dropped', async () => {
    const sink = new ScriptedSink();
    sink.answer = (call) => (call <= 3 ? retry('peer down', undefined, 'ECONNREFUSED') : OK);
    const t = new Tally();
    const delays: number[] = [];
    outbox(sink, t, {}, delays).push(entries('a', 2));
    await until(() => t.sent === 6, 'sent after retries');
    expect(delays).toEqual([100, 200, 400]);
    expect(sink.delivered).toEqual(['a0', 'a1']);
    expect(t.droppedTotal).toBe(0);
    expect(t.failures.map((f) => f.code)).toEqual(['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
  });

  it("waits the sink's retryAfterMs instead of its own backoff", async () => {
    const sink = new ScriptedSink();
    sink.answer = (call) => (call === 1 ? retry('slow down', 1234) : OK);
    const t = new Tally();
    const delays: number[] = [];
    outbox(sink, t, {}, delays).push(entries('a', 1));
    await until(() => t.sent === 3, 'sent');
    expect(delays).toEqual([1234]);
  });

  it('reject: drops the samples once as sink_rejected, without retrying, and goes on with the next', async () => {
    const sink = new ScriptedSink();
    sink.answer = (call) => (call === 1 ? reject('EACCES: /var/log/x', 'EACCES') : OK);
    const t = new Tally();
    const o = outbox(sink, t, { maxSendMessages: 2 });
    await o.push(entries('a', 3));
    await until(() => t.sent + t.droppedTotal === 9, 'settled');
    expect(t.dropped).toEqual({ sink_rejected: 6 });
    expect(t.sent).toBe(3);
    expect(sink.calls.map((c) => c.messages)).toEqual([['a0', 'a1'], ['a2']]);
    expect(t.failures).toEqual([{ result: 'reject', reason: 'EACCES: /var/log/x', code: 'EACCES' }]);
  });

  it('retry forever, policy block: a push waits for room; at close what is held is dropped as shutdown', async () => {
    const sink = new ScriptedSink();
    sink.answer = () => retry('down', undefined, 'ECONNREFUSED');
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 8, policy: 'block' }); // 4 two-byte messages
    await o.push(entries('a', 4));
    let admitted = false;
    const pending = o.push([entry('b0')]).then(() => {
      admitted = true;
    });
    await until(() => sink.calls.length >= 3, 'a few retries');
    expect(admitted).toBe(false);
    expect(o.failing).toBe(true);
    await o.close();
    await pending;
    expect(t.sent).toBe(0);
    expect(t.dropped).toEqual({ shutdown: 15 });
  });

  it('retry forever, policy dropNewest: a push that does not fit is dropped as buffer_full', async () => {
    const sink = new ScriptedSink();
    sink.answer = () => retry('down');
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 8, policy: 'dropNewest' });
    await o.push(entries('a', 4));
    await o.push([entry('b0')]);
    expect(t.dropped).toEqual({ buffer_full: 3 });
    expect(o.memoryMessages).toBe(4);
    await o.close();
    expect(t.dropped).toEqual({ buffer_full: 3, shutdown: 12 });
  });

  it('retry forever, policy dropOldest: the oldest messages not being sent make room, counted buffer_full', async () => {
    const sink = new ScriptedSink();
    let release: (o: SendOutcome) => void = () => {};
    sink.answer = () => new Promise((r) => (release = r));
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 8, policy: 'dropOldest', maxSendMessages: 1 });
    await o.push(entries('a', 4));
    await until(() => sink.calls.length === 1, 'a0 being sent');
    await o.push([entry('b0'), entry('b1')]);
    expect(t.dropped).toEqual({ buffer_full: 6 }); // a1 and a2; a0 is being sent
    sink.answer = () => OK;
    release(OK);
    await until(() => t.sent + t.droppedTotal === 18, 'all settled');
    expect(sink.delivered).toEqual(['a0', 'a3', 'b0', 'b1']);
    expect(t.sent).toBe(12);
  });

  it('abort at shutdown: a send cut short by close is not a sink failure, and its samples are counted shutdown', async () => {
    const sink = new ScriptedSink();
    sink.answer = () => new Promise<SendOutcome>(() => {}); // never answers by itself
    const aborting: Sink = {
      kind: 'aborting',
      send: (messages, signal, meta) =>
        new Promise((resolve) => {
          void sink.send(messages, signal, meta);
          signal.addEventListener('abort', () => resolve(retry('aborted')), { once: true });
        }),
      flush: async () => {},
      close: async () => {},
    };
    const t = new Tally();
    const o = outbox(aborting, t);
    await o.push(entries('a', 2));
    await until(() => sink.calls.length === 1, 'the send');
    await o.close();
    expect(t.failures).toEqual([]);
    expect(t.dropped).toEqual({ shutdown: 6 });
  });

  it('a send that ignores the abort does not hold close up: its messages are counted with the rest', async () => {
    const sink = new ScriptedSink();
    sink.answer = () => new Promise<SendOutcome>(() => {}); // never answers, ignores the signal
    const t = new Tally();
    const o = outbox(sink, t, { closeWaitMs: 50 });
    await o.push(entries('a', 2));
    await until(() => sink.calls.length === 1, 'the send');
    await o.close();
    expect(t.dropped).toEqual({ shutdown: 6 });
    expect(t.sent).toBe(0);
  });

  it('a sink that throws (against its contract) is retried like one that answers retry', async () => {
    const sink = new ScriptedSink();
    sink.answer = (call) => {
      if (call === 1) throw new Error('boom');
      return OK;
    };
    const t = new Tally();
    outbox(sink, t).push(entries('a', 1));
    await until(() => t.sent === 3, 'sent');
    expect(t.failures[0]).toMatchObject({ result: 'retry', code: 'threw' });
  });
});

describe('the outbox after an outage', () => {
  it('sends fresh messages ahead of the backlog, and drains the backlog beside them, each in order', async () => {
    const sink = new ScriptedSink();
    let down = true;
    sink.answer = () => (down ? retry('down') : OK);
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 10_000, maxSendMessages: 2 });
    await o.push(entries('old', 6));
    await until(() => o.failing && sink.calls.length >= 2, 'the outage');
    // The peer is back for the probe; then fresh data arrives while the backlog drains.
    let probes = 0;
    sink.answer = (_call, messages) => {
      if (messages[0]?.startsWith('old') && probes++ === 0) {
        void o.push(entries('new', 4));
      }
      return OK;
    };
    down = false;
    await until(() => t.sent === 30, 'everything sent');
    const order = sink.delivered;
    // Each stream in its own order.
    expect(order.filter((m) => m.startsWith('old'))).toEqual(['old0', 'old1', 'old2', 'old3', 'old4', 'old5']);
    expect(order.filter((m) => m.startsWith('new'))).toEqual(['new0', 'new1', 'new2', 'new3']);
    // Fresh first: the first new message went out before the backlog had drained.
    expect(order.indexOf('new0')).toBeLessThan(order.indexOf('old5'));
    expect(t.droppedTotal).toBe(0);
  });

  it('sends strictly oldest first to a sink whose peer refuses samples out of order (remote write)', async () => {
    const sink = new ScriptedSink();
    (sink as { inOrder?: boolean }).inOrder = true;
    let down = true;
    sink.answer = () => (down ? retry('down') : OK);
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 10_000, maxSendMessages: 2 });
    await o.push(entries('old', 6));
    await until(() => o.failing && sink.calls.length >= 2, 'the outage');
    let probes = 0;
    sink.answer = (_call, messages) => {
      if (messages[0]?.startsWith('old') && probes++ === 0) {
        void o.push(entries('new', 4));
      }
      return OK;
    };
    down = false;
    await until(() => t.sent === 30, 'everything sent');
    expect(sink.delivered).toEqual(['old0', 'old1', 'old2', 'old3', 'old4', 'old5', 'new0', 'new1', 'new2', 'new3']);
    expect(t.droppedTotal).toBe(0);
  });

  it('drops what has aged past maxAgeMs as too_old, and sends the rest', async () => {
    const sink = new ScriptedSink();
    let down = true;
    sink.answer = () => (down ? retry('down') : OK);
    const t = new Tally();
    const o = outbox(sink, t, { maxAgeMs: 60_000 });
    await o.push([entry('old', clock - 120_000), entry('fresh', clock)]);
    await until(() => sink.calls.length >= 1, 'a try');
    down = false;
    await until(() => t.sent + t.droppedTotal === 6, 'settled');
    expect(t.dropped).toEqual({ too_old: 3 });
    expect(sink.delivered).toEqual(['fresh']);
  });
});

describe('the outbox with a spool', () => {
  it('moves what does not fit in memory to the spool, and replays it in order once the peer is back', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    const sink = new ScriptedSink();
    let down = true;
    sink.answer = () => (down ? retry('down') : OK);
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 8, spool, maxSendMessages: 3 });
    await o.push(entries('a', 4));
    await until(() => o.failing, 'the outage');
    await o.push(entries('b', 4));
    await o.push(entries('c', 4));
    expect(t.spooled).toBeGreaterThan(0);
    expect(t.droppedTotal).toBe(0);
    down = false;
    await until(() => t.sent === 36, 'everything sent');
    expect(t.droppedTotal).toBe(0);
    expect(t.sentFromSpool).toBe(t.spooled);
    const order = sink.delivered;
    for (const p of ['a', 'b', 'c']) expect(order.filter((m) => m.startsWith(p))).toEqual([0, 1, 2, 3].map((i) => `${p}${i}`));
    expect(order).toHaveLength(12);
  });

  it('puts what memory holds at close into the spool; a new outbox on it replays every message with its id', async () => {
    const dir = await tempDir();
    const down = new ScriptedSink();
    down.answer = () => retry('down');
    const t1 = new Tally();
    const o1 = outbox(down, t1, { maxBytes: 1000, spool: await Spool.open({ dir, maxBytes: 1 << 20 }) });
    await o1.push(entries('a', 5));
    await until(() => o1.failing, 'the outage');
    await o1.close();
    expect(t1.spooled).toBe(15);
    expect(t1.droppedTotal + t1.sent).toBe(0);

    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    expect(spool.recovered.samples).toBe(15);
    const up = new ScriptedSink();
    const t2 = new Tally();
    outbox(up, t2, { spool });
    await until(() => t2.sent === 15, 'the replay');
    expect(up.delivered).toEqual(['a0', 'a1', 'a2', 'a3', 'a4']);
    expect(up.calls.flatMap((c) => c.ids)).toEqual(['id-a0', 'id-a1', 'id-a2', 'id-a3', 'id-a4']);
    expect(t2.sentFromSpool).toBe(15);
  });

  it('drops spool records past maxAgeMs as too_old', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    await spool.append([entry('stale', clock - 3_600_000), entry('ok', clock)]);
    const sink = new ScriptedSink();
    const t = new Tally();
    outbox(sink, t, { spool, maxAgeMs: 60_000 });
    await until(() => t.sent + t.droppedTotal === 6, 'settled');
    expect(t.dropped).toEqual({ too_old: 3 });
    expect(t.droppedFromSpool).toBe(3);
    expect(sink.delivered).toEqual(['ok']);
  });

  it('when all of memory is being sent, a push goes to the spool rather than being dropped', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxBytes: 1 << 20 });
    const sink = new ScriptedSink();
    let release: (o: SendOutcome) => void = () => {};
    sink.answer = () => new Promise((r) => (release = r));
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 8, policy: 'dropOldest', spool });
    await o.push([entry('12345678')]); // the whole of memory, being sent
    await until(() => sink.calls.length === 1, 'the send');
    await o.push([entry('b0')]);
    expect(t.droppedTotal).toBe(0);
    expect(t.spooled).toBe(3);
    sink.answer = () => OK;
    release(OK);
    await until(() => t.sent === 6, 'both sent');
    expect(t.droppedTotal).toBe(0);
  });

  it('counts what neither memory nor a full spool can hold at close as shutdown', async () => {
    const dir = await tempDir();
    const spool = await Spool.open({ dir, maxBytes: 200 }); // a few small records
    const sink = new ScriptedSink();
    sink.answer = () => retry('down');
    const t = new Tally();
    const o = outbox(sink, t, { maxBytes: 100_000, spool });
    await o.push(entries('m', 40));
    await until(() => o.failing, 'the outage');
    await o.close();
    expect(t.spooled).toBeGreaterThan(0);
    expect(t.spooled + (t.dropped.shutdown ?? 0)).toBe(120);
    expect(t.dropped.shutdown).toBeGreaterThan(0);
  });
});

describe('the outbox writing now', () => {
  it('writes at once while memory is empty, and counts the message sent', async () => {
    const sink = new ScriptedSink();
    const written: string[] = [];
    sink.writeNow = (m) => {
      written.push(text(m));
      return OK;
    };
    const t = new Tally();
    const o = outbox(sink, t);
    expect(o.canWriteNow).toBe(true);
    expect(o.writeNow(Buffer.from('x'), 5)).toBe(true);
    expect(written).toEqual(['x']);
    expect(t.sent).toBe(5);
  });

  it('does not write while anything is held, so a later message cannot overtake an earlier one', async () => {
    const sink = new ScriptedSink();
    sink.writeNow = () => OK;
    sink.answer = () => new Promise<SendOutcome>(() => {});
    const t = new Tally();
    const o = outbox(sink, t, { closeWaitMs: 50 });
    await o.push([entry('a')]);
    expect(o.canWriteNow).toBe(false);
    expect(o.writeNow(Buffer.from('b'), 1)).toBe(false);
    expect(t.sent).toBe(0);
  });

  for (const [what, answer] of [
    ['cannot write now', null],
    ['answers retry', retry('EAGAIN')],
    ['answers reject', reject('closed')],
  ] as const) {
    it(`leaves the message to push, counting nothing, when the sink ${what}`, () => {
      const sink = new ScriptedSink();
      sink.writeNow = () => answer;
      const t = new Tally();
      const o = outbox(sink, t);
      expect(o.writeNow(Buffer.from('x'), 5)).toBe(false);
      expect(t.sent + t.droppedTotal).toBe(0);
    });
  }
});

describe('the outbox with a real file sink', () => {
  it('delivers after a transient ENOSPC, once, and reports the failures with their code', async () => {
    const dir = await tempDir();
    const path = join(dir, 'out.ndjson');
    let full = 2;
    const fs = hookedFs({
      write: () => {
        if (full-- > 0) throw sysError('ENOSPC', 'write', path);
        return undefined;
      },
    });
    const t = new Tally();
    const o = outbox(new FileSink({ path, maxBytes: 1000, fs }), t);
    await o.push([entry('a\n'), entry('b\n')]);
    await until(() => t.sent === 6, 'sent');
    expect((await readFile(path)).toString()).toBe('a\nb\n');
    expect(t.failures.map((f) => f.code)).toEqual(['ENOSPC', 'ENOSPC']);
  });
});
