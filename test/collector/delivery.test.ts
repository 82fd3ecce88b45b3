// SPDX-License-Identifier: Apache-2.0
/**
 * The delivery stage's accounting: collected = sent + filtered + dropped by reason (+ what the
 * spool holds), and nothing left held, for every outcome a sink can give: ok (sent and written
 * now), retry then ok, retry forever, reject, abort at shutdown, an encoder that throws, and
 * samples an encoder skips (non-finite). Real encoders, filters, counters and control words.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/buffer/index.js';
import { Spool } from '../../src/buffer/spool.js';
import { Control } from '../../src/channel/control.js';
import { SharedCounters, total } from '../../src/channel/counters.js';
import { DeliveryStage, SampleAccounting, targetId } from '../../src/collector/delivery.js';
import { SinkHealth } from '../../src/collector/sink-health.js';
import { createEncoder, type Encoder } from '../../src/encode/index.js';
import { compileFilters, type FilterConfig } from '../../src/filter/index.js';
import { SampleBatch, Series } from '../../src/sample.js';
import { OK, reject, retry, type SendMeta, type SendOutcome, type Sink } from '../../src/sink/index.js';

const T = 1_700_000_000_000;

/** 25 gauge samples valued 0..24, and `nonFinite` NaN samples after them. */
function batchOf(n = 25, nonFinite = 0): SampleBatch {
  const b = new SampleBatch();
  for (let i = 0; i < n; i++) b.push(new Series(`m${i}`, 'gauge', { job: 'x' }), i, T);
  for (let i = 0; i < nonFinite; i++) b.push(new Series(`nan${i}`, 'gauge', {}), Number.NaN, T);
  return b;
}

