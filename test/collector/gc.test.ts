// SPDX-License-Identifier: Apache-2.0
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { GC_BUDGET_MB, GcPacer, MAX_TIME_SHARE, gcBudgetMb, tuneCollectorGc } from '../../src/collector/gc.js';
import { ConfigError } from '../../src/errors.js';

const MiB = 1024 * 1024;

describe('gcBudgetMb', () => {
  it('is GC_BUDGET_MB unless STRATA_GC_BUDGET_MB says otherwise', () => {
    expect(gcBudgetMb({})).toBe(GC_BUDGET_MB);
    expect(gcBudgetMb({ STRATA_GC_BUDGET_MB: ' ' })).toBe(GC_BUDGET_MB);
    expect(gcBudgetMb({ STRATA_GC_BUDGET_MB: '64' })).toBe(64);
    expect(gcBudgetMb({ STRATA_GC_BUDGET_MB: '0' })).toBe(0);
  });

  it('rejects what is not a whole number of MB, naming the variable', () => {
    for (const bad of ['-1', '1.5', 'lots', '16MB']) {
      expect(() => gcBudgetMb({ STRATA_GC_BUDGET_MB: bad })).toThrow(ConfigError);
      expect(() => gcBudgetMb({ STRATA_GC_BUDGET_MB: bad })).toThrow(/STRATA_GC_BUDGET_MB: must be a whole number/);
    }
  });
});

/** A pacer over a fake heap: `retained` is what it reads, a collection sets it to `live`. */
function fakePacer(budgetMb: number, everyMs = 0, maxTimeShare = 1) {
  const heap = { retained: 100 * MiB, live: 100 * MiB, clock: 0, collections: 0 };
  const pacer = GcPacer.create(budgetMb, {
    collect: () => {
      heap.collections++;
      heap.clock += 80;
      heap.retained = heap.live;
    },
    retained: () => heap.retained,
    now: () => heap.clock,
    everyMs,
    maxTimeShare,
  });
  if (pacer === null) throw new Error('no pacer');
  return { heap, pacer };
}

