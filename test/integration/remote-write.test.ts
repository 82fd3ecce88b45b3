// SPDX-License-Identifier: Apache-2.0
/**
 * Remote write into the real receivers: Prometheus 2.42 (`--web.enable-remote-write-receiver`)
 * and VictoriaMetrics, each started by the test on a free port of 127.0.0.1. A real exposition
 * (the Prometheus server corpus: counters, gauges, histograms, summaries) is parsed with target
 * labels, encoded and sent through the sink; the series and values are then read back through
 * each receiver's own HTTP API and compared with the exposition's lines.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteWriteEncoder, remoteWriteTargetLabels } from '../../src/encode/remote-write.js';
import { parseExposition, SeriesCache } from '../../src/parse/index.js';
import { SampleBatch } from '../../src/sample.js';
import { RemoteWriteSink } from '../../src/sink/remote-write.js';
import { type Receiver, startPrometheus } from '../fixtures/prometheus-server.js';
import { startVictoriaMetrics } from '../fixtures/victoria-metrics.js';
import { eventually, resourcesYaml, serve, tempDir, waitFor, writeResources } from './helpers.js';

const never = (): AbortSignal => new AbortController().signal;
const exposition = readFileSync(new URL('../fixtures/corpus/prometheus.prom', import.meta.url), 'utf8');

function goFloat(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  return Number(text);
}

/** `name{sorted labels}` → value for every line of the exposition, with `extra` labels added. */
function linesOf(text: string, extra: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line) as RegExpExecArray;
    const labels: Record<string, string> = { ...extra, __name__: m[1] as string };
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const v = (l[2] as string).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      if (v !== '') labels[l[1] as string] = l[1] === 'le' || l[1] === 'quantile' ? String(goFloat(v)) : v;
    }
    out.set(keyOf(labels), goFloat(m[3] as string));
  }
  return out;
}

function keyOf(labels: Record<string, string>): string {
  const norm: Record<string, string> = {};
  for (const k of Object.keys(labels).sort()) {
    const v = labels[k] as string;
    norm[k] = k === 'le' || k === 'quantile' ? String(goFloat(v)) : v;
  }
  return JSON.stringify(norm);
}

/** Equal, or within the relative precision a receiver keeps (VictoriaMetrics rounds to 12–15 digits). */
function close(got: number, want: number, relative: number): boolean {
  if (Object.is(got, want) || got === want) return true;
  if (Number.isNaN(got) && Number.isNaN(want)) return true;
  return Math.abs(got - want) <= Math.abs(want) * relative;
}

/** Parses the corpus as one scrape of `target` at `at` and sends it; returns the lines sent. */
async function pushCorpus(receiver: Receiver, job: string, at: number): Promise<Map<string, number>> {
  const tags = remoteWriteTargetLabels({ url: 'http://10.0.0.7:9090/metrics', labels: { env: 'it' }, discovery: `test/${job}` });
  const { batch } = parseExposition(Buffer.from(exposition), { targetTags: tags, cache: new SeriesCache() });
  const encoder = new RemoteWriteEncoder({ maxSamplesPerSend: 100 });
  const messages = encoder.encode(batch, at);
  expect(messages.length).toBeGreaterThan(1);
  const sink = new RemoteWriteSink({ url: receiver.writeUrl, timeoutSeconds: 30 });
  try {
    expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
  } finally {
    await sink.close();
  }
  return withoutNaNQuantiles(linesOf(exposition, tags));
}

/** The parser drops NaN quantiles (DESIGN "Samples"): they never reach the encoder. */
function withoutNaNQuantiles(lines: Map<string, number>): Map<string, number> {
  for (const [k, v] of lines) if (Number.isNaN(v) && JSON.parse(k).quantile !== undefined) lines.delete(k);
  return lines;
}

/** VictoriaMetrics does not keep NaN samples other than stale markers (seen with the Debian build here). */
const receivers: { name: string; start: () => Promise<Receiver>; precision: number; keepsNaN: boolean }[] = [
  { name: 'Prometheus 2.42', start: startPrometheus, precision: 0, keepsNaN: true },
  { name: 'VictoriaMetrics', start: startVictoriaMetrics, precision: 1e-12, keepsNaN: false },
];

