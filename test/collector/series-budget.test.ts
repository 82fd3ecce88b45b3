// SPDX-License-Identifier: Apache-2.0
/**
 * The seriesBudget, piece by piece on the test's own thread: the parser's `admitNewSeries` hook,
 * a scrape's admission (series-budget.ts), the main thread's ledger (series-ledger.ts), and the
 * per-target run against real HTTP targets on 127.0.0.1 with both policies, the ledger fed the
 * run's own reports as the engine feeds it. Accounting: collected = sent + filtered + dropped,
 * and the budget word = active series + what unreported scrapes reserved.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MessageChannel } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Outbox } from '../../src/buffer/index.js';
import { Control } from '../../src/channel/control.js';
import { SharedCounters, total } from '../../src/channel/counters.js';
import { DeliveryStage, SampleAccounting } from '../../src/collector/delivery.js';
import { type ConsumerReport, Reporter, type TargetStatus } from '../../src/collector/reporter.js';
import { SeriesAdmission } from '../../src/collector/series-budget.js';
import { TargetRunner } from '../../src/collector/target-run.js';
import { type CollectorSpec, parseResources } from '../../src/config/index.js';
import { encodeTarget, type Target } from '../../src/discovery/target.js';
import { createEncoder } from '../../src/encode/index.js';
import { compileFilters, compileSeriesFilter } from '../../src/filter/index.js';
import { ExpositionParser, SeriesCache } from '../../src/parse/index.js';
import { SeriesLedger } from '../../src/registry/series-ledger.js';
import { Scraper } from '../../src/scrape/index.js';
import { OK, type Sink } from '../../src/sink/index.js';

const body = (name: string, n: number, from = 0): string => Array.from({ length: n }, (_, i) => `${name}{i="${from + i}"} ${i}`).join('\n') + '\n';

function parse(text: string, cache: SeriesCache, admit: () => boolean, extra: { seriesFilter?: ReturnType<typeof compileSeriesFilter> } = {}) {
  const p = new ExpositionParser({ cache, admitNewSeries: admit, ...extra });
  p.push(Buffer.from(text));
  const { batch, stats } = p.end();
  return { names: batch.series.slice(0, batch.length).map((s) => `${s.name}${JSON.stringify(s.tags)}`), stats: { ...stats } };
}

describe('the parser hook admitNewSeries', () => {
  it('refuses a new series: its sample is not emitted and it is asked again next scrape', () => {
    const cache = new SeriesCache();
    let left = 2;
    let asked = 0;
    const admit = (): boolean => {
      asked++;
      return left-- > 0;
    };
    const first = parse(body('m', 4), cache, admit);
    expect(first.names).toEqual(['m{"i":"0"}', 'm{"i":"1"}']);
    expect(first.stats).toMatchObject({ samples: 2, cacheMisses: 4, seriesRefused: 2 });
    expect(asked).toBe(4);
    asked = 0;
    left = 1;
    const second = parse(body('m', 4), cache, admit);
    // The two admitted ones are hits and not asked; the two refused are new again.
    expect(second.stats).toMatchObject({ cacheHits: 2, cacheMisses: 2, seriesRefused: 1, samples: 3 });
    expect(asked).toBe(2);
    expect(second.names).toEqual(['m{"i":"0"}', 'm{"i":"1"}', 'm{"i":"2"}']);
  });

  it('is not asked for series the series filter drops, nor for OpenMetrics _created samples', () => {
    let asked = 0;
    const admit = (): boolean => {
      asked++;
      return true;
    };
    const filter = compileSeriesFilter({ dropSeries: [{ name: 'drop_.*' }] });
    const r = parse(`${body('drop_me', 3)}${body('keep', 2)}`, new SeriesCache(), admit, { seriesFilter: filter });
    expect(r.stats).toMatchObject({ filtered: 3, seriesRefused: 0, samples: 2 });
    expect(asked).toBe(2);
    asked = 0;
    const om = new ExpositionParser({ cache: new SeriesCache(), admitNewSeries: admit, contentType: 'application/openmetrics-text; version=1.0.0' });
    om.push(Buffer.from('# TYPE c counter\nc_total 1\nc_created 123\n# EOF\n'));
    expect(om.end().stats).toMatchObject({ samples: 1, createdSkipped: 1 });
    expect(asked).toBe(1);
  });

  it('a refused series still has its value checked: a bad value fails the body', () => {
    const p = new ExpositionParser({ cache: new SeriesCache(), admitNewSeries: () => false });
    expect(() => p.push(Buffer.from('m{i="0"} nope\n'))).toThrow(/invalid value "nope"/);
  });
});

describe('a scrape admission', () => {
  it('never takes the budget word past maxSeries, and gives back what it did not use', () => {
    const c = new SharedCounters();
    const a = new SeriesAdmission(c, { maxSeries: 100, policy: 'dropNew' });
    const b = new SeriesAdmission(c, { maxSeries: 100, policy: 'dropNew' });
    for (let i = 0; i < 70; i++) expect(a.admit()).toBe(true);
    // While a runs, what it reserved and has not used yet is a few slots at most.
    for (let i = 0; i < 70; i++) b.admit();
    expect(c.snapshot().seriesBudgetUsed).toBe(100);
    expect(b.created).toBeGreaterThanOrEqual(27);
    expect(a.settle(true, a.created)).toEqual({ series: 70, newSeries: 70 });
    // a gave back what it did not use: b gets the rest, and nothing more.
    for (let i = 0; i < 10; i++) b.admit();
    expect(a.created + b.created).toBe(100);
    expect(b.settle(true, b.created)).toEqual({ series: b.created, newSeries: b.created });
    // Settled: exactly what they used stays reserved until the main thread reads the reports.
    expect(c.snapshot()).toMatchObject({ seriesBudgetUsed: 100, seriesCreated: 100 });
  });

  it('on a failed scrape gives everything back and counts nothing created; settling twice changes nothing', () => {
    const c = new SharedCounters();
    const a = new SeriesAdmission(c, { maxSeries: 10, policy: 'failTarget' });
    for (let i = 0; i < 12; i++) a.admit();
    expect(a.failed).toBe(true);
    expect(a.created).toBe(10);
    expect(a.admit()).toBe(false); // refused from the first refusal on
    expect(a.settle(false, 0)).toEqual({ series: 0, newSeries: 0 });
    expect(a.settle(false, 0)).toEqual({ series: 0, newSeries: 0 });
    expect(c.snapshot()).toMatchObject({ seriesBudgetUsed: 0, seriesCreated: 0 });
  });

  it('unlimited (maxSeries 0) refuses nothing, and the word still follows the new series', () => {
    const c = new SharedCounters();
    const a = new SeriesAdmission(c, { maxSeries: 0, policy: 'dropNew' });
    for (let i = 0; i < 1000; i++) expect(a.admit()).toBe(true);
    expect(c.snapshot().seriesBudgetUsed).toBe(0);
    a.settle(true, 1000);
    expect(c.snapshot()).toMatchObject({ seriesBudgetUsed: 1000, seriesCreated: 1000 });
  });
});

const status = (url: string, series: number, newSeries: number, o: Partial<TargetStatus> = {}): TargetStatus => ({
  url,
  labels: {},
  discovery: 't/d',
  up: true,
  lastScrape: new Date(0).toISOString(),
  durationMs: 1,
  bytes: 1,
  samples: series,
  series,
  newSeries,
  intervalMs: 10_000,
  error: null,
  worker: 0,
  ...o,
});

describe('the series ledger', () => {
  it('replaces a target count on each successful report and releases what the scrape reserved', () => {
    const c = new SharedCounters();
    let now = 0;
    const l = new SeriesLedger(c, () => now);
    c.add('seriesBudgetUsed', 100); // what a first scrape of 100 new series reserved
    l.report(status('a', 100, 100));
    expect(c.snapshot()).toMatchObject({ activeSeries: 100, seriesBudgetUsed: 100 });
    // Churn: 20 series gone, 20 new (reserved), same count.
    c.add('seriesBudgetUsed', 20);
    now += 1000;
    l.report(status('a', 100, 20));
    expect(c.snapshot()).toMatchObject({ activeSeries: 100, seriesBudgetUsed: 100 });
    // Shrinks to 60: the room is free again.
    l.report(status('a', 60, 0));
    expect(c.snapshot()).toMatchObject({ activeSeries: 60, seriesBudgetUsed: 60 });
    // A failed scrape keeps the count, and gives back what the scrapes it stands for reserved.
    c.add('seriesBudgetUsed', 5);
    l.report(status('a', 0, 5, { up: false, error: 'boom' }));
    expect(c.snapshot()).toMatchObject({ activeSeries: 60, seriesBudgetUsed: 60 });
    expect(l.active).toBe(60);
  });

  it('forgets a target with no successful scrape for three intervals, and those of a worker that started again', () => {
    const c = new SharedCounters();
    let now = 0;
    const l = new SeriesLedger(c, () => now);
    c.add('seriesBudgetUsed', 30);
    l.report(status('a', 10, 10, { worker: 0 }));
    l.report(status('b', 10, 10, { worker: 1 }));
    l.report(status('c', 10, 10, { worker: 1, intervalMs: 60_000 }));
    now = 25_000;
    l.report(status('b', 0, 0, { up: false, worker: 1 })); // failing, within 3 intervals
    expect(l.view().active).toBe(30);
    now = 31_001 + 1000;
    expect(l.view()).toMatchObject({ active: 10, targets: 1 });
    expect(c.snapshot()).toMatchObject({ activeSeries: 10, seriesBudgetUsed: 10 });
    l.workerStarted(1);
    expect(l.view()).toMatchObject({ active: 0, targets: 0 });
    expect(c.snapshot()).toMatchObject({ activeSeries: 0, seriesBudgetUsed: 0 });
  });

  it('lists the top 10 targets by active series and by new series, largest first', () => {
    const c = new SharedCounters();
    const l = new SeriesLedger(c, () => 0);
    for (let i = 0; i < 25; i++) l.report(status(`t${i}`, 100 + ((i * 7) % 25), i % 3 === 0 ? i : 0));
    const v = l.view();
    expect(v.targets).toBe(25);
    expect(v.topActive.map((t) => t.series)).toEqual([124, 123, 122, 121, 120, 119, 118, 117, 116, 115]);
    expect(v.topNewSeries.map((t) => t.newSeries)).toEqual([24, 21, 18, 15, 12, 9, 6, 3]);
    expect(v.active).toBe(Array.from({ length: 25 }, (_, i) => 100 + ((i * 7) % 25)).reduce((a, b) => a + b));
  });
});

describe('a success and a failure of one target within one report', () => {
  it('counts the success: the failed status carries its series (okSeries), the ledger takes them', async () => {
    const { port1, port2 } = new MessageChannel();
    const got: ConsumerReport[] = [];
    port1.on('message', (r: ConsumerReport) => got.push(r));
    const reporter = new Reporter(port2, 0);
    reporter.scrape(status('a', 30, 10));
    reporter.scrape(status('a', 0, 0, { up: false, error: 'over the budget' }));
    reporter.flush();
    await waitUntil(() => got.length > 0);
    port1.close();
    const targets = got.flatMap((r) => (r.kind === 'observations' ? r.targets : []));
    expect(targets.map((t) => [t.up, t.okSeries, t.newSeries])).toEqual([[false, 30, 10]]);
    const c = new SharedCounters();
    const l = new SeriesLedger(c, () => 0);
    c.add('seriesBudgetUsed', 20);
    l.report(status('a', 20, 20));
    c.add('seriesBudgetUsed', 10); // what the successful scrape's 10 new series reserved
    l.report(targets[0] as TargetStatus);
    expect(l.view().topActive.map((t) => [t.url, t.series])).toEqual([['a', 30]]);
    expect(c.snapshot()).toMatchObject({ activeSeries: 30, seriesBudgetUsed: 30 });
  });
});

describe('the reporter', () => {
  it('adds up the new series of the statuses of one target it replaces between posts', async () => {
    const { port1, port2 } = new MessageChannel();
    const got: ConsumerReport[] = [];
    port1.on('message', (r: ConsumerReport) => got.push(r));
    const reporter = new Reporter(port2, 0);
    reporter.scrape(status('a', 10, 10));
    reporter.scrape(status('a', 0, 0, { up: false, error: 'boom' }));
    reporter.scrape(status('a', 14, 4));
    reporter.scrape(status('b', 5, 5));
    reporter.flush();
    await waitUntil(() => got.length > 0);
    port1.close();
    const targets = got.flatMap((r) => (r.kind === 'observations' ? r.targets : []));
    expect(targets.map((t) => [t.url, t.series, t.newSeries])).toEqual([
      ['a', 14, 14],
      ['b', 5, 5],
    ]);
  });
});

// ---- the per-target run, against real HTTP targets ----

let server: Server;
let base = '';
/** Scrapes of /grow so far: each answers 10 more series than the last. */
let grows = 0;
beforeAll(async () => {
  server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (req.url?.startsWith('/grow')) res.end(body('grow', 10 * ++grows));
    else if (req.url?.startsWith('/ten')) res.end(body('ten', 10));
    else res.end(body('other', 10));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function specOf(extra: string): CollectorSpec {
  const parsed = parseResources(`apiVersion: strata.ctx.sh/v1beta1\nkind: Collector\nmetadata: {name: c, namespace: t}\nspec:\n  output: {stdout: {}}\n${extra}`, 't.yaml');
  expect(parsed.errors).toEqual([]);
  return (parsed.resources[0] as { spec: CollectorSpec }).spec;
}

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

/** A runner on this thread, whose reports feed a ledger as the engine's do. */
function rig(spec: CollectorSpec) {
  const counters = new SharedCounters();
  const held = new Control();
  const sink = new CountingSink();
  const encoder = createEncoder(spec.encoder, spec.batch);
  const outbox = new Outbox({ sink, listener: new SampleAccounting(counters, held, null, encoder), maxBytes: 1 << 20 });
  const { port1, port2 } = new MessageChannel();
  const ledger = new SeriesLedger(counters);
  const statuses: TargetStatus[] = [];
  const reported = new Promise<void>((resolve) => {
    port1.on('message', (r: ConsumerReport) => {
      if (r.kind !== 'observations') return;
      for (const t of r.targets) {
        statuses.push(t);
        ledger.report(t);
      }
      resolve();
    });
  });
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
  const target = (path: string): Target => ({ url: `${base}${path}`, labels: {}, discovery: 't/d', intervalMs: 60_000 });
  return {
    counters,
    ledger,
    statuses,
    sink,
    /** Scrapes `path` once and hands the report to the ledger. */
    async scrape(path: string): Promise<TargetStatus> {
      const before = statuses.length;
      await runner.run(encodeTarget(target(path)), Date.now());
      reporter.flush();
      await waitUntil(() => statuses.length > before);
      return statuses[statuses.length - 1] as TargetStatus;
    },
    async done() {
      await outbox.close();
      scraper.close();
      port1.close();
      void reported;
    },
  };
}

async function waitUntil(cond: () => boolean): Promise<void> {
  const until = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function expectConserved(c: ReturnType<SharedCounters['snapshot']>): void {
  expect(c.collected).toBe(c.sent + c.filtered + total(c.dropped));
}

describe('the per-target run under a series budget', () => {
  it('dropNew: the target that grows past the budget loses only its new series; the others keep theirs', async () => {
    grows = 0;
    const r = rig(specOf('  seriesBudget: {maxSeries: 35}'));
    expect(await r.scrape('/ten')).toMatchObject({ up: true, series: 10, newSeries: 10 });
    expect(await r.scrape('/grow')).toMatchObject({ up: true, series: 10, newSeries: 10 }); // 20 of 35
    expect(await r.scrape('/grow')).toMatchObject({ up: true, series: 20, newSeries: 10 }); // 30 of 35
    expect(await r.scrape('/grow')).toMatchObject({ up: true, series: 25, newSeries: 5 }); // 35: 5 refused
    let c = r.counters.snapshot();
    expect(c.dropped.series_budget).toBe(5);
    expect(c).toMatchObject({ activeSeries: 35, seriesBudgetUsed: 35, seriesCreated: 35 });
    // The refused series ask again every scrape (not cached), and are refused again.
    expect(await r.scrape('/grow')).toMatchObject({ up: true, series: 25, newSeries: 0 }); // 40 exposed, 15 refused
    // The steady target is untouched: its series are known.
    expect(await r.scrape('/ten')).toMatchObject({ up: true, series: 10, newSeries: 0 });
    c = r.counters.snapshot();
    expect(c.dropped.series_budget).toBe(5 + 15);
    expect(c).toMatchObject({ activeSeries: 35, seriesBudgetUsed: 35, seriesCreated: 35, errors: expect.objectContaining({ series_budget: 0 }) });
    await r.done();
    c = r.counters.snapshot();
    expectConserved(c);
    expect(c.sent).toBe(r.sink.lines);
    const v = r.ledger.view();
    expect(v.topActive.map((t) => [t.url.replace(base, ''), t.series])).toEqual([
      ['/grow', 25],
      ['/ten', 10],
    ]);
  });

  it('failTarget: the scrape that would pass the budget fails whole, and the others go on', async () => {
    grows = 0;
    const r = rig(specOf('  seriesBudget: {maxSeries: 35, policy: failTarget}'));
    await r.scrape('/ten');
    await r.scrape('/grow'); // 10
    await r.scrape('/grow'); // 20: 30 of 35
    const failed = await r.scrape('/grow'); // 30 would make 40
    expect(failed).toMatchObject({ up: false, series: 0, newSeries: 0 });
    expect(failed.error).toContain('seriesBudget.maxSeries, policy failTarget');
    let c = r.counters.snapshot();
    expect(c.errors.series_budget).toBe(1);
    expect(c.dropped.series_budget).toBe(30);
    // Its count stays what its last successful scrape had; what the failed scrape reserved is back.
    expect(c).toMatchObject({ activeSeries: 30, seriesBudgetUsed: 30, seriesCreated: 30 });
    expect(await r.scrape('/ten')).toMatchObject({ up: true, series: 10 });
    await r.done();
    c = r.counters.snapshot();
    expectConserved(c);
    expect(c.sent).toBe(10 + 10 + 20 + 10);
  });

  it('without a budget nothing is refused, and active and created series are still counted', async () => {
    grows = 0;
    const r = rig(specOf(''));
    await r.scrape('/grow');
    await r.scrape('/grow');
    expect(await r.scrape('/grow')).toMatchObject({ series: 30, newSeries: 10 });
    await r.done();
    const c = r.counters.snapshot();
    expect(c).toMatchObject({ activeSeries: 30, seriesBudgetUsed: 30, seriesCreated: 30, collected: 60, sent: 60 });
    expect(c.dropped.series_budget).toBe(0);
  });
});
