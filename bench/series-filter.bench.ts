// SPDX-License-Identifier: Apache-2.0
/**
 * What series filters cost a warm scrape: the same target scraped with no filter, with half its
 * series dropped by `dropSeries`, and with every series relabelled by `dropLabels`, side by side
 * in one run.
 *
 *   node --expose-gc --import tsx bench/series-filter.bench.ts
 *   BENCH_SERIES=200000 BENCH_ROUNDS=31 node --expose-gc --import tsx bench/series-filter.bench.ts
 *
 * Data set: cluster-mix-100k (bench/data/cluster-mix.ts), scrapes 0 and 1 alternating (same
 * series, other values), through one SeriesCache per case that is warm before timing starts: the
 * steady state of a target scraped on an interval.
 *
 * Cases, each a whole warm scrape as a worker runs it (parse with the series cache into a reused
 * batch, then the JSON encoder's `encodeTo` over the kept samples into its scratch memory):
 * - none dropped: no series filter;
 * - half dropped: `dropSeries: [{name: <the metric names that make up about half the series>}]`
 *   (chosen greedily from scrape 0, largest families first; the exact share is printed);
 * - relabelled: `dropLabels: ['pod', 'instance']`, nothing dropped.
 * Also the parse alone for the first two, so the encoder's share is visible.
 *
 * Timing: the cases are interleaved, one scrape of each per round, BENCH_ROUNDS rounds (default
 * 21) after 3 untimed rounds, so a machine whose load drifts moves every case alike; the figure
 * is the median round. Reported: median ms per scrape, ns per input series, ns and bytes
 * allocated (bench/lib/alloc.ts) per kept sample, kept samples/s.
 */
import { JsonEncoder } from '../src/encode/index.js';
import { compileSeriesFilter, type SeriesFilter } from '../src/filter/index.js';
import { parseExposition, SeriesCache } from '../src/parse/index.js';
import { SampleBatch } from '../src/sample.js';
import { measureAllocation } from './lib/alloc.js';
import { env, intEnv, machineLine } from './lib/env.js';
import { progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { median } from './lib/report.js';

const SCRAPE_TIME = 1_700_000_015_000;
const ROUNDS = intEnv('BENCH_ROUNDS', 21);

const p0 = clusterMix(0);
const p1 = clusterMix(1);

/** Metric names of about half the series of `body`, largest families first. */
function halfTheSeries(body: Buffer): { names: string[]; series: number; total: number } {
  const counts = new Map<string, number>();
  let total = 0;
  for (const line of body.toString('latin1').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (m === null) continue;
    counts.set(m[0], (counts.get(m[0]) ?? 0) + 1);
    total++;
  }
  const names: string[] = [];
  let series = 0;
  for (const [name, n] of [...counts].sort((a, b) => b[1] - a[1])) {
    if (series + n > total / 2) continue;
    names.push(name);
    series += n;
  }
  return { names, series, total };
}

interface Case {
  readonly name: string;
  readonly encode: boolean;
  readonly filter: SeriesFilter | null;
  readonly cache: SeriesCache;
  readonly batch: SampleBatch;
  readonly encoder: JsonEncoder;
  k: number;
  kept: number;
  series: number;
  readonly times: number[];
}

const half = halfTheSeries(p0.body);
const dropHalf = compileSeriesFilter({ dropSeries: [{ name: half.names.join('|') }] });
const relabel = compileSeriesFilter({ dropLabels: ['pod', 'instance'] });

const makeCase = (name: string, filter: SeriesFilter | null, encode: boolean): Case => ({
  name,
  encode,
  filter,
  cache: new SeriesCache(),
  batch: new SampleBatch(1 << 17),
  encoder: new JsonEncoder({ maxSamples: 1000, maxBytes: 1 << 20 }),
  k: 0,
  kept: 0,
  series: 0,
  times: [],
});

const cases: Case[] = [
  makeCase('none dropped (parse + json)', null, true),
  makeCase('half dropped (parse + json)', dropHalf, true),
  makeCase('relabelled: dropLabels (parse + json)', relabel, true),
  makeCase('none dropped (parse only)', null, false),
  makeCase('half dropped (parse only)', dropHalf, false),
];

let sink = 0;
const emit = (message: Uint8Array, samples: number): void => {
  sink += message.length + samples;
};

function scrape(c: Case): void {
  const body = (c.k++ & 1) === 0 ? p0.body : p1.body;
  const r = parseExposition(body, { cache: c.cache, batch: c.batch, seriesFilter: c.filter });
  if (c.encode) c.encoder.encodeTo(r.batch, SCRAPE_TIME, emit);
  c.kept = r.batch.length;
  c.series = r.stats.samples + r.stats.filtered + r.stats.nanDropped;
}

progress(`warming ${cases.length} cases`);
for (let round = 0; round < 3; round++) for (const c of cases) scrape(c);
progress(`${ROUNDS} interleaved rounds`);
for (let round = 0; round < ROUNDS; round++) {
  // Rotate the order so no case always runs right after the same one.
  for (let i = 0; i < cases.length; i++) {
    const c = cases[(i + round) % cases.length] as Case;
    const t0 = performance.now();
    scrape(c);
    c.times.push(performance.now() - t0);
  }
}
progress('allocation');

const rows = cases.map((c) => {
  const ms = median(c.times);
  const alloc = measureAllocation(() => scrape(c), env.allocRuns);
  return {
    case: c.name,
    'median ms': ms.toFixed(1),
    'ns / input series': ((ms * 1e6) / c.series).toFixed(0),
    'kept samples': c.kept,
    'ns / kept sample': ((ms * 1e6) / c.kept).toFixed(0),
    'kept samples/s': `${((c.kept / ms) * 1e3 / 1e6).toFixed(2)}M`,
    'B alloc / kept sample': (alloc.totalBytes / c.kept).toFixed(1),
  };
});

console.log('\nseries filters: warm scrape of cluster-mix, cases interleaved, medians');
console.log(machineLine());
console.log(payloadLine(p0));
console.log(`half dropped: ${half.names.length} metric names, ${half.series} of ${half.total} series (${((100 * half.series) / half.total).toFixed(1)}%)`);
console.table(rows);
const byName = new Map(rows.map((r) => [r.case, r]));
const none = Number(byName.get('none dropped (parse + json)')?.['ns / kept sample']);
const halfKept = Number(byName.get('half dropped (parse + json)')?.['ns / kept sample']);
const noneSeries = Number(byName.get('none dropped (parse + json)')?.['ns / input series']);
const halfSeries = Number(byName.get('half dropped (parse + json)')?.['ns / input series']);
console.log(`per input series, half dropped / none dropped: ${(halfSeries / noneSeries).toFixed(2)}`);
console.log(`per kept sample, half dropped / none dropped: ${(halfKept / none).toFixed(2)}`);
if (sink === -1) console.log(sink);
