import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ABORTED, ABORTED_WHILE_WRITING, StdoutSink } from '../../src/sink/index.js';
import { concat, expectSameBytes, settled, sinkContract, textSends, ticks } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;

/** A writable that holds each write until `next()` lets it through, recording what arrived. */
class SlowWritable extends Writable {
  readonly chunks: Buffer[] = [];
  readonly writes: number[] = [];
  #held: (() => void)[] = [];

  constructor(highWaterMark: number) {
    super({ highWaterMark });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#held.push(() => {
      this.chunks.push(chunk);
      callback();
    });
  }

  get held(): number {
    return this.#held.length;
  }

  next(): void {
    this.#held.shift()?.();
  }
}

describe('the stdout sink', () => {
  sinkContract('stdout', async () => {
    const capture = new PassThrough({ highWaterMark: 16 * 1024 });
    const chunks: Buffer[] = [];
    capture.on('data', (chunk: Buffer) => chunks.push(chunk));
    return {
      sink: new StdoutSink({ stream: capture }),
      readBack: async () => Buffer.concat(chunks),
      stall: () => {
        capture.pause();
        return () => capture.resume();
      },
      cleanup: async () => {
        capture.destroy();
      },
    };
  });

  it('writes each send with one write call, however many messages it has', async () => {
    const capture = new PassThrough();
    const chunks: Buffer[] = [];
    capture.on('data', (chunk: Buffer) => chunks.push(chunk));
    const written: number[] = [];
    const write = capture.write.bind(capture) as (chunk: Uint8Array, cb: (err?: Error | null) => void) => boolean;
    (capture as unknown as { write: typeof write }).write = (chunk, cb) => {
      written.push(chunk.byteLength);
      return write(chunk, cb);
    };
    const sink = new StdoutSink({ stream: capture });
    const sends = textSends(3, 5, 4);
    for (const send of sends) await sink.send(send, never());
    expect(written).toEqual(sends.map((send) => concat([send]).length));
    expectSameBytes(Buffer.concat(chunks), concat(sends));
    await sink.close();
  });

  it('makes a send wait while a slow consumer lags, and loses nothing', async () => {
    const slow = new SlowWritable(1024);
    const sink = new StdoutSink({ stream: slow });
    const sends = textSends(20, 3, 300); // each send is about 1 KiB, past the high-water mark
    const outcomes: Promise<unknown>[] = [];
    let maxBuffered = 0;
    for (const send of sends) {
      const sending = sink.send(send, never());
      outcomes.push(sending);
      // The send is not answered until the consumer takes its chunk.
      expect(await settled(sending)).toBe(false);
      maxBuffered = Math.max(maxBuffered, slow.writableLength);
      while (!(await settled(sending))) slow.next();
    }
    await Promise.all(outcomes);
    expect(maxBuffered).toBeLessThanOrEqual(Math.max(...sends.map((s) => concat([s]).length)));
    expectSameBytes(Buffer.concat(slow.chunks), concat(sends));
    await sink.close();
  });

  it('holds later concurrent sends back until the stream drains, keeping their order', async () => {
    const slow = new SlowWritable(512);
    const sink = new StdoutSink({ stream: slow });
    const sends = textSends(10, 2, 400);
    const all = Promise.all(sends.map((send) => sink.send(send, never())));
    await ticks();
    // Only the first send reached the stream; the others wait for 'drain'.
    expect(slow.held).toBe(1);
    expect(slow.writableLength).toBe(concat([sends[0] ?? []]).length);
    while (!(await settled(all))) slow.next();
    expect((await all).every((o) => o.result === 'ok')).toBe(true);
    expectSameBytes(Buffer.concat(slow.chunks), concat(sends));
    await sink.close();
  });

  it('answers retry when the signal aborts after the write was handed to the stream', async () => {
    const slow = new SlowWritable(16);
    const sink = new StdoutSink({ stream: slow });
    const controller = new AbortController();
    const sending = sink.send([Buffer.from('handed over\n')], controller.signal);
    await ticks();
    controller.abort();
    expect(await sending).toEqual({ result: 'retry', reason: ABORTED_WHILE_WRITING });
    slow.next();
    expect(Buffer.concat(slow.chunks).toString()).toBe('handed over\n');
    await sink.close();
  });

  it('rejects with the reason on EPIPE, and every later send too, without an uncaught error', async () => {
    const broken = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }));
      },
    });
    const sink = new StdoutSink({ stream: broken });
    const first = await sink.send([Buffer.from('a\n')], never());
    expect(first).toEqual({ result: 'reject', reason: 'stdout failed: EPIPE: write EPIPE' });
    const later = await sink.send([Buffer.from('b\n')], never());
    expect(later.result).toBe('reject');
    expect((later as { reason: string }).reason).toMatch(/EPIPE/);
    await sink.close();
  });

  const closedStreams: { name: string; make: () => Writable; reason: RegExp }[] = [
    {
      name: 'destroyed',
      make: () => {
        const s = new PassThrough();
        s.destroy();
        return s;
      },
      reason: /destroyed|closed/,
    },
    {
      name: 'ended',
      make: () => {
        const s = new PassThrough();
        s.resume();
        s.end();
        return s;
      },
      reason: /ended/,
    },
  ];
  for (const { name, make, reason } of closedStreams) {
    it(`rejects a send to a ${name} stream, naming why`, async () => {
      const sink = new StdoutSink({ stream: make() });
      const outcome = await sink.send([Buffer.from('x\n')], never());
      expect(outcome.result).toBe('reject');
      expect((outcome as { reason: string }).reason).toMatch(reason);
      await sink.close();
    });
  }

  it('rejects a send whose stream is destroyed while it waits for drain', async () => {
    const slow = new SlowWritable(8);
    const sink = new StdoutSink({ stream: slow });
    const first = sink.send([Buffer.from('first message\n')], never());
    const second = sink.send([Buffer.from('second\n')], never());
    await ticks();
    slow.destroy();
    expect((await first).result).toBe('reject');
    expect((await second).result).toBe('reject');
    await sink.close();
  });

  it('answers retry for a send aborted while it waits for drain, writing nothing of it', async () => {
    const slow = new SlowWritable(8);
    const sink = new StdoutSink({ stream: slow });
    const first = sink.send([Buffer.from('first message\n')], never());
    const controller = new AbortController();
    const second = sink.send([Buffer.from('second\n')], controller.signal);
    await ticks();
    controller.abort();
    expect(await second).toEqual({ result: 'retry', reason: ABORTED });
    slow.next();
    expect(await first).toEqual({ result: 'ok' });
    expect(slow.held).toBe(0);
    expect(Buffer.concat(slow.chunks).toString()).toBe('first message\n');
    expect(slow.listenerCount('drain')).toBe(0);
    await sink.close();
  });

  it('leaves the stream open on close unless endOnClose is set, and removes its listeners', async () => {
    const kept = new PassThrough();
    const before = kept.listenerCount('error');
    const sink = new StdoutSink({ stream: kept });
    expect(kept.listenerCount('error')).toBe(before + 1);
    await sink.close();
    expect(kept.writableEnded).toBe(false);
    expect(kept.listenerCount('error')).toBe(before);
    expect(kept.listenerCount('close')).toBe(0);

    const ended = new PassThrough();
    ended.resume();
    const owner = new StdoutSink({ stream: ended, endOnClose: true });
    await owner.send([Buffer.from('last\n')], never());
    await owner.close();
    expect(ended.writableEnded).toBe(true);
  });

  it('writes to process.stdout by default and leaves it as it found it', async () => {
    const before = process.stdout.listenerCount('error');
    const sink = new StdoutSink();
    expect(sink.kind).toBe('stdout');
    await sink.close();
    expect(process.stdout.listenerCount('error')).toBe(before);
    expect(process.stdout.writable).toBe(true);
  });
});
