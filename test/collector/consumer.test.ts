// SPDX-License-Identifier: Apache-2.0
/**
 * The per-target run and the consumer loop, on the test's own thread (no worker pool): real
 * channel, scraper, parser, encoder, file sink, counters and control words, against a real HTTP
 * target on 127.0.0.1. Accounting: every target taken is scraped once or counted, and every
 * sample collected ends sent, filtered or dropped by reason, with nothing left held.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../src/buffer/index.js';
import { Spool } from '../../src/buffer/spool.js';
import { LaneSet } from '../../src/channel/index.js';
import { runConsumer } from '../../src/collector/consumer.js';
import { Control } from '../../src/channel/control.js';
import { SharedCounters, total } from '../../src/channel/counters.js';
import { DeliveryStage, SampleAccounting } from '../../src/collector/delivery.js';
import { type ConsumerReport, Reporter } from '../../src/collector/reporter.js';
import { TargetRunner } from '../../src/collector/target-run.js';
import { type CollectorSpec, parseResources } from '../../src/config/index.js';
import { encodeTarget, type Target } from '../../src/discovery/target.js';
import { createEncoder } from '../../src/encode/index.js';
import { compileFilters } from '../../src/filter/index.js';
import { Scraper } from '../../src/scrape/index.js';
import { OK, type Sink } from '../../src/sink/index.js';
import { tempDir } from '../integration/helpers.js';

let server: Server;
let base = '';
beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url?.startsWith('/missing')) {
      res.writeHead(404).end('no');
      return;
    }
    if (req.url?.startsWith('/garbage')) {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('this is {not an exposition\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    // 10 samples, one of them -1 (filtered in the tests that exclude it)
    res.end(Array.from({ length: 10 }, (_, i) => `# TYPE m${i} gauge\nm${i} ${i === 9 ? -1 : i}\n`).join(''));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function specOf(extra = '', output = '{stdout: {}}'): CollectorSpec {
  const yaml = `apiVersion: strata.ctx.sh/v1beta1
kind: Collector
metadata: {name: c, namespace: t}
spec:
  output: ${output}
${extra}`;
  const parsed = parseResources(yaml, 'test.yaml');
  expect(parsed.errors).toEqual([]);
  return (parsed.resources[0] as { spec: CollectorSpec }).spec;
}

const target = (path: string, intervalMs = 60_000): Target => ({ url: `${base}${path}`, labels: { job: 'x' }, discovery: 't/d', intervalMs });

class CountingSink implements Sink {
  readonly kind = 'counting';
  lines = 0;
  async send(messages: readonly Uint8Array[]) {
    for (const m of messages) this.lines += Buffer.from(m).toString().split('\n').length - 1;
    return OK;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function runnerRig(spec: CollectorSpec) {
  const counters = new SharedCounters();
  const held = new Control();
  const sink = new CountingSink();
  const encoder = createEncoder(spec.encoder, spec.batch);
  const outbox = new Outbox({ sink, listener: new SampleAccounting(counters, held, null, encoder), maxBytes: 1 << 20 });
  const { port1, port2 } = new MessageChannel();
  const reports: ConsumerReport[] = [];
  port1.on('message', (r: ConsumerReport) => reports.push(r));
  const reporter = new Reporter(port2, 0);
  const scraper = new Scraper({ timeoutMs: 5000, maxBodyBytes: 1 << 20, maxSockets: 4, maxBodies: 4 });
  const runner = new TargetRunner({
    collector: 't/c',
    workerIndex: 0,
    spec,
    scraper,
    delivery: new DeliveryStage({ filter: compileFilters(spec.filters), encoder, outbox, counters, held }),
    counters,
    held,
    reporter,
    signal: new AbortController().signal,
  });
  return {
    counters,
    held,
    sink,
    runner,
    async done() {
      await outbox.close();
      scraper.close();
      reporter.flush();
      await new Promise((r) => setTimeout(r, 20));
      port1.close();
      return reports.flatMap((r) => (r.kind === 'observations' ? r.targets : []));
    },
  };
}

describe('the per-target run', () => {
  it('scrapes, filters and sends a target, and reports its status once', async () => {
    const r = runnerRig(specOf('  filters: {exclude: {values: [-1]}}'));
    await r.runner.run(encodeTarget(target('/metrics')), Date.now());
    const statuses = await r.done();
    const c = r.counters.snapshot();
    expect(c).toMatchObject({ collected: 10, filtered: 1, sent: 9, scrapes: 1, scrapesFailed: 0, targetsTaken: 1, inFlight: 0 });
    expect(r.sink.lines).toBe(9);
    expect(r.held.heldSamples).toBe(0);
    expect(r.held.heldTargets).toBe(0);
    expect(statuses).toHaveLength(1);
    expect(statuses[0]).toMatchObject({ url: `${base}/metrics`, up: true, samples: 10, error: null, worker: 0 });
  });

  const failures: { name: string; path: string; extra?: string; error: string; dropped?: Record<string, number> }[] = [
    { name: 'a failed scrape counts one error by reason and yields nothing', path: '/missing', error: 'http_status' },
    { name: 'a body that does not parse counts a parse error and yields nothing', path: '/garbage', error: 'parse' },
    {
      name: 'past sampleLimit with policy fail, the target fails and its samples are dropped as sample_limit',
      path: '/metrics',
      extra: '  scrape: {sampleLimit: 4}',
      error: 'sample_limit',
      dropped: { sample_limit: 10 },
    },
  ];
  for (const f of failures) {
    it(f.name, async () => {
      const r = runnerRig(specOf(f.extra));
      await r.runner.run(encodeTarget(target(f.path)), Date.now());
      const statuses = await r.done();
      const c = r.counters.snapshot();
      expect(c.errors[f.error as keyof typeof c.errors]).toBe(1);
      expect(c).toMatchObject({ collected: 0, sent: 0, scrapes: 1, scrapesFailed: 1 });
      expect(total(c.dropped)).toBe(total(f.dropped ?? {}));
      expect(statuses[0]).toMatchObject({ up: false, samples: 0 });
      expect(statuses[0]?.error).not.toBeNull();
    });
  }

  it('past sampleLimit with policy truncate, keeps the first samples and drops the rest as sample_limit', async () => {
    const r = runnerRig(specOf('  scrape: {sampleLimit: 4, sampleLimitPolicy: truncate}'));
    await r.runner.run(encodeTarget(target('/metrics')), Date.now());
    await r.done();
    expect(r.counters.snapshot()).toMatchObject({ collected: 4, sent: 4, dropped: expect.objectContaining({ sample_limit: 6 }) });
  });

  it('drops a target older than its interval as stale, without scraping it', async () => {
    const r = runnerRig(specOf());
    await r.runner.run(encodeTarget(target('/metrics', 1000)), Date.now() - 5000);
    await r.done();
    const c = r.counters.snapshot();
    expect(c.targetsDropped.stale).toBe(1);
    expect(c).toMatchObject({ targetsTaken: 0, scrapes: 0, collected: 0 });
  });

  it('drops a target taken while its previous scrape still runs as scrape_in_progress', async () => {
    const r = runnerRig(specOf());
    const payload = encodeTarget(target('/metrics'));
    await Promise.all([r.runner.run(payload, Date.now()), r.runner.run(payload, Date.now())]);
    await r.done();
    const c = r.counters.snapshot();
    expect(c.targetsDropped.scrape_in_progress).toBe(1);
    expect(c).toMatchObject({ targetsTaken: 1, collected: 10, sent: 10 });
  });

  it('counts an undecodable record', async () => {
    const r = runnerRig(specOf());
    await r.runner.run(new TextEncoder().encode('not json'), Date.now());
    await r.done();
    expect(r.counters.snapshot().targetsDropped.undecodable).toBe(1);
  });
});

describe('the consumer loop', () => {
  it('takes every queued target, delivers its samples through the sink, and stops when asked', async () => {
    const dir = tempDir('strata-consumer-');
    const out = join(dir, 'out.ndjson');
    const spec = specOf('', `{file: {path: ${out}, maxBytes: 1048576}}`);
    const channel = new LaneSet({ lanes: 1, capacity: 64, recordBytes: 2048 });
    for (let i = 0; i < 20; i++) expect(channel.tryPush(encodeTarget(target(`/metrics?t=${i}`)))).toBe(true);
    const counters = new SharedCounters();
    const control = new Control();
    const { port1, port2 } = new MessageChannel();
    const reports: ConsumerReport[] = [];
    port1.on('message', (r: ConsumerReport) => reports.push(r));
    const running = runConsumer({
      key: 't/c',
      workerIndex: 0,
      lanes: channel.buffers,
      counters: counters.buffer,
      control: control.buffer,
      spec,
      port: port2,
      gcBudgetMb: 0,
    });
    const end = Date.now() + 20_000;
    while (counters.snapshot().scrapes < 20 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    control.requestStop();
    expect(await running).toEqual({ targets: 20 });
    port1.close();
    const c = counters.snapshot();
    expect(c).toMatchObject({ targetsTaken: 20, scrapes: 20, collected: 200, sent: 200 });
    expect(c.sent + c.filtered + total(c.dropped)).toBe(c.collected);
    expect(control.heldSamples).toBe(0);
    expect(control.heldTargets).toBe(0);
    const written = readFileSync(out, 'utf8').split('\n').filter((l) => l !== '');
    expect(written).toHaveLength(200);
    expect(reports[0]).toMatchObject({ kind: 'started', workerIndex: 0 });
  }, 30_000);

  it('replays a spool left by an earlier process, counted replayed then sent, and releases its lock', async () => {
    const dir = tempDir('strata-consumer-spool-');
    const out = join(dir, 'out.ndjson');
    const spoolPath = join(dir, 'spool');
    const left = await Spool.open({ dir: join(spoolPath, 'w0'), maxBytes: 1 << 20 });
    const lines = ['{"name":"a"}\n', '{"name":"b"}\n', '{"name":"c"}\n'];
    expect(await left.append(lines.map((l, i) => ({ id: `x.1.${i}`, samples: 5, createdAt: Date.now(), message: Buffer.from(l) })))).toBe(true);
    await left.close();
    const spec = specOf(`  buffer: {path: ${spoolPath}}`, `{file: {path: ${out}, maxBytes: 1048576}}`);
    const channel = new LaneSet({ lanes: 1, capacity: 8, recordBytes: 2048 });
    const counters = new SharedCounters();
    const control = new Control();
    const { port1, port2 } = new MessageChannel();
    const running = runConsumer({ key: 't/c', workerIndex: 0, lanes: channel.buffers, counters: counters.buffer, control: control.buffer, spec, port: port2, gcBudgetMb: 0 });
    const end = Date.now() + 20_000;
    while (counters.snapshot().sent < 15 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    control.requestStop();
    await running;
    port1.close();
    const c = counters.snapshot();
    expect(c).toMatchObject({ collected: 0, replayed: 15, sent: 15, sentMessages: 3, spoolSamples: 0 });
    expect(c.collected + c.replayed).toBe(c.sent + c.filtered + total(c.dropped) + c.spoolSamples);
    expect(readFileSync(out, 'utf8')).toBe(lines.join(''));
    expect(existsSync(join(spoolPath, 'w0.lock'))).toBe(false);
  }, 30_000);
});
