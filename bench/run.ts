// SPDX-License-Identifier: Apache-2.0
/**
 * Runs the benchmarks in sequence, each in its own process (a fresh heap and JIT per area, and
 * `--expose-gc` for the allocation measurement), then prints every target with its verdict.
 *
 *   npm run bench                          (builds first, then: node --import tsx bench/run.ts)
 *   npm run bench -- parse pipeline        (only these areas)
 *   BENCH_SERIES=1000000 npm run bench     (settings: bench/lib/env.ts)
 *
 * Areas: parse, encode, pipeline, cli, channel, engine, memory, sinks, remote-write, spool, series-filter, k8s-discovery (bench/<area>.bench.ts; each also runs alone, see
 * its header). parse, encode, pipeline and cli also write bench/results/<area>.json, from which
 * the target summary is drawn. Exit status 1 if a benchmark fails to run; unmet targets are
 * reported, not failures.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AREAS = ['parse', 'encode', 'pipeline', 'cli', 'channel', 'engine', 'memory', 'sinks', 'remote-write', 'spool', 'series-filter', 'k8s-discovery'] as const;

const wanted = process.argv.slice(2);
const unknown = wanted.filter((a) => !(AREAS as readonly string[]).includes(a));
if (unknown.length > 0) {
  process.stderr.write(`unknown area ${unknown.join(', ')}; areas: ${AREAS.join(', ')}\n`);
  process.exit(2);
}
const areas = wanted.length === 0 ? AREAS : AREAS.filter((a) => wanted.includes(a));

const started = Date.now();
const failed: string[] = [];
for (const area of areas) {
  process.stdout.write(`\n# bench/${area}.bench.ts\n`);
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', path.join('bench', `${area}.bench.ts`)], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) failed.push(`${area} (exit ${r.status ?? r.signal})`);
}

interface SavedRow {
  name: string;
  targets?: { label: string; met: boolean }[];
  skipped?: string;
  measured?: { samplesPerSec: number };
  speedup?: number;
}
process.stdout.write('\n# targets\n');
for (const area of areas) {
  const file = path.join(ROOT, 'bench', 'results', `${area}.json`);
  if (!existsSync(file)) continue;
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { date: string; rows: SavedRow[] };
  if (Date.parse(saved.date) < started) continue; // not from this run
  for (const row of saved.rows) {
    if (row.skipped !== undefined) process.stdout.write(`  ${area.padEnd(9)} ${row.name}: skipped (${row.skipped})\n`);
    for (const t of row.targets ?? []) {
      const got = t.label.includes('×') ? `${(row.speedup ?? 0).toFixed(2)}×` : `${((row.measured?.samplesPerSec ?? 0) / 1e6).toFixed(2)}M samples/s`;
      process.stdout.write(`  ${area.padEnd(9)} ${t.met ? 'met    ' : 'NOT MET'}  ${row.name}: ${t.label} (measured ${got})\n`);
    }
  }
}
if (failed.length > 0) {
  process.stderr.write(`\nfailed: ${failed.join(', ')}\n`);
  process.exitCode = 1;
}
