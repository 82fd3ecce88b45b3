// SPDX-License-Identifier: Apache-2.0
/**
 * Benchmark settings, from the environment so `npm run bench` and a lone bench file agree:
 *
 * - BENCH_SERIES      series in the cluster-mix payload (100000)
 * - BENCH_SEED        generator seed (1)
 * - BENCH_TIME_MS     time budget per measured case, ms (2000); each case also runs at least
 *                     BENCH_ITERATIONS times (5), so a slow baseline takes ~5 of its iterations
 * - BENCH_ALLOC_RUNS  iterations measured for bytes allocated (3)
 * - BENCH_CLI_RUNS    whole-process runs per command in cli.bench (7)
 */
import os from 'node:os';

/** A positive integer setting from the environment, `def` when unset or empty. */
export function intEnv(name: string, def: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export const env = {
  series: intEnv('BENCH_SERIES', 100_000),
  seed: intEnv('BENCH_SEED', 1),
  timeMs: intEnv('BENCH_TIME_MS', 2000),
  iterations: intEnv('BENCH_ITERATIONS', 5),
  allocRuns: intEnv('BENCH_ALLOC_RUNS', 3),
  cliRuns: intEnv('BENCH_CLI_RUNS', 7),
} as const;

/** One line about the machine, printed above every table: results mean little without it. */
export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const gc = typeof globalThis.gc === 'function' ? 'gc exposed' : 'no --expose-gc';
  return `node ${process.version} · ${cpu} × ${os.cpus().length} · load ${load} · ${gc}`;
}
