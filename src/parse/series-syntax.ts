// SPDX-License-Identifier: Apache-2.0
/**
 * The forward parse of one sample line: `name[{label="value",…}] value [timestamp]`, plus an
 * OpenMetrics exemplar (` # {labels} value [timestamp]`) which is checked for shape and skipped.
 *
 * This is the slow, complete path: it runs on a series-cache miss and for every OpenMetrics
 * line, validates everything, and records offsets (never strings) into a reused `SeriesSyntax`.
 * Grammar details follow Prometheus' text lexer: blanks are allowed between the name and `{`,
 * around label names, `=`, values and commas, a trailing comma is allowed, and the value may
 * follow `}` directly. Label values keep any byte but `"` and `\`; `\\`, `\"` and `\n` are
 * escapes, and any other `\x` is kept as written (Prometheus does the same).
 *
 * Errors name the line, what was expected and quote the offending bytes.
 */
import { ParseError, quote } from '../errors.js';
import { STORED_ESCAPE, STORED_HIGH } from '../sample.js';
import {
  BACKSLASH,
  C_BLANK,
  C_LABEL,
  C_LABEL_START,
  C_NAME,
  C_NAME_START,
  CHAR,
  COMMA,
  EQUALS,
  HASH,
  LBRACE,
  QUOTE,
  RBRACE,
} from './chars.js';

/** Label flags in `SeriesSyntax.labels` (the flags `StoredTags` hands on, so the same bits). */
export const L_ESCAPE = STORED_ESCAPE;
export const L_HIGH = STORED_HIGH;

/** Offsets of one parsed sample line. Reused between lines; valid until the next parse. */
export class SeriesSyntax {
  nameStart = 0;
  nameEnd = 0;
  seriesEnd = 0;
  /** Per label: nameStart, nameEnd, valueStart, valueEnd, flags. */
  labels: number[] = [];
  labelCount = 0;
  valueStart = 0;
  valueEnd = 0;
  tsStart = -1;
  tsEnd = -1;
}

function blank(c: number | undefined): boolean {
  return c !== undefined && ((CHAR[c] as number) & C_BLANK) !== 0;
}

function err(lineNo: number, msg: string, buf: Uint8Array, at: number, end: number): never {
  throw new ParseError(lineNo, `${msg} at ${quote(buf, at, end, 32)}`);
}

/**
 * Parses `buf[ls, le)` (trailing blanks already removed) into `out`.
 * @param openMetrics exemplars are allowed after the value/timestamp
 */
export function parseSeriesSyntax(
  buf: Uint8Array,
  ls: number,
  le: number,
  lineNo: number,
  openMetrics: boolean,
  out: SeriesSyntax,
): void {
  let i = ls;
  // metric name
  if (!((CHAR[buf[i] as number] as number) & C_NAME_START)) {
    err(lineNo, 'invalid metric name: expected a letter, "_" or ":"', buf, i, le);
  }
  i++;
  while (i < le && (CHAR[buf[i] as number] as number) & C_NAME) i++;
  out.nameStart = ls;
  out.nameEnd = i;
  out.labelCount = 0;
  let j = i;
  while (j < le && blank(buf[j])) j++;
  if (j < le && buf[j] === LBRACE) {
    i = parseLabels(buf, j + 1, le, lineNo, out);
    out.seriesEnd = i;
  } else {
    out.seriesEnd = i;
    if (i < le && !blank(buf[i])) {
      err(lineNo, 'invalid metric name: unexpected character', buf, i, le);
    }
  }
  // value
  while (i < le && blank(buf[i])) i++;
  if (i >= le) throw new ParseError(lineNo, `missing value after ${quote(buf, ls, out.seriesEnd)}`);
  out.valueStart = i;
  while (i < le && !blank(buf[i])) i++;
  out.valueEnd = i;
  out.tsStart = out.tsEnd = -1;
  while (i < le && blank(buf[i])) i++;
  if (i >= le) return;
  if (openMetrics && buf[i] === HASH) {
    skipExemplar(buf, i, le, lineNo);
    return;
  }
  out.tsStart = i;
  while (i < le && !blank(buf[i])) i++;
  out.tsEnd = i;
  while (i < le && blank(buf[i])) i++;
  if (i >= le) return;
  if (openMetrics && buf[i] === HASH) {
    skipExemplar(buf, i, le, lineNo);
    return;
  }
  err(lineNo, 'unexpected text after the timestamp', buf, i, le);
}

