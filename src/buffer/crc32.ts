// SPDX-License-Identifier: Apache-2.0
/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF: the
 * checksum of zlib, gzip and PNG), used by the disk spool to detect torn and corrupt records.
 *
 * `crc32` is zlib's native implementation where Node has it (`zlib.crc32`, Node ≥ 20.15), else
 * `crc32Js`, a slicing-by-8 implementation in JavaScript that returns the same values. Both take
 * the CRC of the bytes before as `initial`, so a checksum can be computed over several pieces.
 * The check value of the ASCII bytes "123456789" is 0xCBF43926.
 */
import zlib from 'node:zlib';

const POLY = 0xedb88320;

/** Eight 256-entry tables: T[k][b] is the CRC of byte b followed by k zero bytes. */
const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let b = 0; b < 256; b++) {
    let c = b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[b] = c >>> 0;
  }
  for (let b = 0; b < 256; b++) {
    let c = t[b] as number;
    for (let k = 1; k < 8; k++) {
      c = (t[c & 0xff] as number) ^ (c >>> 8);
      t[k * 256 + b] = c >>> 0;
    }
  }
  return t;
})();

/** CRC-32 of `data`, continuing from `initial` (the CRC of the bytes before; 0 to start). */
export function crc32Js(data: Uint8Array, initial = 0): number {
  const t = TABLES;
  let c = ~initial >>> 0;
  let i = 0;
  const n = data.length;
  const end8 = n - (n & 7);
  while (i < end8) {
    const lo = (c ^ ((data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24))) >>> 0;
    c =
      (t[7 * 256 + (lo & 0xff)] as number) ^
      (t[6 * 256 + ((lo >>> 8) & 0xff)] as number) ^
      (t[5 * 256 + ((lo >>> 16) & 0xff)] as number) ^
      (t[4 * 256 + (lo >>> 24)] as number) ^
      (t[3 * 256 + (data[i + 4] as number)] as number) ^
      (t[2 * 256 + (data[i + 5] as number)] as number) ^
      (t[256 + (data[i + 6] as number)] as number) ^
      (t[data[i + 7] as number] as number);
    i += 8;
  }
  while (i < n) c = (t[(c ^ (data[i++] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

type Crc = (data: Uint8Array, initial?: number) => number;
const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data`, continuing from `initial`; native when Node has `zlib.crc32`. */
export const crc32: Crc = typeof native === 'function' ? (data, initial = 0) => native(data, initial) : crc32Js;
