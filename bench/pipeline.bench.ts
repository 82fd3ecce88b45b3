// SPDX-License-Identifier: Apache-2.0
/**
 * The per-target hot path on one core: parse → clip → JSON encode, for a warm target, against the
 * line-split parser + Array.filter + JSON.stringify doing the same work, in the same run.
 *
 *   node --expose-gc --import tsx bench/pipeline.bench.ts    (as `npm run bench` runs it)
 *   npx tsx bench/pipeline.bench.ts
 *
 * Each iteration takes one scrape body (alternating the cluster-mix-100k scrape 0 and scrape 1
 * payloads: same series, other values) and turns it into JSON messages:
 * - strata: parseExposition(body, { cache, targetTags }) with one SeriesCache for the target
 *   (warm after the first iteration), compileFilters({ clip: {min: 0, max: 1e12, inclusive:
 *   true} }), JsonEncoder({ maxSamples: 1000, maxBytes: 1 MiB }).encode(batch, scrapeTime), then
 *   encoder.recycle(messages) as a collector worker does once its sink has delivered them.
 * - baseline: parseLineSplit(body, { targetTags }), the same clip as an Array.filter, then
 *   JSON.stringify per sample joined per 1000-sample message (bench/baseline/naive.ts).
 * Both add the same three target tags (a sample's own label wins), as discovery would.
 * Before timing, the two outputs are compared byte for byte (untimed) and the result printed.
 *
 * Reported: median time per scrape, samples/s = parsed samples / median, MB/s = exposition bytes
 * / median, bytes allocated per sample (GC-profiler accounting, bench/lib/alloc.ts), speed-up
 * over the baseline, and the target.
 */
import { SampleBatch } from '../src/sample.js';
import { parseLineSplit } from './baseline/line-split-parser.js';
import { naiveClip, naiveJson, totalBytes } from './baseline/naive.js';
import { machineLine } from './lib/env.js';
import { measure, progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { type Row, printTable, saveResults, target } from './lib/report.js';
import { failure, loadEncode, loadFilter, loadParse } from './lib/strata.js';

const SCRAPE_TIME = 1_700_000_015_000;
const CLIP = { min: 0, max: 1e12, inclusive: true };
const LIMITS = { maxSamples: 1000, maxBytes: 1 << 20 };
const TARGET_TAGS = { kind: 'pod', name: 'kube-state-metrics-6f9c8d7b5-x2k9p', namespace: 'monitoring' };
const STRATA = 'strata parse → clip → json, warm';
const BASELINE = 'line-split → filter → JSON.stringify';

const p0 = clusterMix(0);
const p1 = clusterMix(1);
const bodies = [p0.body, p1.body] as const;
const bytes = (p0.body.length + p1.body.length) / 2;
const samples = p0.description.samples;
const notes: string[] = [];
const rows: Row[] = [];

const baseline = (body: Buffer): Uint8Array[] => naiveJson(naiveClip(parseLineSplit(body, { targetTags: TARGET_TAGS }), CLIP), SCRAPE_TIME, LIMITS.maxSamples);

const [parse, filter, encode] = await Promise.all([loadParse(), loadFilter(), loadEncode()]);
if (parse.ok && filter.ok && encode.ok && typeof encode.mod.JsonEncoder === 'function') {
  try {
    const { parseExposition, SeriesCache } = parse.mod;
    const clip = filter.mod.compileFilters({ clip: CLIP });
    const encoder = new encode.mod.JsonEncoder(LIMITS);
    const cache = new SeriesCache();
    const reused = new SampleBatch(1 << 17);
    const stats = { filtered: 0, clamped: 0 };
    const pipeline = (body: Buffer): Uint8Array[] => {
      // As a collector worker runs it: one batch per worker, scrape bodies used once.
      const { batch } = parseExposition(body, { cache, targetTags: TARGET_TAGS, batch: reused });
      clip(batch, stats);
      return encoder.encode(batch, SCRAPE_TIME);
    };
    for (const [k, body] of bodies.entries()) {
      const ours = Buffer.concat(pipeline(body));
      const theirs = Buffer.concat(baseline(body));
      notes.push(`scrape ${k}: strata ${ours.length} bytes of JSON, baseline ${theirs.length}: ${ours.equals(theirs) ? 'byte-identical' : 'DIFFERENT'}`);
    }
    let k = 0;
    progress(STRATA);
    // As a collector worker does once the sink has the messages: hand them back to the encoder.
    const sendAndRecycle = (body: Buffer): void => encoder.recycle(pipeline(body));
    rows.push({ name: STRATA, vs: BASELINE, measured: measure({ name: STRATA, fn: () => sendAndRecycle(bodies[k++ & 1] as Buffer), samples, bytes }) });
  } catch (err) {
    rows.push({ name: STRATA, skipped: failure(err) });
  }
} else {
  const reason = [parse, filter, encode].map((l) => (l.ok ? '' : l.reason)).filter((r) => r !== '').join('; ') || 'src/encode does not export JsonEncoder yet';
  rows.push({ name: STRATA, skipped: reason });
}

let j = 0;
progress(BASELINE);
notes.push(`baseline output: ${totalBytes(baseline(p0.body))} bytes of JSON for scrape 0`);
rows.push({ name: BASELINE, measured: measure({ name: BASELINE, fn: () => baseline(bodies[j++ & 1] as Buffer), samples, bytes }) });

const withTargets: Row[] = rows.map((r) =>
  r.name === STRATA && r.measured !== undefined ? { ...r, targets: [target('≥ 1.2M samples/s', r.measured.samplesPerSec >= 1.2e6)] } : r,
);
printTable('pipeline: parse → clip → json on one core', [machineLine(), payloadLine(p0), `target tags: ${JSON.stringify(TARGET_TAGS)}`, ...notes], withTargets);
saveResults('pipeline', p0.description.name, machineLine(), withTargets, notes);
