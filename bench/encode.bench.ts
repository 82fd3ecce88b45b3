// SPDX-License-Identifier: Apache-2.0
/**
 * Filter and encoder throughput on the parsed cluster-mix batch, each against a naive baseline
 * over Sample objects in the same run.
 *
 *   node --expose-gc --import tsx bench/encode.bench.ts      (as `npm run bench` runs it)
 *   npx tsx bench/encode.bench.ts
 *
 * Input: the cluster-mix-100k scrape-0 payload parsed once by Strata's parser (or, while that
 * does not exist, `SampleBatch.from` of the line-split samples), ~99.7k samples, 48k of them
 * counters and gauges (the only types filters touch).
 *
 * Filters (compileFilters; they compact the batch in place): every iteration filters a fresh
 * copy of the batch's arrays made untimed in `beforeEach`, never a re-parse. Configurations:
 * exclude {values: [0]}, clip {min: 0, max: 1e12, inclusive: true}, clamp {min: 0, max: 1e9},
 * and all three. Baseline: Array filter/map over Sample objects (bench/baseline/naive.ts).
 *
 * Encoders: json {maxSamples: 1000, maxBytes: 1 MiB}, fluent {tag: 'strata', same limits},
 * statsd (defaults: one UDP datagram per message), default timestamp = a fixed scrape time.
 * Encoders memoise per-series bytes on the Series; with the same batch every iteration the
 * memos are warm after the first, which is the steady state of a target scraped repeatedly
 * through a SeriesCache. "json, new series" builds fresh Series objects before every iteration
 * (untimed), so it pays the memo cost each time: a target's first scrape. Baselines:
 * JSON.stringify per sample, a statsd template string per sample, @msgpack/msgpack per message.
 *
 * Reported: medians (tinybench), samples/s = input samples / median, MB/s = output bytes /
 * median (encoders only), bytes allocated per input sample (GC-profiler accounting, see
 * bench/lib/alloc.ts), speed-up over the row's baseline, targets.
 */
