/**
 * Deterministic randomness for the demo exposition: a seeded PRNG for building the series once,
 * and stateless hashes for the values of scrape n, so a value is a pure function of
 * (seed, series, scrape) and rendering scrape n needs no history. No Math.random, no clock.
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

/** Hash of two integers. */
export function hash2(a: number, b: number): number {
  return hash32((a ^ Math.imul(hash32(b + 0x9e3779b9), 0x85ebca6b)) >>> 0);
}

const TWO_32 = 4294967296;

/** Uniform in [0, 1) from two integers. */
export function unit2(a: number, b: number): number {
  return hash2(a, b) / TWO_32;
}

/**
 * Value noise in [0, 1): piecewise smooth interpolation between hashed points at three scales
 * (periods 32, 8 and 2 scrapes). Successive scrapes move a little, like a bounded random walk,
 * and any scrape is computed directly from its number.
 */
export function walk(seed: number, n: number): number {
  return 0.5 * octave(seed, n, 32) + 0.3 * octave(seed ^ 0x5bd1e995, n, 8) + 0.2 * octave(seed ^ 0x1b873593, n, 2);
}

function octave(seed: number, n: number, period: number): number {
  const i = Math.floor(n / period);
  const f = (n - i * period) / period;
  const a = unit2(seed, i);
  const b = unit2(seed, i + 1);
  const s = f * f * (3 - 2 * f);
  return a + (b - a) * s;
}

/** mulberry32: small, fast, seeded; for building the series. */
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
