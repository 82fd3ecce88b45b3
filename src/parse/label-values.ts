// SPDX-License-Identifier: Apache-2.0
/**
 * Label values: decoding a value's bytes into the string a tag holds, and the table that keeps
 * one copy of each value.
 *
 * Format read: the bytes between the quotes of `name="value"`, with the flags series-syntax.ts
 * set while scanning them (`L_HIGH`: a byte ≥ 0x80 occurs, `L_ESCAPE`: a backslash occurs).
 * Without `L_HIGH` the value is ASCII and read as latin1; with it, it must be valid UTF-8.
 * Escapes follow the text format: `\\` → `\`, `\"` → `"`, `\n` → newline, any other escape
 * kept as written (Prometheus does the same).
 *
 * Ownership of the table: a `LabelValueTable` is shared by every parser of one thread, which is
 * what makes it pay (the values of a cluster repeat across series and across targets: a
 * namespace, a node, a pod name is in every series of that pod, and each cached series keeps
 * its tags for as long as it is scraped). `THREAD_LABEL_VALUES` is that thread's table: module
 * state is per thread in Node (each worker loads its own copy of this module), so no two threads
 * ever touch one table, and nothing else holds it. A Flattener is given it by default and may be
 * given another (a test that wants a fresh one).
 *
 * Invariants: `intern(v)` returns a string equal to `v`; values longer than
 * `MAX_INTERNED_LENGTH` are never stored; the table holds at most `MAX_INTERNED` values.
 *
 * Recovery: invalid UTF-8 throws a `ParseError` naming the label and quoting the bytes (the
 * scrape fails whole). A full table starts over: that costs only sharing, never correctness.
 */
import { isUtf8 } from 'node:buffer';
import { ParseError, quote } from '../errors.js';
import { latin1 } from './chars.js';
import { L_ESCAPE, L_HIGH } from './series-syntax.js';

const MAX_INTERNED = 131_072;
const MAX_INTERNED_LENGTH = 256;

/** One copy of each label value seen, bounded (see the header). */
export class LabelValueTable {
  readonly #values = new Map<string, string>();

  /** The table's copy of `value` (stored now if it is new and short enough). */
  intern(value: string): string {
    if (value.length > MAX_INTERNED_LENGTH) return value;
    const known = this.#values.get(value);
    if (known !== undefined) return known;
    if (this.#values.size >= MAX_INTERNED) this.#values.clear();
    this.#values.set(value, value);
    return value;
  }

  /** Values held now. */
  get size(): number {
    return this.#values.size;
  }
}

/** This thread's table, shared by every parser of the thread (see the header). */
export const THREAD_LABEL_VALUES = new LabelValueTable();

/**
 * The value of label `name` in `buf[vs, ve)` (without the quotes), unescaped and interned in
 * `table` (null: not interned, for values that are read and dropped). `flags` are the label's
 * flags from series-syntax.ts.
 */
export function decodeLabelValue(
  buf: Uint8Array,
  vs: number,
  ve: number,
  flags: number,
  name: string,
  lineNo: number,
  table: LabelValueTable | null,
): string {
  let value: string;
  if (flags & L_HIGH) {
    checkLabelValueUtf8(buf, vs, ve, name, lineNo);
    value = Buffer.from(buf.buffer, buf.byteOffset + vs, ve - vs).toString('utf8');
  } else {
    value = latin1(buf, vs, ve);
  }
  if (flags & L_ESCAPE) value = unescapeLabelValue(value);
  return table === null ? value : table.intern(value);
}

/** Throws unless the label value `buf[vs, ve)` of label `name` is valid UTF-8. */
export function checkLabelValueUtf8(buf: Uint8Array, vs: number, ve: number, name: string, lineNo: number): void {
  if (!isUtf8(buf.subarray(vs, ve))) {
    throw new ParseError(lineNo, `value of label "${name}" is not valid UTF-8: ${quote(buf, vs, ve)}`);
  }
}

/** `\\` → `\`, `\"` → `"`, `\n` → newline; any other escape is kept as written. */
export function unescapeLabelValue(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) !== 0x5c || i + 1 >= s.length) continue;
    const n = s.charCodeAt(i + 1);
    let rep: string | null = null;
    if (n === 0x5c) rep = '\\';
    else if (n === 0x22) rep = '"';
    else if (n === 0x6e) rep = '\n';
    if (rep === null) {
      i++;
      continue;
    }
    out += s.substring(from, i) + rep;
    i++;
    from = i + 1;
  }
  return from === 0 ? s : out + s.substring(from);
}