class TestSink implements Sink {
  readonly kind = 'test';
  readonly ids: string[] = [];
  lines = 0;
  answer: (call: number, signal: AbortSignal) => SendOutcome | Promise<SendOutcome> = () => OK;
  writeNow?: (m: Uint8Array) => SendOutcome | null;
  #calls = 0;
  async send(messages: readonly Uint8Array[], signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome> {
    const outcome = await this.answer(++this.#calls, signal);
    if (outcome.result === 'ok') {
      this.ids.push(...(meta?.ids ?? []));
      for (const m of messages) this.lines += Buffer.from(m).toString().split('\n').filter((l) => l !== '').length;
    }
    return outcome;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

interface Rig {
  readonly counters: SharedCounters;
  readonly held: Control;
  readonly health: SinkHealth;
  readonly outbox: Outbox;
  deliver(batch: SampleBatch): Promise<unknown>;
  settled(): Promise<void>;
  /** collected = sent + filtered + dropped + spooled, and nothing held. */
  conserved(): void;
}

function rig(sink: Sink, options: { encoder?: Encoder; filters?: FilterConfig; spool?: Spool; maxBytes?: number } = {}): Rig {
  const counters = new SharedCounters();
  const held = new Control();
  const health = new SinkHealth();
  const encoder = options.encoder ?? createEncoder('json', { maxSamples: 10 });
  const outbox = new Outbox({
    sink,
    listener: new SampleAccounting(counters, held, health, encoder),
    maxBytes: options.maxBytes ?? 1 << 20,
    spool: options.spool ?? null,
    backoff: { initialBackoffMs: 1, maxBackoffMs: 5 },
    closeWaitMs: 200,
  });
  const delivery = new DeliveryStage({ filter: compileFilters(options.filters ?? {}), encoder, outbox, counters, held });
  return {
    counters,
    held,
    health,
    outbox,
    deliver(batch) {
      counters.add('collected', batch.length);
      held.hold(0, batch.length);
      return delivery.deliver(batch, { time: T, target: 'tid' });
    },
    async settled() {
      const end = Date.now() + 10_000;
      while (held.heldSamples > 0) {
        if (Date.now() > end) throw new Error(`still held: ${held.heldSamples}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    conserved() {
      const c = counters.snapshot();
      expect(held.heldSamples).toBe(0);
      expect(c.sent + c.filtered + total(c.dropped) + c.spoolSamples).toBe(c.collected);
    },
  };
}

describe('the delivery stage counts every sample once', () => {
  it('ok: filtered samples are counted filtered, the rest sent, with one id per message', async () => {
    const sink = new TestSink();
    const r = rig(sink, { filters: { exclude: { values: [0, 1, 2] } } });
    expect(await r.deliver(batchOf())).toBeNull();
    await r.settled();
    const c = r.counters.snapshot();
    expect(c).toMatchObject({ collected: 25, filtered: 3, sent: 22, sentMessages: 3 });
    expect(sink.lines).toBe(22);
    expect(sink.ids).toEqual(['tid.1700000000000.0', 'tid.1700000000000.1', 'tid.1700000000000.2']);
    r.conserved();
    await r.outbox.close();
  });

  it('ok through writeNow: each message written from the scratch buffer at once, counted sent', async () => {
    const sink = new TestSink();
    let written = 0;
    sink.writeNow = (m) => {
      written += Buffer.from(m).toString().split('\n').length - 1;
      return OK;
    };
    const r = rig(sink);
    await r.deliver(batchOf());
    expect(r.counters.snapshot()).toMatchObject({ sent: 25, sentMessages: 3 }); // before any await of the sink
    expect(written).toBe(25);
    r.conserved();
    await r.outbox.close();
  });

  it('writeNow that cannot go on: the first message is written now, the rest are sent in order', async () => {
    const sink = new TestSink();
    let n = 0;
    sink.writeNow = () => (n++ === 0 ? OK : null);
    const r = rig(sink);
    await r.deliver(batchOf());
    await r.settled();
    expect(r.counters.snapshot()).toMatchObject({ sent: 25, sentMessages: 3 });
    expect(sink.ids).toEqual(['tid.1700000000000.1', 'tid.1700000000000.2']); // message 0 went by writeNow
    r.conserved();
    await r.outbox.close();
  });

  it('retry then ok: sent once, nothing dropped, the failures counted by code', async () => {
    const sink = new TestSink();
    sink.answer = (call) => (call <= 2 ? retry('ENOSPC: disk full', undefined, 'ENOSPC') : OK);
    const r = rig(sink);
    await r.deliver(batchOf());
    await r.settled();
    const c = r.counters.snapshot();
    expect(c.sent).toBe(25);
    expect(total(c.dropped)).toBe(0);
    expect(r.health.take()?.failures).toEqual({ ENOSPC: 2 });
    r.conserved();
    await r.outbox.close();
  });

  it('retry forever: held until shutdown, then dropped as shutdown', async () => {
    const sink = new TestSink();
    sink.answer = () => retry('ECONNREFUSED', undefined, 'ECONNREFUSED');
    const r = rig(sink);
    await r.deliver(batchOf());
    expect(r.held.heldSamples).toBe(25); // waiting in the outbox, not dropped
    await r.outbox.close();
    expect(r.counters.snapshot().dropped.shutdown).toBe(25);
    r.conserved();
  });

  it('retry forever with a spool: at shutdown the samples go to the spool, counted there', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-delivery-'));
    try {
      const sink = new TestSink();
      sink.answer = () => retry('down');
      const r = rig(sink, { spool: await Spool.open({ dir, maxBytes: 1 << 20 }) });
      await r.deliver(batchOf());
      await r.outbox.close();
      const c = r.counters.snapshot();
      expect(c.spoolSamples).toBe(25);
      expect(total(c.dropped)).toBe(0);
      r.conserved();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reject: dropped as sink_rejected (the one reason for it)', async () => {
    const sink = new TestSink();
    sink.answer = () => reject('EACCES: permission denied, open /x', 'EACCES');
    const r = rig(sink);
    await r.deliver(batchOf());
    await r.settled();
    const c = r.counters.snapshot();
    expect(c.dropped.sink_rejected).toBe(25);
    expect(Object.keys(c.dropped)).not.toContain('rejected');
    r.conserved();
    await r.outbox.close();
  });

  it('abort at shutdown: a send the close cuts short is dropped as shutdown, and is no sink failure', async () => {
    const sink = new TestSink();
    sink.answer = (_call, signal) => new Promise((resolve) => signal.addEventListener('abort', () => resolve(retry('aborted')), { once: true }));
    const r = rig(sink);
    await r.deliver(batchOf());
    await r.outbox.close();
    expect(r.counters.snapshot().dropped.shutdown).toBe(25);
    expect(r.health.take()).toBeNull();
    r.conserved();
  });

  it('an encoder that throws: what it wrote is sent, the rest dropped as encode, and the error returned', async () => {
    const sink = new TestSink();
    const json = createEncoder('json', { maxSamples: 10 });
    const failing: Encoder = {
      kind: 'json',
      encode: () => {
        throw new Error('encoder defect');
      },
      encodeTo: (batch, ts, emit) => {
        let first = true;
        json.encodeTo?.(batch, ts, (m, n) => {
          if (!first) throw new Error('encoder defect');
          first = false;
          emit(m, n);
        });
      },
    };
    const r = rig(sink, { encoder: failing });
    const err = await r.deliver(batchOf());
    expect((err as Error).message).toBe('encoder defect');
    await r.settled();
    const c = r.counters.snapshot();
    expect(c.sent).toBe(10);
    expect(c.dropped.encode).toBe(15);
    r.conserved();
    await r.outbox.close();
  });

  it('non-finite samples an encoder skips (statsd) are dropped as non_finite; the rest sent in exact total', async () => {
    const sink = new TestSink();
    const r = rig(sink, { encoder: createEncoder('statsd', { maxSamples: 7 }) });
    await r.deliver(batchOf(25, 4));
    await r.settled();
    const c = r.counters.snapshot();
    expect(c.dropped.non_finite).toBe(4);
    expect(c.sent).toBe(25);
    r.conserved();
    await r.outbox.close();
  });

  it('an encoder without encodeTo (fluent): every sample is sent, spread over its messages', async () => {
    const sink = new TestSink();
    const r = rig(sink, { encoder: createEncoder('fluent', { maxSamples: 10 }) });
    await r.deliver(batchOf(25));
    await r.settled();
    expect(r.counters.snapshot()).toMatchObject({ sent: 25, sentMessages: 3 });
    r.conserved();
    await r.outbox.close();
  });
});

describe('message ids', () => {
  it('are deterministic per collector and target, and differ between them', () => {
    expect(targetId('ns/a', 'http://x/metrics')).toBe(targetId('ns/a', 'http://x/metrics'));
    expect(targetId('ns/a', 'http://x/metrics')).not.toBe(targetId('ns/b', 'http://x/metrics'));
    expect(targetId('ns/a', 'http://x/metrics')).not.toBe(targetId('ns/a', 'http://y/metrics'));
    expect(targetId('ns/a', 'http://x/metrics')).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });
});
