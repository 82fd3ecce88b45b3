/**
 * The byte layout of a target channel inside a SharedArrayBuffer, shared by every thread that
 * attaches to it. Everything a thread needs to attach (capacity, slot count, record size,
 * flags) is in the header, so a buffer alone is enough to rebuild the channel in a new worker.
 *
 * Layout (byte offsets relative to the channel's `byteOffset`, which is a multiple of 8):
 *
 * ```
 *   0   header, 320 bytes, read through an Int32Array; word = 4 bytes:
 *         w0 magic 0x5354524b ("STRK")   w1 layout version (1)   w2 capacity (records)
 *         w3 slots (power of two ≥ capacity)   w4 recordBytes   w5 slot stride in bytes
 *         w6 flags (bit 0: guards)   w7 closed (0 | 1)
 *        64 w16  write position: next slot a producer claims (int32, wraps)
 *       128 w32  read position: next slot a consumer claims (int32, wraps)
 *       192 w48  data signal: bumped before Atomics.notify when a record is published;
 *                consumers waiting in `pop` Atomics.waitAsync on it
 *           w49  data waiters: consumers currently waiting (or about to) in `pop`
 *       256 w64  space signal: bumped before Atomics.notify when a slot is released;
 *                producers waiting in `push` Atomics.waitAsync on it
 *           w65  space waiters: producers currently waiting (or about to) in `push`
 *         each group sits on its own 64-byte line so producers and consumers do not
 *         false-share; every other header byte is padding (guard bytes when guards are on).
 * 320   slot sequence numbers: Int32 × slots (Vyukov: seq == pos  → free for the producer
 *         claiming pos; seq == pos + 1 → published for the consumer claiming pos;
 *         released by the consumer as pos + slots, i.e. free for the next lap)
 *       then 8 guard bytes when guards are on; padded to a multiple of 8
 * slotBase  slots × stride bytes, slot i at slotBase + i × stride:
 *         +0 float64 enqueuedAt (ms since the epoch, written by the channel at push time)
 *         +8 int32 payload length   +12 4 reserved bytes (guard bytes when guards are on)
 *        +16 payload, recordBytes bytes   then 8 guard bytes when guards are on
 *         the stride is rounded up to a multiple of 8 so every enqueuedAt is aligned.
 * ```
 *
 * Invariants: `1 ≤ capacity ≤ slots ≤ 2^28`, `slots` is a power of two (so `pos & (slots - 1)`
 * indexes the same slot on both sides of a 32-bit wrap of the positions), and the whole channel
 * is under 2 GiB. Guard bytes hold a position-dependent pattern written at creation and never
 * touched again; `guardRanges` lists them so a debug check can find any overwrite.
 */
import { ConfigError } from '../errors.js';

export const MAGIC = 0x5354524b;
export const VERSION = 1;
export const HEADER_BYTES = 320;
/** Guard bytes after the sequence array and after each slot's payload, when guards are on. */
export const GUARD_BYTES = 8;
/** Per-slot bytes before the payload: enqueuedAt (8), length (4), reserved (4). */
export const SLOT_META_BYTES = 16;
export const MAX_CAPACITY = 2 ** 28;
export const MAX_RECORD_BYTES = 2 ** 26;
export const MAX_CHANNEL_BYTES = 2 ** 31 - 8;

/** Int32 word indices into the header. */
export const Word = {
  Magic: 0,
  Version: 1,
  Capacity: 2,
  Slots: 3,
  RecordBytes: 4,
  Stride: 5,
  Flags: 6,
  Closed: 7,
  WritePos: 16,
  ReadPos: 32,
  Signal: 48,
  Waiters: 49,
  SpaceSignal: 64,
  SpaceWaiters: 65,
} as const;
export type Word = (typeof Word)[keyof typeof Word];

export const Flag = {
  Guards: 1,
} as const;
export type Flag = (typeof Flag)[keyof typeof Flag];

/** Byte offsets of the slot fields, relative to the slot's start. */
export const SlotField = {
  EnqueuedAt: 0,
  Length: 8,
  Reserved: 12,
  Payload: 16,
} as const;
export type SlotField = (typeof SlotField)[keyof typeof SlotField];

/** Header byte ranges that carry no data: padding between the words in use. */
const HEADER_GAPS: readonly (readonly [start: number, end: number])[] = [
  [(Word.Closed + 1) * 4, Word.WritePos * 4],
  [(Word.WritePos + 1) * 4, Word.ReadPos * 4],
  [(Word.ReadPos + 1) * 4, Word.Signal * 4],
  [(Word.Waiters + 1) * 4, Word.SpaceSignal * 4],
  [(Word.SpaceWaiters + 1) * 4, HEADER_BYTES],
];

