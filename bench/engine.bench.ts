// SPDX-License-Identifier: Apache-2.0
/**
 * The whole collector, end to end: `strata run` with 1 and with 2 workers against Prometheus 2.42
 * in agent mode, side by side in one run, scraping the same demo targets at the same interval.
 *
 *   npm run build && npx tsx bench/engine.bench.ts        (~8 minutes; `npm run bench -- engine`)
 *   BENCH_ENGINE_SECONDS=30 BENCH_ENGINE_INTERVAL=10 npx tsx bench/engine.bench.ts
 *
 * Settings (environment): BENCH_ENGINE_INTERVAL (5) scrape interval in seconds of the interval
 * mode; BENCH_ENGINE_SECONDS (60) measured window per configuration; BENCH_ENGINE_WARMUP (10)
 * seconds between a collector being up and its window; BENCH_ENGINE_TARGETS (20) and
 * BENCH_ENGINE_SERIES (10000) demo targets and series per target;
 * BENCH_ENGINE_SATURATION_COPIES (6), see below; BENCH_ENGINE_PROMETHEUS (`prometheus` on PATH)
 * the binary; BENCH_ENGINE_ONLY (all) a comma-separated subset of the configurations
 * (`strata-w1@5s`, `strata-w2@5s`, `prometheus@5s`, `strata-w1@1s`, …).
 *
 * Data set "demo-20x10k": `strata demo-target --series 10000 --count 20 --prerender 8`,
 * Kubernetes-shaped expositions (counters, gauges, histograms, summaries; 10,000 samples and
 * ~2.4 MB per scrape, gzip level 1), new values every scrape: each target serves 8 renderings in
 * turn, made and compressed at start (BENCH_ENGINE_PRERENDER; 0 renders every scrape), so the
 * targets take almost no CPU and the collector gets the machine's 2 cores. The targets run in
 * their own process for the whole benchmark, so their CPU is not charged to any collector; its
 * share of the machine is shown (`targets CPU`).
 *
 * Configurations, one after another, each a fresh process:
 * - interval mode (BENCH_ENGINE_INTERVAL): Strata workers 1, Strata workers 2, Prometheus. The
 *   rate is bound by the interval (targets × series / interval) when a collector keeps up.
 * - saturation mode (interval 1 s, the shortest Strata accepts): the same three, with every
 *   target listed BENCH_ENGINE_SATURATION_COPIES (6) times as `URL?copy=i` (the demo target
 *   ignores the query; Prometheus gets one job per copy with `params`). 20 targets alone ask
 *   200k samples/s at 1 s, which one Strata worker keeps up with; 6 copies ask 1.2M, more than a
 *   collector can scrape on 2 cores, so samples/s is its capacity (at 4 copies, 800k, two
 *   workers got all that was asked, which capped their ratio to one). Each copy has its own series
 *   cache, so a collector holds copies × 200k series. Stale, skipped and dropped targets, errors
 *   and drops are expected and reported from /status.
 * - churn mode (BENCH_ENGINE_CHURN_INTERVAL, 2 s): Strata workers 1, Prometheus and vmagent, each
 *   twice: on targets whose series churn (BENCH_ENGINE_CHURN, 0.1: `URL?churn=0.1`, Prometheus
 *   and vmagent through `params`, see src/demo/target.ts: that share of the series replaced by
 *   new ones, never seen before, on every scrape, as when pods are rescheduled), then on the same
 *   targets without churn at the same interval (`…-churn0`). Churning scrapes are rendered and
 *   compressed by the targets, each the moment the previous one was served (the targets' CPU goes
 *   up: `targets CPU`). The churn scrape count is per query string and the configurations run one
 *   at a time, so each collector sees the share per scrape of its own. BENCH_ENGINE_CHURN=0 leaves the mode out. Targets: Strata's CPU-s/M
 *   under churn ≤ 2× its own without, RSS ≤ 200 MiB under churn and ≤ 160 MiB without (issue 16;
 *   the issue asks those over an hour: `BENCH_ENGINE_SECONDS=3600 BENCH_ENGINE_ONLY=strata-w1@2s-churn0.1`).
 * Strata: Collector {workers, encoder json, output file (/tmp, 256 MiB rotation)} and a Discovery
 * with the targets as static URLs; scrape settings left at their defaults (timeout 10 s). In
 * interval mode Strata with one worker also runs with other sinks: `strata-w1-nats` (core NATS to
 * a real nats-server started for it, no subscriber: the server discards) and `strata-w1-rw`
 * (remote write to the same discarding receiver as Prometheus'), and vmagent (`vmagent@…`, Debian
 * `victoria-metrics`, BENCH_ENGINE_VMAGENT) scrapes the same targets and remote-writes there too.
 * Bytes per sample on the wire are the receiver's bytes over the samples delivered.
 * Prometheus: `--enable-feature=agent`, scrape_timeout = min(interval, 10 s) (it may not exceed
 * the interval), remote_write to a receiver in this process that reads and drops each body and
 * answers 204.
 *
 * Measured over the window, with a reading every second:
 * - samples: Strata's metricsCollected from /status (scraped and parsed); Prometheus'
 *   prometheus_agent_samples_appended_total (which also counts its 5 synthetic series per scrape,
 *   0.05% here). Delivered: Strata's totalSent (written to the file), Prometheus'
 *   prometheus_remote_storage_samples_total (acknowledged by the receiver). The window is cut into slices of ≥ 10 s (whole intervals); samples/s and CPU-s
 *   per million samples are the medians over the slices. CPU = utime + stime of all threads from
 *   /proc/<pid>/stat, read right after the counter.
 * - RSS: VmRSS from /proc/<pid>/status every second: median and max; growth compares the medians
 *   of the window's first and last quarters (flagged above 20 MiB).
 * - event-loop p99 (Strata): `strata_event_loop_delay_seconds{stat="p99"|"max"}` are since the
 *   previous exposition, so /metrics is read once when the window opens (reset) and once when it
 *   closes: exactly the window.
 * Work differs: Strata encodes JSON and appends it to a file; Prometheus appends to its WAL and
 * sends snappy protobuf over HTTP. Both scrape with gzip.
 *
 * Every child process and temp dir is removed at the end, on failure and on SIGINT.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { intEnv, machineLine } from './lib/env.js';
import { progress } from './lib/measure.js';
import { type Child, Cleanup, cpuSeconds, freePort, httpText, machineCpu, rssBytes, sleep, tail, waitFor } from './lib/process.js';
import { type Target, fmtRate, median, target } from './lib/report.js';
import type { CollectorStatusView } from '../src/engine/engine.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STRATA_BIN = path.join(ROOT, 'bin', 'strata.js');
const STRATA_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const MiB = 1024 * 1024;

const INTERVAL = intEnv('BENCH_ENGINE_INTERVAL', 5);
const SECONDS = intEnv('BENCH_ENGINE_SECONDS', 60);
const WARMUP = intEnv('BENCH_ENGINE_WARMUP', 10);
const TARGETS = intEnv('BENCH_ENGINE_TARGETS', 20);
const SERIES = intEnv('BENCH_ENGINE_SERIES', 10_000);
const SATURATION_INTERVAL = 1;
const COPIES = intEnv('BENCH_ENGINE_SATURATION_COPIES', 6);
const PRERENDER = Number(process.env.BENCH_ENGINE_PRERENDER ?? 8);
const CHURN_INTERVAL = intEnv('BENCH_ENGINE_CHURN_INTERVAL', 2);
const CHURN = Number(process.env.BENCH_ENGINE_CHURN ?? 0.1);
if (!(CHURN >= 0 && CHURN <= 1)) throw new Error(`BENCH_ENGINE_CHURN must be a share in 0..1, got ${process.env.BENCH_ENGINE_CHURN}`);
/** Strata's scrape.concurrency; unset: its default. */
const CONCURRENCY = process.env.BENCH_ENGINE_CONCURRENCY;
const PROMETHEUS = process.env.BENCH_ENGINE_PROMETHEUS ?? 'prometheus';
const VMAGENT = process.env.BENCH_ENGINE_VMAGENT ?? 'vmagent';
const NATS_SERVER = process.env.BENCH_ENGINE_NATS_SERVER ?? 'nats-server';
const ONLY = (process.env.BENCH_ENGINE_ONLY ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
const DATA_SET = `demo-${TARGETS}x${SERIES >= 1000 ? `${SERIES / 1000}k` : SERIES}`;

// ---- targets from the issue ----
const MAX_CPU_PER_M = 1.0;
const MAX_RSS_MIB = 300;
// The issue derives those from Prometheus 2.42 agent mode measured at 2.05 CPU-s/M and 650 MiB
// for the same targets: the same targets as ratios against Prometheus measured in this run, which
// survive a slower or busier machine (on ours Prometheus measures 9-10 CPU-s/M, not 2.05).
const MAX_CPU_VS_PROM = MAX_CPU_PER_M / 2.05;
const MAX_RSS_VS_PROM = MAX_RSS_MIB / 650;
const MIN_SCALING = 1.7;
const MAX_LOOP_P99_MS = 20;
// Issue 16: at 200k series, 1 worker.
const MAX_CHURN_CPU_RATIO = 2;
const MAX_CHURN_RSS_MIB = 200;
const MAX_STEADY_RSS_MIB = 160;

// ---- configurations ----

type Mode = 'interval' | 'saturation' | 'churn';
type Sink = 'file' | 'nats' | 'remoteWrite';
interface Config {
  readonly name: string;
  readonly kind: 'strata' | 'prometheus' | 'vmagent';
  readonly workers: number;
  readonly interval: number;
  readonly mode: Mode;
  /** Strata's output (file unless named). */
  readonly sink?: Sink;
  /** Share of the series the targets replace per scrape (churn mode; 0 otherwise). */
  readonly churn: number;
}
function configs(): Config[] {
  const out: Config[] = [];
  for (const [mode, interval] of [['interval', INTERVAL], ['saturation', SATURATION_INTERVAL]] as const) {
    out.push({ name: `strata-w1@${interval}s`, kind: 'strata', workers: 1, interval, mode, churn: 0 });
    out.push({ name: `strata-w2@${interval}s`, kind: 'strata', workers: 2, interval, mode, churn: 0 });
    out.push({ name: `prometheus@${interval}s`, kind: 'prometheus', workers: 0, interval, mode, churn: 0 });
    if (mode === 'interval') {
      out.push({ name: `strata-w1-nats@${interval}s`, kind: 'strata', workers: 1, interval, mode, sink: 'nats', churn: 0 });
      out.push({ name: `strata-w1-rw@${interval}s`, kind: 'strata', workers: 1, interval, mode, sink: 'remoteWrite', churn: 0 });
      out.push({ name: `vmagent@${interval}s`, kind: 'vmagent', workers: 0, interval, mode, churn: 0 });
    }
  }
  if (CHURN > 0) {
    const interval = CHURN_INTERVAL;
    for (const churn of [CHURN, 0]) {
      out.push({ name: `strata-w1@${interval}s-churn${churn}`, kind: 'strata', workers: 1, interval, mode: 'churn', churn });
      out.push({ name: `prometheus@${interval}s-churn${churn}`, kind: 'prometheus', workers: 0, interval, mode: 'churn', churn });
      out.push({ name: `vmagent@${interval}s-churn${churn}`, kind: 'vmagent', workers: 0, interval, mode: 'churn', churn });
    }
  }
  return ONLY.length === 0 ? out : out.filter((c) => ONLY.includes(c.name));
}
function label(c: Config): string {
  if (c.kind === 'prometheus') return 'prometheus agent';
  if (c.kind === 'vmagent') return 'vmagent';
  const sink = c.sink === undefined || c.sink === 'file' ? '' : c.sink === 'nats' ? ' → nats' : ' → remote write';
  return `strata ${c.workers} worker${c.workers > 1 ? 's' : ''}${sink}`;
}
/** The label with the churn (churn mode). */
function churnLabel(c: Config): string {
  return c.mode === 'churn' ? `${label(c)}, ${c.churn > 0 ? `churn ${c.churn}` : 'no churn'}` : label(c);
}
/** How many times the targets are listed (saturation mode: COPIES). */
function copies(c: Config): number {
  return c.mode === 'saturation' ? COPIES : 1;
}

// ---- readings ----

/** A collector's entry in Strata's /status. */
type StrataStatus = CollectorStatusView;
/** Prometheus counters from its /metrics. */
interface PromCounters {
  readonly appended: number;
  readonly sent: number;
  readonly failed: number;
  readonly dropped: number;
  readonly retried: number;
  readonly pending: number;
}

interface Tick {
  readonly t: number; // ms, performance.now()
  readonly count: number | undefined;
  readonly sent: number | undefined;
  readonly cpu: number | undefined;
  readonly rss: number | undefined;
  readonly demoCpu: number | undefined;
  readonly machine: { busy: number; total: number };
  /** CPU seconds of this benchmark process (sampler and remote-write receiver). */
  readonly self: number;
  readonly strata?: StrataStatus;
  readonly prom?: PromCounters;
}

/** Values of `name` (exact metric name, any labels) in a Prometheus text exposition. */
function metricValues(text: string, name: string): { labels: string; value: number }[] {
  const out: { labels: string; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest[0] === '{' ? rest.indexOf('}') : -1;
    const labels = close < 0 ? '' : rest.slice(1, close);
    const value = Number(rest.slice(close + 1).trim().split(' ')[0]);
    out.push({ labels, value });
  }
  return out;
}
function metricSum(text: string, name: string): number {
  return metricValues(text, name).reduce((a, v) => a + v.value, 0);
}
function metricWith(text: string, name: string, labelPart: string): number | undefined {
  return metricValues(text, name).find((v) => v.labels.includes(labelPart))?.value;
}

/** Least-squares slope of y over x. */
function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += ((xs[i] as number) - mx) * ((ys[i] as number) - my);
    den += ((xs[i] as number) - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}
function delta(a: Readonly<Record<string, number>> | undefined, b: Readonly<Record<string, number>> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(b ?? {})) {
    const d = (b?.[k] ?? 0) - (a?.[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}
function nonZero(r: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== 0));
}
function fmtCounts(r: Readonly<Record<string, number>>): string {
  const e = Object.entries(r);
  return e.length === 0 ? 'none' : e.map(([k, v]) => `${k} ${v.toLocaleString('en')}`).join(', ');
}

// ---- results ----

interface Result {
  readonly config: Config;
  readonly skipped?: string;
  readonly samplesPerSec?: number;
  /** Delivered: written by Strata's sink, acknowledged by Prometheus' remote write. */
  readonly sentPerSec?: number;
  /** Remote write bytes the receiver got per sample delivered, over the window (remote-write senders). */
  readonly wireBytesPerSample?: number;
  readonly cpuPerM?: number;
  readonly rssMedianMiB?: number;
  readonly rssMaxMiB?: number;
  readonly loopP99Ms?: number;
  readonly loopMaxMs?: number;
  readonly targetsCpuPct?: number;
  readonly machineBusyPct?: number;
  /** Cores used by other processes on the machine during the window. */
  readonly otherCores?: number;
  /** Whole-window figures, and what status said. */
  readonly notes: string[];
  /** Things that look wrong (errors, drops, growth, warnings). */
  readonly problems: string[];
}

// ---- the run ----

const cleanup = new Cleanup().install();
const machine = machineLine();
const header: string[] = [machine];
let demo: Child | undefined;
let receiver: Server | undefined;
const received = { requests: 0, bytes: 0 };

function checkBuild(): string | undefined {
  if (!existsSync(STRATA_MAIN)) return `${path.relative(ROOT, STRATA_MAIN)} does not exist: run npm run build`;
  const newest = Math.max(...readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => statSync(path.join(ROOT, 'src', f)).mtimeMs));
  if (newest > statSync(STRATA_MAIN).mtimeMs) header.push('WARNING: src/ is newer than dist/: run npm run build, or this measures old code');
  return undefined;
}

