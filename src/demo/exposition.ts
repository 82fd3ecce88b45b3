// SPDX-License-Identifier: Apache-2.0
/**
 * The demo exposition: a synthetic Prometheus text-format 0.0.4 body shaped like a
 * high-cardinality Kubernetes cluster (see `families.ts`), whose values change every scrape.
 *
 * Invariants:
 * - Exactly `series` sample lines (HELP and TYPE lines come on top); every line ends in `\n`.
 *   `describe()` gives the counts by type. No NaN, no ±Inf values and no timestamps, so the
 *   body flattens to exactly `series` samples.
 * - `render(n)` depends only on (`series`, `seed`, `n`): values are pure functions of the scrape
 *   number (hashes and value noise, no Math.random, no clock, no history). Counters, histogram
 *   buckets, `_sum` and `_count` never decrease as `n` grows (most counters grow every scrape);
 *   gauges wander; histogram buckets are cumulative and `le="+Inf"` equals `_count`; summary
 *   quantiles are ordered (0.5 ≤ 0.9 ≤ 0.99).
 * - Label sets are unique within a family; families are contiguous.
 * - Churn (`renderInto`'s `churn` share c, 0 by default): pods are rescheduled, as in a cluster
 *   whose pods come and go. Pod p is in generation floor(k·c + u_p) at churn scrape k, with u_p
 *   spread evenly over [0, 1) (golden-ratio steps), so between two consecutive churn scrapes a
 *   share c of the pods (±1 pod) gets a new generation, and every series of such a pod a new
 *   `pod` label value (a name suffix no pod of the target had before): about a share c of the
 *   series is replaced by new ones on every scrape, and a replaced series never comes back.
 *   Generation 0 is the pod as without churn, so churn 0, or churn scrape 0, renders exactly the
 *   body without churn. The suffix has a fixed length: churn changes no line's length.
 *
 * Speed: everything but the values is built once, into one buffer of line prefixes (the HELP
 * and TYPE lines ride on a family's first prefix). `render()` copies each prefix and writes the
 * value's digits straight into the output, with no strings on the way.
 */
import { ConfigError } from '../errors.js';
import { formatGoFloat } from '../parse/float.js';
import { FAMILIES, type FamilySpec, type LabelPair, PodPool, SUMMARY_QUANTILES, linesPerGroup } from './families.js';
import { Rng, WalkFrame, hash2, mixKey, unitMixed } from './random.js';

export type DemoType = 'counter' | 'gauge' | 'histogram' | 'summary';

export interface DemoExpositionOptions {
  /** Sample lines in the body; a non-negative integer. */
  readonly series: number;
  /** Seed of everything random; default 1. */
  readonly seed?: number;
}

export interface DemoDescription {
  /** Families with at least one sample line. */
  readonly families: number;
  /** Sample lines (= samples after flattening). */
  readonly series: number;
  /** Sample lines by family type (buckets, quantiles, `_sum` and `_count` included). */
  readonly byType: Readonly<Record<DemoType, number>>;
  /** Pods the series are spread over. */
  readonly pods: number;
}

/** Series churn of one rendering (see the module header). */
export interface ChurnOptions {
  /** Share of the pods (so, about, of the series) rescheduled per churn scrape, 0–1; default 0. */
  readonly churn?: number;
  /** Which churn scrape this is (a non-negative integer); default the scrape number. */
  readonly churnScrape?: number;
}

export interface DemoExposition {
  /** The body of scrape `scrapeNo` (a non-negative integer), freshly allocated. */
  render(scrapeNo: number, churn?: ChurnOptions): Buffer;
  /**
   * Renders scrape `scrapeNo` into `out` (at least `maxBytes` long) and returns the body's
   * length. For servers that recycle their output buffers: a fresh multi-megabyte buffer per
   * scrape costs more in page faults than rendering does.
   */
  renderInto(scrapeNo: number, out: Buffer, churn?: ChurnOptions): number;
  /** The most bytes any scrape's body can take. */
  readonly maxBytes: number;
  describe(): DemoDescription;
}

/** Share of the sample lines given to histogram and summary families; the rest are counters and gauges. */
const HISTOGRAM_SHARE = 0.35;
const SUMMARY_SHARE = 0.1;
const COUNTER_SHARE_OF_REST = 0.55;
/** Series per pod, on average. */
const SERIES_PER_POD = 40;
/** Longest value we write: sign, 16 digits, point, 9 decimals, plus the newline. */
const MAX_VALUE_BYTES = 29;
/** Above this, digit-by-digit division by ten is no longer exact: fall back to `String()`. */
const EXACT_LIMIT = 1e15;

