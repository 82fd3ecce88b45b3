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
 * The flags are read by V8 for every isolate of the process, so setting them before the pools
 * start applies them to every worker. A value given on the command line or in NODE_OPTIONS wins.
 */
import v8 from 'node:v8';

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
  return applied;
}