function prometheusVersion(): string | undefined {
  try {
    const out = execFileSync(PROMETHEUS, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return (out.split('\n')[0] ?? '').trim();
  } catch {
    return undefined;
  }
}

async function startDemo(dir: string): Promise<string[]> {
  const log = path.join(dir, 'demo-target.log');
  progress(`starting ${TARGETS} demo targets × ${SERIES} series (own process)`);
  demo = cleanup.start('demo-target', process.execPath, [STRATA_BIN, 'demo-target', '--series', String(SERIES), '--port', '0', '--count', String(TARGETS), '--prerender', String(PRERENDER)], { cwd: ROOT, logFile: log });
  const d = demo;
  const urls = await waitFor('the demo targets', () => {
    if (d.hasExited()) throw new Error(`demo-target exited:\n${tail(log)}`);
    const lines = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('http://'));
    return lines.length >= TARGETS ? lines.slice(0, TARGETS) : undefined;
  }, 120_000);
  const desc = readFileSync(log, 'utf8').split('\n').find((l) => l.startsWith('strata demo-target:'));
  const body = await httpText(urls[0] as string);
  header.push(`data set ${DATA_SET}: ${desc?.replace('strata demo-target: ', '').replace('; Ctrl-C stops', '') ?? ''}; ${(Buffer.byteLength(body) / 1e6).toFixed(1)} MB per scrape uncompressed`);
  return urls;
}

