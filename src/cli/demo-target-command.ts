// SPDX-License-Identifier: Apache-2.0
/**
 * `strata demo-target --series N --port P [--host H] [--seed S] [--count K] [--gzip-level L] [--prerender K] [--churn C]`:
 * serves synthetic Kubernetes-like expositions (see `src/demo/`) until SIGINT or SIGTERM.
 *
 * Prints one URL per target on stdout (nothing else goes there), a one-line description on
 * stderr. `--count K` starts K targets on consecutive ports P, P+1, … (each on a free port of
 * its own when P is 0), seeded S, S+1, …, so they serve different series. If a target cannot
 * listen, the ones already started are closed and the command exits 1. On SIGINT, SIGTERM or
 * `options.signal` aborting, the targets are closed and the command resolves 0.
 *
 * `--prerender K` renders K scrapes per target once and serves them in turn (see
 * `src/demo/target.ts`): for benchmarks, where the targets should not compete for the cores.
 * `--churn C` replaces a share C (0–1) of the series by new ones on every scrape (pods
 * rescheduled), for requests that do not give their own `?churn=`.
 * Defaults: `--series 1000`, `--port 9101`, `--host 127.0.0.1`, `--seed 1`, `--count 1`,
 * `--gzip-level 1`, `--prerender 0`, `--churn 0`.
 */
import { parseArgs } from 'node:util';
import { type DemoTarget, startDemoTarget } from '../demo/index.js';
import { churnOf } from '../demo/target.js';
import { UsageError } from '../errors.js';
import type { CommandIO } from './parse-command.js';

export const DEMO_TARGET_USAGE =
  'usage: strata demo-target [--series N] [--port P] [--host H] [--seed S] [--count K] [--gzip-level 1-9] [--prerender K] [--churn 0-1]';

/** Largest `--series`: 10M lines is a multi-gigabyte body already. */
const MAX_SERIES = 10_000_000;
const MAX_COUNT = 1000;

export interface DemoTargetCommandOptions {
  /** Stops the targets and resolves the command (0), as SIGINT does. */
  readonly signal?: AbortSignal;
  /** Called once every target listens. */
  readonly onReady?: (targets: readonly DemoTarget[]) => void;
}

function intFlag(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^-?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

const OPTIONS = {
  series: { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  seed: { type: 'string' },
  count: { type: 'string' },
  'gzip-level': { type: 'string' },
  prerender: { type: 'string' },
  churn: { type: 'string' },
} as const;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    // Unknown flags, a flag without its value: node's own message, as a usage error.
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

export async function demoTargetCommand(argv: string[], io: CommandIO, options: DemoTargetCommandOptions = {}): Promise<number> {
  const { values, positionals } = parse(argv);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}; ${DEMO_TARGET_USAGE}`);
  const series = intFlag('series', values.series, 1000, 0, MAX_SERIES);
  const port = intFlag('port', values.port, 9101, 0, 65535);
  const seed = intFlag('seed', values.seed, 1, 0, 0xffffffff);
  const count = intFlag('count', values.count, 1, 1, MAX_COUNT);
  const gzipLevel = intFlag('gzip-level', values['gzip-level'], 1, 1, 9);
  const prerender = intFlag('prerender', values.prerender, 0, 0, 64);
  const churn = values.churn === undefined ? 0 : churnOf(`churn=${encodeURIComponent(values.churn)}`, 0);
  if (churn === null) throw new UsageError(`--churn must be a share in 0..1 (0.1 replaces 10% of the series per scrape), got ${JSON.stringify(values.churn)}`);
  const host = values.host ?? '127.0.0.1';
  if (host === '') throw new UsageError('--host must not be empty');
  if (port !== 0 && port + count - 1 > 65535) {
    throw new UsageError(`--port ${port} with --count ${count} runs past port 65535`);
  }

  const { signal } = options;
  if (signal?.aborted === true) return 0;
  // Listen for the stop request before starting, so a signal during start-up is not lost.
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  signal?.addEventListener('abort', stop, { once: true });

  const targets: DemoTarget[] = [];
  try {
    for (let i = 0; i < count; i++) {
      try {
        targets.push(
          await startDemoTarget({ series, port: port === 0 ? 0 : port + i, host, seed: (seed + i) >>> 0, gzipLevel, prerender, ...(churn > 0 ? { churn } : {}) }),
        );
      } catch (e) {
        io.stderr.write(`strata demo-target: cannot listen on ${host}:${port === 0 ? 0 : port + i}: ${e instanceof Error ? e.message : String(e)}\n`);
        return 1;
      }
    }
    for (const t of targets) io.stdout.write(`${t.url}\n`);
    const d = targets[0]?.description;
    if (d !== undefined) {
      io.stderr.write(
        `strata demo-target: ${count} target(s), ${d.series} series each (${d.byType.counter} counter, ${d.byType.gauge} gauge, ` +
          `${d.byType.histogram} histogram, ${d.byType.summary} summary lines; ${d.families} families over ${d.pods} pods)` +
          `${churn > 0 ? `; churn ${churn} of the series per scrape` : ''}; Ctrl-C stops\n`,
      );
    }
    options.onReady?.(targets);
    await stopped;
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    signal?.removeEventListener('abort', stop);
    await Promise.all(targets.map((t) => t.close()));
  }
}
