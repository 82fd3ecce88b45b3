// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { parseResources, type Collector } from '../../src/config/index.js';
import { decodeTarget, encodeTarget } from '../../src/discovery/target.js';
import { type PoolContext, type PoolHandle, Registry } from '../../src/registry/registry.js';

function collector(yaml: string): Collector {
  const { resources, errors } = parseResources(
    `apiVersion: strata.ctx.sh/v1beta1\nkind: Collector\nmetadata: {name: c, namespace: ns}\nspec:\n${yaml}`,
    'test.yaml',
  );
  expect(errors).toEqual([]);
  return resources[0] as Collector;
}

/** A pool that takes records only when asked, and records how it was stopped. */
class FakePool implements PoolHandle {
  stopped = false;
  constructor(readonly ctx: PoolContext) {}
  take(n: number): string[] {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const rec = this.ctx.channel.tryPop();
      if (rec === null) break;
      out.push(decodeTarget(rec.payload)?.url ?? '?');
    }
    return out;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

const target = (i: number): Uint8Array => encodeTarget({ url: `http://127.0.0.1/${i}`, labels: {}, discovery: 'ns/d', intervalMs: 10_000 });
const ref = { name: 'c', namespace: 'ns' };

function setup(): { registry: Registry; pools: FakePool[] } {
  const pools: FakePool[] = [];
  const registry = new Registry({
    graceMs: 100,
    poolFactory: (ctx) => {
      const p = new FakePool(ctx);
      pools.push(p);
      return p;
    },
  });
  return { registry, pools };
}

describe('the registry', () => {
  it('queues targets to a ready collector and reports missing and disabled ones', async () => {
    const { registry } = setup();
    expect(registry.collectorState(ref)).toBe('missing');
    await registry.applyCollector(collector('  bufferSize: 10\n'));
    expect(registry.collectorState(ref)).toBe('ready');
    const r = await registry.enqueue(ref, [target(1), target(2)], Date.now() + 1000, new AbortController().signal);
    expect(r).toEqual({ queued: 2, dropped: 0 });
    await registry.applyCollector(collector('  bufferSize: 10\n  enabled: false\n'));
    expect(registry.collectorState(ref)).toBe('disabled');
  });

  it('replacing a collector keeps its channel and the targets queued in it', async () => {
    const { registry, pools } = setup();
    await registry.applyCollector(collector('  bufferSize: 10\n  workers: 1\n'));
    await registry.enqueue(ref, [target(1), target(2), target(3)], Date.now() + 1000, new AbortController().signal);
    const channel = registry.get('ns/c')?.channel;
    await registry.applyCollector(collector('  bufferSize: 10\n  workers: 1\n  encoder: fluent\n'));
    expect(pools[0]?.stopped).toBe(true);
    expect(registry.get('ns/c')?.channel).toBe(channel);
    expect(pools[1]?.take(10)).toEqual(['http://127.0.0.1/1', 'http://127.0.0.1/2', 'http://127.0.0.1/3']);
  });

  it('a new worker count spreads the queued targets over one lane per worker, losing none', async () => {
    const { registry, pools } = setup();
    await registry.applyCollector(collector('  bufferSize: 100\n  workers: 1\n'));
    const all = Array.from({ length: 20 }, (_, i) => target(i));
    await registry.enqueue(ref, all, Date.now() + 1000, new AbortController().signal);
    await registry.applyCollector(collector('  bufferSize: 100\n  workers: 2\n'));
    const lanes = registry.get('ns/c')?.channel.lanes ?? [];
    expect(lanes).toHaveLength(2);
    expect(lanes.every((l) => l.size > 0)).toBe(true);
    const taken = pools[1]?.take(100) ?? [];
    expect(taken.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `http://127.0.0.1/${i}`).sort());
  });

  it('a new bufferSize moves the queued targets into the new channel', async () => {
    const { registry, pools } = setup();
    await registry.applyCollector(collector('  bufferSize: 10\n'));
    await registry.enqueue(ref, [target(1), target(2)], Date.now() + 1000, new AbortController().signal);
    await registry.applyCollector(collector('  bufferSize: 20\n'));
    expect(registry.get('ns/c')?.channel.capacity).toBe(20);
    expect(pools[1]?.take(10)).toEqual(['http://127.0.0.1/1', 'http://127.0.0.1/2']);
  });

  it('retries a full channel until the deadline, then drops and counts', async () => {
    const { registry, pools } = setup();
    await registry.applyCollector(collector('  bufferSize: 2\n'));
    const started = Date.now();
    const pending = registry.enqueue(ref, [target(1), target(2), target(3), target(4)], Date.now() + 300, new AbortController().signal);
    await new Promise((r) => setTimeout(r, 100));
    expect(pools[0]?.take(1)).toEqual(['http://127.0.0.1/1']); // room for one more: target 3 gets in
    const r = await pending;
    expect(r).toEqual({ queued: 3, dropped: 1 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(registry.get('ns/c')?.counters.snapshot().targetsDropped.channel_full).toBe(1);
  });

  it('counts a target too large for a channel record instead of queueing it', async () => {
    const { registry } = setup();
    await registry.applyCollector(collector('  bufferSize: 10\n'));
    const huge = encodeTarget({ url: `http://127.0.0.1/${'x'.repeat(4000)}`, labels: {}, discovery: 'ns/d', intervalMs: 1000 });
    const r = await registry.enqueue(ref, [huge, target(1)], Date.now() + 1000, new AbortController().signal);
    expect(r).toEqual({ queued: 1, dropped: 1 });
    expect(registry.get('ns/c')?.counters.snapshot().targetsDropped.record_too_large).toBe(1);
  });

  it('deleting a collector stops its pool and counts what was left queued', async () => {
    const { registry, pools } = setup();
    await registry.applyCollector(collector('  bufferSize: 10\n'));
    await registry.enqueue(ref, [target(1), target(2)], Date.now() + 1000, new AbortController().signal);
    await registry.deleteCollector('ns/c');
    expect(pools[0]?.stopped).toBe(true);
    expect(registry.deletedDrops).toBe(2);
    expect(registry.collectorState(ref)).toBe('missing');
    const r = await registry.enqueue(ref, [target(3)], Date.now() + 1000, new AbortController().signal);
    expect(r).toEqual({ queued: 0, dropped: 1 });
  });
});