async function startReceiver(): Promise<number> {
  const port = await freePort();
  receiver = createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      received.bytes += c.length;
    });
    req.on('end', () => {
      received.requests++;
      res.writeHead(204).end();
    });
  });
  receiver.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => receiver?.listen(port, '127.0.0.1', resolve));
  return port;
}

/**
 * Each target once in interval mode; with `?churn=C` in churn mode; COPIES times in saturation
 * mode (`?copy=i`: the demo target ignores the query).
 */
function targetUrls(c: Config, urls: readonly string[]): string[] {
  if (c.mode === 'churn' && c.churn > 0) return urls.map((u) => `${u}?churn=${c.churn}`);
  if (c.mode !== 'saturation') return [...urls];
  const out: string[] = [];
  for (let i = 0; i < COPIES; i++) for (const u of urls) out.push(`${u}?copy=${i}`);
  return out;
}

function strataOutput(c: Config, dir: string, peer: { natsPort?: number; receiverPort?: number }): string {
  if (c.sink === 'nats') return `  output: {nats: {url: "nats://127.0.0.1:${peer.natsPort}", subject: bench}}`;
  if (c.sink === 'remoteWrite') return `  output: {remoteWrite: {url: "http://127.0.0.1:${peer.receiverPort}/write"}}`;
  return `  output: {file: {path: ${JSON.stringify(path.join(dir, 'out.ndjson'))}, maxBytes: 268435456}}`;
}

function strataYaml(c: Config, urls: readonly string[], dir: string, peer: { natsPort?: number; receiverPort?: number } = {}): string {
  return [
    'apiVersion: strata.ctx.sh/v1beta1',
    'kind: Collector',
    'metadata: {name: bench}',
    'spec:',
    `  workers: ${c.workers}`,
    '  encoder: json',
    ...(CONCURRENCY === undefined ? [] : [`  scrape: {concurrency: ${Number(CONCURRENCY)}}`]),
    strataOutput(c, dir, peer),
    '---',
    'apiVersion: strata.ctx.sh/v1beta1',
    'kind: Discovery',
    'metadata: {name: bench}',
    'spec:',
    '  collector: [{name: bench}]',
    `  intervalSeconds: ${c.interval}`,
    '  static:',
    ...targetUrls(c, urls).map((u) => `    - url: ${u}`),
    '',
  ].join('\n');
}

function prometheusYaml(c: Config, urls: readonly string[], receiverPort: number | undefined): string {
  const timeout = Math.min(c.interval, 10);
  const jobs: string[] = [];
  for (let i = 0; i < copies(c); i++) {
    jobs.push(`  - job_name: demo-${i}`);
    if (c.mode === 'saturation') jobs.push(`    params: {copy: ['${i}']}`);
    if (c.mode === 'churn' && c.churn > 0) jobs.push(`    params: {churn: ['${c.churn}']}`);
    jobs.push('    static_configs:', '      - targets:', ...urls.map((u) => `          - ${new URL(u).host}`));
  }
  return [
    `global: {scrape_interval: ${c.interval}s, scrape_timeout: ${timeout}s}`,
    'scrape_configs:',
    ...jobs,
    ...(receiverPort === undefined ? [] : ['remote_write:', `  - url: http://127.0.0.1:${receiverPort}/write`]),
    '',
  ].join('\n');
}

async function readStrata(base: string): Promise<StrataStatus> {
  const json = JSON.parse(await httpText(`${base}/status`)) as { collectors: { status?: StrataStatus }[] };
  const s = json.collectors[0]?.status;
  if (s === undefined) throw new Error('no collector in /status yet');
  return s;
}
async function readProm(base: string): Promise<PromCounters> {
  const text = await httpText(`${base}/metrics`);
  return {
    appended: metricSum(text, 'prometheus_agent_samples_appended_total'),
    sent: metricSum(text, 'prometheus_remote_storage_samples_total'),
    failed: metricSum(text, 'prometheus_remote_storage_samples_failed_total'),
    dropped: metricSum(text, 'prometheus_remote_storage_samples_dropped_total'),
    retried: metricSum(text, 'prometheus_remote_storage_samples_retried_total'),
    pending: metricSum(text, 'prometheus_remote_storage_samples_pending'),
  };
}

