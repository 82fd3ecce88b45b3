// SPDX-License-Identifier: Apache-2.0
/**
 * Do two parsers agree? Compares sample lists in order: name, type, timestamp, value (NaN equals
 * NaN) and tags (as sets of pairs). Used by the benchmarks to check, untimed, that Strata and the
 * baseline computed the same thing before comparing how fast they did it.
 */
import type { Sample } from '../../src/sample.js';

export interface Agreement {
  readonly total: number;
  readonly identical: number;
  readonly firstDifference?: { readonly index: number; readonly ours: Sample | undefined; readonly baseline: Sample | undefined };
}

function tagsKey(tags: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function sameSample(a: Sample, b: Sample): boolean {
  return a.name === b.name && a.type === b.type && a.timestamp === b.timestamp &&
    (a.value === b.value || (Number.isNaN(a.value) && Number.isNaN(b.value))) && tagsKey(a.tags) === tagsKey(b.tags);
}

export function compareSamples(ours: readonly Sample[], baseline: readonly Sample[]): Agreement {
  let identical = 0;
  let first: Agreement['firstDifference'];
  const n = Math.max(ours.length, baseline.length);
  for (let i = 0; i < n; i++) {
    const a = ours[i];
    const b = baseline[i];
    if (a !== undefined && b !== undefined && sameSample(a, b)) identical++;
    else first ??= { index: i, ours: a, baseline: b };
  }
  return first === undefined ? { total: n, identical } : { total: n, identical, firstDifference: first };
}

export function agreementLine(what: string, a: Agreement): string {
  if (a.firstDifference === undefined) return `${what}: all ${a.total} samples identical`;
  const f = a.firstDifference;
  return `${what}: ${a.identical} of ${a.total} samples identical; first difference at #${f.index}:\n` +
    `     ours:     ${JSON.stringify(f.ours)}\n     baseline: ${JSON.stringify(f.baseline)}`;
}
