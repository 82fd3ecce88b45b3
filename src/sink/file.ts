/**
 * The file sink: appends each send to `path`, rotating by size.
 *
 * Format: the messages' bytes, as the encoder framed them, back to back; nothing is added.
 *
 * Invariants:
 * - A send is one write (the lone message with `write`, several with `writev`, so nothing is
 *   copied) and lands whole in one file: messages are never split across files. Sends are
 *   serialised (a FIFO lock), so concurrent sends land whole and in call order.
 * - `writeNow` writes one message with `writeSync` (on the caller's thread, no copy) only when
 *   no send is in progress or waiting, so it keeps the same order; it never opens or rotates
 *   (it answers `null` and the caller sends instead).
 * - Before a send that would take a non-empty file past `maxBytes`, the file is rotated:
 *   `path.{maxFiles-1}` → `path.{maxFiles}` (replacing the oldest), …, `path.1` → `path.2`,
 *   `path` → `path.1`, and a new `path` is opened with flag `'a'`. Only the rotated files that
 *   exist are shifted (`.1` up to the first missing one), so a large `maxFiles` costs nothing
 *   until the files are there. A file is larger than
 *   `maxBytes` only when it holds a single send larger than `maxBytes`, alone. Rotated files
 *   beyond `maxFiles` are deleted by that rename: that is the retention the setting asks for.
 * - The sink assumes it is the only writer of `path`; the size of an existing file is read
 *   when it is opened (the file is opened on the first send, and again after an error).
 *
 * The signal: an abort while a send waits for its turn writes nothing and answers `retry`
 * (`ABORTED`); once its write has started, a send runs to completion (file writes cannot be
 * cancelled) and answers as it ends.
 *
 * Recovery: an error answers `retry` when it may pass (ENOSPC, EDQUOT, EIO, EMFILE, EAGAIN,
 * … and any code not known to be permanent) and `reject` when it will not (EACCES, EPERM,
 * EROFS, ENOENT, ENOTDIR, EISDIR, EFBIG, …); the reason names the operation, the path and the
 * error. A write that fails part way is truncated back to where the send started, so a retry
 * does not leave half a message in the file. After a failed open, rotation or truncation the
 * file is closed and reopened on the next send. `flush()` calls `fdatasync`; `close()` waits
 * for the sends in progress and closes the file.
 */
import { ftruncateSync, writeSync } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { ConfigError } from '../errors.js';
import { Serial } from './serial.js';
import {
  ABORTED,
  byteLength,
  describeError,
  errorCode,
  OK,
  reject,
  retry,
  type SendOutcome,
  type Sink,
  SinkError,
} from './sink.js';

/** The file operations the sink uses: `node:fs/promises` by default; tests inject faults. */
export interface FileOps {
  open(path: string, flags: 'a'): Promise<FileLike>;
  rename(from: string, to: string): Promise<void>;
  /** Whether `path` exists (an error other than ENOENT is thrown). */
  exists(path: string): Promise<boolean>;
}

/** The part of `fs.promises.FileHandle` the sink uses. */
export interface FileLike {
  /** The descriptor, for `writeNow`; a file without one is written only by `send`. */
  readonly fd?: number;
  stat(): Promise<{ readonly size: number }>;
  write(buffer: Uint8Array): Promise<{ readonly bytesWritten: number }>;
  writev(buffers: Uint8Array[]): Promise<{ readonly bytesWritten: number }>;
  truncate(length: number): Promise<void>;
  datasync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileSinkOptions {
  /** The file to append to; rotated files are `path.1` (newest) … `path.{maxFiles}`. */
  readonly path: string;
  /** Rotate before a send that would take the file past this many bytes; ≥ 1. */
  readonly maxBytes: number;
  /** Rotated files kept; ≥ 1. */
  readonly maxFiles?: number;
  /** File operations; `node:fs/promises` by default. */
  readonly fs?: FileOps;
}

export const FILE_DEFAULT_MAX_FILES = 5;

/** Error codes that will not pass by trying again: the send is rejected. */
const PERMANENT = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOENT',
  'ENOTDIR',
  'EISDIR',
  'ENAMETOOLONG',
  'ELOOP',
  'EFBIG',
  'EINVAL',
  'EBADF',
  'EEXIST',
  'ENXIO',
]);