const Kind = { Counter: 0, SlowCounter: 1, Gauge: 2, Histogram: 3, Summary: 4 } as const;

/** Pod p's churn phase is frac(p · GOLDEN): evenly spread over [0, 1) for any number of pods. */
const GOLDEN = 0.6180339887498949;
const POD_SUFFIX_BYTES = 5;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];
const SUMMARY_DECIMALS = 9;

export function createDemoExposition(options: DemoExpositionOptions): DemoExposition {
  const { series } = options;
  if (!Number.isSafeInteger(series) || series < 0) {
    throw new ConfigError('series', `must be a non-negative integer, got ${String(series)}`);
  }
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed)) throw new ConfigError('seed', `must be an integer, got ${String(seed)}`);
  return new Exposition(series, seed >>> 0);
}

function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

function escapeHelp(v: string): string {
  return v.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

function labelText(pairs: readonly LabelPair[]): string {
  let s = '';
  for (const [k, v] of pairs) s += `${s === '' ? '' : ','}${k}="${escapeLabel(v)}"`;
  return s;
}

/** Standard normal CDF (Abramowitz and Stegun 7.1.26, error below 1.5e-7). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

/** How many groups each family gets, so that the sample lines add up to exactly `series`. */
function allocate(series: number): number[] {
  const groups = FAMILIES.map(() => 0);
  let used = 0;
  const fill = (type: FamilySpec['type'], budget: number): void => {
    const members = FAMILIES.map((f, i) => [f, i] as const).filter(([f]) => f.type === type);
    let left = budget;
    for (;;) {
      let progress = false;
      for (const [f, i] of members) {
        const size = linesPerGroup(f);
        if (size <= left) {
          groups[i] = (groups[i] as number) + 1;
          left -= size;
          progress = true;
        }
      }
      if (!progress) break;
    }
    used += budget - left;
  };
  fill('histogram', Math.floor(series * HISTOGRAM_SHARE));
  fill('summary', Math.floor(series * SUMMARY_SHARE));
  const rest = series - used;
  const counters = Math.ceil(rest * COUNTER_SHARE_OF_REST);
  const spread = (type: FamilySpec['type'], n: number): void => {
    const members = FAMILIES.flatMap((f, i) => (f.type === type ? [i] : []));
    members.forEach((i, k) => {
      groups[i] = Math.floor(n / members.length) + (k < n % members.length ? 1 : 0);
    });
  };
  spread('counter', counters);
  spread('gauge', rest - counters);
  return groups;
}

class Exposition implements DemoExposition {
  readonly #description: DemoDescription;
  /**
   * Each line's prefix (the HELP and TYPE lines before a family's first), as views into one
   * buffer: `TypedArray#set` from a ready view is a plain memmove, where `Buffer#copy` of a
   * range builds a view per call and takes three times as long.
   */
  readonly #prefixes: Uint8Array[];
  readonly maxBytes: number;
  // Per group:
  readonly #kind: Uint8Array;
  readonly #seed: Uint32Array;
  readonly #decimals: Uint8Array;
  readonly #p0: Float64Array;
  readonly #p1: Float64Array;
  readonly #p2: Float64Array;
  readonly #p3: Float64Array;
  readonly #p4: Float64Array;
  /** Histograms: offset of the group's bucket fractions in `#cdf`, and their number (with +Inf). */
  readonly #cdfAt: Int32Array;
  readonly #buckets: Uint8Array;
  readonly #cdf: Float64Array;
  // Per line, for churn: the line's pod, and where its pod name's suffix is in its prefix.
  readonly #linePod: Uint32Array;
  readonly #suffixAt: Int32Array;
  readonly #pods: PodPool;

  constructor(series: number, seed: number) {
    const groupsPerFamily = allocate(series);
    const pods = new PodPool(seed, Math.max(1, Math.ceil(series / SERIES_PER_POD)));
    const totalGroups = groupsPerFamily.reduce((a, b) => a + b, 0);
    let cdfSize = 0;
    FAMILIES.forEach((f, i) => {
      if (f.value.kind === 'histogram') cdfSize += (groupsPerFamily[i] as number) * (f.value.buckets.length + 1);
    });
    this.#kind = new Uint8Array(totalGroups);
    this.#seed = new Uint32Array(totalGroups);
    this.#decimals = new Uint8Array(totalGroups);
    this.#p0 = new Float64Array(totalGroups);
    this.#p1 = new Float64Array(totalGroups);
    this.#p2 = new Float64Array(totalGroups);
    this.#p3 = new Float64Array(totalGroups);
    this.#p4 = new Float64Array(totalGroups);
    this.#cdfAt = new Int32Array(totalGroups);
    this.#buckets = new Uint8Array(totalGroups);
    this.#cdf = new Float64Array(cdfSize);

    const prefixes: string[] = [];
    const linePods: number[] = [];
    const byType: Record<DemoType, number> = { counter: 0, gauge: 0, histogram: 0, summary: 0 };
    let families = 0;
    let g = 0;
    let cdfAt = 0;
    FAMILIES.forEach((spec, fi) => {
      const count = groupsPerFamily[fi] as number;
      if (count === 0) return;
      families++;
      byType[spec.type] += count * linesPerGroup(spec);
      let header = `# HELP ${spec.name} ${escapeHelp(spec.help)}\n# TYPE ${spec.name} ${spec.type}\n`;
      const rng = new Rng(hash2(seed, fi + 1));
      const v = spec.value;
      for (let k = 0; k < count; k++, g++) {
        const pod = pods.get(k % pods.size);
        const firstLine = prefixes.length;
        const pairs: LabelPair[] = spec.base.map((name) => [name, pod[name]] as const);
        pairs.push(...spec.variant(Math.floor(k / pods.size), pod));
        const labels = labelText(pairs);
        this.#seed[g] = rng.uint32();
        switch (v.kind) {
          case 'counter': {
            const rate = v.decimals === 0 ? Math.max(1, Math.round(rng.logRange(v.rate[0], v.rate[1]))) : rng.logRange(v.rate[0], v.rate[1]);
            this.#kind[g] = Kind.Counter;
            this.#decimals[g] = v.decimals;
            this.#p0[g] = v.decimals === 0 ? rate * Math.round(rng.range(100, 20_000)) : rate * rng.range(100, 20_000);
            this.#p1[g] = rate;
            prefixes.push(`${header}${spec.name}{${labels}} `);
            break;
          }
          case 'slow-counter': {
            const period = Math.round(rng.range(v.period[0], v.period[1]));
            this.#kind[g] = Kind.SlowCounter;
            this.#p0[g] = rng.int(6);
            this.#p1[g] = period;
            this.#p2[g] = rng.int(period);
            prefixes.push(`${header}${spec.name}{${labels}} `);
            break;
          }
          case 'gauge': {
            this.#kind[g] = Kind.Gauge;
            this.#decimals[g] = v.decimals;
            this.#p0[g] = rng.logRange(v.centre[0], v.centre[1]);
            prefixes.push(`${header}${spec.name}{${labels}} `);
            break;
          }
          case 'histogram': {
            const rate = Math.max(1, Math.round(rng.logRange(v.rate[0], v.rate[1])));
            const median = rng.logRange(v.median[0], v.median[1]);
            this.#kind[g] = Kind.Histogram;
            this.#decimals[g] = v.sumDecimals;
            this.#p0[g] = rate * Math.round(rng.range(100, 20_000));
            this.#p1[g] = rate;
            this.#p2[g] = median * Math.exp((v.sigma * v.sigma) / 2); // mean of the log-normal
            this.#cdfAt[g] = cdfAt;
            this.#buckets[g] = v.buckets.length + 1;
            for (const b of v.buckets) {
              this.#cdf[cdfAt++] = normalCdf((Math.log(b) - Math.log(median)) / v.sigma);
              prefixes.push(`${header}${spec.name}_bucket{${labels},le="${formatGoFloat(b)}"} `);
              header = '';
            }
            this.#cdf[cdfAt++] = 1;
            prefixes.push(`${spec.name}_bucket{${labels},le="+Inf"} `, `${spec.name}_sum{${labels}} `, `${spec.name}_count{${labels}} `);
            break;
          }
          case 'summary': {
            const rate = Math.max(1, Math.round(rng.logRange(v.rate[0], v.rate[1])));
            this.#kind[g] = Kind.Summary;
            this.#decimals[g] = 6;
            this.#p0[g] = rate * Math.round(rng.range(100, 20_000));
            this.#p1[g] = rate;
            this.#p2[g] = rng.logRange(v.median[0], v.median[1]);
            this.#p3[g] = rng.range(1.5, 3); // q0.9 / q0.5
            this.#p4[g] = rng.range(1.2, 2.5); // q0.99 / q0.9
            for (const q of SUMMARY_QUANTILES) {
              prefixes.push(`${header}${spec.name}{${labels},quantile="${q}"} `);
              header = '';
            }
            prefixes.push(`${spec.name}_sum{${labels}} `, `${spec.name}_count{${labels}} `);
            break;
          }
        }
        header = '';
        for (let l = firstLine; l < prefixes.length; l++) linePods.push(k % pods.size);
      }
    });

    this.#pods = pods;
    this.#linePod = Uint32Array.from(linePods);
    this.#suffixAt = new Int32Array(prefixes.length);

    let bytes = 0;
    for (const p of prefixes) bytes += Buffer.byteLength(p);
    const all = Buffer.allocUnsafe(bytes);
    let at = 0;
    this.#prefixes = prefixes.map((p, l) => {
      // The pod label is one of the base labels, ahead of the variant's: its value ends in the
      // suffix, right before the first `"` after `,pod="` (or `{pod="`).
      const open = p.search(/[{,]pod="/) + 6;
      const close = p.indexOf('"', open);
      this.#suffixAt[l] = Buffer.byteLength(p.slice(0, close - POD_SUFFIX_BYTES));
      const start = at;
      at += all.write(p, at, 'utf8');
      return new Uint8Array(all.buffer, all.byteOffset + start, at - start);
    });
    this.maxBytes = bytes + prefixes.length * MAX_VALUE_BYTES;
    this.#description = { families, series, byType, pods: pods.size };
  }

  describe(): DemoDescription {
    return { ...this.#description, byType: { ...this.#description.byType } };
  }

  render(scrapeNo: number, churn?: ChurnOptions): Buffer {
    const out = Buffer.allocUnsafe(this.maxBytes);
    return out.subarray(0, this.renderInto(scrapeNo, out, churn));
  }

  renderInto(scrapeNo: number, out: Buffer, churn: ChurnOptions = {}): number {
    const share = churn.churn ?? 0;
    const k = churn.churnScrape ?? scrapeNo;
    if (!(share >= 0 && share <= 1)) throw new RangeError(`churn must be a share in 0..1, got ${String(share)}`);
    if (!Number.isSafeInteger(k) || k < 0) throw new RangeError(`churnScrape must be a non-negative integer, got ${String(k)}`);
    const end = this.#render(scrapeNo, out);
    if (share > 0 && k > 0) this.#churn(out, share, k);
    return end;
  }

  /** Rewrites the pod name suffix of every line whose pod is past generation 0 at churn scrape `k`. */
  #churn(out: Buffer, share: number, k: number): void {
    const pods = this.#pods;
    const suffixes = Buffer.allocUnsafe(pods.size * POD_SUFFIX_BYTES);
    for (let p = 0; p < pods.size; p++) {
      const phase = (p * GOLDEN) % 1;
      suffixes.write(pods.suffix(p, Math.floor(k * share + phase)), p * POD_SUFFIX_BYTES, 'latin1');
    }
    const prefixes = this.#prefixes;
    let pos = 0;
    for (let line = 0; line < prefixes.length; line++) {
      const at = pos + (this.#suffixAt[line] as number);
      const from = (this.#linePod[line] as number) * POD_SUFFIX_BYTES;
      suffixes.copy(out, at, from, from + POD_SUFFIX_BYTES);
      // The value after the prefix holds no newline: the next line starts after the first one.
      pos = out.indexOf(0x0a, pos + (prefixes[line] as Uint8Array).length) + 1;
    }
  }

  #render(scrapeNo: number, out: Buffer): number {
    if (!Number.isSafeInteger(scrapeNo) || scrapeNo < 0) {
      throw new RangeError(`scrapeNo must be a non-negative integer, got ${String(scrapeNo)}`);
    }
    if (out.length < this.maxBytes) {
      throw new RangeError(`output buffer of ${out.length} bytes is under maxBytes (${this.maxBytes})`);
    }
    const n = scrapeNo;
    const walk = new WalkFrame(n);
    const key = mixKey(n);
    const prefixes = this.#prefixes;
    const kinds = this.#kind;
    const seeds = this.#seed;
    const decimals = this.#decimals;
    const p0 = this.#p0;
    const p1 = this.#p1;
    const p2 = this.#p2;
    const p3 = this.#p3;
    const cdf = this.#cdf;
    let pos = 0;
    let line = 0;
    for (let g = 0; g < kinds.length; g++) {
      const seed = seeds[g] as number;
      switch (kinds[g]) {
        case Kind.Counter: {
          const rate = p1[g] as number;
          const d = decimals[g] as number;
          // base + rate·n + jitter, the jitter below one scrape's growth: strictly increasing.
          const h = unitMixed(seed, key);
          const v = (p0[g] as number) + rate * n + (d === 0 ? Math.floor(h * rate) : 0.5 * rate * h);
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, v, d);
          out[pos++] = 0x0a;
          break;
        }
        case Kind.SlowCounter: {
          const v = (p0[g] as number) + Math.floor((n + (p2[g] as number)) / (p1[g] as number));
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, v, 0);
          out[pos++] = 0x0a;
          break;
        }
        case Kind.Gauge: {
          const v = (p0[g] as number) * (0.7 + 0.6 * walk.at(seed));
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, v, decimals[g] as number);
          out[pos++] = 0x0a;
          break;
        }
        case Kind.Histogram: {
          const rate = p1[g] as number;
          const count = (p0[g] as number) + rate * n + Math.floor(unitMixed(seed, key) * rate);
          const at = this.#cdfAt[g] as number;
          const nb = this.#buckets[g] as number;
          for (let j = 0; j < nb; j++) {
            pos = put(out, pos, prefixes[line++] as Uint8Array);
            pos = writeNumber(out, pos, Math.floor(count * (cdf[at + j] as number)), 0);
            out[pos++] = 0x0a;
          }
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, count * (p2[g] as number), decimals[g] as number);
          out[pos++] = 0x0a;
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, count, 0);
          out[pos++] = 0x0a;
          break;
        }
        case Kind.Summary: {
          const rate = p1[g] as number;
          const count = (p0[g] as number) + rate * n + Math.floor(unitMixed(seed, key) * rate);
          const median = p2[g] as number;
          const q50 = median * (0.8 + 0.4 * walk.at(seed));
          const q90 = q50 * (p3[g] as number);
          const q99 = q90 * (this.#p4[g] as number);
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, q50, SUMMARY_DECIMALS);
          out[pos++] = 0x0a;
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, q90, SUMMARY_DECIMALS);
          out[pos++] = 0x0a;
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, q99, SUMMARY_DECIMALS);
          out[pos++] = 0x0a;
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, count * median * 1.3, decimals[g] as number);
          out[pos++] = 0x0a;
          pos = put(out, pos, prefixes[line++] as Uint8Array);
          pos = writeNumber(out, pos, count, 0);
          out[pos++] = 0x0a;
          break;
        }
      }
    }
    return pos;
  }
}