describe.each(receivers)('remote write into $name', ({ start, precision, keepsNaN }) => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await start();
  }, 120_000);
  afterAll(async () => {
    await receiver?.stop();
  }, 60_000);

  it('stores every series of a real exposition with its name, labels and value, histograms and summaries included', async () => {
    const at = Date.now() - 1000;
    const want = await pushCorpus(receiver, 'corpus', at);
    await receiver.flush();
    const series = await eventually(
      'the series to be searchable',
      () => receiver.series('{job="corpus"}', at / 1000 - 60, at / 1000 + 60),
      (s) => s.length >= want.size,
    );
    expect(series.map(keyOf).sort()).toEqual([...want.keys()].sort());
    const vector = await receiver.query('{job="corpus"}', at / 1000);
    expect(vector).toHaveLength(want.size);
    const bad: string[] = [];
    for (const s of vector) {
      const k = keyOf(s.metric);
      const w = want.get(k) as number;
      const g = goFloat(s.value[1]);
      if (!close(g, w, precision)) bad.push(`${k}: got ${s.value[1]}, want ${w}`);
    }
    expect(bad).toEqual([]);
    // A histogram and a summary, spelled out.
    const bucket = await receiver.query('prometheus_http_request_duration_seconds_bucket{job="corpus",handler="/metrics",le="0.1"}', at / 1000);
    expect(bucket.map((s) => [s.metric['instance'], s.value[1]])).toEqual([['10.0.0.7:9090', '4']]);
    const quantile = await receiver.query('go_gc_duration_seconds{job="corpus",quantile="0.5"}', at / 1000);
    expect(quantile.map((s) => goFloat(s.value[1]))).toEqual([0.001358691]);
  }, 180_000);

  it('stores +Inf and -Inf values, and NaN where the receiver keeps it', async () => {
    const at = Date.now() - 1000;
    const batch = SampleBatch.from([
      { name: 'rw_inf', tags: { job: 'inf', sign: 'plus' }, timestamp: at, type: 'gauge', value: Number.POSITIVE_INFINITY },
      { name: 'rw_inf', tags: { job: 'inf', sign: 'minus' }, timestamp: at, type: 'gauge', value: Number.NEGATIVE_INFINITY },
      { name: 'rw_inf', tags: { job: 'inf', sign: 'none' }, timestamp: at, type: 'gauge', value: Number.NaN },
    ]);
    const sink = new RemoteWriteSink({ url: receiver.writeUrl });
    expect(await sink.send(new RemoteWriteEncoder().encode(batch, at), never())).toEqual({ result: 'ok' });
    await sink.close();
    await receiver.flush();
    const got = await eventually('the infinities', () => receiver.query('rw_inf{job="inf"}', at / 1000), (v) => v.length >= 2);
    const want = keepsNaN ? { plus: '+Inf', minus: '-Inf', none: 'NaN' } : { plus: '+Inf', minus: '-Inf' };
    expect(Object.fromEntries(got.map((s) => [s.metric['sign'], s.value[1]]))).toEqual(want);
  }, 120_000);

  it('makes a series stale at once with a stale marker', async () => {
    const at = Date.now() - 10_000;
    const batch = SampleBatch.from([
      { name: 'rw_going', tags: { job: 'stale' }, timestamp: at, type: 'gauge', value: 3 },
      { name: 'rw_staying', tags: { job: 'stale' }, timestamp: at, type: 'gauge', value: 4 },
    ]);
    const encoder = new RemoteWriteEncoder();
    const sink = new RemoteWriteSink({ url: receiver.writeUrl });
    expect(await sink.send(encoder.encode(batch, at), never())).toEqual({ result: 'ok' });
    expect(await sink.send(encoder.staleMarkers(batch.series.slice(0, 1), at + 1000), never())).toEqual({ result: 'ok' });
    await sink.close();
    await receiver.flush();
    // Without the marker both would be returned for five minutes after `at`.
    const got = await eventually(
      'only the live series',
      () => receiver.query('{job="stale"}', (at + 3000) / 1000),
      (v) => v.length === 1,
    );
    expect(got.map((s) => s.metric['__name__'])).toEqual(['rw_staying']);
    const before = await receiver.query('{job="stale"}', (at + 500) / 1000);
    expect(before.map((s) => s.metric['__name__']).sort()).toEqual(['rw_going', 'rw_staying']);
  }, 120_000);

  it('refuses a body that is not a snappy WriteRequest: the sink rejects it with the status', async () => {
    const sink = new RemoteWriteSink({ url: receiver.writeUrl });
    const outcome = await sink.send([Buffer.from('{"not":"protobuf"}\n')], never());
    await sink.close();
    expect(outcome).toMatchObject({ result: 'reject', code: 'http_400' });
  }, 60_000);
});