const nodeFs: FileOps = {
  open: (path, flags) => fsp.open(path, flags),
  rename: (from, to) => fsp.rename(from, to),
  exists: (path) =>
    fsp.lstat(path).then(
      () => true,
      (err: unknown) => {
        if (errorCode(err) === 'ENOENT') return false;
        throw err;
      },
    ),
};

/** An error and the operation that failed, paths included (`open /var/log/strata.log`). */
class StepError extends Error {
  readonly what: string;
  readonly error: unknown;

  constructor(what: string, error: unknown) {
    super(what);
    this.what = what;
    this.error = error;
  }
}

export class FileSink implements Sink {
  readonly kind = 'file';
  readonly path: string;
  readonly maxBytes: number;
  readonly maxFiles: number;
  readonly #fs: FileOps;
  readonly #serial = new Serial();
  #handle: FileLike | null = null;
  /** Bytes in the open file. */
  #size = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Sends waiting for or holding their turn: `writeNow` writes only at 0, keeping call order. */
  #busy = 0;
  #rotations = 0;
  #bytesWritten = 0;

  constructor(options: FileSinkOptions) {
    if (typeof options.path !== 'string' || options.path.length === 0) {
      throw new ConfigError('output.file.path', 'must be a non-empty path');
    }
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 1) {
      throw new ConfigError('output.file.maxBytes', `must be an integer ≥ 1; got ${String(options.maxBytes)}`);
    }
    const maxFiles = options.maxFiles ?? FILE_DEFAULT_MAX_FILES;
    if (!Number.isSafeInteger(maxFiles) || maxFiles < 1) {
      throw new ConfigError('output.file.maxFiles', `must be an integer ≥ 1; got ${String(maxFiles)}`);
    }
    this.path = options.path;
    this.maxBytes = options.maxBytes;
    this.maxFiles = maxFiles;
    this.#fs = options.fs ?? nodeFs;
  }

  /** Rotations done and bytes written since the sink was made. */
  get stats(): { readonly rotations: number; readonly bytesWritten: number } {
    return { rotations: this.#rotations, bytesWritten: this.#bytesWritten };
  }

  async send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (this.#closed) return reject(`the file sink for ${this.path} is closed`);
    if (signal.aborted) return retry(ABORTED);
    const total = byteLength(messages);
    if (total === 0) return OK;
    this.#busy++;
    try {
      const release = await this.#serial.acquire(signal);
      if (release === null) return retry(ABORTED);
      try {
        await this.#append(messages, total);
        return OK;
      } catch (err) {
        return this.#outcome(err);
      } finally {
        release();
      }
    } finally {
      this.#busy--;
    }
  }

  /**
   * Writes `message` with `writeSync` when the file is open, no rotation is due and no send is
   * in progress or waiting (nor the sink closed); else `null`. A failed write is truncated away
   * and answers as `send` would.
   */
  writeNow(message: Uint8Array): SendOutcome | null {
    const handle = this.#handle;
    const total = message.byteLength;
    if (this.#closed || this.#busy > 0 || handle === null || handle.fd === undefined) return null;
    if (this.#size > 0 && this.#size + total > this.maxBytes) return null;
    const fd = handle.fd;
    const start = this.#size;
    let written = 0;
    try {
      while (written < total) {
        const n = writeSync(fd, message, written, total - written);
        if (!(n > 0)) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        written += n;
      }
    } catch (err) {
      if (written > 0) {
        try {
          ftruncateSync(fd, start);
        } catch {
          // The next send opens the file again.
          this.#handle = null;
          handle.close().catch(() => undefined);
        }
      }
      return this.#outcome(new StepError(`write ${this.path}`, err));
    }
    this.#size = start + total;
    this.#bytesWritten += total;
    return OK;
  }

  async flush(signal: AbortSignal): Promise<void> {
    const release = await this.#serial.acquire(signal);
    if (release === null) throw signal.reason;
    try {
      if (this.#handle !== null) await this.#handle.datasync();
    } catch (err) {
      throw new SinkError(this.kind, `fdatasync ${this.path}: ${describeError(err)}`, false, { cause: err });
    } finally {
      release();
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const release = await this.#serial.acquire();
    try {
      const handle = this.#handle;
      this.#handle = null;
      if (handle !== null) await handle.close();
    } catch (err) {
      throw new SinkError(this.kind, `close ${this.path}: ${describeError(err)}`, false, { cause: err });
    } finally {
      release?.();
    }
  }

  /** Opens (or rotates) as needed and writes the whole send, or nothing of it. */
  async #append(messages: readonly Uint8Array[], total: number): Promise<void> {
    if (this.#handle === null) await this.#open();
    if (this.#size > 0 && this.#size + total > this.maxBytes) await this.#rotate();
    const handle = this.#handle as FileLike;
    const start = this.#size;
    let written = 0;
    try {
      while (written < total) {
        const rest = written === 0 ? messages : after(messages, written);
        const { bytesWritten } =
          rest.length === 1 ? await handle.write(rest[0] as Uint8Array) : await handle.writev(rest as Uint8Array[]);
        if (!(bytesWritten > 0)) throw Object.assign(new Error('the write made no progress'), { code: 'EIO' });
        written += bytesWritten;
      }
    } catch (err) {
      if (written > 0) await this.#undo(handle, start);
      throw new StepError(`write ${this.path}`, err);
    }
    this.#size = start + total;
    this.#bytesWritten += total;
  }

  /** Truncates a partly written send away; when that fails, the file is reopened next time. */
  async #undo(handle: FileLike, start: number): Promise<void> {
    try {
      await handle.truncate(start);
    } catch {
      this.#handle = null;
      await handle.close().catch(() => undefined);
    }
  }

  async #open(): Promise<void> {
    let handle: FileLike;
    try {
      handle = await this.#fs.open(this.path, 'a');
    } catch (err) {
      throw new StepError(`open ${this.path}`, err);
    }
    try {
      this.#size = (await handle.stat()).size;
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new StepError(`stat ${this.path}`, err);
    }
    this.#handle = handle;
  }

  async #rotate(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    try {
      await handle?.close();
    } catch (err) {
      throw new StepError(`close ${this.path}`, err);
    }
    // Rotated files are `.1` … `.k` with no gap; shift only those (the last may replace `.maxFiles`).
    let k = 0;
    try {
      while (k < this.maxFiles - 1 && (await this.#fs.exists(`${this.path}.${k + 1}`))) k++;
    } catch (err) {
      throw new StepError(`stat ${this.path}.${k + 1}`, err);
    }
    for (let i = k; i >= 1; i--) await this.#renameIfThere(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    await this.#renameIfThere(this.path, `${this.path}.1`);
    this.#rotations++;
    await this.#open();
  }

  async #renameIfThere(from: string, to: string): Promise<void> {
    try {
      await this.#fs.rename(from, to);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return;
      throw new StepError(`rename ${from} to ${to}`, err);
    }
  }

  #outcome(err: unknown): SendOutcome {
    const what = err instanceof StepError ? err.what : `write ${this.path}`;
    const cause = err instanceof StepError ? err.error : err;
    const code = errorCode(cause);
    const reason = `${what}: ${describeError(cause)}`;
    return code !== undefined && PERMANENT.has(code) ? reject(reason) : retry(reason);
  }
}

/** The messages after the first `skip` bytes. */
function after(messages: readonly Uint8Array[], skip: number): Uint8Array[] {
  const rest: Uint8Array[] = [];
  let left = skip;
  for (const m of messages) {
    if (left >= m.byteLength) {
      left -= m.byteLength;
      continue;
    }
    rest.push(left > 0 ? m.subarray(left) : m);
    left = 0;
  }
  return rest;
}
