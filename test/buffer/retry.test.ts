// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/buffer/index.js';
import { seeded } from '../sink/contract.js';

describe('backoffDelay', () => {
  const options = { initialBackoffMs: 100, maxBackoffMs: 30_000, jitter: 0.2 };
  const cases: { input: { n: number; random: number }; want: number }[] = [
    { input: { n: 1, random: 0.5 }, want: 100 },
    { input: { n: 2, random: 0.5 }, want: 200 },
    { input: { n: 3, random: 0.5 }, want: 400 },
    { input: { n: 9, random: 0.5 }, want: 25_600 },
    { input: { n: 10, random: 0.5 }, want: 30_000 },
    { input: { n: 1000, random: 0.5 }, want: 30_000 },
    { input: { n: 1, random: 0 }, want: 80 },
    { input: { n: 3, random: 0 }, want: 320 },
    { input: { n: 3, random: 0.75 }, want: 440 },
    { input: { n: 12, random: 0 }, want: 24_000 },
    { input: { n: 12, random: 0.999 }, want: 30_000 },
  ];
  for (const { input, want } of cases) {
    it(`waits ${want} ms before retry ${input.n} when the jitter draw is ${input.random}`, () => {
      expect(backoffDelay(input.n, options, () => input.random)).toBeCloseTo(want, 6);
    });
  }

  it('stays within [base·(1-jitter), min(max, base·(1+jitter))] for any draw', () => {
    const random = seeded(42);
    for (let n = 1; n <= 20; n++) {
      const base = Math.min(30_000, 100 * 2 ** (n - 1));
      for (let i = 0; i < 200; i++) {
        const d = backoffDelay(n, options, random);
        expect(d).toBeGreaterThanOrEqual(base * 0.8 - 1e-9);
        expect(d).toBeLessThanOrEqual(Math.min(30_000, base * 1.2) + 1e-9);
      }
    }
  });

  it('waits nothing with a zero initial backoff, however many retries', () => {
    expect(backoffDelay(100, { initialBackoffMs: 0, maxBackoffMs: 10, jitter: 0.2 }, Math.random)).toBe(0);
  });
});