/** vmagent's counters in the same shape: scraped samples as `appended`, rows put into remote-write blocks as `sent`. */
async function readVmagent(base: string): Promise<PromCounters> {
  const text = await httpText(`${base}/metrics`);
  return {
    appended: metricSum(text, 'vm_promscrape_scraped_samples_sum'),
    sent: metricSum(text, 'vmagent_remotewrite_block_size_rows_sum'),
    failed: 0,
    dropped: metricSum(text, 'vmagent_remotewrite_packets_dropped_total'),
    retried: metricSum(text, 'vmagent_remotewrite_retries_count_total'),
    pending: metricSum(text, 'vmagent_remotewrite_pending_data_bytes'),
  };
}

async function tick(c: Config, proc: Child, base: string): Promise<Tick> {
  let strata: StrataStatus | undefined;
  let prom: PromCounters | undefined;
  try {
    if (c.kind === 'strata') strata = await readStrata(base);
    else if (c.kind === 'vmagent') prom = await readVmagent(base);
    else prom = await readProm(base);
  } catch {
    // a missed reading: the slice boundaries use the nearest good one
  }
  const t = performance.now();
  const count = strata?.metricsCollected ?? prom?.appended;
  const sent = strata?.totalSent ?? prom?.sent;
  const base_ = { t, count, sent, cpu: cpuSeconds(proc.pid), rss: rssBytes(proc.pid), demoCpu: demo === undefined ? undefined : cpuSeconds(demo.pid), machine: machineCpu(), self: cpuSeconds(process.pid) ?? 0 };
  return strata !== undefined ? { ...base_, strata } : prom !== undefined ? { ...base_, prom } : base_;
}

