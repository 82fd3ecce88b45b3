// SPDX-License-Identifier: Apache-2.0
/**
 * The target channel: a bounded multi-producer/multi-consumer ring of byte records in a
 * SharedArrayBuffer. The registry (main thread) pushes encoded targets; the collector's worker
 * threads pop them. The registry owns the buffer, not the pool: a replaced or resized pool
 * attaches its new workers to the same buffer (`TargetChannel.attach`) and finds the records
 * queued before the change still there.
 *
 * Format: see `layout.ts`. Each record is a payload of at most `recordBytes` bytes plus the time
 * it was pushed (ms since the epoch, float64, `performance.timeOrigin + performance.now()`),
 * written by the channel itself. `tryPushString`/`tryPopString` carry UTF-8 text.
 *
 * Split payloads (layout version 2): a payload's first `inlineBytes` (min(recordBytes,
 * INLINE_BYTES)) bytes live in its slot; only a longer record puts the rest in the slot's area
 * of the overflow region. Payload bytes are copied only in `#writePayload` and `#readPayload`
 * (and decoded in place by `tryPopString` when the record fits inline), and none of them touches
 * the overflow region for a record that fits inline. Why: positions only grow, so every slot is
 * written once per lap and each page it spans becomes resident. With the split, a channel's
 * resident memory is the dense slots region (slots × 256 bytes) plus only the overflow pages
 * that long records have actually used, not capacity × recordBytes after the first lap.
 * Cost: a record longer than the inline part takes two copies each way, each through a
 * short-lived subarray view (a byte loop over shared memory measured 6 to 20 times slower than
 * `set`); a record that fits inline is copied as before the split (`tryPush` allocates nothing).
 *
 * Algorithm: Dmitry Vyukov's bounded MPMC queue. Each slot has an Int32 sequence number. A
 * producer claims position `pos` by compare-and-swapping the write position when the slot's
 * sequence equals `pos`, copies the payload, then publishes with `Atomics.store(seq, pos + 1)`.
 * A consumer claims `pos` by compare-and-swapping the read position when the sequence equals
 * `pos + 1`, copies the payload out, then releases the slot for the next lap with
 * `Atomics.store(seq, pos + slots)`. Nothing is ever held across an `await`: claim, copy and
 * publish (or release) happen in one synchronous call, so a worker may stop between any two
 * records. The slot count is a power of two at least `capacity`; an extra check on the
 * positions keeps the number of queued records at or below `capacity` exactly.
 *
 * Invariants:
 * - Positions are int32 and wrap; every comparison is a signed 32-bit difference, which stays
 *   correct across the wrap because positions never differ by more than `slots` (≤ 2^28).
 * - Per producer, records are consumed in push order: a consumer that pops two records of one
 *   producer pops them in the order they were pushed (positions are claimed in order).
 * - `size` is approximate (two separate loads) and clamped to `[0, capacity]`.
 *
 * Waiting: `pop` announces itself in the data `waiters` word, reads the data `signal` word,
 * re-checks the ring, and `Atomics.waitAsync`s on `signal` for at most `pollMs` at a time. A
 * producer that publishes while `waiters > 0` bumps `signal` and `Atomics.notify`s one waiter;
 * `close()` bumps it and notifies all. All Atomics operations are sequentially consistent, so
 * a consumer either sees the record in its re-check or is woken, and the bounded poll covers
 * anything else. `push` waits for space the same way on the space words, which a consumer
 * bumps after releasing a slot. The fast paths (`tryPush`, `tryPop`) pay one extra
 * `Atomics.load` for this and never notify when nobody waits. `Atomics.wait` is never used
 * (workers own sockets).
 *
 * When full: `tryPush` returns false and the channel does nothing else; `push` waits for space
 * until its timeout and then resolves false. The policy belongs to the registry: retry until
 * the target's next discovery run is due, then drop it and count the drop (DESIGN "Shape").
 * A push on a closed channel also fails (see `closed`).
 *
 * Closing: `close()` sets a flag every attached thread sees and wakes every waiter. Pushes
 * fail from then on, but a closed channel can still be drained: `pop` returns null only once
 * the channel is closed and empty. A push racing `close()` from another thread may still land
 * after consumers have gone; the owner calls `drain()` after its producers stop.
 *
 * Recovery: there is none inside the channel, by design. A thread killed with
 * `worker.terminate()` between claiming and publishing (or releasing) a slot leaves that slot
 * stuck, which eventually stalls the ring. Stop consumers by asking them (a message) and waiting
 * for their current `pop` to return, never by terminating them mid-call. (A thread terminated
 * while it waits in `pop` or `push` is harmless to the data: it only leaves its waiter count
 * raised, which costs an unneeded `Atomics.notify` per push from then on.)
 */
