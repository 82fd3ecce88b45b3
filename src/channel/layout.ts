// SPDX-License-Identifier: Apache-2.0
/**
 * The byte layout of a target channel inside a SharedArrayBuffer, shared by every thread that
 * attaches to it. Everything a thread needs to attach (capacity, slot count, record size,
 * strides, flags) is in the header, so a buffer alone is enough to rebuild the channel in a new
 * worker.
 *
 * Why a record is split (layout version 2): positions only grow, so every slot is written once
 * per lap, and a page of shared memory becomes resident the first time it is written. Had each
 * slot room for a whole `recordBytes` record, one lap would make the whole channel resident
 * (capacity × recordBytes: ~34 MB for 10,000 records of 2 KiB) even though records are
 * typically a few hundred bytes. So a slot holds only the first `INLINE_BYTES` bytes of its
 * record, densely packed, and the rest of a longer record goes to that slot's area in a
 * separate overflow region that only long records ever write. Resident memory then stays
 * proportional to the records actually sent: slots × 256 bytes plus a page or two per slot that
 * ever held a long record, rather than capacity × recordBytes.
 *
 * Layout (byte offsets relative to the channel's `byteOffset`, which is a multiple of 8):
 *
 * ```
 *   0   header, 320 bytes, read through an Int32Array; word = 4 bytes:
 *         w0 magic 0x5354524b ("STRK")   w1 layout version (2)   w2 capacity (records)
 *         w3 slots (power of two ≥ capacity)   w4 recordBytes   w5 slot stride in bytes
 *         w6 flags (bit 0: guards)   w7 closed (0 | 1)
 *         w8 inline bytes per slot   w9 overflow stride in bytes (0: no overflow region)
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
 * slotBase  slots region (dense): slots × stride bytes, slot i at slotBase + i × stride:
 *         +0 float64 enqueuedAt (ms since the epoch, written by the channel at push time)
 *         +8 int32 payload length   +12 4 reserved bytes (guard bytes when guards are on)
 *        +16 inline payload: payload bytes [0, min(length, inline)), where
 *            inline = min(recordBytes, INLINE_BYTES)   then 8 guard bytes when guards are on
 *         stride = align8(16 + inline + guard): 256 bytes without guards once recordBytes
 *         ≥ INLINE_BYTES; a multiple of 8 so every enqueuedAt is aligned.
 * overflowBase = slotBase + slots × stride
 *       overflow region (sparse), only when recordBytes > INLINE_BYTES: slots × overflowStride
 *         bytes, slot i's area at overflowBase + i × overflowStride:
 *         +0 payload bytes [inline, length) of a record longer than inline, at most
 *            recordBytes − inline bytes   then 8 guard bytes when guards are on
 *         overflowStride = align8(recordBytes − inline + guard); 0 when there is no region.
 *         A record of at most `inline` bytes never reads or writes it, so its pages stay
 *         untouched (and zero, as a fresh SharedArrayBuffer is).
 * byteLength = overflowBase + slots × overflowStride
 * ```
 *
 * Invariants: `1 ≤ capacity ≤ slots ≤ 2^28`, `slots` is a power of two (so `pos & (slots - 1)`
 * indexes the same slot on both sides of a 32-bit wrap of the positions), and the whole channel,
 * overflow region included, is under 2 GiB. Guard bytes hold a position-dependent pattern
 * written at creation and never touched again; `guardRanges` lists them so a debug check can
 * find any overwrite. (Writing them touches every page, so a channel with guards is resident in
 * full from the start: guards are for tests.) A header of another layout version is refused.
 */
import { ConfigError } from '../errors.js';

export const MAGIC = 0x5354524b;
export const VERSION = 2;
export const HEADER_BYTES = 320;
/**
 * Guard bytes after the sequence array, after each slot's inline payload and after each
 * overflow area, when guards are on.
 */
export const GUARD_BYTES = 8;
/** Per-slot bytes before the payload: enqueuedAt (8), length (4), reserved (4). */
export const SLOT_META_BYTES = 16;
/**
 * Payload bytes a slot holds itself; the rest of a longer record goes to the slot's overflow
 * area. 240 makes the slot stride 256 bytes (without guards), 16 slots to a 4 KiB page.
 */
