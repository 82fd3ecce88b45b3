// SPDX-License-Identifier: Apache-2.0
/**
 * File operations for the file sink's tests: the real `node:fs/promises` underneath, with hooks
 * that can stall, fail or shorten an operation (root ignores permission bits, so faults such as
 * EACCES and ENOSPC are injected here rather than provoked).
 */
import * as fsp from 'node:fs/promises';
import type { FileIdentity, FileLike, FileOps, FileStat } from '../../src/sink/index.js';

/** An error shaped like Node's system errors: `CODE: text, syscall 'path'`. */
export function sysError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: injected, ${syscall} '${path}'`);
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** A gate writes wait at while it is shut. */
export class Gate {
  #shut = false;
  #waiters: (() => void)[] = [];

  /** Shuts the gate; the returned function opens it. */
  shut(): () => void {
    this.#shut = true;
    return () => {
      this.#shut = false;
      for (const w of this.#waiters.splice(0)) w();
    };
  }

  async pass(): Promise<void> {
    if (this.#shut) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
}

export interface Hooks {
  open?(path: string): void | Promise<void>;
  rename?(from: string, to: string): void | Promise<void>;
  /** Throw to fail the check of what the path names. */
  identify?(path: string): void | Promise<void>;
  /** Throw to fail the write; return a byte count to write only that many bytes. */
  write?(buffers: readonly Uint8Array[]): number | undefined | Promise<number | undefined>;
  truncate?(length: number): void | Promise<void>;
  datasync?(): void | Promise<void>;
}

export interface HookedFs extends FileOps {
  /** The operations made, in order: `open`, `rename a b`, `write 3`, `writev 2`, `truncate 10`, … */
  readonly calls: string[];
}

export function hookedFs(hooks: Hooks, gate?: Gate): HookedFs {
  const calls: string[] = [];
  return {
    calls,
    async open(path, flags) {
      calls.push(`open ${path}`);
      await hooks.open?.(path);
      return new HookedHandle(await fsp.open(path, flags), hooks, calls, gate);
    },
    async exists(path) {
      try {
        await fsp.lstat(path);
        return true;
      } catch {
        return false;
      }
    },
    async rename(from, to) {
      calls.push(`rename ${from} ${to}`);
      await hooks.rename?.(from, to);
      await fsp.rename(from, to);
    },
    // Not recorded in `calls`: how often it runs depends on the clock.
    async identify(path): Promise<FileIdentity | null> {
      await hooks.identify?.(path);
      try {
        const st = await fsp.stat(path);
        return { dev: st.dev, ino: st.ino };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    },
  };
}

class HookedHandle implements FileLike {
  readonly #inner: fsp.FileHandle;
  readonly #hooks: Hooks;
  readonly #calls: string[];
  readonly #gate: Gate | undefined;

  constructor(inner: fsp.FileHandle, hooks: Hooks, calls: string[], gate: Gate | undefined) {
    this.#inner = inner;
    this.#hooks = hooks;
    this.#calls = calls;
    this.#gate = gate;
  }

  /** The real descriptor: `writeNow` writes to it directly, past the hooks. */
  get fd(): number {
    return this.#inner.fd;
  }

  stat(): Promise<FileStat> {
    return this.#inner.stat();
  }

  write(buffer: Uint8Array): Promise<{ bytesWritten: number }> {
    this.#calls.push('write 1');
    return this.#write([buffer]);
  }

  writev(buffers: Uint8Array[]): Promise<{ bytesWritten: number }> {
    this.#calls.push(`writev ${buffers.length}`);
    return this.#write(buffers);
  }

  async #write(buffers: Uint8Array[]): Promise<{ bytesWritten: number }> {
    await this.#gate?.pass();
    const limit = await this.#hooks.write?.(buffers);
    if (limit !== undefined) return this.#inner.write(Buffer.concat(buffers).subarray(0, limit));
    return buffers.length === 1 ? this.#inner.write(buffers[0] as Uint8Array) : this.#inner.writev(buffers);
  }

  async truncate(length: number): Promise<void> {
    this.#calls.push(`truncate ${length}`);
    await this.#hooks.truncate?.(length);
    await this.#inner.truncate(length);
  }

  async datasync(): Promise<void> {
    this.#calls.push('datasync');
    await this.#hooks.datasync?.();
    await this.#inner.datasync();
  }

  close(): Promise<void> {
    this.#calls.push('close');
    return this.#inner.close();
  }
}
