// SPDX-License-Identifier: Apache-2.0
/**
 * Snappy block compression (the raw block format, not the framed stream), as Prometheus remote
 * write requires: `Content-Encoding: snappy` is one block, read with Go's `snappy.Decode`.
 *
 * Format (github.com/google/snappy/format_description.txt): the uncompressed length as a
 * varint, then elements: a literal (tag `00`, its length - 1 in the tag's upper six bits, or in
 * the 1–4 bytes after it when ≥ 60) followed by its bytes, or a copy of earlier output (tag `01`:
 * length 4–11 and an 11-bit offset; tag `10`: length 1–64 and a 16-bit offset).
 *
 * The compressor follows Go's `encodeBlock`: the input is cut into 64 KiB fragments compressed
 * one after the other (a copy never reaches back across a fragment), each with a hash table of
 * 4-byte sequences sized to the fragment (at most 2^14 entries) and the same skipping heuristic
 * over incompressible bytes. Any output it makes is valid for every decoder; how well it
 * compresses is a heuristic.
 *
 * Why hand-written rather than `snappyjs`: this one writes into a scratch buffer the caller
 * keeps (no output array per call, no copy of the result), hashes with `Math.imul` (snappyjs
 * multiplies in floating point, which spreads keys poorly), and copies literals with
 * `Uint8Array#set`. The remote write benchmark compares the two on the same input.
 *
 * Native first: `BlockCompressor`, what the remote write encoder uses, compresses with the npm
 * package `snappy` (Rust, through N-API; a prebuilt binary per platform, installed as an
 * optional dependency with no install script, so `npm ci --ignore-scripts` in the Dockerfile
 * gets it) and falls back to `SnappyCompressor` when that module cannot load: a platform
 * without a prebuilt binary, a libc it was not built for, an install that left optional
 * dependencies out. The two write the same format and any snappy decoder reads either. Native
 * compression costs less CPU per byte than this JavaScript one on remote write requests, whose
 * many repeated label bytes make matching the main cost; the benchmark compares them side by
 * side. The native output is requested as a copy in V8's heap (`copyOutputData`): a buffer
 * that wraps the module's own memory ("external") is released only through a finaliser after
 * garbage collection, which costs more than the copy of a compressed request.
 *
 * Recovery: compressing cannot fail. `maxCompressedLength(n)` bounds the output.
 */
import { createRequire } from 'node:module';

const FRAGMENT = 1 << 16;
const MAX_TABLE_BITS = 14;
/** Go's `inputMargin`: the last bytes of a fragment are never the start of a match. */
const INPUT_MARGIN = 16 - 1;
const MIN_NON_LITERAL = 1 + 1 + INPUT_MARGIN;

/** The most bytes `compress` writes for `n` input bytes (Go's `MaxEncodedLen`). */
export function maxCompressedLength(n: number): number {
  return 32 + n + Math.floor(n / 6);
}

/** A snappy compressor with its own hash table, reused from call to call. */
export class SnappyCompressor {
  readonly #table = new Uint16Array(1 << MAX_TABLE_BITS);

  /**
   * Compresses `src[start, end)` into `dst` from `at`; returns the position after the output.
   * `dst` must have `maxCompressedLength(end - start)` bytes free from `at`.
   */
  compressInto(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): number {
    let d = writeVarint32(dst, at, end - start);
    for (let p = start; p < end; p += FRAGMENT) {
      const stop = Math.min(end, p + FRAGMENT);
      d = stop - p < MIN_NON_LITERAL ? emitLiteral(dst, d, src, p, stop) : this.#block(src, p, stop, dst, d);
    }
    return d;
  }

  /** Compresses `src` into a new array of exactly the compressed length (tests, one-off use). */
  compress(src: Uint8Array): Uint8Array {
    const dst = new Uint8Array(maxCompressedLength(src.length));
    return dst.slice(0, this.compressInto(src, 0, src.length, dst, 0));
  }

  /** One fragment of at most 64 KiB and at least MIN_NON_LITERAL bytes. */
  #block(src: Uint8Array, base: number, end: number, dst: Uint8Array, d: number): number {
    const n = end - base;
    let bits = 8;
    while (bits < MAX_TABLE_BITS && 1 << bits < n) bits++;
    const shift = 32 - bits;
    const table = this.#table;
    table.fill(0, 0, 1 << bits);
    // Positions are relative to `base` in the table (they fit 16 bits), absolute elsewhere.
    const sLimit = end - INPUT_MARGIN;
    let nextEmit = base;
    let s = base + 1;
    let nextHash = Math.imul(load32(src, s), 0x1e35a7bd) >>> shift;
    for (;;) {
      let skip = 32;
      let nextS = s;
      let candidate = 0;
      for (;;) {
        s = nextS;
        const step = skip >> 5;
        nextS = s + step;
        skip += step;
        if (nextS > sLimit) return nextEmit < end ? emitLiteral(dst, d, src, nextEmit, end) : d;
        candidate = base + (table[nextHash] as number);
        table[nextHash] = s - base;
        nextHash = Math.imul(load32(src, nextS), 0x1e35a7bd) >>> shift;
        if (load32(src, s) === load32(src, candidate)) break;
      }
      d = emitLiteral(dst, d, src, nextEmit, s);
      for (;;) {
        // Extend the 4-byte match as far as it goes, then emit it as copies.
        const start = s;
        s += 4;
        let i = candidate + 4;
        while (s < end && src[i] === src[s]) {
          i++;
          s++;
        }
        d = emitCopy(dst, d, start - candidate, s - start);
        nextEmit = s;
        if (s >= sLimit) return nextEmit < end ? emitLiteral(dst, d, src, nextEmit, end) : d;
        // Index s - 1 and try s at once: matches tend to follow matches.
        table[Math.imul(load32(src, s - 1), 0x1e35a7bd) >>> shift] = s - 1 - base;
        const cur = load32(src, s);
        const h = Math.imul(cur, 0x1e35a7bd) >>> shift;
        candidate = base + (table[h] as number);
        table[h] = s - base;
        if (cur !== load32(src, candidate)) {
          s++;
          nextHash = Math.imul(load32(src, s), 0x1e35a7bd) >>> shift;
          break;
        }
      }
    }
  }
}