import { ConfigError, EncodeError, quote } from '../errors.js';
import {
  computeLayout,
  guardByte,
  guardRanges,
  HEADER_BYTES,
  type Layout,
  MAGIC,
  readLayout,
  SlotField,
  Word,
  writeHeader,
} from './layout.js';
import { waitChange } from './wait.js';

export interface TargetChannelOptions {
  /** Records the channel holds at most; 1 to 2^28. */
  readonly capacity: number;
  /** Payload bytes per record at most; 1 to 2^26. */
  readonly recordBytes: number;
  /**
   * Place the channel in this buffer (at `byteOffset`) instead of a new one of exactly the
   * right size; see `TargetChannel.byteLength`. The bytes are overwritten.
   */
  readonly buffer?: SharedArrayBuffer;
  /** Byte offset of the channel in `buffer`; a multiple of 8. Default 0. */
  readonly byteOffset?: number;
  /** Debug: surround the header, sequence array and every payload with guard bytes. */
  readonly guards?: boolean;
  /** Longest single wait in `pop` or `push` before re-checking the ring, in ms. Default 50. */
  readonly pollMs?: number;
  /**
   * Test only: the position both counters start at (any int32 or uint32 value), so tests can
   * run the counters across the 2^31 and 2^32 wrap without pushing billions of records.
   */
  readonly startPosition?: number;
}

export interface AttachOptions {
  /** Byte offset of the channel in the buffer. Default 0. */
  readonly byteOffset?: number;
  /** Longest single wait in `pop` or `push`, in ms. Default 50. */
  readonly pollMs?: number;
}

/** A popped record: a copy of the payload (not shared memory) and its push time. */
export interface ChannelRecord {
  readonly payload: Uint8Array;
  /** When the record was pushed, in ms since the epoch. */
  readonly enqueuedAt: number;
}

export interface StringRecord {
  readonly text: string;
  readonly enqueuedAt: number;
}

export interface TargetChannelSizing {
  readonly capacity: number;
  readonly recordBytes: number;
  readonly guards?: boolean;
}

const DEFAULT_POLL_MS = 50;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The push timestamp: ms since the epoch with sub-ms resolution, comparable across threads. */
const now = (): number => performance.timeOrigin + performance.now();

function checkPollMs(pollMs: number | undefined): number {
  if (pollMs === undefined) return DEFAULT_POLL_MS;
  if (!Number.isFinite(pollMs) || pollMs <= 0) {
    throw new ConfigError('pollMs', `must be a finite number of ms above 0, got ${String(pollMs)}`);
  }
  return pollMs;
}

function checkTimeout(timeoutMs: number): void {
  if (!(timeoutMs >= 0)) {
    throw new ConfigError('timeoutMs', `must be a number of ms ≥ 0 or Infinity, got ${String(timeoutMs)}`);
  }
}

function checkByteOffset(byteOffset: number): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 8 !== 0) {
    throw new ConfigError('byteOffset', `must be a non-negative multiple of 8, got ${String(byteOffset)}`);
  }
}

export class TargetChannel {
  readonly #buffer: SharedArrayBuffer;
  readonly #byteOffset: number;
  readonly #layout: Layout;
  readonly #i32: Int32Array;
  readonly #f64: Float64Array;
  readonly #u8: Uint8Array;
  readonly #capacity: number;
  readonly #mask: number;
  readonly #slots: number;
  readonly #seqWord: number;
  readonly #slotBase: number;
  readonly #stride: number;
  readonly #inlineBytes: number;
  readonly #overflowBase: number;
  readonly #overflowStride: number;
  readonly #recordBytes: number;
  readonly #pollMs: number;
  /** Position of the slot this instance claimed for reading and has not released yet. */
  #claimed = 0;
  #scratch: Uint8Array | undefined;

  #lastEnqueuedAt = Number.NaN;

  /** Bytes of shared memory a channel of this size takes (for `options.buffer`). */
  static byteLength(sizing: TargetChannelSizing): number {
    return computeLayout(sizing.capacity, sizing.recordBytes, sizing.guards === true).byteLength;
  }

  /** Attaches to the channel already laid out in `buffer` (by any thread). */
  static attach(buffer: SharedArrayBuffer, options: AttachOptions = {}): TargetChannel {
    return new TargetChannel(buffer, options);
  }

