// SPDX-License-Identifier: Apache-2.0
/**
 * Strict number parsing over bytes, and the canonical float form of `le` and `quantile`.
 *
 * Accepted value grammar (Go's strconv.ParseFloat, which Prometheus uses, minus hex floats and
 * underscores): `[+-]? ( digits [. digits?] | . digits ) ([eE] [+-]? digits)?`, or, ignoring case,
 * `[+-]?inf`, `[+-]?infinity`, `nan`. Everything else is invalid: `Number("0x10")` is 16,
 * `Number("")` is 0 and `parseFloat("1abc")` is 1, and all three must be errors here.
 *
 * Results are correctly rounded: up to 15 significant digits with a power of ten up to 22 are
 * computed exactly as `mantissa * 10^e` or `mantissa / 10^e` (Clinger's fast path); anything
 * longer is validated here and converted by `Number()`, which is correctly rounded.
 *
 * Invalid input is reported by returning `undefined` (a NaN in the input is a valid value, so no
 * number can stand for "invalid"); the caller tests the result and the hot path allocates
 * nothing. Nothing here keeps state between calls.
 */

const POW10 = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
  1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

const DIGIT_0 = 0x30;
const PLUS = 0x2b;
const MINUS = 0x2d;
const DOT = 0x2e;

/** The float in `buf[start, end)`, or `undefined` when those bytes are not one. */
export function parseFloatBytes(buf: Uint8Array, start: number, end: number): number | undefined {
  let i = start;
  if (i >= end) return fail();
  let neg = false;
  let c = buf[i] as number;
  if (c === PLUS || c === MINUS) {
    neg = c === MINUS;
    i++;
    if (i >= end) return fail();
    c = buf[i] as number;
  }
  if (c > 0x39 || (c < DIGIT_0 && c !== DOT)) return special(buf, start, i, end, neg);

  let mantissa = 0;
  let digits = 0; // significant digits accumulated into mantissa
  let sawDigit = false;
  let dropped = 0; // integer digits beyond the exact range (scale the result up)
  let fracDigits = 0;
  // integer part
  while (i < end) {
    c = buf[i] as number;
    const d = c - DIGIT_0;
    if (d < 0 || d > 9) break;
    sawDigit = true;
    if (digits < 15) {
      if (mantissa !== 0 || d !== 0) {
        mantissa = mantissa * 10 + d;
        digits++;
      }
    } else dropped++;
    i++;
  }
  if (i < end && buf[i] === DOT) {
    i++;
    while (i < end) {
      c = buf[i] as number;
      const d = c - DIGIT_0;
      if (d < 0 || d > 9) break;
      sawDigit = true;
      if (digits < 15) {
        if (mantissa !== 0 || d !== 0) digits++;
        mantissa = mantissa * 10 + d;
        fracDigits++;
      } else dropped = dropped === 0 ? -1 : dropped; // precision beyond 15 digits: slow path
      i++;
    }
  }
  if (!sawDigit) return fail();
  let exp = 0;
  if (i < end) {
    c = buf[i] as number;
    if (c !== 0x65 && c !== 0x45) return fail(); // e E
    i++;
    let expNeg = false;
    if (i < end && (buf[i] === PLUS || buf[i] === MINUS)) {
      expNeg = buf[i] === MINUS;
      i++;
    }
    if (i >= end) return fail();
    while (i < end) {
      const d = (buf[i] as number) - DIGIT_0;
      if (d < 0 || d > 9) return fail();
      if (exp < 100000) exp = exp * 10 + d;
      i++;
    }
    if (expNeg) exp = -exp;
  }
  if (dropped !== 0) return slow(buf, start, end);
  const e10 = exp - fracDigits;
  let v: number;
  if (e10 === 0) v = mantissa;
  else if (e10 > 0 && e10 <= 22) v = mantissa * (POW10[e10] as number);
  else if (e10 < 0 && e10 >= -22) v = mantissa / (POW10[-e10] as number);
  else if (mantissa === 0) v = 0;
  else return slow(buf, start, end);
  return neg ? -v : v;
}

function fail(): undefined {
  return undefined;
}

function slow(buf: Uint8Array, start: number, end: number): number {
  // The grammar was validated by the caller; Number() is correctly rounded.
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i] as number);
  return Number(s);
}

function lowerAt(buf: Uint8Array, i: number): number {
  return (buf[i] as number) | 0x20;
}

function matchesWord(buf: Uint8Array, i: number, end: number, word: string): boolean {
  if (end - i !== word.length) return false;
  for (let k = 0; k < word.length; k++) {
    if (lowerAt(buf, i + k) !== word.charCodeAt(k)) return false;
  }
  return true;
}

function special(buf: Uint8Array, start: number, i: number, end: number, neg: boolean): number | undefined {
  if (matchesWord(buf, i, end, 'inf') || matchesWord(buf, i, end, 'infinity')) {
    return neg ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }
  // Go accepts no sign before NaN.
  if (i === start && matchesWord(buf, i, end, 'nan')) return Number.NaN;
  return fail();
}

/** Largest timestamp accepted: integers beyond 2^53 lose precision as doubles. */
const MAX_TIMESTAMP = Number.MAX_SAFE_INTEGER;

/**
 * The Prometheus text timestamp (integer milliseconds, digits only) in `buf[start, end)`, or
 * `undefined` when those bytes are not one. Negative timestamps are invalid (the caller reports
 * them by name).
 */
export function parseTimestampBytes(buf: Uint8Array, start: number, end: number): number | undefined {
  if (start >= end || end - start > 16) return fail();
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = (buf[i] as number) - DIGIT_0;
    if (d < 0 || d > 9) return fail();
    v = v * 10 + d;
  }
  if (v > MAX_TIMESTAMP) return fail();
  return v;
}

/**
 * Formats a float as Go's `%v` (strconv 'g', shortest): `1` for 1.0, `0.5`, `1e+06`, `1e-05`,
 * `1.5e+10`, `+Inf`, `-Inf`, `NaN`. This is the canonical form of `bucket` and `quantile` tags,
 * and what the original Go collector wrote.
 */
export function formatGoFloat(v: number): string {
  if (v !== v) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  // toExponential() without an argument gives the shortest digits that round-trip.
  const e = v.toExponential();
  const ePos = e.indexOf('e');
  let mant = e.slice(0, ePos);
  const exp = Number(e.slice(ePos + 1));
  const neg = mant.startsWith('-');
  if (neg) mant = mant.slice(1);
  const digits = mant.replace('.', '');
  let out: string;
  if (exp < -4 || exp >= 6) {
    // Go's shortest 'g' switches to exponent form below 1e-4 and from 1e+06 on.
    const expAbs = Math.abs(exp);
    out = `${mant}e${exp < 0 ? '-' : '+'}${expAbs < 10 ? '0' : ''}${expAbs}`;
  } else if (exp < 0) {
    out = `0.${'0'.repeat(-exp - 1)}${digits}`;
  } else if (digits.length <= exp + 1) {
    out = digits + '0'.repeat(exp + 1 - digits.length);
  } else {
    out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  }
  return neg ? `-${out}` : out;
}
