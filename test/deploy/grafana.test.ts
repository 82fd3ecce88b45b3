// SPDX-License-Identifier: Apache-2.0
/**
 * The Grafana dashboard (deploy/grafana/strata-dashboard.json) is importable JSON and queries
 * only what Strata exposes: every `strata_*` series a panel names is in a real exposition of
 * `StrataMetrics` (a collector source with reasons, codes and histogram observations), and every
 * label a query groups or filters by is a label of that series (or `le`, or `instance`, which
 * Prometheus adds at scrape). A renamed metric or label fails here instead of showing an empty
 * panel.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { StrataMetrics } from '../../src/telemetry/metrics.js';

const root = join(import.meta.dirname, '..', '..');

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string }[];
}

/** Series name → the label names it carries, from a text exposition. */
function exposed(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s/.exec(line);
    if (m === null) continue;
    const labels = out.get(m[1] as string) ?? new Set<string>();
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(l[1] as string);
    out.set(m[1] as string, labels);
  }
  return out;
}

describe('deploy/grafana/strata-dashboard.json', () => {
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy', 'grafana', 'strata-dashboard.json'), 'utf8')) as {
    title: string;
    uid: string;
    schemaVersion: number;
    panels: Panel[];
    templating: { list: { name: string; type: string }[] };
  };
  const panels = dashboard.panels.filter((p) => p.type !== 'row');

  it('is an importable dashboard: a data source variable, unique panel ids, panels inside the 24-column grid', () => {
    expect(dashboard.title).toBe('Strata');
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list.find((v) => v.name === 'datasource')?.type).toBe('datasource');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of dashboard.panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
    }
  });

  it('covers the figures an operator watches', () => {
    const exprs = panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    for (const metric of [
      'strata_samples_collected_total',
      'strata_samples_sent_total',
      'strata_samples_dropped_total',
      'strata_errors_total',
      'strata_targets_up',
      'strata_channel_depth',
      'strata_scrape_duration_seconds_bucket',
      'strata_queue_delay_seconds_bucket',
      'strata_sink_failures_total',
      'strata_event_loop_delay_seconds',
    ]) {
      expect(exprs.some((e) => e.includes(metric)), metric).toBe(true);
    }
    expect(exprs.some((e) => /by \(collector, reason\) \(rate\(strata_samples_dropped_total/.test(e))).toBe(true);
    expect(exprs.some((e) => /by \(collector, code\) \(rate\(strata_sink_failures_total/.test(e))).toBe(true);
  });

  it('names only series and labels that Strata exposes', async () => {
    const metrics = new StrataMetrics();
    try {
      metrics.registerCollectorSource('shop/orders', () => ({
        collected: 10,
        sent: 9,
        filtered: 1,
        errors: { timeout: 1 },
        dropped: { buffer_full: 1 },
        targetsDropped: { channel_full: 1 },
        sinkFailures: { http_503: 1 },
        targetsUp: 3,
        channelDepth: 0,
        bufferBytes: 0,
        spoolBytes: 0,
      }));
      metrics.observeScrapeDuration('shop/orders', 0.02);
      metrics.observeQueueDelay('shop/orders', 0.001);
      const series = exposed(await metrics.metrics());
      for (const p of panels) {
        for (const t of p.targets ?? []) {
          const names = [...t.expr.matchAll(/\b(strata_[a-z0-9_]+)/g)].map((m) => m[1] as string);
          expect(names.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
          for (const name of names) {
            const labels = series.get(name);
            expect(labels, `${p.title}: ${name} is not exposed`).toBeDefined();
            const used = [
              ...[...t.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) => (m[1] as string).split(',').map((s) => s.trim())),
              ...[...t.expr.matchAll(/([a-z_]+)=~?"/g)].map((m) => m[1] as string),
            ];
            for (const l of used) if (l !== 'le' && l !== 'instance') expect(labels?.has(l), `${p.title}: ${name} has no label ${l}`).toBe(true);
          }
        }
      }
    } finally {
      metrics.close();
    }
  });
});
