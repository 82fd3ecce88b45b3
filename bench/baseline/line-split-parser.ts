// SPDX-License-Identifier: Apache-2.0
/**
 * The line-split baseline: a Prometheus text-format parser written the way people usually write
 * one in JavaScript: decode the body to a string, `split('\n')`, one regular expression per
 * sample line for name, labels, value and timestamp, a second one for the label pairs,
 * `parseFloat` for values. It is the benchmarks' yardstick, not part of Strata.
 *
 * It is meant to be fair, not a strawman: it produces exactly the samples of our model (DESIGN
 * "Samples") on any well-formed exposition the benchmarks use, and does no needless work (no
 * per-line try/catch, no intermediate family objects, label unescaping only where a backslash
 * occurs, one sort of the tags per sample so the JSON encoder's sorted-key format falls out).
 *
 * Output, in exposition order:
 * - counter, gauge, untyped: one sample named as the line, its labels as tags; NaN dropped.
 * - summary `x`: one sample per quantile line, named `x`, with tag `quantile` (canonical Go %v
 *   float form); NaN quantiles dropped. `x_sum` and `x_count` kept as samples of type summary.
 * - histogram `x`: one sample per `x_bucket` line, named `x`, the `le` label replaced by tag
 *   `bucket` (canonical Go %v form: `1.0` -> `1`, `1000000` -> `1e+06`), value the cumulative
 *   count; `x_sum` and `x_count` kept as samples of type histogram.
 * - A line whose family has no TYPE is untyped. Timestamps are integer ms, else `null`.
 *
 * Not handled, because the benchmark payloads do not contain it: OpenMetrics (`# EOF`,
 * exemplars, `_created`), malformed input (a line the regex does not match throws a plain Error).
 */
import type { Sample, SampleType } from '../../src/sample.js';
import { formatGoFloat } from '../lib/go-float.js';

// name, optional {labels}, value, optional timestamp. Label values cannot contain a raw newline,
// and the greedy `.*` stops at the last `}`, which values and timestamps never contain.
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?[ \t]*$/;
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"/g;
const TYPE_LINE = /^#[ \t]+TYPE[ \t]+(\S+)[ \t]+(\S+)/;
const ESCAPE = /\\(.)/g;

const KNOWN_TYPES: ReadonlySet<string> = new Set(['counter', 'gauge', 'summary', 'histogram', 'untyped']);

function unescape(v: string): string {
  return v.includes('\\') ? v.replace(ESCAPE, (_, c: string) => (c === 'n' ? '\n' : c)) : v;
}

function parseValue(s: string): number {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  return parseFloat(s); // 'NaN' -> NaN
}

function byKey(a: [string, string], b: [string, string]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

export interface LineSplitOptions {
  /** Tags added to every sample; a sample's own label of the same name wins. */
  readonly targetTags?: Readonly<Record<string, string>>;
}

export function parseLineSplit(body: Uint8Array, opts: LineSplitOptions = {}): Sample[] {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const lines = text.split('\n');
  const types = new Map<string, SampleType>();
  const target = opts.targetTags === undefined ? [] : Object.entries(opts.targetTags);
  const samples: Sample[] = [];

  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      const t = TYPE_LINE.exec(line);
      if (t !== null) {
        const type = (t[2] as string).toLowerCase();
        types.set(t[1] as string, (KNOWN_TYPES.has(type) ? type : 'untyped') as SampleType);
      }
      continue;
    }

    const m = SAMPLE_LINE.exec(line);
    if (m === null) throw new Error(`line ${n + 1}: cannot parse: ${line.slice(0, 80)}`);
    let name = m[1] as string;
    const value = parseValue(m[3] as string);
    const timestamp = m[4] === undefined ? null : parseInt(m[4], 10);

    // The family's type: the name itself, or the name without a histogram/summary suffix.
    let type = types.get(name);
    let suffix = '';
    if (type === undefined) {
      for (const s of ['_bucket', '_sum', '_count']) {
        if (name.endsWith(s)) {
          const t = types.get(name.slice(0, -s.length));
          if (t === 'histogram' || (t === 'summary' && s !== '_bucket')) {
            type = t;
            suffix = s;
          }
          break;
        }
      }
    }
    type ??= 'untyped';

    const pairs: [string, string][] = target.slice();
    const own = new Map<string, string>();
    if (m[2] !== undefined) {
      LABEL_PAIR.lastIndex = 0;
      for (let l = LABEL_PAIR.exec(m[2]); l !== null; l = LABEL_PAIR.exec(m[2])) {
        own.set(l[1] as string, unescape(l[2] as string));
      }
    }

    if (type === 'histogram') {
      if (suffix === '_bucket') {
        const le = own.get('le');
        if (le === undefined) throw new Error(`line ${n + 1}: histogram bucket without le`);
        own.delete('le');
        own.set('bucket', formatGoFloat(parseValue(le)));
        name = name.slice(0, -suffix.length);
      } else if (suffix === '') {
        throw new Error(`line ${n + 1}: histogram sample without _bucket, _sum or _count`);
      }
    } else if (type === 'summary' && suffix === '') {
      if (Number.isNaN(value)) continue;
      const q = own.get('quantile');
      if (q === undefined) throw new Error(`line ${n + 1}: summary quantile without quantile label`);
      own.set('quantile', formatGoFloat(parseValue(q)));
    } else if (type !== 'summary' && Number.isNaN(value)) {
      continue; // counter, gauge, untyped
    }

    // Own labels win over target tags of the same name.
    const merged = own.size === 0 ? pairs : pairs.filter(([k]) => !own.has(k));
    for (const kv of own) merged.push(kv);
    merged.sort(byKey);
    samples.push({ name, tags: Object.fromEntries(merged), timestamp, type, value });
  }
  return samples;
}