import type { Sample } from '../src/sample.js';
import { SampleBatch } from '../src/sample.js';
import { parseLineSplit } from './baseline/line-split-parser.js';
import { naiveClamp, naiveClip, naiveExclude, naiveFluent, naiveJson, naiveStatsd, totalBytes } from './baseline/naive.js';
import { machineLine } from './lib/env.js';
import { measure, progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { type Row, printTable, saveResults, target } from './lib/report.js';
import { type EncodeModule, failure, loadEncode, loadFilter, loadParse } from './lib/strata.js';

const SCRAPE_TIME = 1_700_000_015_000;
const EXCLUDE = { values: [0] };
const CLIP = { min: 0, max: 1e12, inclusive: true };
const CLAMP = { min: 0, max: 1e9 };
const JSON_LIMITS = { maxSamples: 1000, maxBytes: 1 << 20 };

const payload = clusterMix(0);
const notes: string[] = [];
const rows: Row[] = [];

// The input batch, and the same samples as objects for the baselines.
const baselineSamples: Sample[] = parseLineSplit(payload.body);
const parse = await loadParse();
function strataBatch(): SampleBatch | string {
  if (!parse.ok) return parse.reason;
  try {
    return parse.mod.parseExposition(payload.body, { cache: new parse.mod.SeriesCache() }).batch;
  } catch (err) {
    return `src/parse ${failure(err)}`;
  }
}
const parsed = strataBatch();
let source: SampleBatch;
if (typeof parsed !== 'string') {
  source = parsed;
  notes.push(`input: strata parseExposition, ${source.length} samples`);
} else {
  source = SampleBatch.from(baselineSamples);
  notes.push(`input: SampleBatch.from(line-split samples), ${source.length} samples (${parsed})`);
}
const n = source.length;
const objects: Sample[] = source.toSamples(null);

/** A reusable copy of `source`, refilled before every filter iteration. */
const scratch = new SampleBatch(n);
function refill(): void {
  for (let i = 0; i < n; i++) scratch.series[i] = source.series[i] as (typeof source.series)[number];
  scratch.values.set(source.values.subarray(0, n));
  scratch.timestamps.set(source.timestamps.subarray(0, n));
  scratch.length = n;
}

// ── filters ──
const filterCases = [
  { label: 'exclude', config: { exclude: EXCLUDE }, naive: (xs: readonly Sample[]) => naiveExclude(xs, EXCLUDE) },
  { label: 'clip', config: { clip: CLIP }, naive: (xs: readonly Sample[]) => naiveClip(xs, CLIP) },
  { label: 'clamp', config: { clamp: CLAMP }, naive: (xs: readonly Sample[]) => naiveClamp(xs, CLAMP) },
  {
    label: 'exclude+clip+clamp',
    config: { exclude: EXCLUDE, clip: CLIP, clamp: CLAMP },
    naive: (xs: readonly Sample[]) => naiveClamp(naiveClip(naiveExclude(xs, EXCLUDE), CLIP), CLAMP),
  },
] as const;

const filter = await loadFilter();
for (const c of filterCases) {
  const name = `filter ${c.label}`;
  const base = `naive ${c.label}`;
  if (filter.ok) {
    try {
      const run = filter.mod.compileFilters(c.config);
      const stats = { filtered: 0, clamped: 0 };
      refill();
      run(scratch, stats);
      const kept = c.naive(objects).length;
      notes.push(`${c.label}: strata keeps ${scratch.length} (filtered ${stats.filtered}, clamped ${stats.clamped}); naive keeps ${kept}${kept === scratch.length ? '' : '  ← DIFFERENT'}`);
      progress(name);
      rows.push({ name, vs: base, measured: measure({ name, fn: () => run(scratch, { filtered: 0, clamped: 0 }), beforeEach: refill, samples: n }) });
    } catch (err) {
      rows.push({ name, skipped: failure(err) });
    }
  } else {
    rows.push({ name, skipped: filter.reason });
  }
  progress(base);
  rows.push({ name: base, measured: measure({ name: base, fn: () => c.naive(objects), samples: n }) });
}

// ── encoders ──
const encode = await loadEncode();
const encoders: Partial<EncodeModule> = encode.ok ? encode.mod : {};
const { JsonEncoder, FluentEncoder, StatsdEncoder } = encoders;

function encoderRow(name: string, make: (() => { encode(b: SampleBatch, ts: number | null): Uint8Array[] }) | undefined, opts: { fresh?: boolean } = {}): void {
  if (make === undefined) {
    rows.push({ name, skipped: encode.ok ? 'src/encode does not export this encoder yet' : encode.reason });
    return;
  }
  try {
    const enc = make();
    const bytes = totalBytes(enc.encode(source, SCRAPE_TIME));
    let fresh = source;
    progress(name);
    const measured = opts.fresh === true
      ? measure({ name, fn: () => enc.encode(fresh, SCRAPE_TIME), beforeEach: () => { fresh = SampleBatch.from(objects); }, samples: n, bytes })
      : measure({ name, fn: () => enc.encode(source, SCRAPE_TIME), samples: n, bytes });
    rows.push({ name, measured, vs: opts.fresh === true ? 'naive json' : `naive ${name.split(' ')[0]}` });
  } catch (err) {
    rows.push({ name, skipped: failure(err) });
  }
}

function baselineRow(name: string, fn: () => Uint8Array[]): void {
  progress(name);
  rows.push({ name, measured: measure({ name, fn, samples: n, bytes: totalBytes(fn()) }) });
}

encoderRow('json', JsonEncoder === undefined ? undefined : () => new JsonEncoder(JSON_LIMITS));
encoderRow('json, new series', JsonEncoder === undefined ? undefined : () => new JsonEncoder(JSON_LIMITS), { fresh: true });
baselineRow('naive json', () => naiveJson(objects, SCRAPE_TIME, JSON_LIMITS.maxSamples));
encoderRow('fluent', FluentEncoder === undefined ? undefined : () => new FluentEncoder({ tag: 'strata', ...JSON_LIMITS }));
baselineRow('naive fluent', () => naiveFluent(objects, 'strata', SCRAPE_TIME, JSON_LIMITS.maxSamples));
const statsdMaxBytes = StatsdEncoder === undefined ? 1432 : new StatsdEncoder({}).maxBytes;
encoderRow('statsd', StatsdEncoder === undefined ? undefined : () => new StatsdEncoder({}));
baselineRow('naive statsd', () => naiveStatsd(objects, statsdMaxBytes));

// Does Strata's JSON say what the baseline says? (Untimed; the formats are meant to be identical.)
if (JsonEncoder !== undefined) {
  try {
    const ours = Buffer.concat(new JsonEncoder(JSON_LIMITS).encode(source, SCRAPE_TIME));
    const theirs = Buffer.concat(naiveJson(objects, SCRAPE_TIME, JSON_LIMITS.maxSamples));
    notes.push(`json output vs naive json: ${ours.equals(theirs) ? 'byte-identical' : `DIFFERENT (${ours.length} vs ${theirs.length} bytes)`}`);
  } catch (err) {
    notes.push(`json output vs naive json: not compared, json ${failure(err)}`);
  }
}
if (baselineSamples.length !== n) notes.push(`note: line-split yields ${baselineSamples.length} samples, the input batch ${n}`);

const withTargets: Row[] = rows.map((r) =>
  r.name === 'json' && r.measured !== undefined ? { ...r, targets: [target('≥ 1.5M samples/s', r.measured.samplesPerSec >= 1.5e6)] } : r,
);
printTable('filters and encoders: cluster-mix batch', [machineLine(), payloadLine(payload), ...notes], withTargets);
saveResults('encode', payload.description.name, machineLine(), withTargets, notes);
