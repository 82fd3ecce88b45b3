// SPDX-License-Identifier: Apache-2.0
/**
 * Measuring one benchmark case: tinybench 6 for the timing (median of per-iteration latencies,
 * never the mean: a GC pause or a noisy neighbour moves the mean, not the median), then
 * `measureAllocation` for bytes allocated. Each case gets its own `Bench` so a slow baseline can
 * run fewer iterations than a fast case; `beforeEach` runs outside the timed window.
 */
import { Bench } from 'tinybench';
import { type Allocation, measureAllocation } from './alloc.js';
import { env } from './env.js';

export interface CaseSpec {
  readonly name: string;
  /** The measured call. Must be synchronous. */
  readonly fn: () => unknown;
  /** Untimed preparation before every call (copying a batch, say). */
  readonly beforeEach?: () => void;
  /** Samples processed per call (for samples/s). */
  readonly samples: number;
  /** Bytes processed per call (for MB/s): input bytes for parsers, output bytes for encoders. */
  readonly bytes?: number;
  /** Minimum timed iterations; defaults to BENCH_ITERATIONS. */
  readonly iterations?: number;
  /** Time budget in ms; defaults to BENCH_TIME_MS. */
  readonly timeMs?: number;
  /** Skip the allocation measurement (for cases where it would be meaningless). */
  readonly noAlloc?: boolean;
}

export interface Measured {
  readonly name: string;
  readonly medianMs: number;
  readonly minMs: number;
  readonly maxMs: number;
  readonly runs: number;
  readonly samples: number;
  readonly bytes: number | undefined;
  readonly samplesPerSec: number;
  /** 10^6 bytes per second, or undefined when the case has no byte count. */
  readonly mbPerSec: number | undefined;
  readonly alloc: Allocation | undefined;
  readonly allocPerSample: number | undefined;
}

export function measure(spec: CaseSpec): Measured {
  const bench = new Bench({
    name: spec.name,
    time: spec.timeMs ?? env.timeMs,
    iterations: spec.iterations ?? env.iterations,
    warmupIterations: 2,
    warmupTime: 0,
    throws: true,
  });
  bench.add(spec.name, spec.fn, spec.beforeEach === undefined ? {} : { beforeEach: spec.beforeEach });
  const [task] = bench.runSync();
  const result = task?.result;
  if (result === undefined || !('latency' in result)) {
    const err = result !== undefined && 'error' in result ? result.error : undefined;
    throw new Error(`${spec.name}: benchmark did not complete (${result?.state ?? 'no task'})`, { cause: err });
  }
  const { p50, min, max, samplesCount } = result.latency;
  const alloc = spec.noAlloc === true ? undefined : measureAllocation(spec.fn, env.allocRuns, spec.beforeEach);
  return {
    name: spec.name,
    medianMs: p50,
    minMs: min,
    maxMs: max,
    runs: samplesCount,
    samples: spec.samples,
    bytes: spec.bytes,
    samplesPerSec: spec.samples / (p50 / 1000),
    mbPerSec: spec.bytes === undefined ? undefined : spec.bytes / 1e6 / (p50 / 1000),
    alloc,
    allocPerSample: alloc === undefined ? undefined : alloc.totalBytes / spec.samples,
  };
}

/** Logs progress to stderr so the table on stdout stays clean. */
export function progress(msg: string): void {
  process.stderr.write(`  … ${msg}\n`);
}
