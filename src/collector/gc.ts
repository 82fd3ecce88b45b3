// SPDX-License-Identifier: Apache-2.0
/**
 * Garbage-collector tuning for the collector threads, the way Go services set GOGC.
 *
 * A worker's old generation is mostly long-lived state: the series caches, tags and encoder memos
 * of every target it scrapes (~80 MB for 200k series). V8 sizes the next full-GC trigger from its
 * own heuristics, and after a GC started by external (ArrayBuffer) memory — scrape bodies come in
 * bursts, all targets at once — it sets the trigger only ~10% above the live heap. With ~1 MB
 * promoted per scrape round, that starts a full mark of the whole heap two or three times per
 * interval: measured, concurrent marking was 40–60% of Strata's CPU at 20 targets × 10k series.
 * `--heap-growing-percent=100` lets the old generation grow to twice its live size before the next
 * full GC (GOGC=100): measured on the same run, CPU per million samples fell from 3.4–4.0 to
 * 1.8–2.2 with the same resident memory, since what is promoted is little.
 *
 * `--no-memory-reducer`: V8's memory reducer starts extra full GCs when an isolate looks idle,
 * to shrink its heap, and a worker looks idle between scrape rounds. After each full GC it ran
 * two more over the whole heap (~120 MB at 200k series) that freed under 1%: CPU for nothing,
 * since the live state stays. (Seen with `--trace-gc` as `Mark-Compact (reduce)`; none with the
 * flag.)
 *
 * With the reducer off and a generous growth, something else must bound what dead memory is
 * held: that is the pacer below (`GcPacer`), which `--expose-gc` makes possible in the workers.
 *
 * The flags are read by V8 for every isolate of the process, so setting them before the pools
 * start applies them to every worker. A value given on the command line or in NODE_OPTIONS wins.
 */
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ConfigError } from '../errors.js';

export const HEAP_GROWING_PERCENT = 100;

let applied: boolean | null = null;

/**
 * Applies the tuning once per process; returns whether Strata set the heap growth (false: the
 * user did). The memory reducer is left alone likewise when the user set it.
 */
export function tuneCollectorGc(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if (applied !== null) return applied;
  const given = (flag: RegExp): boolean => [...execArgv, nodeOptions].some((a) => flag.test(a));
  if (!given(/memory[-_]reducer/)) v8.setFlagsFromString('--no-memory-reducer');
  applied = !given(/heap[-_]growing[-_]percent/);
  if (applied) v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  // Read when a context is made: the workers started from now on have `gc` (the pacer's).
  v8.setFlagsFromString('--expose-gc');
  return applied;
}

/**
 * Growth of a worker's retained memory (old generation plus the memory of its ArrayBuffers) past
 * which the pacer runs a full GC. Measured at 20 targets × 10k series, 5 s: each scrape round
 * leaves a few MB of dead socket and inflate buffers whose small handles were promoted (they were
 * in flight across two scavenges) and ~10 KB of old-generation garbage per target; V8 frees them
 * only at a full GC, which it starts when external memory has grown by 64 MB or the old
 * generation has doubled (`HEAP_GROWING_PERCENT`). Unpaced, resident memory climbed 0.8 MiB a
 * minute for most of an hour; paced, it stays within the budget, since the allocator reuses what
 * each full GC frees.
 */
export const GC_BUDGET_MB = 16;

/** `STRATA_GC_BUDGET_MB` (a whole number of MB, 0 turns the pacer off), or `GC_BUDGET_MB`. */
export function gcBudgetMb(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.STRATA_GC_BUDGET_MB;
  if (text === undefined || text.trim() === '') return GC_BUDGET_MB;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError('STRATA_GC_BUDGET_MB', `must be a whole number of MB ≥ 0 (0: no paced GC), got ${JSON.stringify(text)}`);
  }
  return n;
}

/** Old generation (every space but the young one) plus external memory, in bytes. */
export function retainedBytes(): number {
  let bytes = v8.getHeapStatistics().external_memory;
  for (const space of v8.getHeapSpaceStatistics()) {
    if (space.space_name !== 'new_space' && space.space_name !== 'new_large_object_space') bytes += space.space_used_size;
  }
  return bytes;
}

/**
 * This thread's full-GC function: the global `gc` of a context made with `--expose-gc` (set by
 * `tuneCollectorGc` before the workers start), or one from a fresh context; undefined when
 * neither has it.
 */
export function exposedGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === 'function') return global as () => void;
  try {
    const fresh: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof fresh === 'function' ? (fresh as () => void) : undefined;
  } catch {
    return undefined;
  }
}

