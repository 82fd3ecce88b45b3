// SPDX-License-Identifier: Apache-2.0
/**
 * Deterministic randomness for the demo exposition: a seeded PRNG for building the series once,
 * and stateless hashes for the values of scrape n, so a value is a pure function of
 * (seed, series, scrape) and rendering scrape n needs no history. No Math.random, no clock.
 *
 * `Rng` (mulberry32) is the project's one seeded generator: benchmarks and tests that need a
 * replayable random stream import it (or `seededRandom`) from here rather than keeping a copy,
 * so one seed means one stream everywhere. Invariant: the stream is a pure function of the seed
 * (any 32-bit integer; it is taken modulo 2^32), on every platform.
 */

/** 32-bit integer hash (lowbias32). */
export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The half of `hash2(a, b)` that depends on `b` only: compute it once for many `a`. */
export function mixKey(b: number): number {
  return Math.imul(hash32(b + 0x9e3779b9), 0x85ebca6b);
}

/** Hash of two integers. */
export function hash2(a: number, b: number): number {
  return hash32((a ^ mixKey(b)) >>> 0);
}

const TWO_32 = 4294967296;

/** Uniform in [0, 1) from two integers; `unitMixed(a, mixKey(b))` is `unit2(a, b)`. */
export function unit2(a: number, b: number): number {
  return hash2(a, b) / TWO_32;
}

export function unitMixed(a: number, mixed: number): number {
  return hash32((a ^ mixed) >>> 0) / TWO_32;
}

/**
 * Value noise in [0, 1) at scrape `n`: piecewise smooth interpolation between hashed points at
 * three scales (periods 32, 8 and 2 scrapes). Successive scrapes move a little, like a bounded
 * random walk, and any scrape is computed directly from its number. A frame holds what depends
 * on `n` only, so a render computes it once and `at(seed)` hashes only the per-series half.
 */
export class WalkFrame {
  readonly #k: Float64Array = new Float64Array(6);
  readonly #s: Float64Array = new Float64Array(3);

  constructor(n: number) {
    const periods = [32, 8, 2];
    for (let o = 0; o < 3; o++) {
      const period = periods[o] as number;
      const i = Math.floor(n / period);
      const f = (n - i * period) / period;
      this.#k[2 * o] = mixKey(i);
      this.#k[2 * o + 1] = mixKey(i + 1);
      this.#s[o] = f * f * (3 - 2 * f);
    }
  }

  at(seed: number): number {
    const k = this.#k;
    const s = this.#s;
    const s1 = seed ^ 0x5bd1e995;
    const s2 = seed ^ 0x1b873593;
    const a0 = unitMixed(seed, k[0] as number);
    const a1 = unitMixed(s1, k[2] as number);
    const a2 = unitMixed(s2, k[4] as number);
    return (
      0.5 * (a0 + (unitMixed(seed, k[1] as number) - a0) * (s[0] as number)) +
      0.3 * (a1 + (unitMixed(s1, k[3] as number) - a1) * (s[1] as number)) +
      0.2 * (a2 + (unitMixed(s2, k[5] as number) - a2) * (s[2] as number))
    );
  }
}

/** mulberry32: small, fast, seeded; for building the series, and for any replayable stream. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_32;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** Log-uniform in [lo, hi). */
  logRange(lo: number, hi: number): number {
    return lo * Math.exp(Math.log(hi / lo) * this.next());
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  uint32(): number {
    return Math.floor(this.next() * TWO_32) >>> 0;
  }
}

/** `new Rng(seed).next` as a function: uniform in [0, 1), the same stream for the same seed. */
export function seededRandom(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}