export interface Layout {
  readonly capacity: number;
  readonly slots: number;
  readonly recordBytes: number;
  readonly stride: number;
  readonly guards: boolean;
  /** Int32 index of slot 0's sequence number. */
  readonly seqWord: number;
  /** Byte offset of slot 0. */
  readonly slotBase: number;
  /** Total bytes of the channel. */
  readonly byteLength: number;
}

const align8 = (n: number): number => (n + 7) & ~7;

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function checkInteger(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `must be an integer from ${min} to ${max}, got ${String(value)}`);
  }
}

/** Computes (and validates) the layout of a channel of `capacity` records of `recordBytes`. */
export function computeLayout(capacity: number, recordBytes: number, guards: boolean): Layout {
  checkInteger('capacity', capacity, 1, MAX_CAPACITY);
  checkInteger('recordBytes', recordBytes, 1, MAX_RECORD_BYTES);
  const slots = nextPowerOfTwo(capacity);
  const guard = guards ? GUARD_BYTES : 0;
  const stride = align8(SLOT_META_BYTES + recordBytes + guard);
  const seqWord = HEADER_BYTES / 4;
  const slotBase = align8(HEADER_BYTES + slots * 4 + guard);
  const byteLength = slotBase + slots * stride;
  if (byteLength > MAX_CHANNEL_BYTES) {
    throw new ConfigError(
      'capacity',
      `${capacity} records of ${recordBytes} bytes need ${byteLength} bytes of shared memory, ` +
        `over the channel limit of ${MAX_CHANNEL_BYTES} bytes; lower capacity or recordBytes`,
    );
  }
  return { capacity, slots, recordBytes, stride, guards, seqWord, slotBase, byteLength };
}

/**
 * Reads the layout from a channel header whose magic number the caller has checked (with
 * `Atomics.load`, which orders the header writes before it), validating the rest.
 */
export function readLayout(i32: Int32Array, available: number): Layout {
  if (i32[Word.Version] !== VERSION) {
    throw new ConfigError(
      'buffer',
      `holds a channel of layout version ${String(i32[Word.Version])}; this build reads version ${VERSION}`,
    );
  }
  const guards = ((i32[Word.Flags] ?? 0) & Flag.Guards) !== 0;
  const layout = computeLayout(i32[Word.Capacity] ?? 0, i32[Word.RecordBytes] ?? 0, guards);
  if (layout.slots !== i32[Word.Slots] || layout.stride !== i32[Word.Stride]) {
    throw new ConfigError('buffer', 'holds a channel header whose slot count or stride is inconsistent');
  }
  if (layout.byteLength > available) {
    throw new ConfigError(
      'buffer',
      `is ${available} bytes past byteOffset, smaller than the ${layout.byteLength} bytes of its channel`,
    );
  }
  return layout;
}

/** Writes the header words that describe `layout` (positions and flags start at zero). */
export function writeHeader(i32: Int32Array, layout: Layout): void {
  i32[Word.Capacity] = layout.capacity;
  i32[Word.Slots] = layout.slots;
  i32[Word.RecordBytes] = layout.recordBytes;
  i32[Word.Stride] = layout.stride;
  i32[Word.Flags] = layout.guards ? Flag.Guards : 0;
  i32[Word.Version] = VERSION;
  // The magic goes last: a half-written header never looks like a channel.
  Atomics.store(i32, Word.Magic, MAGIC);
}

/** Byte ranges `[start, end)` of every guard region of a channel with guards on. */
export function guardRanges(layout: Layout): [start: number, end: number][] {
  const out: [number, number][] = HEADER_GAPS.map(([s, e]) => [s, e]);
  const seqEnd = HEADER_BYTES + layout.slots * 4;
  out.push([seqEnd, layout.slotBase]);
  for (let i = 0; i < layout.slots; i++) {
    const slot = layout.slotBase + i * layout.stride;
    out.push([slot + SlotField.Reserved, slot + SlotField.Payload]);
    out.push([slot + SlotField.Payload + layout.recordBytes, slot + layout.stride]);
  }
  return out;
}

/** The guard pattern byte at channel-relative byte offset `offset`. */
export function guardByte(offset: number): number {
  return (0xa5 ^ (Math.imul(offset, 0x9e3779b1) >>> 24)) & 0xff;
}