async function runConfig(c: Config, urls: readonly string[], receiverPort: number | undefined): Promise<Result> {
  const notes: string[] = [];
  const problems: string[] = [];
  const dir = cleanup.tempDir(`strata-bench-engine-${c.name.replace(/[@]/g, '-')}-`);
  const log = path.join(dir, `${c.kind}.log`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let proc: Child;
  progress(`${c.name}: starting (${c.mode} mode, interval ${c.interval} s)`);
  if (c.kind === 'strata') {
    const file = path.join(dir, 'strata.yaml');
    let natsPort: number | undefined;
    if (c.sink === 'nats') {
      natsPort = await freePort();
      const nats = cleanup.start(`${c.name} nats-server`, NATS_SERVER, ['-a', '127.0.0.1', '-p', String(natsPort)], { cwd: dir, logFile: path.join(dir, 'nats.log') });
      await waitFor('nats-server', async () => {
        if (nats.hasExited()) throw new Error(`nats-server exited:\n${tail(path.join(dir, 'nats.log'))}`);
        return readFileSync(path.join(dir, 'nats.log'), 'utf8').includes('Server is ready') ? true : undefined;
      }, 20_000);
    }
    writeFileSync(file, strataYaml(c, urls, dir, { ...(natsPort === undefined ? {} : { natsPort }), ...(receiverPort === undefined ? {} : { receiverPort }) }));
    proc = cleanup.start(c.name, process.execPath, [STRATA_BIN, 'run', '-f', file, '--no-progress', '--telemetry-port', String(port), '--grace-seconds', '5'], { cwd: ROOT, logFile: log, graceMs: 20_000 });
    await waitFor(`${c.name} /status`, async () => {
      if (proc.hasExited()) throw new Error(`exited:\n${tail(log)}`);
      return readStrata(base);
    }, 30_000);
  } else if (c.kind === 'vmagent') {
    if (receiverPort === undefined) throw new Error('no remote-write receiver');
    const file = path.join(dir, 'vmagent.yml');
    writeFileSync(file, prometheusYaml(c, urls, undefined));
    proc = cleanup.start(c.name, VMAGENT, [`-promscrape.config=${file}`, `-remoteWrite.url=http://127.0.0.1:${receiverPort}/write`, `-remoteWrite.tmpDataPath=${path.join(dir, 'vmagent-data')}`, `-httpListenAddr=127.0.0.1:${port}`], { cwd: dir, logFile: log, graceMs: 20_000 });
    await waitFor(`${c.name} /health`, async () => {
      if (proc.hasExited()) throw new Error(`exited:\n${tail(log)}`);
      return (await httpText(`${base}/health`)).trim() === 'OK' ? true : undefined;
    }, 30_000);
  } else {
    if (receiverPort === undefined) throw new Error('no remote-write receiver');
    const file = path.join(dir, 'prometheus.yml');
    writeFileSync(file, prometheusYaml(c, urls, receiverPort));
    proc = cleanup.start(c.name, PROMETHEUS, ['--enable-feature=agent', `--config.file=${file}`, `--storage.agent.path=${path.join(dir, 'agent')}`, `--web.listen-address=127.0.0.1:${port}`], { cwd: dir, logFile: log, graceMs: 20_000 });
    await waitFor(`${c.name} /-/ready`, async () => {
      if (proc.hasExited()) throw new Error(`exited:\n${tail(log)}`);
      return (await httpText(`${base}/-/ready`)) === '' ? undefined : true;
    }, 30_000);
  }
  try {
    progress(`${c.name}: up; warming up ${WARMUP} s`);
    await sleep(WARMUP * 1000);
    if (proc.hasExited()) throw new Error(`exited during warm-up:\n${tail(log)}`);

    // Open the window: reset the event-loop histogram, then the first reading.
    const metricsAtStart = c.kind === 'strata' ? await httpText(`${base}/metrics`, 15_000) : '';
    const receivedAtStart = { ...received };
    const ticks: Tick[] = [await tick(c, proc, base)];
    // Which worker scraped each target last: counts targets moving between workers.
    const lastSeen = new Map<string, { at: string; worker: number }>();
    const hops = { scrapes: 0, moved: 0 };
    const watchWorkers = (k: Tick): void => {
      for (const t of k.strata?.targets ?? []) {
        const prev = lastSeen.get(t.url);
        if (prev !== undefined && prev.at !== t.lastScrape) {
          hops.scrapes++;
          if (prev.worker !== t.worker) hops.moved++;
        }
        lastSeen.set(t.url, { at: t.lastScrape, worker: t.worker });
      }
    };
    watchWorkers(ticks[0] as Tick);
    const t0 = (ticks[0] as Tick).t;
    progress(`${c.name}: measuring ${SECONDS} s`);
    for (let k = 1; k <= SECONDS; k++) {
      const wait = t0 + k * 1000 - performance.now();
      if (wait > 0) await sleep(wait);
      if (proc.hasExited()) throw new Error(`exited during the window:\n${tail(log)}`);
      const k1 = await tick(c, proc, base);
      watchWorkers(k1);
      ticks.push(k1);
    }
    const metricsAtEnd = c.kind === 'strata' ? await httpText(`${base}/metrics`, 15_000) : await httpText(`${base}/metrics`);
    const receivedBytes = received.bytes - receivedAtStart.bytes;

    // Slices of whole intervals, at least 10 s each.
    const sliceS = c.interval * Math.max(1, Math.ceil(10 / c.interval));
    const good = ticks.filter((k) => k.count !== undefined && k.cpu !== undefined);
    const first = good[0];
    const last = good[good.length - 1];
    if (first === undefined || last === undefined || first === last) throw new Error('no counter readings in the window');
    const rates: number[] = [];
    const sentRates: number[] = [];
    const cpuPerM: number[] = [];
    let from = first;
    for (let k = 1; ; k++) {
      const at = first.t + k * sliceS * 1000;
      if (at > last.t + 500) break;
      const to = good.reduce((best, x) => (Math.abs(x.t - at) < Math.abs(best.t - at) ? x : best), first);
      if (to === from) continue;
      const n = (to.count as number) - (from.count as number);
      rates.push(n / ((to.t - from.t) / 1000));
      sentRates.push(((to.sent ?? Number.NaN) - (from.sent ?? Number.NaN)) / ((to.t - from.t) / 1000));
      cpuPerM.push(n > 0 ? (((to.cpu as number) - (from.cpu as number)) / n) * 1e6 : Number.POSITIVE_INFINITY);
      from = to;
    }
    const windowS = (last.t - first.t) / 1000;
    const total = (last.count as number) - (first.count as number);
    const cpu = (last.cpu as number) - (first.cpu as number);
    notes.push(`window ${windowS.toFixed(1)} s: ${total.toLocaleString('en')} samples (${fmtRate(total / windowS)}/s), ${cpu.toFixed(1)} CPU-s (${((cpu / windowS) * 100).toFixed(0)}% of a core), ${total > 0 ? ((cpu / total) * 1e6).toFixed(3) : '-'} CPU-s/M; ${rates.length} slices of ${sliceS} s: ${rates.length <= 12 ? rates.map((r) => fmtRate(r)).join(' ') : `min ${fmtRate(Math.min(...rates))}, median ${fmtRate(median(rates))}, max ${fmtRate(Math.max(...rates))}`} samples/s`);
    const expected = (TARGETS * SERIES * copies(c)) / c.interval;
    notes.push(`asked ${fmtRate(expected)} samples/s; got ${((total / windowS / expected) * 100).toFixed(0)}% of it`);
    if (c.mode !== 'saturation' && total / windowS < expected * 0.95) problems.push(`collected ${fmtRate(total / windowS)} samples/s over the window, below the ${fmtRate(expected)}/s the interval asks for (${TARGETS} × ${SERIES} / ${c.interval} s)`);

    const rssTicks = ticks.filter((k) => k.rss !== undefined);
    const rss = rssTicks.map((k) => (k.rss as number) / MiB);
    const perMin = slope(rssTicks.map((k) => (k.t - t0) / 60_000), rss);
    const quarter = Math.max(1, Math.floor(rss.length / 4));
    const early = median(rss.slice(0, quarter));
    const late = median(rss.slice(-quarter));
    notes.push(`RSS median of the first quarter ${early.toFixed(0)} MiB, of the last ${late.toFixed(0)} MiB (least-squares slope ${perMin.toFixed(1)} MiB/min)`);
    if (windowS >= 600) {
      // A long run: the RSS median of each tenth of the window, to see where it settles.
      const tenth = Math.max(1, Math.floor(rss.length / 10));
      const tenths = Array.from({ length: 10 }, (_, i) => median(rss.slice(i * tenth, (i + 1) * tenth)));
      notes.push(`RSS medians by tenth of the window: ${tenths.map((m) => m.toFixed(0)).join(' ')} MiB`);
    }
    if (late - early > 20) problems.push(`RSS grows over the window: median ${early.toFixed(0)} MiB in the first quarter, ${late.toFixed(0)} MiB in the last (slope ${perMin.toFixed(0)} MiB/min)`);

    const firstTick = ticks[0] as Tick;
    const lastTick = ticks[ticks.length - 1] as Tick;
    const tDemo = (lastTick.t - firstTick.t) / 1000;
    const targetsCpuPct = demo !== undefined && firstTick.demoCpu !== undefined && lastTick.demoCpu !== undefined ? ((lastTick.demoCpu - firstTick.demoCpu) / tDemo) * 100 : Number.NaN;
    const machineBusyPct = ((lastTick.machine.busy - firstTick.machine.busy) / (lastTick.machine.total - firstTick.machine.total)) * 100;
    // Cores busy with anything but the collector, the targets and this process (a shared machine).
    const cores = os.cpus().length;
    const selfCpu = (lastTick.self - firstTick.self) / tDemo;
    const collectorCpu = firstTick.cpu !== undefined && lastTick.cpu !== undefined ? (lastTick.cpu - firstTick.cpu) / tDemo : 0;
    const otherCores = (machineBusyPct / 100) * cores - collectorCpu - targetsCpuPct / 100 - selfCpu;

    let loopP99Ms: number | undefined;
    let loopMaxMs: number | undefined;
    if (c.kind === 'strata') {
      const p99 = metricWith(metricsAtEnd, 'strata_event_loop_delay_seconds', 'stat="p99"');
      const max = metricWith(metricsAtEnd, 'strata_event_loop_delay_seconds', 'stat="max"');
      if (p99 === undefined) problems.push('strata_event_loop_delay_seconds{stat="p99"} missing from /metrics');
      else loopP99Ms = p99 * 1000;
      if (max !== undefined) loopMaxMs = max * 1000;
      const hist = (name: string): string => {
        const dSum = metricSum(metricsAtEnd, `${name}_sum`) - metricSum(metricsAtStart, `${name}_sum`);
        const dCount = metricSum(metricsAtEnd, `${name}_count`) - metricSum(metricsAtStart, `${name}_count`);
        return dCount > 0 ? `${((dSum / dCount) * 1000).toFixed(0)} ms mean over ${dCount}` : 'none';
      };
      notes.push(`scrape duration ${hist('strata_scrape_duration_seconds')}; queue delay ${hist('strata_queue_delay_seconds')}; event-loop max ${loopMaxMs?.toFixed(0) ?? '-'} ms`);

      const s0 = good[0]?.strata;
      const s1 = good[good.length - 1]?.strata;
      if (s0 !== undefined && s1 !== undefined) {
        const dSent = s1.totalSent - s0.totalSent;
        const dColl = s1.metricsCollected - s0.metricsCollected;
        const dDrop = s1.totalDropped - s0.totalDropped;
        const errs = delta(s0.errors, s1.errors);
        const drops = delta(s0.dropped, s1.dropped);
        const tdrops = delta(s0.targetsDropped, s1.targetsDropped);
        const upMin = Math.min(...ticks.map((k) => k.strata?.targetsUp ?? Number.POSITIVE_INFINITY));
        const durations = s1.targets.map((t) => t.durationMs);
        notes.push(`status over the window: collected ${dColl.toLocaleString('en')}, sent ${dSent.toLocaleString('en')}, dropped ${dDrop.toLocaleString('en')}; errors: ${fmtCounts(errs)}; samples dropped: ${fmtCounts(drops)}; targets dropped: ${fmtCounts(tdrops)}`);
        notes.push(`status at the end: targets up ${s1.targetsUp}/${s1.targets.length} (fewest in the window ${upMin}), channel depth ${s1.channelDepth}, in flight ${s1.inFlightResources}, last scrape durations median ${median(durations).toFixed(0)} ms, max ${Math.max(...durations).toFixed(0)} ms`);
        // Absent from a /status older than the pacer (a baseline build): no note then.
        const gcs = (s1.pacedGcs ?? 0) - (s0.pacedGcs ?? 0);
        if (s1.pacedGcs !== undefined) notes.push(`paced full GCs in the workers over the window: ${gcs} (${((s1.pacedGcSeconds - (s0.pacedGcSeconds ?? 0)) * 1000).toFixed(0)} ms)`);
        if (c.workers > 1) notes.push(`targets changing worker: ${hops.moved} of ${hops.scrapes} scrapes seen (1 s readings) ran on another worker than the target's previous one`);
        if (Object.keys(errs).length > 0) problems.push(`scrape errors in the window: ${fmtCounts(errs)}`);
        if (Object.keys(drops).length > 0) problems.push(`samples dropped in the window: ${fmtCounts(drops)}`);
        if (Object.keys(tdrops).length > 0) problems.push(`targets dropped in the window: ${fmtCounts(tdrops)}`);
        const before = s0.totalErrors + s0.totalDropped + Object.values(s0.targetsDropped).reduce((a, b) => a + b, 0);
        if (before > 0) problems.push(`before the window (start-up and warm-up): errors: ${fmtCounts(nonZero(s0.errors))}; samples dropped: ${fmtCounts(nonZero(s0.dropped))}; targets dropped: ${fmtCounts(nonZero(s0.targetsDropped))}`);
        const errorsSeen = new Set(s1.targets.map((t) => t.error).filter((e): e is string => e !== null).map((e) => e.replace(/127\.0\.0\.1:\d+/g, 'HOST:PORT').replace(/\d+ bytes/g, 'N bytes')));
        if (errorsSeen.size > 0) problems.push(`target errors at the end: ${[...errorsSeen].slice(0, 3).join(' | ')}`);
        if (dColl > 0 && dSent + dDrop < dColl * 0.9) problems.push(`sent ${dSent.toLocaleString('en')} + dropped ${dDrop.toLocaleString('en')} of ${dColl.toLocaleString('en')} collected in the window: the sink falls behind`);
      }
    } else {
      const p0 = good[0]?.prom;
      const p1 = good[good.length - 1]?.prom;
      if (p0 !== undefined && p1 !== undefined) {
        notes.push(`remote write over the window: sent ${(p1.sent - p0.sent).toLocaleString('en')} of ${(p1.appended - p0.appended).toLocaleString('en')} appended, failed ${p1.failed - p0.failed}, dropped ${p1.dropped - p0.dropped}, retried ${p1.retried - p0.retried}, pending at the end ${p1.pending}; receiver got ${received.requests - receivedAtStart.requests} requests, ${((received.bytes - receivedAtStart.bytes) / 1e6).toFixed(1)} MB`);
      }
      const q = (v: string): string => metricWith(metricsAtEnd, 'prometheus_target_interval_length_seconds', `quantile="${v}"`)?.toFixed(2) ?? '-';
      notes.push(`scrape interval length p50 ${q('0.5')} s, p99 ${q('0.99')} s`);
      try {
        const targets = JSON.parse(await httpText(`${base}/api/v1/targets`)) as { data: { activeTargets: { health: string; lastError: string; lastScrapeDuration: number }[] } };
        const active = targets.data.activeTargets;
        const up = active.filter((t) => t.health === 'up').length;
        const errors = new Set(active.map((t) => t.lastError).filter((e) => e !== ''));
        notes.push(`targets up ${up}/${active.length}, last scrape durations median ${(median(active.map((t) => t.lastScrapeDuration)) * 1000).toFixed(0)} ms${errors.size > 0 ? `; errors: ${[...errors].slice(0, 2).join(' | ')}` : ''}`);
      } catch (e) {
        notes.push(`targets API: ${(e as Error).message}`);
      }
    }
    const firstSent = good[0]?.sent;
    const lastSent = good[good.length - 1]?.sent;
    const sentInWindow = firstSent === undefined || lastSent === undefined ? 0 : lastSent - firstSent;
    const remoteWrites = c.kind !== 'strata' || c.sink === 'remoteWrite';
    const wireBytesPerSample = remoteWrites && sentInWindow > 0 ? receivedBytes / sentInWindow : undefined;
    if (wireBytesPerSample !== undefined) notes.push(`remote write on the wire: ${wireBytesPerSample.toFixed(1)} bytes per sample delivered (${(receivedBytes / 1e6).toFixed(1)} MB)`);
    return {
      config: c,
      samplesPerSec: median(rates),
      ...(wireBytesPerSample === undefined ? {} : { wireBytesPerSample }),
      sentPerSec: median(sentRates),
      cpuPerM: median(cpuPerM),
      rssMedianMiB: median(rss),
      rssMaxMiB: Math.max(...rss),
      ...(loopP99Ms === undefined ? {} : { loopP99Ms }),
      ...(loopMaxMs === undefined ? {} : { loopMaxMs }),
      targetsCpuPct,
      machineBusyPct,
      otherCores,
      notes,
      problems,
    };
  } finally {
    progress(`${c.name}: stopping`);
    const code = await cleanup.stop(proc);
    if (c.kind === 'strata') {
      const text = readFileSync(log, 'utf8');
      const stopped = /strata: stopped\. collected (\d+) · filtered (\d+) · sent (\d+) · scrape errors (\d+) · samples dropped (\d+)/.exec(text);
      if (stopped !== null) {
        const [, coll, filt, sent, , dropped] = stopped.map(Number) as number[];
        const missing = (coll as number) - (filt as number) - (sent as number) - (dropped as number);
        notes.push(`at shutdown: ${stopped[0].replace('strata: stopped. ', '')}`);
        if (missing !== 0) problems.push(`at shutdown ${missing.toLocaleString('en')} samples collected were neither sent, filtered nor counted as dropped`);
      } else {
        problems.push(`no "stopped" summary in the log (exit ${code}): ${tail(log, 3)}`);
      }
      const warnings = [...new Set(text.split('\n').filter((l) => /warning|error/i.test(l) && !l.startsWith('strata: stopped')).map((l) => l.replace(/\(node:\d+\) /, '')))];
      if (warnings.length > 0) problems.push(`log: ${warnings.slice(0, 3).join(' | ')}`);
    }
    if (code !== 0) problems.push(`exit status ${code} after SIGTERM`);
    cleanup.removeTempDir(dir);
  }
}

// ---- the table ----

function fmtNum(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

function printResults(results: readonly Result[], ratios: readonly string[], verdicts: readonly { name: string; t: Target; got: string }[]): void {
  const head = ['configuration', 'interval', 'samples/s', 'delivered/s', 'CPU-s/M', 'RSS med MiB', 'RSS max MiB', 'loop p99 ms', 'targets CPU', 'machine busy', 'other load'];
  const body = results.map((r) => r.skipped !== undefined
    ? [churnLabel(r.config), `${r.config.interval} s`, 'skipped', '', '', '', '', '', '', '', '']
    : [
        churnLabel(r.config),
        `${r.config.interval} s`,
        fmtRate(r.samplesPerSec ?? Number.NaN),
        fmtRate(r.sentPerSec ?? Number.NaN),
        fmtNum(r.cpuPerM, 3),
        fmtNum(r.rssMedianMiB, 0),
        fmtNum(r.rssMaxMiB, 0),
        r.config.kind === 'strata' ? fmtNum(r.loopP99Ms, 1) : '-',
        `${fmtNum(r.targetsCpuPct, 0)}%`,
        `${fmtNum(r.machineBusyPct, 0)}%`,
        `${fmtNum(r.otherCores, 2)} cores`,
      ]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => (b[c] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ').trimEnd();
  const out: string[] = [
    `\n## engine: whole collector, ${SECONDS} s window per configuration after ${WARMUP} s warm-up; medians over ≥ 10 s slices (samples/s, CPU-s/M) and 1 s readings (RSS)`,
    ...header.map((h) => `   ${h}`),
    '   samples/s: scraped and parsed (Strata) or appended (Prometheus); delivered/s: written to the file (Strata) or acknowledged',
    '   by the remote-write receiver (Prometheus); CPU-s/M: per million samples scraped',
    '   targets CPU: the demo-target process (one core = 100%); machine busy: all cores = 100%; other load: cores busy with',
    '   other processes (not the collector, the targets or this benchmark): on a shared machine, compare within a run',
    '',
  ];
  for (const mode of ['interval', 'saturation', 'churn'] as const) {
    const rows = results.map((r, i) => [r, body[i] as string[]] as const).filter(([r]) => r.config.mode === mode);
    if (rows.length === 0) continue;
    out.push(mode === 'saturation'
      ? `### saturation mode (capacity): interval ${SATURATION_INTERVAL} s, each target listed ${COPIES}× (${fmtRate((TARGETS * SERIES * COPIES) / SATURATION_INTERVAL)} samples/s asked, more than a collector can scrape)`
      : mode === 'churn'
        ? `### churn mode: interval ${CHURN_INTERVAL} s (${fmtRate((TARGETS * SERIES) / CHURN_INTERVAL)} samples/s asked), ${CHURN} of the series new on every scrape, then the same targets without churn`
        : `### interval mode: interval ${INTERVAL} s (${fmtRate((TARGETS * SERIES) / INTERVAL)} samples/s asked)`);
    out.push(line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(([, b]) => line(b)), '');
  }
  out.push('### ratios', ...ratios.map((r) => `   ${r}`), '', '### targets');
  for (const v of verdicts) out.push(`   ${v.t.met ? 'met    ' : 'NOT MET'}  ${v.name}: ${v.t.label} (measured ${v.got})`);
  out.push('', '### details');
  for (const r of results) {
    out.push(`   ${r.config.name}${r.skipped !== undefined ? `: skipped (${r.skipped})` : ''}`);
    for (const n of r.notes) out.push(`     ${n}`);
    for (const p of r.problems) out.push(`     PROBLEM: ${p}`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const missing = checkBuild();
  if (missing !== undefined) throw new Error(missing);
  const promVersion = prometheusVersion();
  header.push(promVersion === undefined ? `prometheus: ${PROMETHEUS} not found (apt-get install -y prometheus): its rows are skipped` : promVersion);
  const work = cleanup.tempDir('strata-bench-engine-');
  const urls = await startDemo(work);
  const receiverPort = await startReceiver();
  let vmagentFound = true;
  try {
    execFileSync(VMAGENT, ['-version'], { stdio: 'ignore' });
  } catch {
    vmagentFound = false;
  }

  const results: Result[] = [];
  let failed = false;
  for (const c of configs()) {
    if (c.kind === 'prometheus' && promVersion === undefined) {
      results.push({ config: c, skipped: `${PROMETHEUS} not found`, notes: [], problems: [] });
      continue;
    }
    if (c.kind === 'vmagent' && !vmagentFound) {
      results.push({ config: c, skipped: `${VMAGENT} not found (apt-get install -y victoria-metrics)`, notes: [], problems: [] });
      continue;
    }
    try {
      results.push(await runConfig(c, urls, receiverPort));
    } catch (e) {
      failed = true;
      const msg = e instanceof Error ? e.message : String(e);
      progress(`${c.name}: FAILED: ${msg}`);
      results.push({ config: c, skipped: `failed: ${msg.split('\n')[0] ?? msg}`, notes: msg.split('\n').slice(1, 8), problems: [] });
    }
    if (demo?.hasExited() === true) throw new Error('the demo-target process exited');
  }

  // Ratios and targets.
  const find = (mode: Mode, kind: 'strata' | 'prometheus' | 'vmagent', workers: number, sink: Sink = 'file', churn = 0): Result | undefined =>
    results.find(
      (r) =>
        r.skipped === undefined &&
        r.config.mode === mode &&
        r.config.churn === churn &&
        r.config.kind === kind &&
        (kind !== 'strata' || (r.config.workers === workers && (r.config.sink ?? 'file') === sink)),
    );
  const ratios: string[] = [];
  const verdicts: { name: string; t: Target; got: string }[] = [];
  const saved: { name: string; targets: Target[]; measured?: { samplesPerSec: number }; speedup?: number }[] = [];
  for (const mode of ['interval', 'saturation'] as const) {
    const w1 = find(mode, 'strata', 1);
    const w2 = find(mode, 'strata', 2);
    const prom = find(mode, 'prometheus', 0);
    if (w1 !== undefined && w2 !== undefined) {
      const x = (w2.samplesPerSec ?? 0) / (w1.samplesPerSec ?? Number.NaN);
      const xSent = (w2.sentPerSec ?? 0) / (w1.sentPerSec ?? Number.NaN);
      const busy = Math.min(w1.machineBusyPct ?? 0, w2.machineBusyPct ?? 0);
      ratios.push(`${mode}: strata 2 workers / 1 worker throughput ${x.toFixed(2)}× scraped, ${xSent.toFixed(2)}× delivered` +
        (busy >= 90 ? ` (machine ≥ ${busy.toFixed(0)}% busy in both: bound by the machine, not by the workers)` : ''));
      if (mode === 'saturation') {
        const t = target(`≥ ${MIN_SCALING}× 1 worker (saturation)`, x >= MIN_SCALING);
        verdicts.push({ name: 'strata 2 workers vs 1 worker', t, got: `${x.toFixed(2)}×` });
        saved.push({ name: 'strata 2 workers vs 1 worker, saturation', targets: [t], speedup: x });
      }
    }
    for (const s of [w1, w2]) {
      if (s === undefined || prom === undefined) continue;
      const cpu = (s.cpuPerM ?? Number.NaN) / (prom.cpuPerM ?? Number.NaN);
      const rss = (s.rssMaxMiB ?? Number.NaN) / (prom.rssMaxMiB ?? Number.NaN);
      ratios.push(`${mode}: ${label(s.config)} CPU-s/M / prometheus CPU-s/M ${cpu.toFixed(2)}×; samples/s ${((s.samplesPerSec ?? Number.NaN) / (prom.samplesPerSec ?? Number.NaN)).toFixed(2)}×; RSS max ${rss.toFixed(2)}×`);
      if (mode !== 'interval') continue;
      const name = `${label(s.config)} @${s.config.interval}s vs prometheus`;
      const ts: [Target, string][] = [
        [target(`CPU-s/M ≤ ${MAX_CPU_VS_PROM.toFixed(2)}× prometheus' (the issue's 1.0 against its 2.05)`, cpu <= MAX_CPU_VS_PROM), `${cpu.toFixed(2)}×`],
        [target(`RSS ≤ ${MAX_RSS_VS_PROM.toFixed(2)}× prometheus' (the issue's 300 MiB against its 650)`, rss <= MAX_RSS_VS_PROM), `${rss.toFixed(2)}×`],
      ];
      for (const [t, got] of ts) verdicts.push({ name, t, got });
      saved.push({ name: `${name} (${ts.map(([, g]) => g).join(', ')})`, targets: ts.map(([t]) => t) });
    }
  }
  // The sinks over the network, against the file sink and the peers (interval mode).
  {
    const file = find('interval', 'strata', 1);
    const nats = find('interval', 'strata', 1, 'nats');
    const rw = find('interval', 'strata', 1, 'remoteWrite');
    const prom = find('interval', 'prometheus', 0);
    const vm = find('interval', 'vmagent', 0);
    const cpuOf = (r: Result | undefined): number => r?.cpuPerM ?? Number.NaN;
    const verdict = (name: string, what: string, x: number, max: number): void => {
      const t = target(what, x <= max);
      verdicts.push({ name, t, got: `${x.toFixed(2)}×` });
      saved.push({ name: `${name} (${x.toFixed(2)}×)`, targets: [t] });
    };
    if (nats !== undefined && file !== undefined) verdict('strata → nats vs strata → file', 'CPU-s/M ≤ 1.25× the file sink\'s', cpuOf(nats) / cpuOf(file), 1.25);
    if (nats !== undefined && prom !== undefined) verdict('strata → nats vs prometheus', 'CPU-s/M ≤ 0.33× prometheus\'', cpuOf(nats) / cpuOf(prom), 0.33);
    const peers = [prom, vm].filter((r): r is Result => r !== undefined);
    if (rw !== undefined && peers.length > 0) {
      const best = peers.reduce((a, b) => (cpuOf(a) <= cpuOf(b) ? a : b));
      verdict(`strata → remote write vs ${label(best.config)} (the better peer)`, 'CPU-s/M ≤ 0.33× the better of prometheus and vmagent', cpuOf(rw) / cpuOf(best), 0.33);
      for (const p of peers) {
        if (rw.wireBytesPerSample === undefined || p.wireBytesPerSample === undefined) continue;
        ratios.push(`interval: strata → remote write ${rw.wireBytesPerSample.toFixed(1)} bytes/sample on the wire, ${label(p.config)} ${p.wireBytesPerSample.toFixed(1)}`);
        verdict(`strata → remote write bytes/sample vs ${label(p.config)}`, 'no more bytes per sample than the peer', rw.wireBytesPerSample / p.wireBytesPerSample, 1);
      }
    }
    for (const p of peers) {
      if (file === undefined) continue;
      ratios.push(`interval: strata 1 worker CPU-s/M / ${label(p.config)} CPU-s/M ${(cpuOf(file) / cpuOf(p)).toFixed(2)}×; RSS max ${((file.rssMaxMiB ?? Number.NaN) / (p.rssMaxMiB ?? Number.NaN)).toFixed(2)}×`);
    }
  }
  // Churn: each collector against itself without churn, and Strata against the peers.
  if (CHURN > 0) {
    const rows = (['strata', 'prometheus', 'vmagent'] as const).map((kind) => ({
      kind,
      churn: find('churn', kind, 1, 'file', CHURN),
      steady: find('churn', kind, 1, 'file', 0),
    }));
    for (const { churn, steady } of rows) {
      if (churn === undefined || steady === undefined) continue;
      ratios.push(`churn: ${label(churn.config)} CPU-s/M with churn ${CHURN} / without ${((churn.cpuPerM ?? Number.NaN) / (steady.cpuPerM ?? Number.NaN)).toFixed(2)}×; RSS max ${fmtNum(churn.rssMaxMiB, 0)} / ${fmtNum(steady.rssMaxMiB, 0)} MiB`);
    }
    const s = rows[0];
    for (const p of rows.slice(1)) {
      if (s?.churn === undefined || p.churn === undefined) continue;
      ratios.push(`churn: strata 1 worker / ${label(p.churn.config)} with churn ${CHURN}: CPU-s/M ${((s.churn.cpuPerM ?? Number.NaN) / (p.churn.cpuPerM ?? Number.NaN)).toFixed(2)}×, RSS max ${((s.churn.rssMaxMiB ?? Number.NaN) / (p.churn.rssMaxMiB ?? Number.NaN)).toFixed(2)}×`);
    }
    if (s?.churn !== undefined && s.steady !== undefined) {
      const x = (s.churn.cpuPerM ?? Number.NaN) / (s.steady.cpuPerM ?? Number.NaN);
      const ts: [string, Target, string][] = [
        [`strata 1 worker churn ${CHURN} vs none @${CHURN_INTERVAL}s`, target(`CPU-s/M ≤ ${MAX_CHURN_CPU_RATIO}× without churn`, x <= MAX_CHURN_CPU_RATIO), `${x.toFixed(2)}×`],
        [`strata 1 worker churn ${CHURN} @${CHURN_INTERVAL}s`, target(`RSS ≤ ${MAX_CHURN_RSS_MIB} MiB (max over the window)`, (s.churn.rssMaxMiB ?? Number.POSITIVE_INFINITY) <= MAX_CHURN_RSS_MIB), `${fmtNum(s.churn.rssMaxMiB, 0)} MiB`],
        [`strata 1 worker no churn @${CHURN_INTERVAL}s`, target(`RSS ≤ ${MAX_STEADY_RSS_MIB} MiB (max over the window)`, (s.steady.rssMaxMiB ?? Number.POSITIVE_INFINITY) <= MAX_STEADY_RSS_MIB), `${fmtNum(s.steady.rssMaxMiB, 0)} MiB`],
      ];
      for (const [name, t, got] of ts) {
        verdicts.push({ name, t, got });
        saved.push({ name: `${name} (${got})`, targets: [t] });
      }
    }
  }
  for (const r of results) {
    if (r.skipped !== undefined || r.config.kind !== 'strata' || r.config.mode === 'churn') continue;
    const name = `${label(r.config)} @${r.config.interval}s`;
    const ts: [Target, string][] = [
      [target(`≤ ${MAX_CPU_PER_M.toFixed(1)} CPU-s per million samples`, (r.cpuPerM ?? Number.POSITIVE_INFINITY) <= MAX_CPU_PER_M), `${fmtNum(r.cpuPerM, 3)} CPU-s/M`],
      [target(`RSS < ${MAX_RSS_MIB} MiB for ${fmtRate(TARGETS * SERIES)} series (max over the window)`, (r.rssMaxMiB ?? Number.POSITIVE_INFINITY) < MAX_RSS_MIB), `${fmtNum(r.rssMaxMiB, 0)} MiB`],
      [target(`event-loop p99 < ${MAX_LOOP_P99_MS} ms`, (r.loopP99Ms ?? Number.POSITIVE_INFINITY) < MAX_LOOP_P99_MS), `${fmtNum(r.loopP99Ms, 1)} ms`],
    ];
    for (const [t, got] of ts) verdicts.push({ name, t, got });
    saved.push({
      name: `${name} (${ts.map(([, g]) => g).join(', ')})`,
      targets: ts.map(([t]) => t),
      measured: { samplesPerSec: r.samplesPerSec ?? 0 },
    });
  }
  header.push(`run took ${((Date.now() - started) / 60_000).toFixed(1)} min`);
  printResults(results, ratios, verdicts);

  const resultsDir = path.join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'engine.json'), `${JSON.stringify({
    area: 'engine',
    dataSet: DATA_SET,
    machine,
    date: new Date().toISOString(),
    notes: header,
    rows: saved,
    configurations: results,
  }, null, 2)}\n`);
  if (failed) process.exitCode = 1;
}

try {
  await main();
} catch (e) {
  process.stderr.write(`engine bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
} finally {
  receiver?.close();
  receiver?.closeAllConnections();
  await cleanup.stopAll();
}
