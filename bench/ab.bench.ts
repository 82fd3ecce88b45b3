// SPDX-License-Identifier: Apache-2.0
/**
 * Two builds of Strata side by side, at the same time: this working tree (B) against a git
 * revision (A), each `strata run` scraping the same demo targets at the same interval. For a
 * change whose effect is smaller than the machine's noise.
 *
 *   npm run build && npx tsx bench/ab.bench.ts                 (A/A: HEAD against the tree, ~4 min)
 *   BENCH_AB_BASE=HEAD~1 npx tsx bench/ab.bench.ts             (the last commit's effect)
 *   BENCH_AB_WORKERS=2 BENCH_AB_ENV_B='UV_THREADPOOL_SIZE=2' npx tsx bench/ab.bench.ts
 *
 * Why at the same time: on a shared virtual machine the CPU time one run is charged swings by
 * ±20–70% from one minute to the next (the same build measured 1.3 and 2.2 CPU-s per million
 * samples within ten minutes), more than most changes are worth. Run side by side, both builds
 * meet the same swings, and the median over 10 s slices of their CPU ratio holds still (A/A runs
 * read 0.99–1.01; a single slice ±10%). The two runs share the 2 cores, so each is charged
 * somewhat more than it would be alone: compare the ratio, not the absolute figures, with a
 * sequential benchmark's.
 *
 * Settings (environment): BENCH_AB_BASE (HEAD) the revision built as A, in a temporary git
 * worktree with this tree's node_modules; BENCH_AB_SLICES (18) slices of 10 s measured;
 * BENCH_AB_WARMUP (20) seconds before the first; BENCH_AB_WORKERS (1), BENCH_AB_INTERVAL (5),
 * BENCH_AB_TARGETS (20), BENCH_AB_SERIES (10000) the Collector, Discovery and demo targets of
 * both; BENCH_AB_ENV_A, BENCH_AB_ENV_B extra environment for one side (`K=V K=V`), for a setting
 * rather than a revision (then BENCH_AB_BASE=HEAD and a clean tree make an A/A of the code).
 *
 * Measured per slice, for each side: CPU (utime + stime of all threads, /proc/<pid>/stat) per
 * million samples scraped (metricsCollected from /status), and VmRSS at the slice's end. Printed:
 * each side's median CPU-s/M and RSS, the median over the slices of B's CPU-s/M over A's, and the
 * same for the whole window's totals.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { intEnv, machineLine } from './lib/env.js';
import { median } from './lib/report.js';
import { progress } from './lib/measure.js';
import { type Child, Cleanup, cpuSeconds, freePort, httpText, rssBytes, sleep, tail, waitFor } from './lib/process.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;

/** `K=V K=V` into an environment object; throws on a word without `=`. */
function envWords(name: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const word of (process.env[name] ?? '').split(/\s+/).filter((w) => w !== '')) {
    const eq = word.indexOf('=');
    if (eq <= 0) throw new Error(`${name}: expected K=V words, got ${JSON.stringify(word)}`);
    out[word.slice(0, eq)] = word.slice(eq + 1);
  }
  return out;
}

const BASE = process.env.BENCH_AB_BASE ?? 'HEAD';
const SLICES = intEnv('BENCH_AB_SLICES', 18);
const WARMUP = intEnv('BENCH_AB_WARMUP', 20);
const WORKERS = intEnv('BENCH_AB_WORKERS', 1);
const INTERVAL = intEnv('BENCH_AB_INTERVAL', 5);
const TARGETS = intEnv('BENCH_AB_TARGETS', 20);
const SERIES = intEnv('BENCH_AB_SERIES', 10_000);
const SLICE_SECONDS = 10;

interface Side {
  readonly name: 'A' | 'B';
  readonly root: string;
  readonly env: Record<string, string>;
  readonly describe: string;
}
interface Reading {
  readonly cpu: number;
  readonly samples: number;
  readonly rss: number;
}


function git(args: readonly string[], cwd = ROOT): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/** BASE with its commit, or the commit alone when BASE names it already. */
function baseName(short: string): string {
  return short.startsWith(BASE) || BASE.startsWith(short) ? short : `${BASE} (${short})`;
}

