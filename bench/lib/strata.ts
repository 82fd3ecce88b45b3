// SPDX-License-Identifier: Apache-2.0
/**
 * Loads Strata's modules for the benchmarks, tolerating their absence: the parser, filters and
 * encoders are written in parallel with the benchmarks, so a bench file still measures its
 * baselines (and says which Strata rows it skipped, and why) when a module does not exist yet
 * or lacks an export the benchmark needs.
 *
 * The API the benchmarks are written against:
 *   parseExposition(body, { format?, cache?, targetTags? }) → { batch, stats }
 *   new SeriesCache()
 *   compileFilters({ exclude?, clip?, clamp? }) → (batch, stats) => void
 *   new JsonEncoder(limits) / new FluentEncoder({ tag, …limits }) / new StatsdEncoder(limits)
 *     .encode(batch, defaultTimestamp) → Uint8Array[]
 */
export type ParseModule = typeof import('../../src/parse/index.js');
export type FilterModule = typeof import('../../src/filter/index.js');
export type EncodeModule = typeof import('../../src/encode/index.js');

export type Loaded<T> = { readonly ok: true; readonly mod: T } | { readonly ok: false; readonly reason: string };

async function load<T>(what: string, exports: readonly string[], imp: () => Promise<unknown>): Promise<Loaded<T>> {
  let mod: unknown;
  try {
    mod = await imp();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    return { ok: false, reason: `${what}: ${(msg.split('\n')[0] ?? msg).slice(0, 160)}` };
  }
  const missing = exports.filter((e) => typeof (mod as Record<string, unknown>)[e] !== 'function');
  if (missing.length > 0) return { ok: false, reason: `${what} does not export ${missing.join(', ')} yet` };
  return { ok: true, mod: mod as T };
}

export function loadParse(): Promise<Loaded<ParseModule>> {
  return load<ParseModule>('src/parse', ['parseExposition', 'SeriesCache'], () => import('../../src/parse/index.js'));
}
export function loadFilter(): Promise<Loaded<FilterModule>> {
  return load<FilterModule>('src/filter', ['compileFilters'], () => import('../../src/filter/index.js'));
}
export function loadEncode(): Promise<Loaded<EncodeModule>> {
  // Encoders arrive one at a time: callers check each class they use.
  return load<EncodeModule>('src/encode', [], () => import('../../src/encode/index.js'));
}

/** A one-line reason from something Strata threw, for a skipped row (the code is in flux). */
export function failure(err: unknown): string {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const at = err instanceof Error ? /\n\s+at (.*)/.exec(err.stack ?? '')?.[1] : undefined;
  return `threw ${(msg.split('\n')[0] ?? msg).slice(0, 160)}${at === undefined ? '' : ` (at ${at})`}`;
}
