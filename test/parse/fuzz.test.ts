// SPDX-License-Identifier: Apache-2.0
/**
 * Property tests for the parser: random and mutated expositions never make it throw anything
 * but its own ParseError, never hang, and parse the same whole, byte by byte or split anywhere.
 * Time-boxed: FUZZ_SECONDS (default 3 here; `npm run fuzz` runs 60).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/errors.js';
import { ExpositionParser, parseExposition, SeriesCache } from '../../src/parse/index.js';

const SECONDS = Number(process.env.FUZZ_SECONDS ?? 3);
const corpus = [
  readFileSync(new URL('../fixtures/corpus/node-exporter.prom', import.meta.url)),
  readFileSync(new URL('../fixtures/corpus/prometheus.prom', import.meta.url)),
];
const seedText = Buffer.from(
  '# HELP a_total x\n# TYPE a_total counter\na_total{m="get",p="/x\\"y\\\\z\\n"} 3 1700000000000\n' +
    '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1.5\nh_count 2\n' +
    '# TYPE s summary\ns{quantile="0.9"} NaN\ns_sum 1e3\ns_count 4\nu{city="Zürich"} -Inf\n',
);

/** Only ParseError may escape; anything else fails the property. */
function parseOrParseError(bytes: Uint8Array, format: 'prometheus' | 'openmetrics', cache?: SeriesCache): 'ok' | 'error' {
  try {
    parseExposition(bytes, cache === undefined ? { format } : { format, cache });
    return 'ok';
  } catch (e) {
    if (e instanceof ParseError) return 'error';
    throw e;
  }
}

const TOKENS = ['a', 'b_c', '{', '}', '"', '\\', '\\"', '\\n', '=', ',', ' ', '\t', '\n', '\r', '#', '# TYPE ', '# HELP ', ' counter', ' histogram', ' summary', '_bucket', '_sum', '_count', 'le', 'quantile', '1', '-', '+Inf', 'NaN', '1e9', '.', 'x="y"', '# EOF', 'é', '\u{1F4C8}', '\uFFFD'];

const tokenText = fc.array(fc.constantFrom(...TOKENS), { maxLength: 80 }).map((t) => Buffer.from(t.join('')));

function mutate(base: Buffer, edits: { pos: number; op: number; byte: number }[]): Buffer {
  const out = Array.from(base);
  for (const { pos, op, byte } of edits) {
    const p = pos % (out.length + 1);
    if (op === 0) out.splice(p, 0, byte);
    else if (op === 1) out.splice(p, 1);
    else out[p] = byte;
  }
  return Buffer.from(out);
}

const edits = fc.array(fc.record({ pos: fc.nat(), op: fc.integer({ min: 0, max: 2 }), byte: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 8 });

describe('parser fuzzing', () => {
  it('random token soup yields samples or a ParseError, in both formats', () => {
    fc.assert(
      fc.property(tokenText, fc.boolean(), (bytes, om) => {
        parseOrParseError(bytes, om ? 'openmetrics' : 'prometheus');
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });

  it('random bytes yield samples or a ParseError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        parseOrParseError(bytes, 'prometheus');
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });

  it('mutated real expositions yield samples or a ParseError, with a warm cache too', () => {
    const cache = new SeriesCache();
    fc.assert(
      fc.property(fc.constantFrom(seedText, ...corpus), edits, (base, e) => {
        const bytes = mutate(base === seedText ? base : base.subarray(0, 4000), e);
        parseOrParseError(bytes, 'prometheus', cache);
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });

  it('mutated input parses the same whole and split at random points', () => {
    fc.assert(
      fc.property(edits, fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 50 }), (e, cuts) => {
        const bytes = mutate(seedText, e);
        const whole = outcome(() => parseExposition(bytes).batch.toSamples(null));
        const split = outcome(() => {
          const p = new ExpositionParser();
          let off = 0;
          let k = 0;
          while (off < bytes.length) {
            const n = cuts[k++ % cuts.length] as number;
            p.push(bytes.subarray(off, off + n));
            off += n;
          }
          return p.end().batch.toSamples(null);
        });
        expect(split).toEqual(whole);
      }),
      { interruptAfterTimeLimit: SECONDS * 250, numRuns: 1_000_000 },
    );
  });
});

function outcome(f: () => unknown): unknown {
  try {
    return JSON.stringify(f());
  } catch (e) {
    if (e instanceof ParseError) return e.message;
    throw e;
  }
}

describe('linear time on hostile input', () => {
  // Inputs built to trigger quadratic behaviour (rescans, concatenation, pairwise label checks).
  // At these sizes a quadratic parser would take minutes; the test timeout catches a hang.
  const MB = 1 << 20;
  const hostile: { name: string; body: () => Buffer; maxLineBytes?: number }[] = [
    { name: 'a 4 MB line of opening braces', body: () => Buffer.from(`a${'{'.repeat(4 * MB)}`) },
    { name: 'a 4 MB label value of backslashes', body: () => Buffer.from(`a{x="${'\\\\'.repeat(2 * MB)}"} 1\n`), maxLineBytes: 8 * MB },
    {
      name: '100k distinct labels on one series',
      body: () => Buffer.from(`a{${Array.from({ length: 100_000 }, (_, i) => `l${i}="v"`).join(',')}} 1\n`),
      maxLineBytes: 8 * MB,
    },
    { name: '1M blank lines', body: () => Buffer.from('\n'.repeat(MB)) },
    { name: '500k comment lines', body: () => Buffer.from('# x\n'.repeat(500_000)) },
    { name: 'a 100 MB line rejected by the line limit', body: () => Buffer.alloc(100 * MB, 0x61) },
  ];
  for (const { name, body, maxLineBytes } of hostile) {
    it(`finishes on ${name}`, () => {
      const bytes = body();
      const opts = maxLineBytes === undefined ? {} : { maxLineBytes };
      const r = outcome(() => parseExposition(bytes, opts).stats.samples);
      expect(typeof r).toBe('string');
    }, 60_000);
  }

  it('streams a 100 MB line in 64 KB chunks and stops at the line limit, holding no more than the limit', () => {
    const p = new ExpositionParser({ maxLineBytes: 4 * MB });
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let pushed = 0;
    let error: unknown;
    try {
      while (pushed < 100 * MB) {
        p.push(chunk);
        pushed += chunk.length;
      }
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ParseError);
    expect((error as ParseError).message).toBe('line 1: line is over the limit of 4194304 bytes (maxLineBytes)');
    expect(pushed).toBeLessThanOrEqual(4 * MB + chunk.length);
  });
});