/** Checks out BASE in a temporary worktree and builds it there; returns its root. */
function buildBase(cleanup: Cleanup): string {
  const rev = git(['rev-parse', '--verify', `${BASE}^{commit}`]);
  const dir = path.join(cleanup.tempDir('strata-bench-ab-'), 'base');
  progress(`building A: ${BASE} (${rev.slice(0, 12)}) in ${dir}`);
  git(['worktree', 'prune']); // entries left by a run that was killed before its clean-up
  git(['worktree', 'add', '--detach', dir, rev]);
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  if (!existsSync(path.join(dir, 'tsconfig.build.json'))) throw new Error(`${BASE} has no tsconfig.build.json: too old to build here`);
  execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: dir, stdio: 'inherit' });
  return dir;
}

function yaml(urls: readonly string[], out: string): string {
  return [
    'apiVersion: strata.ctx.sh/v1beta1',
    'kind: Collector',
    'metadata: {name: ab}',
    'spec:',
    `  workers: ${WORKERS}`,
    '  encoder: json',
    `  output: {file: {path: ${JSON.stringify(out)}, maxBytes: 268435456}}`,
    '---',
    'apiVersion: strata.ctx.sh/v1beta1',
    'kind: Discovery',
    'metadata: {name: ab}',
    'spec:',
    '  collector: [{name: ab}]',
    `  intervalSeconds: ${INTERVAL}`,
    '  static:',
    ...urls.map((u) => `    - url: ${u}`),
    '',
  ].join('\n');
}

async function collected(port: number): Promise<number> {
  const json = JSON.parse(await httpText(`http://127.0.0.1:${port}/status`)) as { collectors: { status?: { metricsCollected?: number } }[] };
  const n = json.collectors[0]?.status?.metricsCollected;
  if (n === undefined) throw new Error('no collector in /status');
  return n;
}

async function read(child: Child, port: number): Promise<Reading> {
  const samples = await collected(port);
  const cpu = cpuSeconds(child.pid);
  const rss = rssBytes(child.pid);
  if (cpu === undefined || rss === undefined) throw new Error(`${child.name} exited:\n${tail(child.log)}`);
  return { cpu, samples, rss };
}