/** The budget is at least this fraction (1/LIVE_SHARE) of what the last full GC left. */
const LIVE_SHARE = 16;

/**
 * Most of the worker's time paced GCs may take: after one that took `ms`, the next waits at
 * least `ms * (1 / MAX_TIME_SHARE - 1)`. A bound, not a setting that is usually reached: at
 * 200k series every 5 s the pacer ran 2 GCs in an hour (287 ms), and a saturated worker holding
 * 1.2M series 0–2 per 30 s (~500 ms each). Where a full GC is long and garbage comes fast,
 * it keeps the pacer from taking more, whatever the budget says.
 */
export const MAX_TIME_SHARE = 0.02;

export interface GcPacerOptions {
  /** Runs a full GC. Default: `exposedGc()`. */
  readonly collect?: () => void;
  /** Memory the budget is counted on. Default: `retainedBytes`. */
  readonly retained?: () => number;
  /** Least time between two readings of `retained`, in ms. Default 1000. */
  readonly everyMs?: number;
  /** Most of the time paced GCs may take (0 < share ≤ 1). Default MAX_TIME_SHARE. */
  readonly maxTimeShare?: number;
  readonly now?: () => number;
}

/**
 * Paced full collections for a worker, the way GOGC paces Go's: a full GC once the retained
 * memory has grown by the budget since the last one (its floor: the least ever read, which a
 * full GC of V8's own lowers too). The budget is the larger of the one given and 1/16 of the
 * floor (at 200k series, ~190 MB retained: the 16 MB given). A full GC stops the thread
 * (~80–150 ms at 200k series), so it runs when no scrape is in flight; a worker that is never
 * idle (saturated) has one at twice the budget. At 5 s that was one full GC every minute or two
 * before the scraper kept its inflaters' handles, and 2 in an hour after; V8's own would come
 * later, after resident memory had grown by up to 64 MB more. Paced GCs take at most
 * MAX_TIME_SHARE of the time: a long one pushes the next one back.
 */
export class GcPacer {
  readonly #budget: number;
  readonly #collect: () => void;
  readonly #retained: () => number;
  readonly #everyMs: number;
  readonly #restFactor: number;
  readonly #now: () => number;
  /** No paced GC before this time (the rest owed by the last one). */
  #notBefore = Number.NEGATIVE_INFINITY;
  #floor = Number.POSITIVE_INFINITY;
  #readAt = Number.NEGATIVE_INFINITY;
  /** Full GCs run, and the milliseconds they took. */
  collections = 0;
  collectMs = 0;

  /** Null when there is no budget or no way to collect. */
  static create(budgetMb: number, options: GcPacerOptions = {}): GcPacer | null {
    const collect = options.collect ?? exposedGc();
    if (budgetMb <= 0 || collect === undefined) return null;
    return new GcPacer(budgetMb * 1024 * 1024, collect, options);
  }

  private constructor(budgetBytes: number, collect: () => void, options: GcPacerOptions) {
    this.#budget = budgetBytes;
    this.#collect = collect;
    this.#retained = options.retained ?? retainedBytes;
    this.#everyMs = options.everyMs ?? 1000;
    const share = options.maxTimeShare ?? MAX_TIME_SHARE;
    if (!(share > 0 && share <= 1)) throw new RangeError(`maxTimeShare must be in (0, 1], got ${share}`);
    this.#restFactor = 1 / share - 1;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Reads the retained memory (at most once per `everyMs`) and runs a full GC if it is due; returns its ms, or 0. */
  maybeCollect(idle: boolean): number {
    const now = this.#now();
    if (now - this.#readAt < this.#everyMs || now < this.#notBefore) return 0;
    this.#readAt = now;
    const retained = this.#retained();
    if (retained < this.#floor) this.#floor = retained;
    const grown = retained - this.#floor;
    // A full GC's work grows with the live heap: the budget grows with it too (1/16 of it),
    // so that a worker holding 1M series is not paced into a GC every few seconds.
    const budget = Math.max(this.#budget, this.#floor / LIVE_SHARE);
    if (grown < budget || (!idle && grown < 2 * budget)) return 0;
    this.#collect();
    const ms = this.#now() - now;
    this.#notBefore = now + ms + ms * this.#restFactor;
    // ArrayBuffer memory is freed by a sweeper task after the GC, so this reading can be high;
    // the next ones lower the floor to what was really left.
    this.#floor = this.#retained();
    this.collections++;
    this.collectMs += ms;
    return ms;
  }
}
