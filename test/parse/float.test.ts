// SPDX-License-Identifier: Apache-2.0
/**
 * Strict float and timestamp parsing over bytes (src/parse/float.ts): what is a value, what is
 * not (the answer is `undefined`, never a number), and that no call depends on an earlier one.
 */
import { describe, expect, it } from 'vitest';
import { parseFloatBytes, parseTimestampBytes } from '../../src/parse/float.js';

const bytes = (s: string): Uint8Array => Buffer.from(s, 'latin1');
const float = (s: string): number | undefined => parseFloatBytes(bytes(s), 0, s.length);
const timestamp = (s: string): number | undefined => parseTimestampBytes(bytes(s), 0, s.length);

describe('parseFloatBytes', () => {
  const valid: { input: string; want: number }[] = [
    { input: '1', want: 1 },
    { input: '-0.5', want: -0.5 },
    { input: '+.5', want: 0.5 },
    { input: '5.', want: 5 },
    { input: '1.5e3', want: 1500 },
    { input: '1E-2', want: 0.01 },
    { input: '123456789012345678901234', want: 123456789012345678901234 },
    { input: '+Inf', want: Number.POSITIVE_INFINITY },
    { input: '-infinity', want: Number.NEGATIVE_INFINITY },
  ];
  for (const { input, want } of valid) {
    it(`reads ${JSON.stringify(input)} as ${want}`, () => {
      expect(float(input)).toBe(want);
    });
  }

  it('reads NaN as a value, not as invalid input', () => {
    expect(float('NaN')).toBeNaN();
  });

  for (const input of ['', '0x10', '1abc', '1e', '.', '+', '-NaN', '1_000', ' 1']) {
    it(`answers undefined for ${JSON.stringify(input)}`, () => {
      expect(float(input)).toBeUndefined();
    });
  }

  it('reads a value right after an invalid one (no state is kept between calls)', () => {
    expect(float('nope')).toBeUndefined();
    expect(float('2')).toBe(2);
    expect(timestamp('x')).toBeUndefined();
    expect(float('3')).toBe(3);
  });

  it('reads only the bytes between start and end', () => {
    expect(parseFloatBytes(bytes('x12.5y'), 1, 5)).toBe(12.5);
  });
});

describe('parseTimestampBytes', () => {
  it('reads integer milliseconds', () => {
    expect(timestamp('1700000000000')).toBe(1_700_000_000_000);
    expect(timestamp('0')).toBe(0);
  });

  for (const input of ['', '-1', '1.5', '1e3', '12345678901234567', '99999999999999999']) {
    it(`answers undefined for ${JSON.stringify(input)}`, () => {
      expect(timestamp(input)).toBeUndefined();
    });
  }
});
