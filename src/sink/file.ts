// SPDX-License-Identifier: Apache-2.0
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
 * - A path that names something other than a regular file (a character device such as
 *   `/dev/full` or `/dev/null`, a FIFO, `/dev/stdout`) is written as it is: never rotated, never
 *   truncated, its size not counted against `maxBytes`.
 * - The open file is the one `path` names: at most once every `CHECK_PATH_MS`, and never per
 *   message, a send compares the `stat` of `path` (device and inode) with the open file's; when
 *   the path is gone or names another file (moved or deleted by an operator or a log rotator),
 *   the sink closes its file and opens `path` anew, so it never writes on to a deleted inode.
 *   `writeNow` leaves a due check to the next send (it answers `null`).
 *
 * The signal: an abort while a send waits for its turn writes nothing and answers `retry`
 * (`ABORTED`); once its write has started, a send runs to completion (file writes cannot be
 * cancelled) and answers as it ends.
 *
 * Recovery: an error answers `retry` when it may pass (ENOSPC, EDQUOT, EIO, EMFILE, EAGAIN,
 * … and any code not known to be permanent) and `reject` when it will not (EACCES, EPERM,
 * EROFS, ENOENT, ENOTDIR, EISDIR, EFBIG, …); the reason names the operation, the path and the
 * error, and `code` carries the errno (`ENOSPC`, `EACCES`, …) for a metric label. A write to a
 * regular file that fails part way is truncated back to where the send started, so a retry does
 * not leave half a message in the file. After any failed write, open, rotation or truncation
 * the file is closed and opened again (by path) on the next send, which also checks the path
 * first: a full disk that gets space again, or an output file an operator deleted to free it,
 * is written again without a restart. `flush()` calls `fdatasync`; `close()` waits for the sends
 * in progress and closes the file.
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

/** Which file a path or a descriptor names: its device and inode numbers. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** What the sink reads of an open file (a subset of `fs.Stats`). */
export interface FileStat extends FileIdentity {
  readonly size: number;
  /** A regular file; false for a character device, a FIFO, a socket. */
  isFile(): boolean;
}

/** The file operations the sink uses: `node:fs/promises` by default; tests inject faults. */
export interface FileOps {
  open(path: string, flags: 'a'): Promise<FileLike>;
  rename(from: string, to: string): Promise<void>;
  /** Whether `path` exists (an error other than ENOENT is thrown). */
  exists(path: string): Promise<boolean>;
  /** What `path` names now (`stat`, following links), or null when nothing does (ENOENT, ENOTDIR). */
  identify(path: string): Promise<FileIdentity | null>;
}

/** The part of `fs.promises.FileHandle` the sink uses. */
export interface FileLike {
  /** The descriptor, for `writeNow`; a file without one is written only by `send`. */
  readonly fd?: number;
  stat(): Promise<FileStat>;
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

/** How often at most a send checks that `path` still names the open file. */
export const CHECK_PATH_MS = 1000;

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
  identify: (path) =>
    fsp.stat(path).then(
      (st) => ({ dev: st.dev, ino: st.ino }),
      (err: unknown) => {
        const code = errorCode(err);
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
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
  /** The open file's device and inode, to compare with what `path` names. */
  #identity: FileIdentity | null = null;
  /** The open file is a regular file (else it is never rotated or truncated). */
  #regular = true;
  /** When `path` was last compared with the open file (`performance.now()`). */
  #checkedAt = 0;
  #closed = false;
  #closing: Promise<void> | null = null;
  /** Sends waiting for or holding their turn: `writeNow` writes only at 0, keeping call order. */
  #busy = 0;
  #rotations = 0;
  #reopens = 0;
  /** A file was opened once already: the next open is a reopen (rotations aside). */
  #opened = false;
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

  /**
   * Since the sink was made: rotations done, bytes written, and reopens (the file opened again
   * after a failure, or because `path` no longer named it).
   */
  get stats(): { readonly rotations: number; readonly bytesWritten: number; readonly reopens: number } {
    return { rotations: this.#rotations, bytesWritten: this.#bytesWritten, reopens: this.#reopens };
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
   * Writes `message` with `writeSync` when the file is open, no rotation or path check is due
   * and no send is in progress or waiting (nor the sink closed); else `null`. A failed write is
   * truncated away, the file is closed (the next send opens it again), and it answers as `send`
   * would.
   */
  writeNow(message: Uint8Array): SendOutcome | null {
    const handle = this.#handle;
    const total = message.byteLength;
    if (this.#closed || this.#busy > 0 || handle === null || handle.fd === undefined) return null;
    if (this.#rotationDue(total) || performance.now() - this.#checkedAt >= CHECK_PATH_MS) return null;
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
      if (written > 0 && this.#regular) {
        try {
          ftruncateSync(fd, start);
        } catch {
          // The file is closed below and opened again by the next send.
        }
      }
      this.#forget(handle);
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

  /** Opens (or reopens, or rotates) as needed and writes the whole send, or nothing of it. */
  async #append(messages: readonly Uint8Array[], total: number): Promise<void> {
    if (this.#handle !== null && performance.now() - this.#checkedAt >= CHECK_PATH_MS) await this.#checkPath();
    if (this.#handle === null) await this.#open();
    if (this.#rotationDue(total)) await this.#rotate();
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
      if (written > 0 && this.#regular) await handle.truncate(start).catch(() => undefined);
      this.#forget(handle);
      throw new StepError(`write ${this.path}`, err);
    }
    this.#size = start + total;
    this.#bytesWritten += total;
  }

  /** A rotation is due before writing `total` more bytes (never for a device or a FIFO). */
  #rotationDue(total: number): boolean {
    return this.#regular && this.#size > 0 && this.#size + total > this.maxBytes;
  }

  /** Closes `handle` (in the background) after a failure; the next send opens `path` again. */
  #forget(handle: FileLike): void {
    if (this.#handle === handle) this.#handle = null;
    this.#identity = null;
    handle.close().catch(() => undefined);
  }

  /**
   * Closes the open file when `path` no longer names it (deleted, or moved and perhaps
   * replaced); the caller then opens `path` again. A path that cannot be checked (say, a
   * directory without search permission) leaves the open file as it is.
   */
  async #checkPath(): Promise<void> {
    this.#checkedAt = performance.now();
    const handle = this.#handle;
    const open = this.#identity;
    if (handle === null || open === null) return;
    let now: FileIdentity | null;
    try {
      now = await this.#fs.identify(this.path);
    } catch {
      return;
    }
    if (now !== null && now.dev === open.dev && now.ino === open.ino) return;
    this.#handle = null;
    this.#identity = null;
    await handle.close().catch(() => undefined);
  }

  async #open(): Promise<void> {
    let handle: FileLike;
    try {
      handle = await this.#fs.open(this.path, 'a');
    } catch (err) {
      throw new StepError(`open ${this.path}`, err);
    }
    let st: FileStat;
    try {
      st = await handle.stat();
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw new StepError(`stat ${this.path}`, err);
    }
    if (this.#opened) this.#reopens++;
    this.#opened = true;
    this.#regular = st.isFile();
    this.#size = this.#regular ? st.size : 0;
    this.#identity = { dev: st.dev, ino: st.ino };
    this.#checkedAt = performance.now();
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
    this.#opened = false; // a rotation's new file is not a reopen
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
    // An errno is a short upper-case word; anything else is not passed on as a label.
    const label = code !== undefined && /^E[A-Z0-9]{1,15}$/.test(code) ? code : 'error';
    return code !== undefined && PERMANENT.has(code) ? reject(reason, label) : retry(reason, undefined, label);
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
