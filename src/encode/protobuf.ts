// SPDX-License-Identifier: Apache-2.0
/**
 * The few protobuf wire primitives the remote write encoder needs, writing straight into a byte
 * array at a position and returning the position after what they wrote (no writer object, no
 * allocation).
 *
 * Format (protobuf encoding guide): a field is a key `(field << 3) | wireType` as a varint,
 * then its value: wire type 0 a varint, 1 eight little-endian bytes (a double), 2 a varint
 * length and that many bytes. An `int64` is a varint of its two's-complement 64-bit value, so a
 * negative one takes ten bytes. Numbers here are JavaScript numbers: varints up to 2^53 are
 * written exactly; callers never pass more.
 */

export const WireType = { Varint: 0, Fixed64: 1, Bytes: 2 } as const;

/** The key byte of field numbers 1–15. */
export function key(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of the varint of `v`, 0 ≤ v ≤ 2^53. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 4;
  v = Math.floor(v / 0x10000000);
  while (v > 0) {
    n++;
    v = Math.floor(v / 0x80);
  }
  return n;
}

/** Writes the varint of `v`, 0 ≤ v ≤ 2^53. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80000000) {
    buf[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[pos++] = v;
  return pos;
}

/** Bytes of the `int64` varint of the integer `v` (ten for a negative one). */
export function int64Size(v: number): number {
  return v < 0 ? 10 : varintSize(v);
}

/** Writes `v` as an `int64` varint (a negative one as its 64-bit two's complement). */
export function writeInt64(buf: Uint8Array, pos: number, v: number): number {
  if (v >= 0) return writeVarint(buf, pos, v);
  let u = BigInt.asUintN(64, BigInt(v));
  for (let i = 0; i < 9; i++) {
    buf[pos++] = Number(u & 0x7fn) | 0x80;
    u >>= 7n;
  }
  buf[pos++] = Number(u);
  return pos;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
/** Every platform Node 20 ships for is little-endian; a big-endian one is refused at load. */
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('protobuf.ts: a big-endian platform is not supported');

/** Writes `v` as eight little-endian bytes (a `double`), its bits as the Float64Array holds them. */
export function writeDouble(buf: Uint8Array, pos: number, v: number): number {
  f64[0] = v;
  buf[pos] = f64Bytes[0] as number;
  buf[pos + 1] = f64Bytes[1] as number;
  buf[pos + 2] = f64Bytes[2] as number;
  buf[pos + 3] = f64Bytes[3] as number;
  buf[pos + 4] = f64Bytes[4] as number;
  buf[pos + 5] = f64Bytes[5] as number;
  buf[pos + 6] = f64Bytes[6] as number;
  buf[pos + 7] = f64Bytes[7] as number;
  return pos + 8;
}