export const INLINE_BYTES = 240;
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
  InlineBytes: 8,
  OverflowStride: 9,
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
  [(Word.OverflowStride + 1) * 4, Word.WritePos * 4],
  [(Word.WritePos + 1) * 4, Word.ReadPos * 4],
  [(Word.ReadPos + 1) * 4, Word.Signal * 4],
  [(Word.Waiters + 1) * 4, Word.SpaceSignal * 4],
  [(Word.SpaceWaiters + 1) * 4, HEADER_BYTES],
];

export interface Layout {
  readonly capacity: number;
  readonly slots: number;
  readonly recordBytes: number;
  /** Payload bytes held in the slot itself: min(recordBytes, INLINE_BYTES). */
  readonly inlineBytes: number;
  /** Bytes from one slot to the next in the slots region. */
  readonly stride: number;
  /** Bytes from one overflow area to the next; 0 when recordBytes ≤ INLINE_BYTES. */
  readonly overflowStride: number;
  readonly guards: boolean;
  /** Int32 index of slot 0's sequence number. */
  readonly seqWord: number;
  /** Byte offset of slot 0. */
  readonly slotBase: number;
  /** Byte offset of slot 0's overflow area (the end of the slots region). */
  readonly overflowBase: number;
  /** Total bytes of the channel, overflow region included. */
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
  const inlineBytes = Math.min(recordBytes, INLINE_BYTES);
  const stride = align8(SLOT_META_BYTES + inlineBytes + guard);
  const overflowBytes = recordBytes - inlineBytes;
  const overflowStride = overflowBytes > 0 ? align8(overflowBytes + guard) : 0;
  const seqWord = HEADER_BYTES / 4;
  const slotBase = align8(HEADER_BYTES + slots * 4 + guard);
  const overflowBase = slotBase + slots * stride;
  const byteLength = overflowBase + slots * overflowStride;
  if (byteLength > MAX_CHANNEL_BYTES) {
    throw new ConfigError(
      'capacity',
      `${capacity} records of ${recordBytes} bytes need ${byteLength} bytes of shared memory, ` +
        `over the channel limit of ${MAX_CHANNEL_BYTES} bytes; lower capacity or recordBytes`,
    );
  }
  return {
    capacity,
    slots,
    recordBytes,
    inlineBytes,
    stride,
    overflowStride,
    guards,
    seqWord,
    slotBase,
    overflowBase,
    byteLength,
  };
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
  const derived: readonly (readonly [name: string, word: Word, want: number])[] = [
    ['slot count', Word.Slots, layout.slots],
    ['slot stride', Word.Stride, layout.stride],
    ['inline bytes', Word.InlineBytes, layout.inlineBytes],
    ['overflow stride', Word.OverflowStride, layout.overflowStride],
  ];
  for (const [name, word, want] of derived) {
    if (i32[word] !== want) {
      throw new ConfigError(
        'buffer',
        `holds a channel header whose ${name} is ${String(i32[word])}, not the ${want} that its ` +
          `capacity (${layout.capacity}), recordBytes (${layout.recordBytes}) and guards imply`,
      );
    }
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
  i32[Word.InlineBytes] = layout.inlineBytes;
  i32[Word.OverflowStride] = layout.overflowStride;
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
    out.push([slot + SlotField.Payload + layout.inlineBytes, slot + layout.stride]);
  }
  if (layout.overflowStride > 0) {
    const overflowBytes = layout.recordBytes - layout.inlineBytes;
    for (let i = 0; i < layout.slots; i++) {
      const area = layout.overflowBase + i * layout.overflowStride;
      out.push([area + overflowBytes, area + layout.overflowStride]);
    }
  }
  return out;
}

/** The guard pattern byte at channel-relative byte offset `offset`. */
export function guardByte(offset: number): number {
  return (0xa5 ^ (Math.imul(offset, 0x9e3779b1) >>> 24)) & 0xff;
}
