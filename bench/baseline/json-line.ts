// SPDX-License-Identifier: Apache-2.0
/**
 * One sample as one line of the JSON encoder's format, the baseline way: `JSON.stringify` of an
 * object `{name, tags, timestamp, type, value}`, non-finite values as "NaN", "+Inf", "-Inf".
 * Tags come out in the object's key order (the line-split parser builds them sorted). Kept apart
 * from naive.ts so the baseline CLI loads nothing it does not use.
 */
import type { Sample } from '../../src/sample.js';

export function nonFinite(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : 'NaN';
}

/** One JSON line per sample (no newline). */
export function sampleToJson(s: Sample, defaultTimestamp: number | null): string {
  return JSON.stringify({
    name: s.name,
    tags: s.tags,
    timestamp: s.timestamp ?? defaultTimestamp,
    type: s.type,
    value: Number.isFinite(s.value) ? s.value : nonFinite(s.value),
  });
}
