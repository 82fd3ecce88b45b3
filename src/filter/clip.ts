// SPDX-License-Identifier: Apache-2.0
/**
 * `clip {min, max, inclusive}`: keeps values inside the range. `inclusive: true` keeps values
 * equal to a bound; `false` (the default) drops them. Unset bounds are ∓Infinity. NaN is never
 * inside a range, so it is dropped.
 */
import type { ClipConfig } from './config.js';

export class ClipFilter {
  readonly min: number;
  readonly max: number;
  readonly inclusive: boolean;

  constructor(config: ClipConfig) {
    this.min = config.min ?? Number.NEGATIVE_INFINITY;
    this.max = config.max ?? Number.POSITIVE_INFINITY;
    this.inclusive = config.inclusive ?? false;
  }

  /** True when the value is kept. */
  keeps(v: number): boolean {
    return this.inclusive ? v >= this.min && v <= this.max : v > this.min && v < this.max;
  }
}