describe('GcPacer', () => {
  it('runs a full GC once retained memory has grown by the budget, and counts it', () => {
    const { heap, pacer } = fakePacer(16);
    expect(pacer.maybeCollect(true)).toBe(0); // the first reading is the floor
    heap.retained += 15 * MiB;
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.retained += 1 * MiB;
    expect(pacer.maybeCollect(true)).toBe(80);
    expect(heap.collections).toBe(1);
    expect(pacer.collections).toBe(1);
    expect(pacer.collectMs).toBe(80);
  });

  it('counts the budget from what the last full GC left, which may be more than before', () => {
    const { heap, pacer } = fakePacer(16);
    pacer.maybeCollect(true);
    heap.live = 110 * MiB; // the live state grew (more targets)
    heap.retained = 120 * MiB;
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0);
    heap.retained = 110 * MiB + 15 * MiB; // 25 MB over the old floor, 15 over the new one
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.retained = 110 * MiB + 16 * MiB;
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0);
    expect(heap.collections).toBe(2);
  });

  it("lowers its floor when V8's own GC has freed more", () => {
    const { heap, pacer } = fakePacer(16);
    pacer.maybeCollect(true);
    heap.retained = 90 * MiB; // a full GC of V8's own, below the first reading
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.retained = 90 * MiB + 16 * MiB;
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0);
  });

  it('waits for an idle moment until twice the budget, then collects anyway', () => {
    const { heap, pacer } = fakePacer(16);
    pacer.maybeCollect(false);
    heap.retained += 20 * MiB;
    expect(pacer.maybeCollect(false)).toBe(0); // scrapes in flight: not yet
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0); // idle: now
    heap.retained += 31 * MiB;
    expect(pacer.maybeCollect(false)).toBe(0);
    heap.retained += 1 * MiB;
    expect(pacer.maybeCollect(false)).toBeGreaterThan(0); // never idle (saturated): at 2× the budget
    expect(heap.collections).toBe(2);
  });

  it('grows the budget with the live heap: at least 1/16 of what the last full GC left', () => {
    const { heap, pacer } = fakePacer(16);
    heap.retained = heap.live = 1024 * MiB; // 1M series: 64 MB, not 16
    pacer.maybeCollect(true);
    heap.retained += 63 * MiB;
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.retained += 1 * MiB;
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0);
    heap.retained += 127 * MiB; // busy: twice that
    expect(pacer.maybeCollect(false)).toBe(0);
    heap.retained += 1 * MiB;
    expect(pacer.maybeCollect(false)).toBeGreaterThan(0);
  });

  it('reads the heap at most once per everyMs', () => {
    const { heap, pacer } = fakePacer(16, 1000);
    pacer.maybeCollect(true);
    heap.retained += 32 * MiB;
    heap.clock += 999;
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.clock += 1;
    expect(pacer.maybeCollect(true)).toBeGreaterThan(0);
  });

  it('takes at most its share of the time: a long GC pushes the next one back', () => {
    const { heap, pacer } = fakePacer(16, 0, MAX_TIME_SHARE);
    pacer.maybeCollect(true);
    heap.retained += 64 * MiB; // garbage comes fast: due again at once
    expect(pacer.maybeCollect(true)).toBe(80); // took 80 ms, from clock 0 to 80
    heap.retained += 64 * MiB;
    const rest = 80 / MAX_TIME_SHARE; // the GC and its rest: 4 s
    heap.clock = rest - 1;
    expect(pacer.maybeCollect(true)).toBe(0);
    heap.clock = rest;
    expect(pacer.maybeCollect(true)).toBe(80);
    expect(heap.collections).toBe(2);
    expect(() => GcPacer.create(16, { collect: () => {}, maxTimeShare: 0 })).toThrow(RangeError);
  });

  it('is off with a budget of 0', () => {
    expect(GcPacer.create(0, { collect: () => {} })).toBeNull();
  });

  it('frees dead ArrayBuffer memory in a real worker thread started after tuneCollectorGc', async () => {
    tuneCollectorGc(); // sets --expose-gc (with the other flags) for the threads started from now on
    const url = new URL('../../dist/src/collector/gc.js', import.meta.url).href;
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const MiB = 1024 * 1024;
       const pause = () => new Promise((r) => setTimeout(r, 50));
       let junk;
       // Scavenges, and time for the ArrayBuffer sweeper to account what a GC freed.
       const scavenge = async () => { for (let j = 0; j < 3e5; j++) junk = { j }; await pause(); };
       /** mb MB of ArrayBuffers that outlive two scavenges (promoted), then die: only a full GC frees them. */
       async function promotedGarbage(mb) {
         let held = [];
         for (let i = 0; i < mb; i++) held.push(new Uint8Array(new ArrayBuffer(MiB)).fill(1));
         await scavenge();
         await scavenge();
         held = null;
         await scavenge();
       }
       import(${JSON.stringify(url)}).then(async (m) => {
         const pacer = m.GcPacer.create(8, { everyMs: 0, maxTimeShare: 1 }); // no rest between GCs: this test is about what they free
         if (pacer === null) return parentPort.postMessage({ error: 'no pacer: gc not exposed' });
         await scavenge();
         const floor = m.retainedBytes();
         pacer.maybeCollect(true); // the floor
         await promotedGarbage(32);
         const dead = m.retainedBytes(); // scavenges did not free it
         const busy = pacer.maybeCollect(false); // 32 MB over: twice the budget, so even while busy
         await scavenge();
         const afterBusy = m.retainedBytes();
         pacer.maybeCollect(true); // lowers the floor to what the GC left
         await promotedGarbage(12); // over the budget, not twice: waits for an idle moment
         const notYet = pacer.maybeCollect(false);
         const idle = pacer.maybeCollect(true);
         await scavenge();
         const afterIdle = m.retainedBytes();
         parentPort.postMessage({ floor, dead, busy, afterBusy, notYet, idle, afterIdle, collections: pacer.collections });
       }).catch((e) => parentPort.postMessage({ error: String(e) }));`,
      { eval: true },
    );
    try {
      interface Report {
        readonly error?: string;
        readonly floor: number;
        readonly dead: number;
        readonly busy: number;
        readonly afterBusy: number;
        readonly notYet: number;
        readonly idle: number;
        readonly afterIdle: number;
        readonly collections: number;
      }
      const r = await new Promise<Report>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      expect(r.error).toBeUndefined();
      const { floor, dead, busy, afterBusy, notYet, idle, afterIdle, collections } = r;
      expect(dead - floor).toBeGreaterThanOrEqual(32 * MiB);
      expect(busy).toBeGreaterThan(0);
      expect(dead - afterBusy).toBeGreaterThanOrEqual(30 * MiB);
      expect(notYet).toBe(0);
      expect(idle).toBeGreaterThan(0);
      expect(afterIdle - floor).toBeLessThan(4 * MiB);
      expect(collections).toBe(2);
    } finally {
      await worker.terminate();
    }
  });
});
