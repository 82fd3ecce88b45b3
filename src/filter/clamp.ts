// SPDX-License-Identifier: Apache-2.0
/**
 * `clamp {min, max}`: pins values below `min` to `min` and above `max` to `max`; drops nothing.
 * Unset bounds are ∓Infinity (no pinning on that side); NaN passes unchanged.
 */
import type { ClampConfig } from './config.js';

export class ClampFilter {
  readonly min: number;
  readonly max: number;

  constructor(config: ClampConfig) {
    this.min = config.min ?? Number.NEGATIVE_INFINITY;
    this.max = config.max ?? Number.POSITIVE_INFINITY;
  }
}
