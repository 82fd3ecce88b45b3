// SPDX-License-Identifier: Apache-2.0
/**
 * Synchronous, streaming inflate of a scrape body, on the calling thread, into a reused output
 * buffer.
 *
 * Node's public zlib offers streaming (a `Gunzip` stream, which crosses to the libuv thread pool
 * and back for every 64 KiB of output: two thread wake-ups each time, which on a virtual machine
 * cost more than the inflating) or synchronous (`gunzipSync`, one call for a whole body, which
 * allocates a body-sized buffer per scrape and parses it cold from memory). This drives the
 * native zlib handle that both of them drive, `handle.writeSync(flush, in, inOff, inLen, out,
 * outOff, outLen)` with the counts left in `_writeState` (as `zlib.gunzipSync` does), chunk by
 * chunk as the body arrives, writing into one 64 KiB buffer per thread that stays in cache.
 *
 * Those two members, and the handle's `reset()` (which `Inflate#reset` calls) that lets an
 * `InflaterPool` keep a handle for the next body, are Node internals, stable since Node 10 and
 * used the same way by npm's `minizlib`; the pool checks for them and returns undefined when
 * they are missing, and the scraper then falls back to the public streaming
 * `Gunzip`.
 *
 * Multi-member gzip and trailing bytes after the last member behave as in Node's `Gunzip` (the
 * native handle resets itself on a following gzip header and ignores anything else); a body
 * that ends before its stream does fails in `end()` with zlib's "unexpected end of file".
 */
import zlib from 'node:zlib';

/** How a body is compressed on the wire. */
export type Compression = 'gzip' | 'deflate';

/** The native zlib handle's synchronous interface (`node:zlib` internals). */
interface NativeZlib {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  /** `inflateReset` (what `zlib.Inflate#reset` calls). */
  reset(): void;
  onerror: (message: string, errno: number, code?: string) => void;
}

interface ZlibInternals {
  _handle?: NativeZlib | null;
  _writeState?: Uint32Array;
}

const EMPTY = Buffer.alloc(0);
const { Z_NO_FLUSH, Z_FINISH } = zlib.constants;

/** Size of each thread's inflate output buffer: one piece handed to the consumer at a time. */
export const INFLATE_OUTPUT_BYTES = 64 * 1024;

/** An error of the compressed data (not of the caller): zlib's message and code. */
export class InflateError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | undefined) {
    super(message);
    this.name = 'InflateError';
    this.code = code;
  }
}

/**
 * One body's inflater. `write` inflates a chunk as it arrives and hands each piece of output
 * to `emit`, a view of the shared output buffer that is valid only during that call; `end`
 * checks that the stream was complete. Throws an `InflateError` on corrupt data, and whatever
 * `emit` throws (which is how a caller stops at a limit).
 */
export class Inflater {
  readonly #zlib: ZlibHandle;
  readonly #handle: NativeZlib;
  readonly #state: Uint32Array;
  readonly #out: Buffer;
  readonly #pool: InflaterPool | undefined;
  #error: InflateError | undefined;
  #closed = false;

