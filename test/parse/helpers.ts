// SPDX-License-Identifier: Apache-2.0
import { ExpositionParser, type ParseOptions } from '../../src/parse/index.js';
import type { Sample } from '../../src/sample.js';

/** Parses `text` whole, byte by byte and split at pseudo-random points; all must agree. */
export function parseAllWays(text: string | Uint8Array, options: ParseOptions = {}, seed = 1): Sample[] {
  const bytes = typeof text === 'string' ? Buffer.from(text) : Buffer.from(text);
  const whole = run(bytes, [bytes.length], options);
  const bytewise = run(bytes, Array.from({ length: bytes.length }, () => 1), options);
  let s = seed;
  const cuts: number[] = [];
  let left = bytes.length;
  while (left > 0) {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    const n = Math.min(left, 1 + (s % 17));
    cuts.push(n);
    left -= n;
  }
  const random = run(bytes, cuts, options);
  if (JSON.stringify(bytewise) !== JSON.stringify(whole)) {
    throw new Error(`byte-by-byte parse differs from whole parse: ${JSON.stringify(bytewise)} vs ${JSON.stringify(whole)}`);
  }
  if (JSON.stringify(random) !== JSON.stringify(whole)) {
    throw new Error(`split parse differs from whole parse: ${JSON.stringify(random)} vs ${JSON.stringify(whole)}`);
  }
  return whole.samples;
}

function run(bytes: Buffer, sizes: number[], options: ParseOptions): { samples: Sample[]; error?: string } {
  const parser = new ExpositionParser(options);
  let off = 0;
  try {
    for (const n of sizes) {
      if (n === 0) continue;
      parser.push(bytes.subarray(off, off + n));
      off += n;
    }
    return { samples: parser.end().batch.toSamples(null) };
  } catch (e) {
    return { samples: [], error: (e as Error).message };
  }
}

/** The error message of parsing `text` (all ways agree), or throws if it parses. */
export function parseErrorAllWays(text: string | Uint8Array, options: ParseOptions = {}): string {
  const bytes = typeof text === 'string' ? Buffer.from(text) : Buffer.from(text);
  const whole = run(bytes, [bytes.length], options);
  const bytewise = run(bytes, Array.from({ length: bytes.length }, () => 1), options);
  if (whole.error === undefined) throw new Error(`expected an error, got ${JSON.stringify(whole.samples)}`);
  if (bytewise.error !== whole.error) throw new Error(`byte-by-byte error ${bytewise.error} differs from ${whole.error}`);
  return whole.error;
}

export const s = (name: string, tags: Record<string, string>, value: number, type: Sample['type'] = 'untyped', timestamp: number | null = null): Sample => ({
  name,
  tags,
  timestamp,
  type,
  value,
});
