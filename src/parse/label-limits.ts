// SPDX-License-Identifier: Apache-2.0
/**
 * A target's label limits, as Prometheus has them (`label_limit`, `label_name_length_limit`,
 * `label_value_length_limit`; Strata's `scrape.labelLimit`, `scrape.labelNameLengthLimit`,
 * `scrape.labelValueLengthLimit`). 0 or absent is no limit.
 *
 * What is counted, as Prometheus counts it: the series as it would be stored, after the series
 * filters (a dropped series is not checked) and `dropLabels`, with the target's tags merged in.
 * - labelLimit: its labels, `__name__` included (`a{x="1"}` of a target with one tag has 3);
 * - labelNameLengthLimit: each label name in bytes, as exposed (`le`, not `bucket`);
 * - labelValueLengthLimit: each label value in UTF-8 bytes, the metric name (the value of
 *   `__name__`) included.
 * A series over a limit fails the whole scrape with a `LabelLimitError` naming the series, the
 * label, the limit and the setting.
 *
 * Cost: checked in the flattener when the series cache first sees a series; the count and the
 * names once per label layout, the values once per new series. A warm scrape checks nothing.
 */

export interface LabelLimits {
  /** Most labels of a series, `__name__` and target tags included; 0 is no limit. */
  readonly labelLimit?: number;
  /** Longest label name in bytes; 0 is no limit. */
  readonly labelNameLengthLimit?: number;
  /** Longest label value in UTF-8 bytes (the metric name too); 0 is no limit. */
  readonly labelValueLengthLimit?: number;
}

/** The limits with every field set (0 = none), or null when none applies. */
export interface ActiveLabelLimits {
  readonly count: number;
  readonly nameLength: number;
  readonly valueLength: number;
}

export function activeLabelLimits(limits: LabelLimits | undefined): ActiveLabelLimits | null {
  if (limits === undefined) return null;
  const count = limits.labelLimit ?? 0;
  const nameLength = limits.labelNameLengthLimit ?? 0;
  const valueLength = limits.labelValueLengthLimit ?? 0;
  if (count <= 0 && nameLength <= 0 && valueLength <= 0) return null;
  return { count: Math.max(0, count), nameLength: Math.max(0, nameLength), valueLength: Math.max(0, valueLength) };
}

/** A key that changes when the limits do (the series cache starts over then). */
export function labelLimitsKey(limits: ActiveLabelLimits | null): string {
  return limits === null ? '' : `${limits.count},${limits.nameLength},${limits.valueLength}`;
}

/** UTF-8 length of `s`, exact, without encoding it when its UTF-16 length settles the answer. */
export function exceedsBytes(s: string, limit: number): boolean {
  // Each UTF-16 unit is 1 to 3 UTF-8 bytes (a surrogate pair, two units, is 4).
  if (s.length > limit) return true;
  if (s.length * 3 <= limit) return false;
  return Buffer.byteLength(s, 'utf8') > limit;
}

/** `s` quoted for a message, at most 64 characters of it. */
export function quoteCapped(s: string): string {
  return s.length > 64 ? `${JSON.stringify(s.slice(0, 64))}…` : JSON.stringify(s);
}
