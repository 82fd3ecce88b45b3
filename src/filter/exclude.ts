// SPDX-License-Identifier: Apache-2.0
/**
 * `exclude {values}`: a value test compiled once. Up to 8 values are compared in a loop over a
 * Float64Array; more use a Set. NaN in `values` matches NaN values. No allocation per sample.
 */
import type { ExcludeConfig } from './config.js';

export class ExcludeFilter {
  readonly #small: Float64Array;
  readonly #set: Set<number> | null;
  readonly #nan: boolean;

  constructor(config: ExcludeConfig) {
    const finiteOrInf = config.values.filter((v) => !Number.isNaN(v));
    this.#nan = finiteOrInf.length !== config.values.length;
    this.#small = Float64Array.from(finiteOrInf.length <= 8 ? finiteOrInf : []);
    // Set uses SameValueZero: 0 and -0 match, as === does.
    this.#set = finiteOrInf.length > 8 ? new Set(finiteOrInf) : null;
  }

  /** True when the value is excluded (the sample is dropped). */
  excludes(v: number): boolean {
    if (v !== v) return this.#nan;
    if (this.#set !== null) return this.#set.has(v);
    const small = this.#small;
    for (let i = 0; i < small.length; i++) if (small[i] === v) return true;
    return false;
  }
}
