// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { metrics, scrape, serve, totals, value } from './helpers.js';
import { EVENT_LOOP_RESOLUTION_MS } from '../../src/telemetry/metrics.js';
import { SCALARS, SharedCounters } from '../../src/channel/counters.js';

describe('self-metrics', () => {
  it('exposes the strata_* metrics with the values a registered source reads at scrape time', async () => {
    const m = metrics();
    const s = await serve(m);
    let current = totals({
      collected: 100,
      filtered: 3,
      clamped: 2,
      sent: 95,
      errors: { timeout: 4, parse: 1 },
      dropped: { sink_rejected: 5 },
      targetsDropped: { channel_full: 7, stale: 1 },
      targetsUp: 12,
      channelDepth: 30,
    });
    m.registerCollectorSource('default/main', () => current);
    const c = { collector: 'default/main' };
    let got = await scrape(s);
    expect(value(got, 'strata_samples_collected_total', c)).toBe(100);
    expect(value(got, 'strata_samples_filtered_total', c)).toBe(3);
    expect(value(got, 'strata_samples_clamped_total', c)).toBe(2);
    expect(value(got, 'strata_samples_sent_total', c)).toBe(95);
    expect(value(got, 'strata_errors_total', { ...c, reason: 'timeout' })).toBe(4);
    expect(value(got, 'strata_errors_total', { ...c, reason: 'parse' })).toBe(1);
    expect(value(got, 'strata_samples_dropped_total', { ...c, reason: 'sink_rejected' })).toBe(5);
    expect(value(got, 'strata_targets_dropped_total', { ...c, reason: 'channel_full' })).toBe(7);
    expect(value(got, 'strata_targets_dropped_total', { ...c, reason: 'stale' })).toBe(1);
    expect(value(got, 'strata_targets_up', c)).toBe(12);
    expect(value(got, 'strata_channel_depth', c)).toBe(30);
    expect(got.find((x) => x.name === 'strata_samples_collected_total')?.type).toBe('counter');
    expect(got.find((x) => x.name === 'strata_targets_up')?.type).toBe('gauge');

    current = totals({ collected: 250, sent: 240, errors: { timeout: 6 }, targetsUp: 11, channelDepth: 0 });
    got = await scrape(s);
    expect(value(got, 'strata_samples_collected_total', c)).toBe(250);
    expect(value(got, 'strata_samples_sent_total', c)).toBe(240);
    expect(value(got, 'strata_errors_total', { ...c, reason: 'timeout' })).toBe(6);
    expect(value(got, 'strata_targets_up', c)).toBe(11);
    expect(value(got, 'strata_channel_depth', c)).toBe(0);
  });

  it('publishes every counter declared in SCALARS under its metric, scaled, read from the shared counters', async () => {
    const m = metrics();
    const s = await serve(m);
    const counters = new SharedCounters();
    const names = Object.keys(SCALARS) as (keyof typeof SCALARS)[];
    names.forEach((name, i) => counters.add(name, (i + 1) * 1000));
    m.registerCollectorSource('ns/c', () => ({ ...counters.snapshot(), targetsUp: 0, channelDepth: 0 }));
    const got = await scrape(s);
    const c = { collector: 'ns/c' };
    names.forEach((name, i) => {
      const decl: { metric: string | null; scale?: number; gauge?: boolean } = SCALARS[name];
      if (decl.metric === null) return;
      expect(value(got, decl.metric, c), decl.metric).toBeCloseTo((i + 1) * 1000 * (decl.scale ?? 1), 9);
      expect(got.find((x) => x.name === decl.metric)?.type).toBe(decl.gauge === true ? 'gauge' : 'counter');
    });
    expect(value(got, 'strata_worker_failures_total', c)).toBeGreaterThan(0);
    expect(value(got, 'strata_samples_replayed_total', c)).toBeGreaterThan(0);
  });

  it("counts sink failures by the sink's code, errno-shaped codes kept, text-shaped ones as other", async () => {
    const m = metrics();
    const s = await serve(m);
    m.registerCollectorSource('ns/c', () => totals({ sinkFailures: { ENOSPC: 3, http_503: 2, 'no way!': 1 }, bufferBytes: 123, spoolBytes: 456 }));
    const got = await scrape(s);
    const c = { collector: 'ns/c' };
    expect(value(got, 'strata_sink_failures_total', { ...c, code: 'ENOSPC' })).toBe(3);
    expect(value(got, 'strata_sink_failures_total', { ...c, code: 'http_503' })).toBe(2);
    expect(value(got, 'strata_sink_failures_total', { ...c, code: 'other' })).toBe(1);
    expect(value(got, 'strata_buffer_bytes', c)).toBe(123);
    expect(value(got, 'strata_spool_bytes', c)).toBe(456);
  });

  it('labels each collector separately and reads each source once per exposition', async () => {
    const m = metrics();
    const s = await serve(m);
    let reads = 0;
    m.registerCollectorSource('a/one', () => {
      reads++;
      return totals({ collected: 1 });
    });
    m.registerCollectorSource('b/two', () => totals({ collected: 2 }));
    const got = await scrape(s);
    expect(reads).toBe(1);
    expect(value(got, 'strata_samples_collected_total', { collector: 'a/one' })).toBe(1);
    expect(value(got, 'strata_samples_collected_total', { collector: 'b/two' })).toBe(2);
    expect(m.collectorKeys()).toEqual(['a/one', 'b/two']);
  });

  it('feeds the scrape-duration and queue-delay histograms from observations', async () => {
    const m = metrics();
    const s = await serve(m);
    m.registerCollectorSource('ns/c', () => totals());
    for (const v of [0.003, 0.02, 0.02, 3]) m.observeScrapeDuration('ns/c', v);
    m.observeQueueDelay('ns/c', 0.5);
    m.observeScrapeDuration('ns/c', Number.NaN);
    m.observeScrapeDuration('ns/c', -1);
    const got = await scrape(s);
    const c = { collector: 'ns/c' };
    expect(value(got, 'strata_scrape_duration_seconds_count', c)).toBe(4);
    expect(value(got, 'strata_scrape_duration_seconds_sum', c)).toBeCloseTo(3.043, 9);
    expect(value(got, 'strata_scrape_duration_seconds', { ...c, bucket: '0.005' })).toBe(1);
    expect(value(got, 'strata_scrape_duration_seconds', { ...c, bucket: '0.025' })).toBe(3);
    expect(value(got, 'strata_scrape_duration_seconds', { ...c, bucket: '+Inf' })).toBe(4);
    expect(value(got, 'strata_queue_delay_seconds_count', c)).toBe(1);
    expect(value(got, 'strata_queue_delay_seconds', { ...c, bucket: '0.1' })).toBe(0);
    expect(value(got, 'strata_queue_delay_seconds', { ...c, bucket: '0.5' })).toBe(1);
  });

  it('removes every series of a collector when its source is unregistered', async () => {
    const m = metrics();
    const s = await serve(m);
    m.registerCollectorSource('ns/gone', () => totals({ collected: 5, errors: { timeout: 1 }, targetsDropped: { stale: 2 } }));
    m.registerCollectorSource('ns/kept', () => totals({ collected: 9 }));
    m.observeScrapeDuration('ns/gone', 0.1);
    m.observeQueueDelay('ns/gone', 0.1);
    m.observeScrapeDuration('ns/kept', 0.1);
    expect((await scrape(s)).filter((x) => x.tags.collector === 'ns/gone').length).toBeGreaterThan(10);
    expect(m.unregisterCollectorSource('ns/gone')).toBe(true);
    expect(m.unregisterCollectorSource('ns/gone')).toBe(false);
    const got = await scrape(s);
    expect(got.filter((x) => x.tags.collector === 'ns/gone')).toEqual([]);
    expect(value(got, 'strata_samples_collected_total', { collector: 'ns/kept' })).toBe(9);
    expect(value(got, 'strata_scrape_duration_seconds_count', { collector: 'ns/kept' })).toBe(1);
  });

  it('keeps reasons bounded: odd-looking reasons and those past maxReasons count as "other"', async () => {
    const m = metrics({ defaultMetrics: false, maxReasons: 2 });
    const s = await serve(m);
    m.registerCollectorSource('ns/c', () => totals({ errors: { timeout: 1, parse: 2, tls: 3, 'Bad Reason': 4 } }));
    const got = (await scrape(s)).filter((x) => x.name === 'strata_errors_total');
    expect(Object.fromEntries(got.map((x) => [x.tags.reason, x.value]))).toEqual({ timeout: 1, parse: 2, other: 7 });
  });

  it('leaves out a source that throws, counts it, and still answers', async () => {
    const m = metrics();
    const s = await serve(m);
    m.registerCollectorSource('ns/bad', () => {
      throw new Error('boom');
    });
    m.registerCollectorSource('ns/good', () => totals({ sent: 3 }));
    const got = await scrape(s);
    expect(value(got, 'strata_samples_sent_total', { collector: 'ns/good' })).toBe(3);
    expect(value(got, 'strata_samples_sent_total', { collector: 'ns/bad' })).toBeUndefined();
    expect(value(got, 'strata_telemetry_source_errors_total', { collector: 'ns/bad' })).toBe(1);
  });

  it('shows negative or non-finite totals as 0 rather than failing', async () => {
    const m = metrics();
    const s = await serve(m);
    m.registerCollectorSource('ns/c', () => totals({ collected: -5, sent: Number.NaN }));
    const got = await scrape(s);
    expect(value(got, 'strata_samples_collected_total', { collector: 'ns/c' })).toBe(0);
    expect(value(got, 'strata_samples_sent_total', { collector: 'ns/c' })).toBe(0);
  });

  it('reports the event-loop delay and, by default, the process metrics with the strata_ prefix', async () => {
    const m = metrics({});
    const s = await serve(m);
    await new Promise((r) => setTimeout(r, 50));
    const got = await scrape(s);
    for (const stat of ['p50', 'p99', 'max']) {
      const v = value(got, 'strata_event_loop_delay_seconds', { stat });
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(10);
    }
    const names = new Set(got.map((x) => x.name));
    expect(names).toContain('strata_process_cpu_user_seconds_total');
    expect(names).toContain('strata_process_resident_memory_bytes');
    expect([...names].every((n) => n.startsWith('strata_'))).toBe(true);
  });

  it('reports the delay beyond the monitor\'s resolution: near 0 when idle, the stall when blocked', async () => {
    const m = metrics({});
    const s = await serve(m);
    await scrape(s); // resets the window
    await new Promise((r) => setTimeout(r, 400));
    const idle = await scrape(s);
    // The monitor ticks every EVENT_LOOP_RESOLUTION_MS; an idle loop is late by about nothing.
    expect(value(idle, 'strata_event_loop_delay_seconds', { stat: 'p50' })).toBeLessThan(EVENT_LOOP_RESOLUTION_MS / 2 / 1000);
    // (The first tick after a reset only starts the next measurement: let it pass.)
    await new Promise((r) => setTimeout(r, 3 * EVENT_LOOP_RESOLUTION_MS));
    // A stall makes the tick due in it late by the stall less up to one resolution (its phase).
    const until = performance.now() + EVENT_LOOP_RESOLUTION_MS + 150;
    while (performance.now() < until) {
      // a stall of the resolution + 150 ms
    }
    await new Promise((r) => setTimeout(r, 2 * EVENT_LOOP_RESOLUTION_MS));
    const blocked = await scrape(s);
    const max = value(blocked, 'strata_event_loop_delay_seconds', { stat: 'max' }) ?? 0;
    expect(max).toBeGreaterThan(0.1);
    expect(max).toBeLessThan(1);
  });

  it('uses a registry of its own: two instances in one process do not collide', async () => {
    const a = metrics();
    const b = metrics();
    a.registerCollectorSource('x/a', () => totals({ collected: 1 }));
    b.registerCollectorSource('x/b', () => totals({ collected: 2 }));
    expect(await a.metrics()).toContain('strata_samples_collected_total{collector="x/a"} 1');
    expect(await b.metrics()).not.toContain('x/a');
  });
});
