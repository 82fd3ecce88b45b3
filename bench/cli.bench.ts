// SPDX-License-Identifier: Apache-2.0
/**
 * Whole-process `strata parse FILE > /dev/null` against the line-split CLI baseline doing the
 * same (read the file, parse, write one JSON sample per line), start-up and all.
 *
 *   npm run build && node --import tsx bench/cli.bench.ts    (`npm run bench` builds first)
 *   npx tsx bench/cli.bench.ts
 *   BENCH_CLI_RUNS=15 npx tsx bench/cli.bench.ts
 *
 * Steps:
 * 1. Writes the cluster-mix-100k scrape-0 payload to /tmp/cluster-100k.prom (if it is missing or
 *    differs).
 * 2. Compiles the baseline CLI with `tsc -p bench/tsconfig.baseline.json` to
 *    dist/bench-baseline/ so it runs as plain `node`, like bin/strata.js (which needs
 *    `npm run build`); neither pays for a TypeScript loader.
 * 3. Untimed: runs each once writing to a file, checks the exit status, compares the two outputs
 *    byte for byte, and measures peak RSS (a preloaded bench/lib/report-rss.mjs reports
 *    `process.resourceUsage().maxRSS` at exit).
 * 4. One discarded warm-up run each (page cache), then BENCH_CLI_RUNS (7) timed runs each,
 *    interleaved (strata, baseline, baseline, strata, …) so drifting machine load hits both
 *    alike; stdout goes to /dev/null. Reports the median wall time (spawn to exit).
 *
 * Also timed: `node -e 0`, the start-up floor both commands share. samples/s = samples written /
 * median wall time; MB/s = file bytes / median wall time.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { env, machineLine } from './lib/env.js';
import type { Measured } from './lib/measure.js';
import { progress } from './lib/measure.js';
import { clusterMixFile, defaultClusterMixFile, payloadLine } from './lib/payloads.js';
import { median, type Row, printTable, saveResults, target } from './lib/report.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STRATA_BIN = path.join(ROOT, 'bin', 'strata.js');
const STRATA_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const BASELINE_CLI = path.join(ROOT, 'dist', 'bench-baseline', 'bench', 'baseline', 'line-split-cli.js');
const RSS_PRELOAD = path.join(ROOT, 'bench', 'lib', 'report-rss.mjs');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const STRATA = 'strata parse FILE';
const BASELINE = 'line-split CLI';
const FLOOR = 'node -e 0 (start-up floor)';

const file = defaultClusterMixFile();
const payload = clusterMixFile(file);
const notes: string[] = [`file: ${file}`];

// Compile the baseline CLI.
progress('compiling the baseline CLI (tsc -p bench/tsconfig.baseline.json)');
const tsc = spawnSync(process.execPath, [TSC, '-p', path.join(ROOT, 'bench', 'tsconfig.baseline.json')], { cwd: ROOT, encoding: 'utf8' });
if (tsc.status !== 0) throw new Error(`tsc failed for the baseline CLI:\n${tsc.stdout}${tsc.stderr}`);

interface Command {
  readonly name: string;
  readonly args: readonly string[];
}
const commands: Command[] = [{ name: BASELINE, args: [BASELINE_CLI, file] }];
let strataSkipped: string | undefined;
if (existsSync(STRATA_MAIN)) {
  commands.unshift({ name: STRATA, args: [STRATA_BIN, 'parse', file] });
  const newestSource = Math.max(...readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => statSync(path.join(ROOT, 'src', f)).mtimeMs));
  if (newestSource > statSync(STRATA_MAIN).mtimeMs) notes.push('WARNING: src/ is newer than dist/: run npm run build, or this measures old code');
} else {
  strataSkipped = `${path.relative(ROOT, STRATA_MAIN)} does not exist: run npm run build`;
}

/** Runs `node args…` with stdout to `out` (a file path or /dev/null); returns wall ms. */
function run(args: readonly string[], out: string, nodeFlags: readonly string[] = []): { ms: number; stderr: string } {
  const fd = openSync(out, 'w');
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [...nodeFlags, ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', maxBuffer: 1 << 24 });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${r.stderr.slice(0, 2000)}`);
    return { ms, stderr: r.stderr };
  } finally {
    closeSync(fd);
  }
}

