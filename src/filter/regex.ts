// SPDX-License-Identifier: Apache-2.0
/**
 * Label regexes as Prometheus has them: RE2 syntax, anchored at both ends and with `.` matching
 * a newline too (Prometheus compiles `^(?s:<re>)$`), so `foo` matches only `foo` and `a.*`
 * matches every value starting with `a`.
 *
 * Linear time, whatever the value: matching runs on re2js, a port of RE2 (no backtracking), so
 * a hostile label value costs time proportional to its length. RE2 has no backreferences and
 * no lookaround; a pattern using them is a syntax error, reported at validation with the field
 * that holds it.
 *
 * Cheap where it can be: a pattern without metacharacters is a string comparison, an
 * alternation of such literals a set lookup, `.*` always true and `.+` a length test; any other
 * pattern remembers its answers for short values in a bounded map (label values repeat across
 * series: a namespace, a job, a node). The map starts over when full, which costs only time.
 *
 * Compiled once, when the Collector's filters are compiled; matching is on the series cache's
 * miss path only (a series seen before reuses its stored decision).
 */
import { RE2JS } from 're2js';

/** Characters with a meaning in RE2 syntax; a pattern without any of them is a literal. */
const META = /[\\.+*?()|[\]{}^$]/;
const MEMO_MAX = 4096;
const MEMO_VALUE_MAX = 256;

/** Why `pattern` is not a valid RE2 pattern, or null when it is. */
export function regexProblem(pattern: string): string | null {
  try {
    // The pattern alone first: `a)|(b` compiles once wrapped, but is not a pattern of its own.
    RE2JS.compile(pattern);
    RE2JS.compile(`^(?s:${pattern})$`);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

export class LabelRegex {
  /** The pattern as written (not anchored). */
  readonly source: string;
  readonly #literal: string | null = null;
  readonly #set: ReadonlySet<string> | null = null;
  readonly #any: boolean = false;
  readonly #nonEmpty: boolean = false;
  readonly #re: RE2JS | null = null;
  readonly #memo = new Map<string, boolean>();

  /** Throws the re2js syntax error when `source` is invalid (validate with `regexProblem`). */
  constructor(source: string) {
    this.source = source;
    if (source === '.*') this.#any = true;
    else if (source === '.+') this.#nonEmpty = true;
    else if (!META.test(source)) this.#literal = source;
    else if (source.includes('|') && source.split('|').every((p) => !META.test(p))) this.#set = new Set(source.split('|'));
    else this.#re = RE2JS.compile(`^(?s:${source})$`);
  }

  /** True when the whole of `value` matches. */
  test(value: string): boolean {
    if (this.#literal !== null) return value === this.#literal;
    if (this.#any) return true;
    if (this.#nonEmpty) return value.length > 0;
    if (this.#set !== null) return this.#set.has(value);
    const re = this.#re as RE2JS;
    if (value.length > MEMO_VALUE_MAX) return re.testExact(value);
    const memo = this.#memo;
    const known = memo.get(value);
    if (known !== undefined) return known;
    const hit = re.testExact(value);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(value, hit);
    return hit;
  }
}