  /**
   * Creates a channel from `options`, or attaches to the channel in a SharedArrayBuffer (as
   * `TargetChannel.attach` does).
   */
  constructor(init: TargetChannelOptions | SharedArrayBuffer, attachOptions: AttachOptions = {}) {
    let buffer: SharedArrayBuffer;
    let byteOffset: number;
    let layout: Layout;
    if (init instanceof SharedArrayBuffer) {
      buffer = init;
      byteOffset = attachOptions.byteOffset ?? 0;
      checkByteOffset(byteOffset);
      this.#pollMs = checkPollMs(attachOptions.pollMs);
      if (buffer.byteLength < byteOffset + HEADER_BYTES) {
        throw new ConfigError(
          'buffer',
          `is ${buffer.byteLength} bytes, too small to hold a channel header at byteOffset ${byteOffset}`,
        );
      }
      const header = new Int32Array(buffer, byteOffset, HEADER_BYTES / 4);
      if (Atomics.load(header, Word.Magic) !== MAGIC) {
        throw new ConfigError(
          'buffer',
          `holds no target channel at byteOffset ${byteOffset} (bad magic number)`,
        );
      }
      layout = readLayout(header, buffer.byteLength - byteOffset);
    } else {
      layout = computeLayout(init.capacity, init.recordBytes, init.guards === true);
      byteOffset = init.byteOffset ?? 0;
      checkByteOffset(byteOffset);
      this.#pollMs = checkPollMs(init.pollMs);
      if (init.buffer === undefined) {
        buffer = new SharedArrayBuffer(byteOffset + layout.byteLength);
      } else {
        buffer = init.buffer;
        if (buffer.byteLength < byteOffset + layout.byteLength) {
          throw new ConfigError(
            'buffer',
            `is ${buffer.byteLength} bytes; a channel of ${layout.byteLength} bytes ` +
              `at byteOffset ${byteOffset} needs ${byteOffset + layout.byteLength}`,
          );
        }
      }
    }
    this.#buffer = buffer;
    this.#byteOffset = byteOffset;
    this.#layout = layout;
    this.#i32 = new Int32Array(buffer, byteOffset, layout.byteLength / 4);
    this.#f64 = new Float64Array(buffer, byteOffset, layout.byteLength / 8);
    this.#u8 = new Uint8Array(buffer, byteOffset, layout.byteLength);
    this.#capacity = layout.capacity;
    this.#slots = layout.slots;
    this.#mask = layout.slots - 1;
    this.#seqWord = layout.seqWord;
    this.#slotBase = layout.slotBase;
    this.#stride = layout.stride;
    this.#inlineBytes = layout.inlineBytes;
    this.#overflowBase = layout.overflowBase;
    this.#overflowStride = layout.overflowStride;
    this.#recordBytes = layout.recordBytes;
    if (!(init instanceof SharedArrayBuffer)) this.#initialize(init.startPosition ?? 0, init.buffer !== undefined);
  }

