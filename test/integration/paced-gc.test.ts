// SPDX-License-Identifier: Apache-2.0
/**
 * The GC pacer (src/collector/gc.ts) in a real pool: with a small budget the workers run paced
 * full GCs while they scrape, count them where status and self-metrics see them, and lose no
 * sample to them; with a budget of 0 they run none. The budget is read from the environment by
 * the pool, as `strata run` does.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startDemoTarget } from '../../src/demo/index.js';
import { resourcesYaml, startEngine, statusOf, tempDir, waitFor, writeResources } from './helpers.js';

describe('paced full GCs in the workers', () => {
  const saved = process.env.STRATA_GC_BUDGET_MB;
  const closers: (() => Promise<void>)[] = [];
  afterEach(() => {
    if (saved === undefined) delete process.env.STRATA_GC_BUDGET_MB;
    else process.env.STRATA_GC_BUDGET_MB = saved;
  });
  afterAll(async () => {
    for (const c of closers) await c();
  });

  async function scrapeWithBudget(budgetMb: string, until: (s: ReturnType<typeof statusOf>) => boolean) {
    process.env.STRATA_GC_BUDGET_MB = budgetMb;
    const targets = await Promise.all([1, 2].map((seed) => startDemoTarget({ series: 5000, seed })));
    for (const t of targets) closers.push(() => t.close());
    const dir = tempDir('strata-paced-gc-');
    const file = writeResources(
      dir,
      resourcesYaml(
        { workers: 2, output: `{file: {path: ${dir}/out.ndjson, maxBytes: 67108864}}` },
        targets.map((t, i) => ({ url: t.url, labels: { job: `demo${i}` } })),
      ),
    );
    const engine = startEngine(file);
    await engine.start();
    let metrics: string;
    let before: number;
    try {
      await waitFor(() => until(statusOf(engine)), 30_000, `the status to show ${until.toString()}`);
      before = statusOf(engine).pacedGcs;
      metrics = await engine.metrics.metrics(); // while running: stopping unpublishes the collector
    } finally {
      await engine.stop();
    }
    return { status: statusOf(engine), before, metrics };
  }

  it('runs and counts them with a 1 MB budget, losing nothing', async () => {
    const { status, before, metrics } = await scrapeWithBudget('1', (s) => s.pacedGcs >= 2 && s.metricsCollected >= 40_000);
    expect(status.pacedGcs).toBeGreaterThanOrEqual(2);
    expect(status.pacedGcSeconds).toBeGreaterThan(0);
    expect(status.totalErrors).toBe(0);
    expect(status.totalDropped).toBe(0);
    expect(status.metricsCollected).toBe(status.totalSent + status.totalFiltered);
    const line = metrics.split('\n').find((l) => l.startsWith('strata_worker_paced_gcs_total{collector="test/it"}'));
    const published = Number(line?.split(' ')[1]);
    expect(published).toBeGreaterThanOrEqual(before);
    expect(published).toBeLessThanOrEqual(status.pacedGcs);
    expect(metrics).toMatch(/^strata_worker_paced_gc_seconds_total\{collector="test\/it"\} [0-9.e-]+$/m);
  });

  it('runs none with a budget of 0', async () => {
    const { status } = await scrapeWithBudget('0', (s) => s.metricsCollected >= 40_000);
    expect(status.pacedGcs).toBe(0);
    expect(status.metricsCollected).toBe(status.totalSent + status.totalFiltered);
  });
});