/**
 * Reads back the bytes of a series that `parseSeriesSyntax` accepted (`name`, optional blanks,
 * optional `{labels}`: the `[nameStart, seriesEnd)` it set) into `out`'s name and labels.
 */
export function parseStoredSeries(buf: Uint8Array, start: number, end: number, out: SeriesSyntax): void {
  let i = start + 1;
  while (i < end && (CHAR[buf[i] as number] as number) & C_NAME) i++;
  out.nameStart = start;
  out.nameEnd = i;
  out.labelCount = 0;
  while (i < end && blank(buf[i])) i++;
  out.seriesEnd = i < end && buf[i] === LBRACE ? parseLabels(buf, i + 1, end, 0, out) : out.nameEnd;
}

/** Parses labels after `{`; returns the offset just past `}`. */
function parseLabels(buf: Uint8Array, i: number, le: number, lineNo: number, out: SeriesSyntax): number {
  const labels = out.labels;
  let n = 0;
  for (;;) {
    while (i < le && blank(buf[i])) i++;
    if (i >= le) throw new ParseError(lineNo, 'unterminated label set: missing "}"');
    if (buf[i] === RBRACE) break;
    if (!((CHAR[buf[i] as number] as number) & C_LABEL_START)) {
      err(lineNo, 'invalid label name: expected a letter or "_"', buf, i, le);
    }
    const ns = i;
    i++;
    while (i < le && (CHAR[buf[i] as number] as number) & C_LABEL) i++;
    const ne = i;
    while (i < le && blank(buf[i])) i++;
    if (buf[i] !== EQUALS) err(lineNo, `expected "=" after label name ${quote(buf, ns, ne)}`, buf, i, le);
    i++;
    while (i < le && blank(buf[i])) i++;
    if (buf[i] !== QUOTE) {
      err(lineNo, `expected '"' to open the value of label ${quote(buf, ns, ne)}`, buf, i, le);
    }
    i++;
    const vs = i;
    let flags = 0;
    for (;;) {
      if (i >= le) {
        throw new ParseError(lineNo, `unterminated value of label ${quote(buf, ns, ne)}: missing closing '"'`);
      }
      const c = buf[i] as number;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        flags |= L_ESCAPE;
        i += 2;
        continue;
      }
      if (c >= 0x80) flags |= L_HIGH;
      i++;
    }
    const ve = i;
    i++;
    const k = n * 5;
    labels[k] = ns;
    labels[k + 1] = ne;
    labels[k + 2] = vs;
    labels[k + 3] = ve;
    labels[k + 4] = flags;
    n++;
    while (i < le && blank(buf[i])) i++;
    if (i < le && buf[i] === COMMA) {
      i++;
      continue;
    }
    if (i < le && buf[i] === RBRACE) break;
    err(lineNo, `expected "," or "}" after the value of label ${quote(buf, ns, ne)}`, buf, i, le);
  }
  out.labelCount = n;
  return i + 1;
}

/** Checks ` # {labels} value [timestamp]` and skips it (exemplars are not collected). */
function skipExemplar(buf: Uint8Array, i: number, le: number, lineNo: number): void {
  // i is at '#'
  i++;
  if (!blank(buf[i])) err(lineNo, 'invalid exemplar: expected " " after "#"', buf, i, le);
  while (i < le && blank(buf[i])) i++;
  if (buf[i] !== LBRACE) err(lineNo, 'invalid exemplar: expected "{"', buf, i, le);
  const scratch = new SeriesSyntax();
  i = parseLabels(buf, i + 1, le, lineNo, scratch);
  while (i < le && blank(buf[i])) i++;
  if (i >= le) throw new ParseError(lineNo, 'invalid exemplar: missing value');
}