async function main(): Promise<void> {
  const cleanup = new Cleanup().install();
  let baseDir: string | undefined;
  try {
    if (!existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) throw new Error('B is not built: run `npm run build` first');
    const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    baseDir = buildBase(cleanup);
    const sides: Side[] = [
      { name: 'A', root: baseDir, env: envWords('BENCH_AB_ENV_A'), describe: baseName(git(['rev-parse', '--short', 'HEAD'], baseDir)) },
      { name: 'B', root: ROOT, env: envWords('BENCH_AB_ENV_B'), describe: `this tree (${git(['rev-parse', '--short', 'HEAD'])}${dirty ? ', with uncommitted changes' : ''})` },
    ];

    const dir = cleanup.tempDir('strata-bench-ab-run-');
    const demoLog = path.join(dir, 'demo-target.log');
    progress(`starting ${TARGETS} demo targets × ${SERIES} series (own process)`);
    const demo = cleanup.start('demo-target', process.execPath, [path.join(ROOT, 'bin', 'strata.js'), 'demo-target', '--series', String(SERIES), '--port', '0', '--count', String(TARGETS), '--prerender', '8'], { logFile: demoLog });
    const urls = await waitFor('the demo targets', () => {
      if (demo.hasExited()) throw new Error(`demo-target exited:\n${tail(demoLog)}`);
      const found = readFileSync(demoLog, 'utf8').split('\n').filter((l) => l.startsWith('http://'));
      return found.length >= TARGETS ? found.slice(0, TARGETS) : undefined;
    }, 120_000, 500);

    const running: { side: Side; child: Child; port: number }[] = [];
    for (const side of sides) {
      const port = await freePort();
      const file = path.join(dir, `${side.name}.yaml`);
      writeFileSync(file, yaml(urls, path.join(dir, `${side.name}.ndjson`)));
      const child = cleanup.start(side.name, process.execPath, [path.join(side.root, 'bin', 'strata.js'), 'run', '-f', file, '--no-progress', '--telemetry-port', String(port), '--grace-seconds', '5'], {
        cwd: side.root,
        env: { ...process.env, ...side.env },
        logFile: path.join(dir, `${side.name}.log`),
        graceMs: 20_000,
      });
      running.push({ side, child, port });
    }
    for (const r of running) {
      await waitFor(`${r.side.name} collecting`, async () => {
        if (r.child.hasExited()) throw new Error(`${r.side.name} exited:\n${tail(r.child.log)}`);
        return (await collected(r.port).catch(() => 0)) > 0 ? true : undefined;
      }, 60_000, 500);
    }
    progress(`both collecting; warming up ${WARMUP} s, then ${SLICES} slices of ${SLICE_SECONDS} s`);
    await sleep(WARMUP * 1000);

    const readBoth = (): Promise<Reading[]> => Promise.all(running.map((r) => read(r.child, r.port)));
    let prev = await readBoth();
    const first = prev;
    const perSlice: { cpuPerM: number[]; rss: number[] }[] = running.map(() => ({ cpuPerM: [], rss: [] }));
    const ratios: number[] = [];
    for (let i = 0; i < SLICES; i++) {
      await sleep(SLICE_SECONDS * 1000);
      const cur = await readBoth();
      const cpm = cur.map((c, k) => {
        const p = prev[k] as Reading;
        const samples = c.samples - p.samples;
        return samples > 0 ? (c.cpu - p.cpu) / (samples / 1e6) : Number.NaN;
      });
      cur.forEach((c, k) => {
        (perSlice[k] as { cpuPerM: number[] }).cpuPerM.push(cpm[k] as number);
        (perSlice[k] as { rss: number[] }).rss.push(c.rss / MiB);
      });
      const [a, b] = cpm as [number, number];
      if (Number.isFinite(a) && Number.isFinite(b) && a > 0) ratios.push(b / a);
      const rss = cur.map((c) => (c.rss / MiB).toFixed(0)).join(' / ');
      progress(`slice ${i + 1}/${SLICES}: A ${a.toFixed(3)} B ${b.toFixed(3)} CPU-s/M, B/A ${(b / a).toFixed(3)}; RSS ${rss} MiB`);
      prev = cur;
    }
    const last = prev;

    const totals = running.map((_, k) => {
      const f = first[k] as Reading;
      const l = last[k] as Reading;
      return { cpu: l.cpu - f.cpu, samples: l.samples - f.samples };
    });
    const lines: string[] = [
      '',
      `## ab: two builds side by side at the same time, ${SLICES} slices of ${SLICE_SECONDS} s after ${WARMUP} s warm-up; medians over the slices`,
      `   ${machineLine()}`,
      `   ${TARGETS} demo targets × ${SERIES} series, interval ${INTERVAL} s, ${WORKERS} worker${WORKERS > 1 ? 's' : ''}, JSON to a file; both runs share the machine, so compare the ratio`,
      '',
      'side  build                                          CPU-s/M  RSS med MiB  RSS max MiB  samples/s  environment',
      '----  ---------------------------------------------  -------  -----------  -----------  ---------  -----------',
    ];
    running.forEach((r, k) => {
      const s = perSlice[k] as { cpuPerM: number[]; rss: number[] };
      const t = totals[k] as { samples: number };
      const env = Object.entries(r.side.env).map(([key, v]) => `${key}=${v}`).join(' ') || '-';
      lines.push(`${r.side.name.padEnd(4)}  ${r.side.describe.padEnd(45)}  ${median(s.cpuPerM.filter(Number.isFinite)).toFixed(3).padStart(7)}  ${median(s.rss).toFixed(0).padStart(11)}  ${Math.max(...s.rss).toFixed(0).padStart(11)}  ${(t.samples / (SLICES * SLICE_SECONDS) / 1e3).toFixed(1).padStart(8)}k  ${env}`);
    });
    const [ta, tb] = totals as [{ cpu: number; samples: number }, { cpu: number; samples: number }];
    lines.push(
      '',
      `B/A CPU-s/M: median over ${ratios.length} slices ${median(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)}); whole window ${(tb.cpu / tb.samples / (ta.cpu / ta.samples)).toFixed(3)}`,
      `B/A samples: ${(tb.samples / ta.samples).toFixed(3)} (below 1: B fell behind the interval)`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cleanup.stopAll();
    if (baseDir !== undefined) {
      try {
        git(['worktree', 'prune']);
      } catch {
        // the worktree's directory is gone; a stale entry is pruned by the next `git worktree prune`
      }
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ab benchmark failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
