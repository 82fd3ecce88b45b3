// SPDX-License-Identifier: Apache-2.0
/**
 * The line cursor: splits an exposition into entries, one line at a time, over bytes.
 *
 * `next()` returns the kind of the next entry and sets the cursor's offset fields, which are
 * views into the buffer valid until the following call (Prometheus' textparse does the same).
 * It never copies or decodes: the parser decides what to read.
 *
 * For a series line in the Prometheus text format the cursor also proposes where the series
 * ends and where the value and the timestamp are, scanning back from the line end: the series
 * is `name` or ends with `}`, and a value or a timestamp can contain neither a blank nor `}`.
 * For a valid line the proposal is exact; for an invalid one the series text it proposes is not
 * a valid series, so the parser's cache cannot hit and the full forward parse reports the error.
 * OpenMetrics lines (exemplars may follow the value) are left to the forward parse.
 *
 * Errors raised here: a carriage return at a line end (CRLF is not supported) and a line longer
 * than `maxLineBytes`.
 */
import { ErrorCode, ParseError } from '../errors.js';
import { C_BLANK, CHAR, CR, HASH, LF, RBRACE } from './chars.js';

export const Entry = {
  /** No more complete lines in the region. */
  End: 0,
  /** A blank line (only spaces and tabs). */
  Blank: 1,
  /** A sample line. */
  Series: 2,
  /** A comment or metadata line starting with `#`. */
  Comment: 3,
} as const;
export type Entry = (typeof Entry)[keyof typeof Entry];

export class LineCursor {
  buf: Uint8Array = new Uint8Array(0);
  /** 1-based number of the current line (across regions). */
  lineNo = 0;
  /** Current line: [lineStart, lineEnd), trailing blanks excluded. */
  lineStart = 0;
  lineEnd = 0;
  /** Where the current line's newline is (or the region's end): [lineEnd, rawEnd) are blanks. */
  rawEnd = 0;
  /** Proposed split of a series line (Prometheus text format). */
  seriesEnd = 0;
  valueStart = 0;
  valueEnd = 0;
  /** -1 when the line has no timestamp. */
  tsStart = -1;
  tsEnd = -1;

  readonly maxLineBytes: number;
  #pos = 0;
  #end = 0;
  #lastUnterminated = false;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
  }

  /**
   * Points the cursor at `buf[start, end)`. Every line in it ends with `\n`, except the last one
   * when `lastUnterminated` (the final line of a body without a trailing newline).
   */
  reset(buf: Uint8Array, start: number, end: number, lastUnterminated: boolean): void {
    this.buf = buf;
    this.#pos = start;
    this.#end = end;
    this.#lastUnterminated = lastUnterminated;
  }

  next(): Entry {
    const buf = this.buf;
    const start = this.#pos;
    const end = this.#end;
    if (start >= end) return Entry.End;
    let nl = (buf as Buffer).indexOf(LF, start);
    if (nl < 0 || nl >= end) {
      if (!this.#lastUnterminated) return Entry.End;
      nl = end;
    }
    this.lineNo++;
    this.#pos = nl + 1;
    if (nl - start > this.maxLineBytes) {
      throw new ParseError(
        this.lineNo,
        `line is over the limit of ${this.maxLineBytes} bytes (maxLineBytes)`,
        ErrorCode.ParseLimit,
      );
    }
    let le = nl;
    if (le > start && buf[le - 1] === CR) {
      throw new ParseError(this.lineNo, 'line ends with a carriage return (CRLF line endings are not supported)');
    }
    // Trailing blanks are allowed after the value or timestamp.
    while (le > start && (CHAR[buf[le - 1] as number] as number) & C_BLANK) le--;
    this.lineStart = start;
    this.lineEnd = le;
    this.rawEnd = nl;
    if (le === start) return Entry.Blank;
    const first = buf[start] as number;
    if (first === HASH) return Entry.Comment;
    if ((CHAR[first] as number) & C_BLANK) {
      // Leading blanks: Prometheus' lexer skips them before a series or comment; keep the
      // offsets on the first token so the forward parse sees the same line.
      let s = start;
      while ((CHAR[buf[s] as number] as number) & C_BLANK) s++;
      this.lineStart = s;
      if (buf[s] === HASH) return Entry.Comment;
    }
    this.#split();
    return Entry.Series;
  }

  /** Proposes series/value/timestamp offsets by scanning back from the line end. */
  #split(): void {
    const buf = this.buf;
    const ls = this.lineStart;
    const le = this.lineEnd;
    // last token
    let i = le;
    while (i > ls && !((CHAR[buf[i - 1] as number] as number) & C_BLANK)) i--;
    const t1s = i;
    while (i > ls && (CHAR[buf[i - 1] as number] as number) & C_BLANK) i--;
    const e2 = i;
    if (e2 === ls) {
      // A single token: no value. The forward parse reports it.
      this.seriesEnd = le;
      this.valueStart = this.valueEnd = le;
      this.tsStart = this.tsEnd = -1;
      return;
    }
    if (buf[e2 - 1] === RBRACE) {
      this.seriesEnd = e2;
      this.valueStart = t1s;
      this.valueEnd = le;
      this.tsStart = this.tsEnd = -1;
      return;
    }
    while (i > ls && !((CHAR[buf[i - 1] as number] as number) & C_BLANK)) i--;
    const t2s = i;
    while (i > ls && (CHAR[buf[i - 1] as number] as number) & C_BLANK) i--;
    if (i === ls) {
      // `name value`
      this.seriesEnd = e2;
      this.valueStart = t1s;
      this.valueEnd = le;
      this.tsStart = this.tsEnd = -1;
      return;
    }
    // `series value timestamp`
    this.seriesEnd = i;
    this.valueStart = t2s;
    this.valueEnd = e2;
    this.tsStart = t1s;
    this.tsEnd = le;
  }
}
