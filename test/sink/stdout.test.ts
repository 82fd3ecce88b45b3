// SPDX-License-Identifier: Apache-2.0
import { spawnSync } from 'node:child_process';
import { closeSync, constants as fsConstants, existsSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  ABORTED,
  ABORTED_WHILE_WRITING,
  READER_GONE,
  STEAL_AFTER_MS,
  StdoutShare,
  StdoutSink,
  watchStdout,
} from '../../src/sink/index.js';
import { concat, expectSameBytes, randomSends, settled, sinkContract, textSends, ticks } from './contract.js';

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
    expect(first).toEqual({ result: 'reject', reason: 'stdout failed: EPIPE: write EPIPE', code: 'EPIPE' });
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

/**
 * A real pipe (a FIFO): the sink writes its non-blocking write end, as standard output is when
 * the main thread's libuv pipe has it; the test reads the other end, and can pause reading.
 */
interface Pipe {
  readonly fd: number;
  readonly reader: Socket;
  received(): Buffer;
  /** Waits until `bytes` bytes arrived (or 10 s passed) and answers what arrived. */
  receive(bytes: number): Promise<Buffer>;
  close(): Promise<void>;
}

async function makePipe(): Promise<Pipe> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-stdout-'));
  const fifo = join(dir, 'pipe');
  if (spawnSync('mkfifo', [fifo]).status !== 0) throw new Error('mkfifo failed');
  const reader = new Socket({ fd: openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), readable: true, writable: false });
  const fd = openSync(fifo, fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
  const chunks: Buffer[] = [];
  reader.on('data', (c: Buffer) => chunks.push(c));
  reader.on('error', () => undefined);
  const received = (): Buffer => Buffer.concat(chunks);
  return {
    fd,
    reader,
    received,
    async receive(bytes) {
      const until = Date.now() + 10_000;
      while (received().length < bytes && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      return received();
    },
    async close() {
      reader.destroy();
      try {
        closeSync(fd);
      } catch {
        // closed by the test
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

describe.runIf(process.platform === 'linux')('the stdout sink on a descriptor (how it writes standard output)', () => {
  sinkContract('stdout fd', async () => {
    const pipe = await makePipe();
    const share = new StdoutShare();
    const sink = new StdoutSink({ fd: pipe.fd, share });
    return {
      sink,
      readBack: () => pipe.receive(sink.stats.bytesWritten),
      // Another writer of the same descriptor holds the lock (a worker writing its own send).
      stall: () => {
        expect(share.tryLock()).toBe(true);
        return () => share.unlock();
      },
      cleanup: () => pipe.close(),
    };
  });

  it('waits while the pipe is full (EAGAIN) and delivers a send much larger than the pipe whole', async () => {
    const pipe = await makePipe();
    try {
      pipe.reader.pause();
      const sink = new StdoutSink({ fd: pipe.fd, share: new StdoutShare() });
      const big = Buffer.alloc(1 << 20);
      for (let i = 0; i < big.length; i++) big[i] = i % 251;
      const sending = sink.send([big], never());
      await new Promise((r) => setTimeout(r, 200));
      expect(await settled(sending)).toBe(false);
      pipe.reader.resume();
      expect(await sending).toEqual({ result: 'ok' });
      expectSameBytes(await pipe.receive(big.length), big);
      expect(sink.stats.bytesWritten).toBe(big.length);
      await sink.close();
    } finally {
      await pipe.close();
    }
  });

  it('keeps the sends of two sinks sharing a descriptor whole, though each waits on a full pipe part way', async () => {
    const pipe = await makePipe();
    try {
      pipe.reader.pause();
      const share = new StdoutShare();
      const a = new StdoutSink({ fd: pipe.fd, share });
      const b = new StdoutSink({ fd: pipe.fd, share });
      const line = (who: string, i: number): Buffer => Buffer.from(`${who}${i}:${who.repeat(100_000)}\n`);
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < 4; i++) sends.push(a.send([line('a', i)], never()), b.send([line('b', i)], never()));
      setTimeout(() => pipe.reader.resume(), 100);
      const outcomes = await Promise.all(sends);
      expect(outcomes.every((o) => (o as { result: string }).result === 'ok')).toBe(true);
      const text = (await pipe.receive(8 * 100_004)).toString();
      const lines = text.split('\n').filter((l) => l !== '');
      expect(lines).toHaveLength(8);
      for (const l of lines) expect(l).toMatch(/^(a\d:a{100000}|b\d:b{100000})$/);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await pipe.close();
    }
  });

  it('rejects with EPIPE once the reader closed the pipe, marks the reader gone for every writer, and writes nothing more', async () => {
    const pipe = await makePipe();
    try {
      const share = new StdoutShare();
      const sink = new StdoutSink({ fd: pipe.fd, share });
      expect(await sink.send([Buffer.from('read\n')], never())).toEqual({ result: 'ok' });
      expect((await pipe.receive(5)).toString()).toBe('read\n');
      pipe.reader.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(await sink.send([Buffer.from('lost\n')], never())).toEqual({ result: 'reject', reason: READER_GONE, code: 'EPIPE' });
      expect(share.readerGone).toBe(true);
      // Another sink of the same descriptor learns it from the share, before writing.
      const other = new StdoutSink({ fd: pipe.fd, share });
      expect(await other.send([Buffer.from('lost too\n')], never())).toEqual({ result: 'reject', reason: READER_GONE, code: 'EPIPE' });
      expect(other.stats.bytesWritten).toBe(0);
      await Promise.all([sink.close(), other.close()]);
    } finally {
      await pipe.close();
    }
  });

  it.skipIf(!existsSync('/dev/full'))('answers retry with ENOSPC when the descriptor is full (> /dev/full), and again on the next send', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const sink = new StdoutSink({ fd, share: new StdoutShare() });
      for (let i = 0; i < 2; i++) {
        const outcome = await sink.send([Buffer.from('x\n')], never());
        expect(outcome).toMatchObject({ result: 'retry', code: 'ENOSPC' });
        expect((outcome as { reason: string }).reason).toMatch(/^write stdout: ENOSPC/);
      }
      await sink.close();
    } finally {
      closeSync(fd);
    }
  });

  it('writes nothing and answers retry when aborted while another writer holds the lock', async () => {
    const pipe = await makePipe();
    try {
      const share = new StdoutShare();
      expect(share.tryLock()).toBe(true);
      const sink = new StdoutSink({ fd: pipe.fd, share });
      const controller = new AbortController();
      const waiting = sink.send([Buffer.from('never\n')], controller.signal);
      expect(await settled(waiting)).toBe(false);
      controller.abort();
      expect(await waiting).toEqual({ result: 'retry', reason: ABORTED });
      share.unlock();
      expect(sink.stats.bytesWritten).toBe(0);
      await sink.close();
    } finally {
      await pipe.close();
    }
  });

  it('takes over a lock whose holder stopped beating (a thread terminated mid-write)', async () => {
    const pipe = await makePipe();
    try {
      const share = new StdoutShare();
      expect(share.tryLock()).toBe(true); // and never unlocked
      const sink = new StdoutSink({ fd: pipe.fd, share });
      const started = performance.now();
      expect(await sink.send([Buffer.from('after\n')], never())).toEqual({ result: 'ok' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(STEAL_AFTER_MS - 50);
      expect((await pipe.receive(6)).toString()).toBe('after\n');
      await sink.close();
    } finally {
      await pipe.close();
    }
  }, STEAL_AFTER_MS + 15_000);

  it('delivers random binary sends byte for byte through a slow reader', async () => {
    const pipe = await makePipe();
    try {
      const sink = new StdoutSink({ fd: pipe.fd, share: new StdoutShare() });
      const sends = randomSends(3, 60, 8, 8000);
      const timer = setInterval(() => (pipe.reader.isPaused() ? pipe.reader.resume() : pipe.reader.pause()), 20);
      try {
        const outcomes = await Promise.all(sends.map((send) => sink.send(send, never())));
        expect(outcomes.every((o) => o.result === 'ok')).toBe(true);
      } finally {
        clearInterval(timer);
        pipe.reader.resume();
      }
      const want = concat(sends);
      expectSameBytes(await pipe.receive(want.length), want);
      await sink.close();
    } finally {
      await pipe.close();
    }
  });
});

// Last: it marks this process's own stdout share gone.
describe('watchStdout (the main thread of strata run)', () => {
  it('resolves gone when its stream fails with EPIPE, and keeps the error from crashing the process', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const watch = watchStdout(stream, 10);
    stream.write('x');
    expect(await watch.gone).toBe(READER_GONE);
    expect(StdoutShare.process().readerGone).toBe(true);
    // A default sink (descriptor 1) now drops at once, without writing.
    expect(await new StdoutSink().send([Buffer.from('x\n')], never())).toEqual({ result: 'reject', reason: READER_GONE, code: 'EPIPE' });
    watch.stop();
  });
});