function load32(b: Uint8Array, p: number): number {
  return (b[p] as number) | ((b[p + 1] as number) << 8) | ((b[p + 2] as number) << 16) | ((b[p + 3] as number) << 24);
}

function writeVarint32(dst: Uint8Array, d: number, v: number): number {
  while (v >= 0x80) {
    dst[d++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  dst[d++] = v;
  return d;
}

/** A literal of `src[from, to)` (at most 64 KiB); returns the position after it. */
function emitLiteral(dst: Uint8Array, d: number, src: Uint8Array, from: number, to: number): number {
  const n = to - from - 1;
  if (n < 60) dst[d++] = n << 2;
  else if (n < 0x100) {
    dst[d++] = 60 << 2;
    dst[d++] = n;
  } else {
    dst[d++] = 61 << 2;
    dst[d++] = n & 0xff;
    dst[d++] = n >>> 8;
  }
  if (n < 16) {
    for (let i = from; i < to; i++) dst[d++] = src[i] as number;
    return d;
  }
  dst.set(src.subarray(from, to), d);
  return d + n + 1;
}

/** Copies of `length` bytes from `offset` back (1 ≤ offset < 65536); Go's `emitCopy`. */
function emitCopy(dst: Uint8Array, d: number, offset: number, length: number): number {
  while (length >= 68) {
    dst[d++] = (63 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 64;
  }
  if (length > 64) {
    dst[d++] = (59 << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    length -= 60;
  }
  if (length >= 12 || offset >= 2048) {
    dst[d++] = ((length - 1) << 2) | 2;
    dst[d++] = offset & 0xff;
    dst[d++] = offset >>> 8;
    return d;
  }
  dst[d++] = ((offset >>> 8) << 5) | ((length - 4) << 2) | 1;
  dst[d++] = offset & 0xff;
  return d;
}

/** The native module's one function used here (package `snappy`). */
type NativeCompress = (input: Uint8Array, options: { copyOutputData: boolean }) => Uint8Array;

let nativeLoaded: NativeCompress | null | undefined;

/** The native `compressSync`, or null when the module cannot load (loaded once per thread). */
function loadNative(): NativeCompress | null {
  if (nativeLoaded !== undefined) return nativeLoaded;
  try {
    const mod = createRequire(import.meta.url)('snappy') as { compressSync?: unknown };
    nativeLoaded = typeof mod.compressSync === 'function' ? (mod.compressSync as NativeCompress) : null;
  } catch {
    nativeLoaded = null;
  }
  return nativeLoaded;
}

export const SnappyImplementation = { Native: 'native', Js: 'js' } as const;
export type SnappyImplementation = (typeof SnappyImplementation)[keyof typeof SnappyImplementation];

export interface BlockCompressorOptions {
  /** false: always the JavaScript compressor (tests, benchmarks); default: native when it loads. */
  readonly native?: boolean;
}

/**
 * Below this many input bytes the call into the native module and its new buffer cost more
 * than compressing in JavaScript (a remote write request of a single sample is about this size).
 */
const NATIVE_MIN_BYTES = 512;

/**
 * Compresses whole snappy blocks, natively when the `snappy` module loads (and the input is not
 * tiny), else with a kept `SnappyCompressor` into a kept output buffer.
 */
export class BlockCompressor {
  /** Whether the last `compress` result is the caller's to keep (see `compress`). */
  fresh = false;
  readonly #native: NativeCompress | null;
  readonly #js = new SnappyCompressor();
  #out: Uint8Array = new Uint8Array(0);

  constructor(options: BlockCompressorOptions = {}) {
    this.#native = options.native === false ? null : loadNative();
  }

  /** Which compressor an input of `NATIVE_MIN_BYTES` or more gets. */
  get implementation(): SnappyImplementation {
    return this.#native !== null ? SnappyImplementation.Native : SnappyImplementation.Js;
  }

  /**
   * The snappy block of `src[0, len)`. With `fresh` true (native) the result is an array of its
   * own the caller may keep; otherwise it is a view of this compressor's memory, valid until the
   * next call. Read `fresh` before the next call.
   */
  compress(src: Uint8Array, len: number): Uint8Array {
    const native = this.#native;
    this.fresh = native !== null && len >= NATIVE_MIN_BYTES;
    if (this.fresh) return (native as NativeCompress)(len === src.length ? src : src.subarray(0, len), COPY_OUTPUT);
    const need = maxCompressedLength(len);
    if (this.#out.length < need) this.#out = new Uint8Array(Math.max(need, this.#out.length * 2));
    return this.#out.subarray(0, this.#js.compressInto(src, 0, len, this.#out, 0));
  }
}

const COPY_OUTPUT = { copyOutputData: true } as const;
