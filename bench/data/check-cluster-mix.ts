// SPDX-License-Identifier: Apache-2.0
/**
 * Checks the cluster-mix data set and the line-split baseline against each other and against
 * parse-prometheus-text-format, so a benchmark never measures a parser on input it rejects or a
 * baseline that computes something else.
 *
 *   npx tsx bench/data/check-cluster-mix.ts [--series 100000] [--seed 1]
 *
 * Checks, for scrapes 0 and 1:
 * - parse-prometheus-text-format parses the payload without error, and finds every family with
 *   the declared type; for counter, gauge and untyped families it sees the same series (labels
 *   and value) as the line-split parser. (It collapses labelled histograms and summaries into one
 *   object per family, so those are checked against the generator's own counts instead.)
 * - the line-split parser yields `describe().samples` samples: per type, bucket tags in canonical
 *   Go form, no `le` tags left, sorted tag keys, decoded escapes and UTF-8.
 * - scrape 1 has the same series in the same order as scrape 0, with different values.
 * Exits 1 on the first failed check.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Sample } from '../../src/sample.js';
import { parseLineSplit } from '../baseline/line-split-parser.js';
import { generateClusterMixWithDescription } from './cluster-mix.js';

function arg(name: string, def: number): number {
  const k = process.argv.indexOf(name);
  return k === -1 ? def : Number(process.argv[k + 1]);
}

let failures = 0;
function check(ok: boolean, what: string): void {
  if (!ok) failures++;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
}

const series = arg('--series', 100_000);
const seed = arg('--seed', 1);
const parsed: Sample[][] = [];

for (const scrape of [0, 1]) {
  const { body, description: d } = generateClusterMixWithDescription({ series, seed, scrape });
  process.stdout.write(`\n${d.name}: ${d.bytes} bytes, ${d.lines} lines, ${d.series} series, ${d.samples} samples\n`);

  let t = performance.now();
  const families = parsePrometheusTextFormat(body.toString('utf8'));
  const pptMs = performance.now() - t;
  check(true, `parse-prometheus-text-format parsed it in ${pptMs.toFixed(0)} ms: ${families.length} families`);
  check(families.length === d.families, `families: ${families.length} = ${d.families}`);

  t = performance.now();
  const samples = parseLineSplit(body);
  const lsMs = performance.now() - t;
  parsed.push(samples);
  check(samples.length === d.samples, `line-split: ${samples.length} samples = ${d.samples} (series ${d.series} - NaN dropped ${d.nanDropped}) in ${lsMs.toFixed(0)} ms`);

  const byType = new Map<string, number>();
  for (const s of samples) byType.set(s.type, (byType.get(s.type) ?? 0) + 1);
  for (const [type, c] of Object.entries(d.byType)) {
    const got = byType.get(type) ?? 0; // only histograms never drop a NaN
    check(type === 'histogram' ? got === c.series : got <= c.series, `${type}: ${got} samples from ${c.series} series in ${c.families} families`);
  }
  const keys = new Set(samples.map((s) => `${s.name}${JSON.stringify(s.tags)}`));
  check(keys.size === samples.length, `series are unique: ${keys.size} distinct of ${samples.length}`);
  const buckets = samples.filter((s) => 'bucket' in s.tags);
  check(buckets.length === d.histogramBucketLines, `bucket samples: ${buckets.length} = ${d.histogramBucketLines}`);
  check(samples.every((s) => !('le' in s.tags)), 'no le tags left');
  const bounds = new Set(buckets.map((s) => s.tags['bucket']));
  const canonical = ['0.005', '1', '10', '+Inf', '1e-08', '9.999999999999999e-06', '1.048576e+06', '1.6777216e+07', '7.5'];
  check(canonical.every((b) => bounds.has(b)), `canonical bucket tags present: ${canonical.join(' ')}`);
  check(!bounds.has('1.0') && !bounds.has('10.0') && !bounds.has('1048576'), 'no non-canonical bucket tags (1.0, 10.0, 1048576)');
  check(samples.every((s) => { const k = Object.keys(s.tags); return k.every((x, j) => j === 0 || (k[j - 1] as string) < x); }), 'tag keys sorted');
  check(samples.some((s) => s.tags['annotation_description']?.includes('\nhttps://') === true), 'escaped \\n decoded to a newline');
  check(samples.some((s) => s.tags['error'] === 'unexpected "EOF" while reading body'), 'escaped \\" decoded');
  check(samples.some((s) => s.tags['error'] === 'invalid path C:\\tmp\\upload'), 'escaped \\\\ decoded');
  check(samples.some((s) => s.tags['path'] === '/検索/商品'), 'UTF-8 label value decoded');
  check(samples.filter((s) => s.timestamp !== null).length === d.withTimestamp, `timestamps: ${d.withTimestamp}`);
  check(samples.some((s) => s.value === Infinity) && samples.some((s) => s.value === -Infinity), '+Inf and -Inf values kept');
  check(samples.every((s) => !Number.isNaN(s.value) || s.name.endsWith('_sum')), 'NaN only where the model keeps it');

  // Counter, gauge and untyped families: the same series as parse-prometheus-text-format.
  const ours = new Map<string, number>();
  for (const s of samples) {
    if (s.type === 'counter' || s.type === 'gauge' || s.type === 'untyped') ours.set(`${s.name}${JSON.stringify(s.tags)}`, s.value);
  }
  let compared = 0, mismatched = 0, theirNaN = 0;
  for (const f of families) {
    const type = f.type.toLowerCase();
    const declared = Object.entries(d.byType).some(([k, v]) => k === type && v.families > 0);
    if (!declared) check(false, `family ${f.name} has type ${type}`);
    if (type !== 'counter' && type !== 'gauge' && type !== 'untyped') continue;
    for (const m of f.metrics) {
      const tags = Object.fromEntries(Object.entries(m.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
      const v = m.value === '+Inf' ? Infinity : m.value === '-Inf' ? -Infinity : parseFloat(m.value ?? '');
      if (Number.isNaN(v)) { theirNaN++; continue; }
      compared++;
      if (ours.get(`${f.name}${JSON.stringify(tags)}`) !== v) mismatched++;
    }
  }
  check(mismatched === 0 && compared === ours.size, `counter/gauge/untyped series agree with parse-prometheus-text-format: ${compared} compared (+${theirNaN} NaN), ${mismatched} differ`);
}

const [a, b] = parsed as [Sample[], Sample[]];
const sameSeries = a.length === b.length && a.every((s, k) => s.name === b[k]?.name && JSON.stringify(s.tags) === JSON.stringify(b[k]?.tags));
check(sameSeries, 'scrape 1: same series in the same order as scrape 0');
const changed = a.filter((s, k) => s.value !== b[k]?.value).length;
check(changed > a.length / 2, `scrape 1: ${changed} of ${a.length} values differ`);

process.stdout.write(failures === 0 ? '\nall checks passed\n' : `\n${failures} checks FAILED\n`);
process.exitCode = failures === 0 ? 0 : 1;