/**
 * `strata run` as a child process scraping `strata demo-target` (another child) and a plain
 * target into a real Prometheus: every series arrives as exposed, buckets and quantiles
 * included, with the target's labels; a sample without `job` and `instance` gets the
 * Discovery's name and the target's host:port.
 */
describe('strata run with output remoteWrite into Prometheus 2.42', () => {
  const root = new URL('../../', import.meta.url).pathname;
  const children: ChildProcess[] = [];
  const closers: (() => Promise<void>)[] = [];
  let receiver: Receiver | undefined;
  afterAll(async () => {
    for (const close of closers) await close();
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        await gone;
      }
    }
    await receiver?.stop();
  }, 60_000);

  it('stores every series the targets expose, adding job and instance where a sample has none, while strata run scrapes them', async () => {
    receiver = await startPrometheus();
    const demo = spawn(process.execPath, [join(root, 'bin/strata.js'), 'demo-target', '--series', '400', '--port', '0', '--seed', '11'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(demo);
    let demoOut = '';
    demo.stdout?.on('data', (d: Buffer) => (demoOut += d.toString()));
    await waitFor(() => /http:\/\/\S+/.test(demoOut), 30_000, 'the demo target URL');
    const targetUrl = (/http:\/\/\S+/.exec(demoOut) as RegExpExecArray)[0];
    // A second target whose samples have no job or instance of their own (the demo's have).
    const plain = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('# TYPE e2e_plain gauge\ne2e_plain{kind="x"} 7\n');
    });
    closers.push(() => plain.close());
    const dir = tempDir('strata-rw-run-');
    const targets = [
      { url: targetUrl, labels: { env: 'e2e' } },
      { url: plain.url, labels: { env: 'e2e' } },
    ];
    const file = writeResources(dir, resourcesYaml({ name: 'demo', output: `{remoteWrite: {url: "${receiver.writeUrl}"}}` }, targets, 1));
    const run = spawn(process.execPath, [join(root, 'bin/strata.js'), 'run', '-f', file, '--telemetry-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(run);
    let err = '';
    run.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    run.stdout?.resume();

    // What the targets expose (the demo's series set is the same at every scrape; its values
    // move). Target labels go under the samples' own (honorLabels: the sample's job wins).
    const body = Buffer.from(await (await fetch(targetUrl)).arrayBuffer()).toString('utf8');
    const demoPort = new URL(targetUrl).port;
    const want = new Set(withoutNaNQuantiles(linesOf(body, { env: 'e2e', job: 'demo', instance: `127.0.0.1:${demoPort}` })).keys());
    const plainKey = keyOf({ __name__: 'e2e_plain', kind: 'x', env: 'e2e', job: 'demo', instance: `127.0.0.1:${plain.port}` });
    want.add(plainKey);
    // Prometheus' per-target series, on by default with remote write (the values are the test's
    // business in remote-write-staleness.test.ts).
    for (const port of [demoPort, String(plain.port)]) {
      for (const name of ['up', 'scrape_duration_seconds', 'scrape_samples_scraped', 'scrape_series_added']) {
        want.add(keyOf({ __name__: name, env: 'e2e', job: 'demo', instance: `127.0.0.1:${port}` }));
      }
    }
    const r = receiver;
    const now = () => Date.now() / 1000;
    let got: Record<string, string>[] = [];
    try {
      got = await eventually(
        'every series of both targets in Prometheus',
        () => r.series('{env="e2e"}', now() - 300, now() + 60),
        (s) => s.length >= want.size,
        90_000,
      );
    } catch (e) {
      throw new Error(`${(e as Error).message}\nstrata run (exit ${run.exitCode}) stderr:\n${err.slice(-3000)}`);
    }
    expect(got.map(keyOf).sort()).toEqual([...want].sort());
    const values = await r.query('{env="e2e"}');
    expect(values.length).toBe(want.size);
    expect(values.filter((v) => keyOf(v.metric) === plainKey).map((v) => v.value[1])).toEqual(['7']);
    run.kill('SIGTERM');
    expect(await new Promise((res) => run.once('exit', res))).toBe(0);
  }, 240_000);
});
