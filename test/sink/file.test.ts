// SPDX-License-Identifier: Apache-2.0
import { spawnSync } from 'node:child_process';
import { constants as fsConstants, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { CHECK_PATH_MS, createSink, FileSink, type FileSinkOptions, SinkError } from '../../src/sink/index.js';
import { concat, expectSameBytes, randomSends, sinkContract, textSends } from './contract.js';
import { Gate, hookedFs, sysError } from './fake-fs.js';

const never = (): AbortSignal => new AbortController().signal;
const isRoot = process.getuid?.() === 0;

async function readOr(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** `path.{n}` … `path.1`, `path`: oldest first. */
async function readAll(path: string, maxFiles: number): Promise<Buffer[]> {
  const files: Buffer[] = [];
  for (let i = maxFiles; i >= 1; i--) files.push(await readOr(`${path}.${i}`));
  files.push(await readOr(path));
  return files.filter((f) => f.length > 0);
}

describe('the file sink', () => {
  sinkContract('file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-file-contract-'));
    const path = join(dir, 'out.ndjson');
    const gate = new Gate();
    return {
      sink: new FileSink({ path, maxBytes: 1 << 30, fs: hookedFs({}, gate) }),
      readBack: () => readOr(path),
      stall: () => gate.shut(),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  });

  let dir = '';
  let path = '';
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'strata-file-'));
    path = join(dir, 'out.ndjson');
  });
  afterEach(async () => {
    await chmod(dir, 0o755).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('rotates before a send that would pass maxBytes, keeping every byte across path, path.1, …', async () => {
    const maxBytes = 100;
    const sink = new FileSink({ path, maxBytes, maxFiles: 1000 });
    const sends = textSends(90, 3, 2).map((send, i) => send.slice(0, 1 + (i % 3)));
    for (const send of sends) expect(await sink.send(send, never())).toEqual({ result: 'ok' });
    await sink.close();
    const files = await readAll(path, 1000);
    expect(files.length).toBeGreaterThan(10);
    expect(sink.stats.rotations).toBe(files.length - 1);
    expectSameBytes(Buffer.concat(files), concat(sends));
    for (const file of files) {
      expect(file.length).toBeLessThanOrEqual(maxBytes);
      // Whole messages only: every file starts a message and ends one.
      expect(file.toString()).toMatch(/^s\d+m0:[^]*\n$/);
    }
    // A file was rotated exactly when the next send would not have fitted.
    const want: number[] = [];
    for (const send of sends) {
      const bytes = concat([send]).length;
      const last = want.length - 1;
      if (last >= 0 && (want[last] as number) + bytes <= maxBytes) want[last] = (want[last] as number) + bytes;
      else want.push(bytes);
    }
    expect(files.map((f) => f.length)).toEqual(want);
  });

  it('writes a send larger than maxBytes alone in a fresh file, never split', async () => {
    const sink = new FileSink({ path, maxBytes: 10 });
    const small = [Buffer.from('aaaaa')];
    const big = [Buffer.from('bbbbbbbbbb'), Buffer.from('cccccccccc'), Buffer.from('ddddd')];
    const after = [Buffer.from('eee')];
    for (const send of [small, big, after]) expect(await sink.send(send, never())).toEqual({ result: 'ok' });
    await sink.close();
    expect((await readFile(`${path}.2`)).toString()).toBe('aaaaa');
    expect((await readFile(`${path}.1`)).toString()).toBe('bbbbbbbbbbccccccccccddddd');
    expect((await readFile(path)).toString()).toBe('eee');
  });

  it('keeps an oversized first send in the empty file it opened, alone', async () => {
    const sink = new FileSink({ path, maxBytes: 4 });
    await sink.send([Buffer.from('0123456789')], never());
    await sink.send([Buffer.from('ab')], never());
    await sink.send([Buffer.from('cd')], never());
    await sink.close();
    expect((await readFile(`${path}.1`)).toString()).toBe('0123456789');
    expect((await readFile(path)).toString()).toBe('abcd');
  });

  it('keeps at most maxFiles rotated files, the newest ones', async () => {
    const sink = new FileSink({ path, maxBytes: 10, maxFiles: 2 });
    for (const letter of 'ABCDEF') await sink.send([Buffer.from(letter.repeat(10))], never());
    await sink.close();
    expect((await readdir(dir)).sort()).toEqual(['out.ndjson', 'out.ndjson.1', 'out.ndjson.2']);
    expect((await readFile(path)).toString()).toBe('F'.repeat(10));
    expect((await readFile(`${path}.1`)).toString()).toBe('E'.repeat(10));
    expect((await readFile(`${path}.2`)).toString()).toBe('D'.repeat(10));
  });

  it('counts the bytes of a file that existed before the first send', async () => {
    await writeFile(path, 'existing');
    const sink = new FileSink({ path, maxBytes: 10 });
    await sink.send([Buffer.from('12345')], never());
    await sink.close();
    expect((await readFile(`${path}.1`)).toString()).toBe('existing');
    expect((await readFile(path)).toString()).toBe('12345');
  });

  it('uses write for one message and writev for several, one call per send', async () => {
    const fs = hookedFs({});
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    await sink.send([Buffer.from('one\n')], never());
    await sink.send([Buffer.from('a\n'), Buffer.from('b\n'), Buffer.from('c\n')], never());
    await sink.close();
    expect(fs.calls).toEqual([`open ${path}`, 'write 1', 'writev 3', 'close']);
    expect((await readFile(path)).toString()).toBe('one\na\nb\nc\n');
  });

  it.skipIf(isRoot)('rejects with a reason naming the path when the directory is read-only (EACCES)', async () => {
    const ro = join(dir, 'ro');
    await mkdir(ro);
    await chmod(ro, 0o555);
    const target = join(ro, 'out.ndjson');
    const sink = new FileSink({ path: target, maxBytes: 100 });
    const outcome = await sink.send([Buffer.from('x\n')], never());
    expect(outcome.result).toBe('reject');
    expect((outcome as { reason: string }).reason).toContain(`open ${target}: EACCES`);
    await sink.close();
  });

  const failures: {
    name: string;
    options: (p: string) => Omit<FileSinkOptions, 'path' | 'maxBytes'>;
    want: (p: string) => { result: string; reason: string; code: string };
  }[] = [
    {
      name: 'rejects, naming the path, when permission is denied (EACCES)',
      options: () => ({ fs: hookedFs({ open: (p) => { throw sysError('EACCES', 'open', p); } }) }),
      want: (p) => ({ result: 'reject', reason: `open ${p}: EACCES: injected, open '${p}'`, code: 'EACCES' }),
    },
    {
      name: 'rejects on a read-only file system (EROFS)',
      options: () => ({ fs: hookedFs({ open: (p) => { throw sysError('EROFS', 'open', p); } }) }),
      want: (p) => ({ result: 'reject', reason: `open ${p}: EROFS: injected, open '${p}'`, code: 'EROFS' }),
    },
    {
      name: 'answers retry when the disk is full (ENOSPC)',
      options: (p) => ({ fs: hookedFs({ write: () => { throw sysError('ENOSPC', 'write', p); } }) }),
      want: (p) => ({ result: 'retry', reason: `write ${p}: ENOSPC: injected, write '${p}'`, code: 'ENOSPC' }),
    },
    {
      name: 'answers retry for an error it does not know to be permanent',
      options: (p) => ({ fs: hookedFs({ write: () => { throw sysError('EWHATEVER', 'write', p); } }) }),
      want: (p) => ({ result: 'retry', reason: `write ${p}: EWHATEVER: injected, write '${p}'`, code: 'EWHATEVER' }),
    },
  ];
  for (const { name, options, want } of failures) {
    it(name, async () => {
      const sink = new FileSink({ path, maxBytes: 100, ...options(path) });
      expect(await sink.send([Buffer.from('x\n')], never())).toEqual(want(path));
      await sink.close();
    });
  }

  it('rejects, naming the path, when a parent is not a directory (ENOTDIR)', async () => {
    await writeFile(join(dir, 'file'), '');
    const target = join(dir, 'file', 'out.ndjson');
    const sink = new FileSink({ path: target, maxBytes: 100 });
    const outcome = await sink.send([Buffer.from('x\n')], never());
    expect(outcome.result).toBe('reject');
    expect((outcome as { reason: string }).reason).toContain(`open ${target}: ENOTDIR`);
    await sink.close();
  });

  it('truncates a partly written send away, so the retry leaves it in the file once', async () => {
    let calls = 0;
    const fs = hookedFs({
      write: () => {
        calls++;
        if (calls === 2) return 7; // a short write …
        if (calls === 3) throw sysError('ENOSPC', 'write', path); // … then the disk fills
        return undefined;
      },
    });
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    expect(await sink.send([Buffer.from('before\n')], never())).toEqual({ result: 'ok' });
    const send = [Buffer.from('first\n'), Buffer.from('second\n')];
    expect((await sink.send(send, never())).result).toBe('retry');
    expect((await readFile(path)).toString()).toBe('before\n');
    expect(await sink.send(send, never())).toEqual({ result: 'ok' });
    await sink.close();
    expect(fs.calls).toContain('truncate 7');
    expect((await readFile(path)).toString()).toBe('before\nfirst\nsecond\n');
  });

  it('completes a write split over several short writes', async () => {
    const fs = hookedFs({ write: (buffers) => Math.min(3, Buffer.concat(buffers).length) });
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    const sends = randomSends(7, 5, 4, 20);
    for (const send of sends) expect(await sink.send(send, never())).toEqual({ result: 'ok' });
    await sink.close();
    expectSameBytes(await readFile(path), concat(sends));
  });

  it('answers retry when a rotation fails, and rotates on the next send, losing nothing', async () => {
    let fail = true;
    const fs = hookedFs({
      rename: (from, to) => {
        if (fail && from === path) {
          fail = false;
          throw sysError('EBUSY', 'rename', `${from}' -> '${to}`);
        }
      },
    });
    const sink = new FileSink({ path, maxBytes: 10, fs });
    expect(await sink.send([Buffer.from('aaaaaaaa')], never())).toEqual({ result: 'ok' });
    const failed = await sink.send([Buffer.from('bbbbbbbb')], never());
    expect(failed.result).toBe('retry');
    expect((failed as { reason: string }).reason).toContain(`rename ${path} to ${path}.1: EBUSY`);
    expect(await sink.send([Buffer.from('bbbbbbbb')], never())).toEqual({ result: 'ok' });
    await sink.close();
    expect((await readFile(`${path}.1`)).toString()).toBe('aaaaaaaa');
    expect((await readFile(path)).toString()).toBe('bbbbbbbb');
  });

  it('calls fdatasync on flush, after the sends before it', async () => {
    const fs = hookedFs({});
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    const sending = sink.send([Buffer.from('x\n')], never());
    await sink.flush(never());
    expect(await sending).toEqual({ result: 'ok' });
    expect(fs.calls).toEqual([`open ${path}`, 'write 1', 'datasync']);
    await sink.close();
  });

  it('throws a SinkError naming the path when fdatasync fails', async () => {
    const fs = hookedFs({ datasync: () => { throw sysError('EIO', 'fdatasync', path); } });
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    await sink.send([Buffer.from('x\n')], never());
    const err = await sink.flush(never()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect((err as SinkError).message).toBe(`file sink: fdatasync ${path}: EIO: injected, fdatasync '${path}'`);
    expect((err as SinkError).code).toBe('STRATA_E_SINK');
    await sink.close();
  });

  it('closes the file once, after the sends in progress', async () => {
    const gate = new Gate();
    const fs = hookedFs({}, gate);
    const sink = new FileSink({ path, maxBytes: 1000, fs });
    const open = gate.shut();
    const sending = sink.send([Buffer.from('in progress\n')], never());
    const closing = sink.close();
    open();
    expect(await sending).toEqual({ result: 'ok' });
    await Promise.all([closing, sink.close()]);
    expect(fs.calls.filter((c) => c === 'close')).toHaveLength(1);
    expect((await readFile(path)).toString()).toBe('in progress\n');
  });

  const invalid: { options: FileSinkOptions; err: string }[] = [
    { options: { path: '', maxBytes: 10 }, err: 'output.file.path: must be a non-empty path' },
    { options: { path: 'x', maxBytes: 0 }, err: 'output.file.maxBytes: must be an integer ≥ 1; got 0' },
    { options: { path: 'x', maxBytes: 1.5 }, err: 'output.file.maxBytes: must be an integer ≥ 1; got 1.5' },
    { options: { path: 'x', maxBytes: 10, maxFiles: 0 }, err: 'output.file.maxFiles: must be an integer ≥ 1; got 0' },
  ];
  for (const { options, err } of invalid) {
    it(`refuses ${JSON.stringify(options)} with a ConfigError`, () => {
      expect(() => new FileSink(options)).toThrow(ConfigError);
      expect(() => new FileSink(options)).toThrow(err);
    });
  }

  describe('the open file and the path', () => {
    const waitForCheck = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, CHECK_PATH_MS + 100));

    it('closes the file after a failed write and opens the path again on the next send', async () => {
      let full = true;
      const fs = hookedFs({
        write: () => {
          if (full) throw sysError('ENOSPC', 'write', path);
          return undefined;
        },
      });
      const sink = new FileSink({ path, maxBytes: 1000, fs });
      expect(await sink.send([Buffer.from('lost\n')], never())).toMatchObject({ result: 'retry', code: 'ENOSPC' });
      full = false;
      expect(await sink.send([Buffer.from('kept\n')], never())).toEqual({ result: 'ok' });
      await sink.close();
      expect(fs.calls).toEqual([`open ${path}`, 'write 1', 'close', `open ${path}`, 'write 1', 'close']);
      expect(sink.stats.reopens).toBe(1);
      expect((await readFile(path)).toString()).toBe('kept\n');
    });

    it('opens the path again when the file was deleted, instead of writing on to the deleted inode', async () => {
      const sink = new FileSink({ path, maxBytes: 1 << 20 });
      expect(await sink.send([Buffer.from('before\n')], never())).toEqual({ result: 'ok' });
      await rm(path);
      await waitForCheck();
      expect(await sink.send([Buffer.from('after\n')], never())).toEqual({ result: 'ok' });
      expect(sink.writeNow(Buffer.from('now\n'))).toEqual({ result: 'ok' });
      await sink.close();
      expect((await readFile(path)).toString()).toBe('after\nnow\n');
      expect(sink.stats.reopens).toBe(1);
    });

    it('opens the path again when the file was renamed away (a log rotator), leaving the moved file as it was', async () => {
      const sink = new FileSink({ path, maxBytes: 1 << 20 });
      expect(await sink.send([Buffer.from('old\n')], never())).toEqual({ result: 'ok' });
      await rename(path, `${path}.rotated`);
      await waitForCheck();
      expect(await sink.send([Buffer.from('new\n')], never())).toEqual({ result: 'ok' });
      await sink.close();
      expect((await readFile(`${path}.rotated`)).toString()).toBe('old\n');
      expect((await readFile(path)).toString()).toBe('new\n');
    });

    it('checks the path at most once per CHECK_PATH_MS, not per message, and writeNow leaves a due check to a send', async () => {
      let checks = 0;
      const sink = new FileSink({ path, maxBytes: 1 << 20, fs: hookedFs({ identify: () => void checks++ }) });
      expect(await sink.send([Buffer.from('open\n')], never())).toEqual({ result: 'ok' });
      const started = performance.now();
      for (let i = 0; i < 200; i++) await sink.send([Buffer.from(`${i}\n`)], never());
      const elapsed = performance.now() - started;
      expect(checks).toBeLessThanOrEqual(Math.ceil(elapsed / CHECK_PATH_MS));
      await waitForCheck();
      expect(sink.writeNow(Buffer.from('later\n'))).toBeNull();
      const before = checks;
      expect(await sink.send([Buffer.from('later\n')], never())).toEqual({ result: 'ok' });
      expect(checks).toBe(before + 1);
      expect(sink.writeNow(Buffer.from('now\n'))).toEqual({ result: 'ok' });
      await sink.close();
    });

    it('keeps writing the open file when the path cannot be checked', async () => {
      const sink = new FileSink({ path, maxBytes: 1 << 20, fs: hookedFs({ identify: (p) => { throw sysError('EACCES', 'stat', p); } }) });
      expect(await sink.send([Buffer.from('a\n')], never())).toEqual({ result: 'ok' });
      await waitForCheck();
      expect(await sink.send([Buffer.from('b\n')], never())).toEqual({ result: 'ok' });
      await sink.close();
      expect(sink.stats.reopens).toBe(0);
      expect((await readFile(path)).toString()).toBe('a\nb\n');
    });

    it.runIf(process.platform === 'linux')('writes a FIFO as it is, never rotating or renaming it', async () => {
      const fifo = join(dir, 'pipe');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      // The reader's end first (non-blocking), so that the sink's open does not wait for one.
      const readFd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const reader = new Socket({ fd: readFd, readable: true, writable: false });
      const chunks: Buffer[] = [];
      reader.on('data', (c: Buffer) => chunks.push(c));
      try {
        const sink = new FileSink({ path: fifo, maxBytes: 10 });
        const sends = textSends(5, 2, 4); // each send is past maxBytes
        for (const send of sends) expect(await sink.send(send, never())).toEqual({ result: 'ok' });
        await sink.close();
        expect(sink.stats.rotations).toBe(0);
        expect(statSync(fifo).isFIFO()).toBe(true);
        expect(existsSync(`${fifo}.1`)).toBe(false);
        const want = concat(sends);
        const until = Date.now() + 10_000;
        while (Buffer.concat(chunks).length < want.length && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
        expectSameBytes(Buffer.concat(chunks), want);
      } finally {
        reader.destroy();
      }
    });
  });

  describe('writing now (writeNow)', () => {
    const line = (text: string): Buffer => Buffer.from(`${text}\n`);

    it('writes the message before it returns, after the sends before it, once the file is open', async () => {
      const sink = new FileSink({ path, maxBytes: 1 << 20 });
      expect(sink.writeNow(line('before open'))).toBeNull(); // opening is a send's work
      expect(await sink.send([line('a')], never())).toEqual({ result: 'ok' });
      expect(sink.writeNow(line('b'))).toEqual({ result: 'ok' });
      expect(readFileSync(path, 'utf8')).toBe('a\nb\n'); // no await in between
      expect(await sink.send([line('c')], never())).toEqual({ result: 'ok' });
      expect(sink.writeNow(line('d'))).toEqual({ result: 'ok' });
      expect(sink.stats.bytesWritten).toBe(8);
      await sink.close();
      expect(readFileSync(path, 'utf8')).toBe('a\nb\nc\nd\n');
    });

    it('answers null while a send holds or waits for its turn, so nothing overtakes it', async () => {
      const gate = new Gate();
      const sink = new FileSink({ path, maxBytes: 1 << 20, fs: hookedFs({}, gate) });
      expect(await sink.send([line('first')], never())).toEqual({ result: 'ok' });
      const open = gate.shut();
      const held = sink.send([line('held')], never());
      const waiting = sink.send([line('waiting')], never());
      expect(sink.writeNow(line('now'))).toBeNull();
      open();
      expect(await held).toEqual({ result: 'ok' });
      expect(sink.writeNow(line('now'))).toBeNull(); // `waiting` still has its turn to take
      expect(await waiting).toEqual({ result: 'ok' });
      expect(sink.writeNow(line('now'))).toEqual({ result: 'ok' });
      await sink.close();
      expect(readFileSync(path, 'utf8')).toBe('first\nheld\nwaiting\nnow\n');
    });

    it('leaves a rotation to the next send, and answers null once closed', async () => {
      const sink = new FileSink({ path, maxBytes: 10, maxFiles: 3 });
      expect(await sink.send([line('1234567')], never())).toEqual({ result: 'ok' });
      expect(sink.writeNow(line('xyz'))).toBeNull(); // 8 + 4 > 10
      expect(sink.writeNow(line('x'))).toEqual({ result: 'ok' }); // 8 + 2 = 10
      expect(await sink.send([line('xyz')], never())).toEqual({ result: 'ok' });
      expect(sink.stats.rotations).toBe(1);
      expect(sink.writeNow(line('w'))).toEqual({ result: 'ok' });
      await sink.close();
      expect(sink.writeNow(line('late'))).toBeNull();
      expect(readFileSync(`${path}.1`, 'utf8')).toBe('1234567\nx\n');
      expect(readFileSync(path, 'utf8')).toBe('xyz\nw\n');
    });

    it.skipIf(!existsSync('/dev/full'))('answers retry with ENOSPC, naming the path, when the write fails (a full disk), and leaves the reopen to a send', async () => {
      const sink = new FileSink({ path: '/dev/full', maxBytes: 1 << 20 });
      const outcome = await sink.send([line('a')], never());
      expect(outcome).toMatchObject({ result: 'retry', code: 'ENOSPC' });
      expect(outcome.result === 'retry' ? outcome.reason : '').toMatch(/^write \/dev\/full: ENOSPC/);
      // The failed file was closed: writing now would need an open first, which is a send's work.
      expect(sink.writeNow(line('b'))).toBeNull();
      expect(await sink.send([line('c')], never())).toMatchObject({ result: 'retry', code: 'ENOSPC' });
      expect(sink.stats).toEqual({ rotations: 0, bytesWritten: 0, reopens: 1 });
      await sink.close();
    });

    // A write cut short by the kernel: under a file-size limit (RLIMIT_FSIZE, `ulimit -f`),
    // write(2) writes up to the limit and the next one fails with EFBIG. Run in a child process
    // (the limit is per process), on the compiled sink (npm test builds first).
    it.runIf(process.platform === 'linux')('truncates a message written in part, so the file holds whole messages only', async () => {
      const url = new URL('../../dist/src/sink/file.js', import.meta.url).href;
      const script = `
        process.on('SIGXFSZ', () => {}); // the limit's signal: caught, so write(2) answers EFBIG
        const { FileSink } = await import(${JSON.stringify(url)});
        const sink = new FileSink({ path: ${JSON.stringify(path)}, maxBytes: 1 << 20 });
        const sent = await sink.send([Buffer.alloc(3000, 'a')], new AbortController().signal);
        const cut = sink.writeNow(Buffer.alloc(3000, 'b')); // 1096 bytes fit under 4096
        const after = await sink.send([Buffer.alloc(500, 'c')], new AbortController().signal); // opens the file again
        const bytesWritten = sink.stats.bytesWritten;
        await sink.close();
        process.stdout.write(JSON.stringify({ sent, cut, after, bytesWritten }));`;
      const child = spawnSync('bash', ['-c', 'ulimit -f 4 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
      expect(child.stderr).toBe('');
      const got = JSON.parse(child.stdout) as Record<string, { result: string; reason?: string } | number>;
      expect(got.sent).toEqual({ result: 'ok' });
      expect(got.cut).toMatchObject({ result: 'reject', code: 'EFBIG' }); // it will not pass by retrying
      expect((got.cut as { reason: string }).reason).toMatch(/^write .*out\.ndjson: EFBIG/);
      expect(got.after).toEqual({ result: 'ok' });
      expect(got.bytesWritten).toBe(3500);
      expect(readFileSync(path, 'latin1')).toBe(`${'a'.repeat(3000)}${'c'.repeat(500)}`);
    });
  });
});

describe('createSink for output.file, by the number of workers', () => {
  const file = (path: string) => ({ file: { path, maxBytes: 100 } });
  const cases: { input: [string, { workerIndex?: number; workers?: number }]; want: string }[] = [
    { input: ['/var/log/out.ndjson', { workerIndex: 0, workers: 1 }], want: '/var/log/out.ndjson' },
    { input: ['/var/log/out.ndjson', {}], want: '/var/log/out.ndjson' },
    { input: ['/var/log/out.ndjson', { workerIndex: 0, workers: 2 }], want: '/var/log/out.w0.ndjson' },
    { input: ['/var/log/out.ndjson', { workerIndex: 1, workers: 2 }], want: '/var/log/out.w1.ndjson' },
    // A caller that does not say how many workers there are gets one file per worker: two
    // writers of one file would break its rotation.
    { input: ['/var/log/out.ndjson', { workerIndex: 0 }], want: '/var/log/out.w0.ndjson' },
    // A device is written as it is, by every worker.
    { input: ['/dev/null', { workerIndex: 1, workers: 2 }], want: '/dev/null' },
  ];
  for (const { input, want } of cases) {
    it(`writes ${want} for ${input[0]} with ${JSON.stringify(input[1])}`, async () => {
      const sink = createSink(file(input[0]), input[1]);
      expect((sink as FileSink).path).toBe(want);
      await sink.close();
    });
  }
});