// Untimed: outputs and peak RSS.
const outputs = new Map<string, Buffer>();
for (const c of commands) {
  progress(`${c.name}: output check and peak RSS`);
  const out = `/tmp/strata-bench/cli-${c.name === STRATA ? 'strata' : 'baseline'}.jsonl`;
  const { stderr } = run(c.args, out, ['--import', RSS_PRELOAD]);
  const body = readFileSync(out);
  outputs.set(c.name, body);
  const kb = /strata-bench-maxrss-kb (\d+)/.exec(stderr)?.[1];
  let lines = 0;
  for (let i = body.indexOf(10); i !== -1; i = body.indexOf(10, i + 1)) lines++;
  notes.push(`${c.name}: ${lines} samples, ${(body.length / 1e6).toFixed(1)} MB of JSON, peak RSS ${kb === undefined ? '?' : (Number(kb) / 1024).toFixed(0)} MB`);
}
const ours = outputs.get(STRATA);
const theirs = outputs.get(BASELINE) as Buffer;
if (ours !== undefined) {
  if (ours.equals(theirs)) notes.push('outputs: byte-identical');
  else {
    const a = ours.toString('utf8').split('\n');
    const b = theirs.toString('utf8').split('\n');
    const k = a.findIndex((line, i) => line !== b[i]);
    notes.push(`outputs: DIFFERENT, first at line ${k + 1}:\n     strata:   ${a[k]?.slice(0, 300)}\n     baseline: ${b[k]?.slice(0, 300)}`);
  }
}
const samples = (theirs.toString('latin1').match(/\n/g) ?? []).length;

// Timed, interleaved.
const timed: Command[] = [...commands, { name: FLOOR, args: ['-e', '0'] }];
const times = new Map<string, number[]>(timed.map((c) => [c.name, []]));
for (const c of timed) run(c.args, '/dev/null'); // warm-up
for (let round = 0; round < env.cliRuns; round++) {
  progress(`round ${round + 1} of ${env.cliRuns}`);
  const order = round % 2 === 0 ? timed : [...timed].reverse();
  for (const c of order) times.get(c.name)?.push(run(c.args, '/dev/null').ms);
}

function measured(name: string, n: number): Measured {
  const xs = times.get(name) ?? [];
  const m = median(xs);
  return {
    name, medianMs: m, minMs: Math.min(...xs), maxMs: Math.max(...xs), runs: xs.length,
    samples: n, bytes: payload.body.length, samplesPerSec: n / (m / 1000), mbPerSec: payload.body.length / 1e6 / (m / 1000),
    alloc: undefined, allocPerSample: undefined,
  };
}

const rows: Row[] = [];
if (strataSkipped === undefined) {
  const m = measured(STRATA, samples);
  const x = median(times.get(BASELINE) ?? []) / m.medianMs;
  rows.push({ name: STRATA, measured: m, vs: BASELINE, targets: [target(`≥ 2.5× ${BASELINE}`, x >= 2.5)] });
} else {
  rows.push({ name: STRATA, skipped: strataSkipped });
}
rows.push({ name: BASELINE, measured: measured(BASELINE, samples) });
rows.push({ name: FLOOR, measured: { ...measured(FLOOR, 0), samplesPerSec: Number.NaN, mbPerSec: undefined } });
for (const c of timed) notes.push(`${c.name} runs (ms): ${(times.get(c.name) ?? []).map((t) => t.toFixed(0)).join(' ')}`);

printTable(`cli: whole process, ${env.cliRuns} interleaved runs, median wall time`, [machineLine(), payloadLine(payload), ...notes], rows);
saveResults('cli', payload.description.name, machineLine(), rows, notes);
