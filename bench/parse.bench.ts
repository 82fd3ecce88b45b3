// SPDX-License-Identifier: Apache-2.0
/**
 * Parse throughput on a Kubernetes-shaped payload: Strata's parser, cold and warm, against
 * parse-prometheus-text-format (the npm peer) and the line-split baseline, in the same run.
 *
 *   node --expose-gc --import tsx bench/parse.bench.ts       (as `npm run bench` runs it)
 *   npx tsx bench/parse.bench.ts                              (works too; allocation is noisier)
 *   BENCH_SERIES=1000000 BENCH_TIME_MS=5000 npx tsx bench/parse.bench.ts
 *
 * Data set: cluster-mix-100k (bench/data/cluster-mix.ts): 100,000 series of cAdvisor,
 * kube-state-metrics, API server, node-exporter, CoreDNS, ingress-nginx and app metrics, ~26 MB;
 * scrape 1 has the same series with other values.
 *
 * Cases:
 * - strata cold: `parseExposition(body, { cache: new SeriesCache() })`: a
 *   target's first scrape, as a collector worker parses it.
 * - strata warm: as a collector worker parses a target it scraped before (one SeriesCache and
 *   one reused SampleBatch), one SeriesCache across iterations, alternating the scrape 0 and 1 payloads so
 *   the values differ every time (the steady state of a target scraped on an interval).
 * - parse-prometheus-text-format: given the body already decoded to a string (it takes text), so
 *   the decode is not charged to it: this favours the peer.
 * - line-split: bench/baseline/line-split-parser.ts, bytes in, Sample objects out.
 *
 * Reported: the median time per payload (tinybench, ≥ BENCH_ITERATIONS timed runs after 2
 * warm-up runs), samples/s = the payload's samples in our model (series minus dropped NaN, the
 * same count for every row) / median, MB/s = payload bytes / median (10^6 B), bytes allocated
 * per sample (bench/lib/alloc.ts: GC-profiler accounting over BENCH_ALLOC_RUNS calls), and the
 * speed-up over parse-prometheus-text-format. Before timing, Strata's samples are compared with
 * the line-split baseline's (untimed) and the agreement is printed.
 */
import { SampleBatch } from '../src/sample.js';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { parseLineSplit } from './baseline/line-split-parser.js';
import { agreementLine, compareSamples } from './lib/agree.js';
import { env, machineLine } from './lib/env.js';
import { type Measured, measure, progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { type Row, printTable, saveResults, speedup, target } from './lib/report.js';
import { failure, loadParse } from './lib/strata.js';

const PPT = 'parse-prometheus-text-format';
const LINE_SPLIT = 'line-split baseline';
const COLD = 'strata parse, cold';
const WARM = 'strata parse, warm';

const p0 = clusterMix(0);
const p1 = clusterMix(1);
const samples = p0.description.samples;
const notes: string[] = [];
const rows: Row[] = [];

const parse = await loadParse();
if (parse.ok) {
  try {
    const { parseExposition, SeriesCache } = parse.mod;
    const probe = parseExposition(p0.body, { cache: new SeriesCache() });
    const agreement = compareSamples(probe.batch.toSamples(null), parseLineSplit(p0.body));
    notes.push(agreementLine('strata vs line-split on scrape 0', agreement));
    notes.push(`strata stats: ${JSON.stringify(probe.stats)}; the generator expects ${samples} samples, ${p0.description.nanDropped} NaN dropped`);

    progress(COLD);
    const cold = measure({
      name: COLD,
      fn: () => parseExposition(p0.body, { cache: new SeriesCache() }),
      samples: probe.stats.samples,
      bytes: p0.body.length,
    });
    progress(WARM);
    const cache = new SeriesCache();
    const batch = new SampleBatch(1 << 17);
    let k = 0;
    const warm = measure({
      name: WARM,
      fn: () => parseExposition((k++ & 1) === 0 ? p0.body : p1.body, { cache, batch }),
      samples: probe.stats.samples,
      bytes: (p0.body.length + p1.body.length) / 2,
    });
    rows.push({ name: COLD, measured: cold, vs: PPT }, { name: WARM, measured: warm, vs: PPT });
  } catch (err) {
    rows.push({ name: COLD, skipped: failure(err) }, { name: WARM, skipped: failure(err) });
  }
} else {
  rows.push({ name: COLD, skipped: parse.reason }, { name: WARM, skipped: parse.reason });
}

progress(LINE_SPLIT);
rows.push({ name: LINE_SPLIT, measured: measure({ name: LINE_SPLIT, fn: () => parseLineSplit(p0.body), samples, bytes: p0.body.length }), vs: PPT });

progress(`${PPT} (slow: ~${env.iterations} runs of several seconds)`);
const text0 = p0.body.toString('utf8');
rows.push({ name: PPT, measured: measure({ name: PPT, fn: () => parsePrometheusTextFormat(text0), samples, bytes: p0.body.length }) });

// Targets, judged on the medians above.
const withTargets: Row[] = rows.map((r) => {
  const m: Measured | undefined = r.measured;
  if (m === undefined) return r;
  const x = speedup(rows, r) ?? 0;
  if (r.name === COLD) return { ...r, targets: [target('≥ 1.5M samples/s', m.samplesPerSec >= 1.5e6), target(`≥ 8× ${PPT}`, x >= 8)] };
  if (r.name === WARM) return { ...r, targets: [target('≥ 3M samples/s', m.samplesPerSec >= 3e6), target(`≥ 8× ${PPT}`, x >= 8)] };
  return r;
});

printTable('parse: cluster-mix → samples', [machineLine(), payloadLine(p0), ...notes], withTargets);
saveResults('parse', p0.description.name, machineLine(), withTargets, notes);