function put(out: Buffer, pos: number, bytes: Uint8Array): number {
  out.set(bytes, pos);
  return pos + bytes.length;
}

/** "00" to "99", two ASCII digits per number. */
const DIGIT_PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 0x30 + (i & 1 ? (i >> 1) % 10 : Math.floor((i >> 1) / 10)));

/** Writes the decimal digits of the non-negative integer `v` (< 1e15) at `pos`; returns the end. */
function writeDigits(out: Buffer, pos: number, v: number): number {
  if (v < 10) {
    out[pos] = 0x30 + v;
    return pos + 1;
  }
  let len = 2;
  for (let p = 100; p <= v; p *= 10) len++;
  const end = pos + len;
  let i = end;
  // Two digits at a time; in 32-bit integer arithmetic once the value fits.
  while (v >= 2147483648) {
    const q = Math.floor(v / 100);
    const r = (v - q * 100) * 2;
    out[--i] = DIGIT_PAIRS[r + 1] as number;
    out[--i] = DIGIT_PAIRS[r] as number;
    v = q;
  }
  let x = v | 0;
  while (x >= 100) {
    const q = (x / 100) | 0;
    const r = (x - q * 100) * 2;
    out[--i] = DIGIT_PAIRS[r + 1] as number;
    out[--i] = DIGIT_PAIRS[r] as number;
    x = q;
  }
  if (x >= 10) {
    out[--i] = DIGIT_PAIRS[x * 2 + 1] as number;
    out[--i] = DIGIT_PAIRS[x * 2] as number;
  } else {
    out[--i] = 0x30 + x;
  }
  return end;
}

/**
 * Writes `v` rounded to `decimals` places (trailing zeros and a bare point dropped: `12`,
 * `0.25`) at `pos`; returns the end.
 */
function writeNumber(out: Buffer, pos: number, v: number, decimals: number): number {
  const scale = POW10[decimals] as number;
  let s = Math.round(v * scale);
  if (s < 0) {
    out[pos++] = 0x2d;
    s = -s;
  }
  if (!(s < EXACT_LIMIT)) return pos + out.write(String(Math.abs(v)), pos, 'latin1');
  if (decimals === 0) return writeDigits(out, pos, s);
  const int = Math.floor(s / scale);
  let frac = s - int * scale;
  pos = writeDigits(out, pos, int);
  if (frac === 0) return pos;
  out[pos] = 0x2e;
  const end = pos + 1 + decimals;
  for (let i = end - 1; i > pos; i--) {
    const q = (frac / 10) | 0; // frac < 1e9
    out[i] = 0x30 + (frac - q * 10);
    frac = q;
  }
  let last = end;
  while (out[last - 1] === 0x30) last--;
  return last;
}