  /**
   * Writes the header and the slot sequence numbers. A fresh SharedArrayBuffer is already zero,
   * so only a caller's buffer is cleared: touching every slot page would make the whole ring
   * resident (and cost time) before a single record is pushed.
   */
  #initialize(startPosition: number, callerBuffer: boolean): void {
    if (!Number.isInteger(startPosition) || startPosition < -(2 ** 31) || startPosition >= 2 ** 32) {
      throw new ConfigError(
        'startPosition',
        `must be an int32 or uint32 integer, got ${String(startPosition)}`,
      );
    }
    const i32 = this.#i32;
    if (callerBuffer) this.#u8.fill(0);
    if (this.#layout.guards) {
      for (const [start, end] of guardRanges(this.#layout)) {
        for (let o = start; o < end; o++) this.#u8[o] = guardByte(o);
      }
    }
    const start = startPosition | 0;
    for (let k = 0; k < this.#slots; k++) {
      const pos = (start + k) | 0;
      i32[this.#seqWord + (pos & this.#mask)] = pos;
    }
    i32[Word.WritePos] = start;
    i32[Word.ReadPos] = start;
    writeHeader(i32, this.#layout);
  }

  /** The shared memory holding the channel; hand it to a worker and `attach` there. */
  get buffer(): SharedArrayBuffer {
    return this.#buffer;
  }

  get byteOffset(): number {
    return this.#byteOffset;
  }

  get byteLength(): number {
    return this.#layout.byteLength;
  }

  /** Records the channel holds at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** Payload bytes per record at most. */
  get recordBytes(): number {
    return this.#recordBytes;
  }

  /** Push time (ms since the epoch) of the record most recently copied by `tryPopInto`. */
  get lastEnqueuedAt(): number {
    return this.#lastEnqueuedAt;
  }

  /** Records queued (pushed and not yet popped); approximate while others push or pop. */
  get size(): number {
    const i32 = this.#i32;
    const read = Atomics.load(i32, Word.ReadPos);
    const depth = (Atomics.load(i32, Word.WritePos) - read) | 0;
    return depth < 0 ? 0 : depth > this.#capacity ? this.#capacity : depth;
  }

  /** Whether `close()` has been called on this channel, from any thread. */
  get closed(): boolean {
    return Atomics.load(this.#i32, Word.Closed) !== 0;
  }

  /**
   * Appends a record. Returns false, and copies nothing, when the channel is full or closed.
   * @throws EncodeError when `payload` is longer than `recordBytes`.
   */
  tryPush(payload: Uint8Array): boolean {
    const length = payload.length;
    if (length > this.#recordBytes) throw this.#tooLarge(length, payload);
    const index = this.#claimWrite();
    if (index < 0) return false;
    const slot = this.#slotBase + index * this.#stride;
    this.#f64[(slot + SlotField.EnqueuedAt) >> 3] = now();
    this.#i32[(slot + SlotField.Length) >> 2] = length;
    this.#writePayload(index, slot, payload);
    this.#publish();
    return true;
  }

  /**
   * Appends `text` UTF-8 encoded, as `tryPush` does.
   * @throws EncodeError when its UTF-8 form is longer than `recordBytes`.
   */
  tryPushString(text: string): boolean {
    const scratch = (this.#scratch ??= new Uint8Array(this.#recordBytes));
    const { read, written } = encoder.encodeInto(text, scratch);
    if (read < text.length) {
      const bytes = encoder.encode(text);
      throw this.#tooLarge(bytes.length, bytes);
    }
    return this.tryPush(scratch.subarray(0, written));
  }

  /** Removes the oldest record, or returns null when none is ready (non-blocking). */
  tryPop(): ChannelRecord | null {
    const index = this.#claimRead();
    if (index < 0) return null;
    const slot = this.#slotBase + index * this.#stride;
    const length = this.#i32[(slot + SlotField.Length) >> 2] as number;
    const payload = new Uint8Array(length);
    this.#readPayload(index, slot, length, payload);
    const enqueuedAt = this.#f64[(slot + SlotField.EnqueuedAt) >> 3] as number;
    this.#release();
    return { payload, enqueuedAt };
  }

  /**
   * Zero-allocation `tryPop`: copies the oldest record's payload into `dest` and returns its
   * length, or -1 when none is ready. The push time is left in `lastEnqueuedAt`.
   * @throws ConfigError when `dest` is shorter than `recordBytes` (checked before claiming).
   */
  tryPopInto(dest: Uint8Array): number {
    if (dest.length < this.#recordBytes) {
      throw new ConfigError(
        'dest',
        `is ${dest.length} bytes, shorter than the channel's recordBytes (${this.#recordBytes})`,
      );
    }
    const index = this.#claimRead();
    if (index < 0) return -1;
    const slot = this.#slotBase + index * this.#stride;
    const length = this.#i32[(slot + SlotField.Length) >> 2] as number;
    this.#readPayload(index, slot, length, dest);
    this.#lastEnqueuedAt = this.#f64[(slot + SlotField.EnqueuedAt) >> 3] as number;
    this.#release();
    return length;
  }

  /** Removes the oldest record and decodes it as UTF-8, or returns null when none is ready. */
  tryPopString(): StringRecord | null {
    const index = this.#claimRead();
    if (index < 0) return null;
    const slot = this.#slotBase + index * this.#stride;
    const length = this.#i32[(slot + SlotField.Length) >> 2] as number;
    let text: string;
    if (length <= this.#inlineBytes) {
      const start = slot + SlotField.Payload;
      text = decoder.decode(this.#u8.subarray(start, start + length));
    } else {
      // The two parts are not adjacent: join them in the scratch buffer, then decode.
      const scratch = (this.#scratch ??= new Uint8Array(this.#recordBytes));
      this.#readPayload(index, slot, length, scratch);
      text = decoder.decode(scratch.subarray(0, length));
    }
    const enqueuedAt = this.#f64[(slot + SlotField.EnqueuedAt) >> 3] as number;
    this.#release();
    return { text, enqueuedAt };
  }

  /**
   * Removes the oldest record, waiting up to `timeoutMs` (Infinity: no limit) for one to be
   * pushed. Returns null on timeout, on `signal` abort, or once the channel is closed and empty.
   * @throws ConfigError (as a rejection) when `timeoutMs` is negative or NaN.
   * A record is claimed and copied synchronously inside one call: a worker that stops after
   * this promise settles never leaves a slot half-consumed.
   */
  async pop(timeoutMs: number, signal?: AbortSignal): Promise<ChannelRecord | null> {
    checkTimeout(timeoutMs);
    const first = this.tryPop();
    if (first !== null) return first;
    return this.#waitFor(
      () => this.tryPop(),
      () => this.#closedAndEmpty(),
      Word.Signal,
      Word.Waiters,
      timeoutMs,
      signal,
    );
  }

  /**
   * Appends a record, waiting up to `timeoutMs` for a free slot when the channel is full.
   * Resolves true once pushed; false on timeout, on `signal` abort, or when the channel is
   * (or becomes) closed. This is the primitive for the registry's "retry until the next run
   * is due" policy; dropping and counting stay with the caller.
   * @throws EncodeError (as a rejection) when `payload` is longer than `recordBytes`.
   */
  async push(payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    checkTimeout(timeoutMs);
    if (this.tryPush(payload)) return true;
    const pushed = await this.#waitFor(
      () => (this.tryPush(payload) ? true : null),
      () => this.closed,
      Word.SpaceSignal,
      Word.SpaceWaiters,
      timeoutMs,
      signal,
    );
    return pushed === true;
  }

  /**
   * The waiting protocol shared by `pop` and `push`: announce in `waitersWord`, read
   * `signalWord`, retry, and only then wait for `signalWord` to change, at most `pollMs` at a
   * time. Whoever makes progress possible (publish, release, close) changes the word and
   * notifies after checking `waitersWord`, so no wake-up is lost (see the header).
   */
  async #waitFor<T>(
    attempt: () => T | null,
    finished: () => boolean,
    signalWord: number,
    waitersWord: number,
    timeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<T | null> {
    const i32 = this.#i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      if (signal?.aborted === true) return null;
      Atomics.add(i32, waitersWord, 1);
      try {
        const seen = Atomics.load(i32, signalWord);
        const result = attempt();
        if (result !== null) return result;
        if (finished()) return null;
        const remaining = deadline - performance.now();
        if (remaining <= 0) return null;
        const wait = waitChange(i32, signalWord, seen, Math.min(remaining, this.#pollMs), signal);
        if (wait !== undefined) await wait;
      } finally {
        Atomics.sub(i32, waitersWord, 1);
      }
    }
  }

  /**
   * Marks the channel closed in shared memory and wakes every waiting `pop`, in every thread.
   * Idempotent. Queued records stay and can still be popped.
   */
  close(): void {
    const i32 = this.#i32;
    Atomics.store(i32, Word.Closed, 1);
    Atomics.add(i32, Word.Signal, 1);
    Atomics.notify(i32, Word.Signal);
    Atomics.add(i32, Word.SpaceSignal, 1);
    Atomics.notify(i32, Word.SpaceSignal);
  }

  /**
   * Shutdown helper: pops every record that is ready now (at most `max`) and returns them in
   * order. Call it after the producers have stopped; a push still being copied by another
   * thread at that instant is not waited for.
   */
  drain(max = Number.POSITIVE_INFINITY): ChannelRecord[] {
    const out: ChannelRecord[] = [];
    while (out.length < max) {
      const record = this.tryPop();
      if (record === null) break;
      out.push(record);
    }
    return out;
  }

  /**
   * Debug: the channel-relative byte offsets of guard bytes that no longer hold their pattern
   * (empty when none were overwritten).
   * @throws ConfigError when the channel was created without `guards`.
   */
  checkGuards(): number[] {
    if (!this.#layout.guards) throw new ConfigError('guards', 'the channel was created without guards');
    const damaged: number[] = [];
    for (const [start, end] of guardRanges(this.#layout)) {
      for (let o = start; o < end; o++) if (this.#u8[o] !== guardByte(o)) damaged.push(o);
    }
    return damaged;
  }

  /**
   * Copies `payload` into the claimed slot `index` (whose byte offset is `slot`): its first
   * `inlineBytes` bytes into the slot, the rest into the slot's overflow area. A payload that
   * fits inline takes one copy, allocates nothing, and leaves the overflow region untouched.
   */
  #writePayload(index: number, slot: number, payload: Uint8Array): void {
    const inline = this.#inlineBytes;
    if (payload.length <= inline) {
      this.#u8.set(payload, slot + SlotField.Payload);
      return;
    }
    this.#u8.set(payload.subarray(0, inline), slot + SlotField.Payload);
    this.#u8.set(payload.subarray(inline), this.#overflowBase + index * this.#overflowStride);
  }

  /**
   * Copies the `length` payload bytes of the claimed slot `index` (at byte offset `slot`) to
   * `dest[0, length)`, reading the overflow area only when `length` exceeds `inlineBytes`.
   */
  #readPayload(index: number, slot: number, length: number, dest: Uint8Array): void {
    const inline = this.#inlineBytes;
    const start = slot + SlotField.Payload;
    if (length <= inline) {
      dest.set(this.#u8.subarray(start, start + length));
      return;
    }
    dest.set(this.#u8.subarray(start, start + inline));
    const area = this.#overflowBase + index * this.#overflowStride;
    dest.set(this.#u8.subarray(area, area + length - inline), inline);
  }

  /** Claims the next write position; returns its slot index, or -1 when full or closed. */
  #claimWrite(): number {
    const i32 = this.#i32;
    if (Atomics.load(i32, Word.Closed) !== 0) return -1;
    let pos = Atomics.load(i32, Word.WritePos);
    for (;;) {
      // Exact bound: the read position only grows, so a stale read here can only under-count
      // free space, and the CAS below fails if the write position moved on.
      if (((pos - Atomics.load(i32, Word.ReadPos)) | 0) >= this.#capacity) return -1;
      const index = pos & this.#mask;
      const dif = (Atomics.load(i32, this.#seqWord + index) - pos) | 0;
      if (dif === 0) {
        const seen = Atomics.compareExchange(i32, Word.WritePos, pos, (pos + 1) | 0);
        if (seen === pos) {
          this.#claimed = pos;
          return index;
        }
        pos = seen;
      } else if (dif < 0) {
        return -1; // the slot still holds (or is being read from) the previous lap's record
      } else {
        pos = Atomics.load(i32, Word.WritePos);
      }
    }
  }

  /** Publishes the claimed write slot and wakes one waiting consumer, if any. */
  #publish(): void {
    const i32 = this.#i32;
    const pos = this.#claimed;
    Atomics.store(i32, this.#seqWord + (pos & this.#mask), (pos + 1) | 0);
    if (Atomics.load(i32, Word.Waiters) > 0) {
      Atomics.add(i32, Word.Signal, 1);
      Atomics.notify(i32, Word.Signal, 1);
    }
  }

  /** Claims the next read position; returns its slot index, or -1 when none is ready. */
  #claimRead(): number {
    const i32 = this.#i32;
    let pos = Atomics.load(i32, Word.ReadPos);
    for (;;) {
      const index = pos & this.#mask;
      const dif = (Atomics.load(i32, this.#seqWord + index) - ((pos + 1) | 0)) | 0;
      if (dif === 0) {
        const seen = Atomics.compareExchange(i32, Word.ReadPos, pos, (pos + 1) | 0);
        if (seen === pos) {
          this.#claimed = pos;
          return index;
        }
        pos = seen;
      } else if (dif < 0) {
        return -1; // empty, or the next record is claimed but not yet published
      } else {
        pos = Atomics.load(i32, Word.ReadPos);
      }
    }
  }

  /** Releases the claimed read slot to producers for the next lap; wakes one waiting push. */
  #release(): void {
    const i32 = this.#i32;
    const pos = this.#claimed;
    Atomics.store(i32, this.#seqWord + (pos & this.#mask), (pos + this.#slots) | 0);
    if (Atomics.load(i32, Word.SpaceWaiters) > 0) {
      Atomics.add(i32, Word.SpaceSignal, 1);
      Atomics.notify(i32, Word.SpaceSignal, 1);
    }
  }

  #closedAndEmpty(): boolean {
    const i32 = this.#i32;
    return (
      Atomics.load(i32, Word.Closed) !== 0 &&
      Atomics.load(i32, Word.ReadPos) === Atomics.load(i32, Word.WritePos)
    );
  }

  #tooLarge(length: number, payload: Uint8Array): EncodeError {
    return new EncodeError(
      `channel record of ${length} bytes exceeds the channel's recordBytes limit of ` +
        `${this.#recordBytes} bytes: ${quote(payload)}`,
    );
  }
}
