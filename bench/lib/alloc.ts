// SPDX-License-Identifier: Apache-2.0
/**
 * Bytes allocated by a function, measured with V8's GC profiler.
 *
 * Method: V8 has no cumulative allocation counter, and a heap delta around a loop undercounts
 * whatever the collector frees inside it. So each measured call runs inside a `v8.GCProfiler`
 * window, which records the heap statistics before and after every collection in the window.
 * Bytes allocated = growth of the used heap between collections, summed:
 *
 *   Σ_k (usedBefore(gc_k) − usedAfter(gc_{k−1})) + (usedAtEnd − usedAfter(gc_last)),
 *
 * with usedAfter(gc_0) = used at the start. Between two collections the used heap only grows by
 * allocation, so the sum counts every allocated byte whether it survives or not (promotion and
 * compaction happen inside collections and do not show). ArrayBuffer backing stores (typed
 * arrays, Buffers) live outside the V8 heap; V8's `externalMemory` is summed the same way, but
 * only its increases count, as backing stores may be released between collections.
 *
 * `globalThis.gc()` (node --expose-gc) before each window makes runs start from the same heap;
 * without it the numbers stay valid, just noisier. Setup passed as `before` runs outside the
 * window. The function's result is kept alive until the window closes.
 */
import v8 from 'node:v8';

export interface Allocation {
  /** Mean bytes per call on the V8 heap. */
  readonly heapBytes: number;
  /** Mean bytes per call in ArrayBuffer backing stores. */
  readonly externalBytes: number;
  readonly totalBytes: number;
  /** Collections seen per call. */
  readonly gcs: number;
}

let sink: unknown;

export function measureAllocation(fn: () => unknown, runs: number, before?: () => void): Allocation {
  let heap = 0;
  let external = 0;
  let gcs = 0;
  for (let k = 0; k < runs; k++) {
    before?.();
    globalThis.gc?.();
    const profiler = new v8.GCProfiler();
    profiler.start();
    const start = v8.getHeapStatistics();
    sink = fn();
    const end = v8.getHeapStatistics();
    const { statistics } = profiler.stop();
    let prevHeap = start.used_heap_size;
    let prevExternal = start.external_memory;
    for (const s of statistics) {
      heap += Math.max(0, s.beforeGC.heapStatistics.usedHeapSize - prevHeap);
      external += Math.max(0, s.beforeGC.heapStatistics.externalMemory - prevExternal);
      prevHeap = s.afterGC.heapStatistics.usedHeapSize;
      prevExternal = s.afterGC.heapStatistics.externalMemory;
    }
    heap += Math.max(0, end.used_heap_size - prevHeap);
    external += Math.max(0, end.external_memory - prevExternal);
    gcs += statistics.length;
    sink = undefined;
  }
  return { heapBytes: heap / runs, externalBytes: external / runs, totalBytes: (heap + external) / runs, gcs: gcs / runs };
}

/** Keeps the optimiser from treating a benchmarked result as dead. */
export function consume(x: unknown): void {
  sink = x;
}
export function sinkValue(): unknown {
  return sink;
}
