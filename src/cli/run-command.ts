// SPDX-License-Identifier: Apache-2.0
/**
 * `strata run -f FILE [-f FILE …]`: the standalone collector. Runs the Collectors and
 * Discoveries of the files (reloaded on change), serves self-metrics, health and status, prints
 * a progress line on stderr, and stops cleanly on SIGTERM or SIGINT (exit 0), or when the reader
 * of its standard output goes away (`| head -1`: exit 0, final counts on stderr).
 *
 * `--demo-target PORT` also starts a synthetic exporter on 127.0.0.1:PORT (`--demo-series N`
 * series) in this process, for the quick start.
 */
import { parseArgs } from 'node:util';
import { gcBudgetMb } from '../collector/gc.js';
import { ConfigRejected, Engine } from '../engine/engine.js';
import { startDemoTarget } from '../demo/index.js';
import { ConfigError, UsageError } from '../errors.js';
import { redactUrlsIn } from '../net/redact.js';
import { watchStdout } from '../sink/stdout.js';
import { startTelemetryServer } from '../telemetry/index.js';
import { checkReadable } from './input-file.js';
import type { CommandIO } from './parse-command.js';

export const RUN_USAGE =
  'usage: strata run -f FILE [-f FILE …] [--telemetry-port 9464] [--telemetry-host 127.0.0.1] [--grace-seconds 10] [--demo-target PORT] [--demo-series N] [--no-progress]';

function intFlag(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
  return n;
}

export async function runCommand(argv: string[], io: CommandIO, signal?: AbortSignal): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      file: { type: 'string', short: 'f', multiple: true },
      'telemetry-port': { type: 'string' },
      'telemetry-host': { type: 'string' },
      'grace-seconds': { type: 'string' },
      'demo-target': { type: 'string' },
      'demo-series': { type: 'string' },
      'no-progress': { type: 'boolean' },
    },
  });
  const files = values.file ?? [];
  if (files.length === 0) throw new UsageError(RUN_USAGE);
  try {
    gcBudgetMb(); // a bad STRATA_GC_BUDGET_MB is an error now, not when the first pool starts
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    io.stderr.write(`strata: ${e.message}\n`);
    return 1;
  }
  const telemetryPort = intFlag('telemetry-port', values['telemetry-port'], 9464);
  const graceMs = intFlag('grace-seconds', values['grace-seconds'], 10) * 1000;
  const log = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };

  checkReadable(files); // one message for a missing file, in every command

  // The telemetry port is taken before anything starts: a port in use fails the command now,
  // not after scraping has begun with no /metrics and no /readyz.
  const stdout = watchStdout(); // before any pool starts: its workers share the stdout lock
  const engine = new Engine({ files, graceMs, log });
  const telemetry = await startTelemetryServer({
    port: telemetryPort,
    host: values['telemetry-host'] ?? '127.0.0.1',
    metrics: engine.metrics,
    status: () => engine.status(),
    ready: () => engine.readiness(),
  }).catch((e: unknown) => {
    const why = e instanceof Error ? e.message : String(e);
    throw new UsageError(`cannot serve telemetry on ${values['telemetry-host'] ?? '127.0.0.1'}:${telemetryPort} (--telemetry-port): ${why}`);
  });

  const demo =
    values['demo-target'] === undefined
      ? null
      : await startDemoTarget({
          series: intFlag('demo-series', values['demo-series'], 1000, 1),
          port: intFlag('demo-target', values['demo-target'], 9101),
        }).catch(async (e: unknown) => {
          await telemetry.close();
          throw e;
        });
  if (demo !== null) log(`strata: demo target serving ${demo.url}`);

  try {
    await engine.start();
  } catch (e) {
    await demo?.close();
    await telemetry.close();
    if (e instanceof ConfigRejected) {
      for (const line of e.errors) io.stderr.write(`${redactUrlsIn(line)}\n`);
      return 1;
    }
    throw e;
  }
  if (engine.registry.collectors().length === 0) {
    await engine.stop();
    await demo?.close();
    await telemetry.close();
    io.stderr.write(`strata run: no Collector in ${files.join(', ')}: nothing to run (strata validate -f FILE checks a file)\n`);
    return 1;
  }
  log(`strata: running ${files.join(', ')}; self-metrics on ${telemetry.url}/metrics, status on ${telemetry.url}/status`);

  const progress = values['no-progress'] === true ? null : startProgress(engine, log);
  await new Promise<void>((resolve) => {
    const done = (): void => resolve();
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
    signal?.addEventListener('abort', done, { once: true });
    void stdout.gone.then((why) => {
      log(`strata: ${why}`);
      done();
    });
  });
  stdout.stop();
  log('strata: stopping: discovery stopped, finishing in-flight scrapes and flushing sinks');
  if (progress !== null) clearInterval(progress);
  await engine.stop();
  await telemetry.close();
  await demo?.close();
  log(`strata: stopped. ${summary(engine)}`);
  return 0;
}

function totals(engine: Engine): { collected: number; sent: number; errors: number; dropped: number; filtered: number; up: number; targets: number } {
  const t = { collected: 0, sent: 0, errors: 0, dropped: 0, filtered: 0, up: 0, targets: 0 };
  for (const rt of engine.registry.collectors()) {
    const s = engine.collectorStatus(rt.key);
    if (s === undefined) continue;
    t.collected += s.metricsCollected;
    t.sent += s.totalSent;
    t.errors += s.totalErrors;
    t.dropped += s.totalDropped;
    t.filtered += s.totalFiltered;
    t.up += s.targetsUp;
    t.targets += s.targets.length;
  }
  return t;
}

function summary(engine: Engine): string {
  const t = totals(engine);
  return `collected ${t.collected} · filtered ${t.filtered} · sent ${t.sent} · scrape errors ${t.errors} · samples dropped ${t.dropped}`;
}

function startProgress(engine: Engine, log: (line: string) => void): NodeJS.Timeout {
  let last = totals(engine);
  let lastAt = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    const t = totals(engine);
    const rate = ((t.collected - last.collected) * 1000) / Math.max(1, now - lastAt);
    log(
      `strata: ${formatRate(rate)} samples/s · collected ${t.collected} · sent ${t.sent} · errors ${t.errors} · dropped ${t.dropped} · targets up ${t.up}/${t.targets}`,
    );
    last = t;
    lastAt = now;
  }, 2000);
  timer.unref();
  return timer;
}

function formatRate(r: number): string {
  if (r >= 1e6) return `${(r / 1e6).toFixed(2)}M`;
  if (r >= 1e3) return `${(r / 1e3).toFixed(1)}k`;
  return r.toFixed(0);
}
