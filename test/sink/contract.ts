// SPDX-License-Identifier: Apache-2.0
/**
 * The sink contract: what every sink promises, run against every implementation (stdout and
 * file here; nats, kafka, http, statsd and fluent as they arrive). A test file calls
 * `sinkContract(name, create)` inside its own `describe`; `create` makes a fresh sink with a
 * way to read back the bytes that arrived and a way to stall its medium.
 */
import { seededRandom } from '../../src/demo/random.js';
import { expect, it } from 'vitest';
import { ABORTED, type SendOutcome, type Sink } from '../../src/sink/index.js';

export interface SinkHarness {
  readonly sink: Sink;
  /** Every byte that has arrived so far, in arrival order (call after the sends settle). */
  readBack(): Promise<Uint8Array>;
  /**
   * Makes the medium stop taking bytes, so that a send in progress waits, until the returned
   * function is called.
   */
  stall(): () => void;
  /** Removes what the harness made (files, streams). */
  cleanup(): Promise<void>;
}

/** A small seeded generator (mulberry32, src/demo/random.ts), so a failure can be replayed. */
export const seeded = seededRandom;

/** Random binary messages, every byte value included. */
export function randomSends(seed: number, sends: number, maxMessages: number, maxBytes: number): Uint8Array[][] {
  const random = seeded(seed);
  const out: Uint8Array[][] = [];
  for (let s = 0; s < sends; s++) {
    const send: Uint8Array[] = [];
    const n = 1 + Math.floor(random() * maxMessages);
    for (let m = 0; m < n; m++) {
      const bytes = new Uint8Array(1 + Math.floor(random() * maxBytes));
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
      send.push(bytes);
    }
    out.push(send);
  }
  return out;
}

/** Text messages `s<send>m<message>:<padding>\n`, easy to check for interleaving. */
export function textSends(sends: number, messages: number, pad: number): Uint8Array[][] {
  return Array.from({ length: sends }, (_, s) =>
    Array.from({ length: messages }, (_, m) => Buffer.from(`s${s}m${m}:${'x'.repeat(pad + ((s * 7 + m) % 13))}\n`)),
  );
}

export function concat(sends: readonly (readonly Uint8Array[])[]): Buffer {
  return Buffer.concat(sends.flat());
}

/** Byte equality with a useful message: the lengths and the first differing offset. */
export function expectSameBytes(got: Uint8Array, want: Uint8Array): void {
  const a = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
  const b = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
  if (a.equals(b)) return;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  expect.fail(`got ${a.length} bytes, want ${b.length}; first difference at offset ${i}`);
}

const never = (): AbortSignal => new AbortController().signal;

/** Resolves after the event loop has turned a few times. */
export async function ticks(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Whether `promise` has settled by now (after a few turns of the loop). */
export async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await ticks();
  return done;
}

export function sinkContract(name: string, create: () => Promise<SinkHarness>): void {
  const withHarness = (test: (h: SinkHarness) => Promise<void>) => async () => {
    const h = await create();
    try {
      await test(h);
    } finally {
      await h.sink.close().catch(() => undefined);
      await h.cleanup();
    }
  };

  it(`${name}: delivers every message once, in order, byte for byte`, withHarness(async (h) => {
    const sends = randomSends(1, 40, 6, 3000);
    for (const send of sends) expect(await h.sink.send(send, never())).toEqual({ result: 'ok' });
    await h.sink.flush(never());
    expectSameBytes(await h.readBack(), concat(sends));
  }));

  it(`${name}: keeps concurrent sends whole and in call order`, withHarness(async (h) => {
    const sends = textSends(100, 4, 200);
    const outcomes = await Promise.all(sends.map((send) => h.sink.send(send, never())));
    expect(outcomes.every((o) => o.result === 'ok')).toBe(true);
    await h.sink.flush(never());
    expectSameBytes(await h.readBack(), concat(sends));
  }));

  it(`${name}: answers ok to an empty send and writes nothing`, withHarness(async (h) => {
    expect(await h.sink.send([], never())).toEqual({ result: 'ok' });
    await h.sink.flush(never());
    expect((await h.readBack()).byteLength).toBe(0);
  }));

  it(`${name}: delivers the sends accepted before close, then rejects every send`, withHarness(async (h) => {
    const sends = textSends(10, 2, 10);
    const pending = sends.map((send) => h.sink.send(send, never()));
    await h.sink.close();
    expect((await Promise.all(pending)).every((o) => o.result === 'ok')).toBe(true);
    const late = await h.sink.send([Buffer.from('late\n')], never());
    expect(late.result).toBe('reject');
    expect((late as { reason: string }).reason).toMatch(/closed/);
    await h.sink.close(); // a second close is harmless
    expectSameBytes(await h.readBack(), concat(sends));
  }));

  it(`${name}: writes nothing and answers retry when the signal has already aborted`, withHarness(async (h) => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    expect(await h.sink.send([Buffer.from('never\n')], controller.signal)).toEqual({ result: 'retry', reason: ABORTED });
    await h.sink.flush(never());
    expect((await h.readBack()).byteLength).toBe(0);
  }));

  it(`${name}: stops a send waiting behind a stalled one when its signal aborts, writing nothing of it`, withHarness(async (h) => {
    const first = [Buffer.alloc(64 * 1024, 0x61)];
    const release = h.stall();
    const sending = h.sink.send(first, never());
    await ticks();
    const controller = new AbortController();
    const waiting = h.sink.send([Buffer.from('aborted\n')], controller.signal);
    expect(await settled(waiting)).toBe(false);
    controller.abort();
    const outcome: SendOutcome = await waiting;
    expect(outcome).toEqual({ result: 'retry', reason: ABORTED });
    release();
    expect(await sending).toEqual({ result: 'ok' });
    await h.sink.flush(never());
    expectSameBytes(await h.readBack(), concat([first]));
  }));

  it(`${name}: flush waits for the sends before it and throws when its signal aborts first`, withHarness(async (h) => {
    const release = h.stall();
    const sending = h.sink.send([Buffer.alloc(64 * 1024, 0x62)], never());
    await ticks();
    const controller = new AbortController();
    const flushing = h.sink.flush(controller.signal);
    expect(await settled(flushing)).toBe(false);
    controller.abort(new Error('deadline'));
    await expect(flushing).rejects.toThrow('deadline');
    release();
    expect(await sending).toEqual({ result: 'ok' });
    await h.sink.flush(never());
    expect((await h.readBack()).byteLength).toBe(64 * 1024);
  }));
}
