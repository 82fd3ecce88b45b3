// SPDX-License-Identifier: Apache-2.0
/**
 * Byte classes of the Prometheus and OpenMetrics text formats, as one lookup table.
 *
 * metric name: [a-zA-Z_:][a-zA-Z0-9_:]*   label name: [a-zA-Z_][a-zA-Z0-9_]*   blank: space, tab
 */

export const C_NAME_START = 1;
export const C_NAME = 2;
export const C_LABEL_START = 4;
export const C_LABEL = 8;
export const C_BLANK = 16;

export const CHAR = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
  const digit = c >= 0x30 && c <= 0x39;
  let bits = 0;
  if (alpha || c === 0x3a) bits |= C_NAME_START | C_NAME;
  if (digit) bits |= C_NAME;
  if (alpha) bits |= C_LABEL_START | C_LABEL;
  if (digit) bits |= C_LABEL;
  if (c === 0x20 || c === 0x09) bits |= C_BLANK;
  CHAR[c] = bits;
}

export const LF = 0x0a;
export const CR = 0x0d;
export const SPACE = 0x20;
export const TAB = 0x09;
export const HASH = 0x23;
export const QUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const COMMA = 0x2c;
export const EQUALS = 0x3d;

/** `buf[start, end)` as a latin1 string (every byte one char): a key or an ASCII name, no decoding. */
export const latin1 = (buf: Uint8Array, start: number, end: number): string =>
  (buf as unknown as { latin1Slice(s: number, e: number): string }).latin1Slice(start, end);