  /** Use `InflaterPool#take`. */
  constructor(zlibHandle: ZlibHandle, out: Buffer, pool?: InflaterPool) {
    this.#zlib = zlibHandle;
    this.#handle = zlibHandle.handle;
    this.#state = zlibHandle.state;
    this.#out = out;
    this.#pool = pool;
    // Errors arrive through this callback, synchronously inside writeSync.
    this.#handle.onerror = (message, _errno, code) => {
      this.#error ??= new InflateError(message, code);
    };
  }

  /**
   * Inflates `input`, stopping once `budget` bytes of output have been emitted (a chunk of a
   * gzip bomb would otherwise inflate to a thousand times its size in one call). Returns
   * undefined when all of `input` was taken and all its output emitted; otherwise the input not
   * yet taken (possibly empty: output is still pending), to be written again later.
   */
  write(input: Uint8Array, emit: (piece: Buffer) => void, budget = Infinity): Uint8Array | undefined {
    return this.#run(input, Z_NO_FLUSH, emit, budget);
  }

  /**
   * The body is complete: fails if the compressed stream is not. Then the zlib handle goes back
   * to its pool, reset, if the stream ended cleanly; otherwise its memory is released.
   */
  end(emit: (piece: Buffer) => void): void {
    try {
      this.#run(EMPTY, Z_FINISH, emit, Infinity);
    } catch (e) {
      this.close();
      throw e;
    }
    this.#closed = true;
    if (this.#pool === undefined || !this.#pool.give(this.#zlib)) this.#zlib.stream.close();
  }

  /** Releases zlib's memory (idempotent; nothing after `end`); the inflater cannot be used after. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#zlib.stream.close();
  }

  #run(input: Uint8Array, flush: number, emit: (piece: Buffer) => void, budget: number): Uint8Array | undefined {
    if (this.#closed) throw new Error('inflater used after close');
    const out = this.#out;
    const state = this.#state;
    let inOff = 0;
    let inLen = input.length;
    let emitted = 0;
    for (;;) {
      this.#handle.writeSync(flush, input, inOff, inLen, out, 0, out.length);
      if (this.#error !== undefined) throw this.#error;
      const availOut = state[0] as number;
      const availIn = state[1] as number;
      const have = out.length - availOut;
      if (have > 0) emit(out.subarray(0, have));
      emitted += have;
      inOff += inLen - availIn;
      inLen = availIn;
      // Room left in the output means zlib took all the input it could.
      if (availOut !== 0) return undefined;
      if (emitted >= budget) return input.subarray(inOff);
    }
  }
}

/** A zlib stream and the internals the synchronous inflater drives. */
interface ZlibHandle {
  readonly compression: Compression;
  readonly stream: zlib.Gunzip | zlib.Inflate;
  readonly handle: NativeZlib;
  readonly state: Uint32Array;
}

function openZlib(compression: Compression): ZlibHandle | undefined {
  const stream = compression === 'gzip' ? zlib.createGunzip() : zlib.createInflate();
  const internals = stream as unknown as ZlibInternals;
  const handle = internals._handle;
  const state = internals._writeState;
  if (handle == null || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array) || state.length < 2) {
    stream.close();
    return undefined;
  }
  return { compression, stream, handle, state };
}

/**
 * Inflaters writing into one output buffer, whose zlib handles are kept for the next body once
 * one has ended cleanly (reset: `inflateReset` keeps zlib's state and window). A handle per body
 * was ~30 µs to make and ~50 KB of memory to allocate and free per scrape, whose JavaScript side
 * (the stream, its 16 KiB output buffer) lived long enough to be promoted and die in the old
 * generation. At most `max` idle handles of each compression are kept (0: none, every handle is
 * closed at the end of its body).
 */
export class InflaterPool {
  readonly out: Buffer;
  readonly #max: number;
  readonly #idle: Record<Compression, ZlibHandle[]> = { gzip: [], deflate: [] };
  #closed = false;

  constructor(out: Buffer, max = 2) {
    this.out = out;
    this.#max = max;
  }

  /** An inflater for one body, or undefined when this Node's zlib lacks the internals. */
  take(compression: Compression): Inflater | undefined {
    const z = this.#idle[compression].pop() ?? openZlib(compression);
    return z === undefined ? undefined : new Inflater(z, this.out, this);
  }

  /** Idle handles kept, by compression (diagnostics and tests). */
  get idle(): Readonly<Record<Compression, number>> {
    return { gzip: this.#idle.gzip.length, deflate: this.#idle.deflate.length };
  }

  /** Takes back a handle whose stream ended cleanly; false when it is not kept. */
  give(z: ZlibHandle): boolean {
    const idle = this.#idle[z.compression];
    if (this.#closed || idle.length >= this.#max) return false;
    try {
      z.handle.reset();
    } catch {
      return false;
    }
    idle.push(z);
    return true;
  }

  /** Releases the idle handles' memory. */
  close(): void {
    this.#closed = true;
    for (const list of Object.values(this.#idle)) for (const z of list.splice(0)) z.stream.close();
  }
}
