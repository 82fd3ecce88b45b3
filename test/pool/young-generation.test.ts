// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { defaultYoungGenerationMb } from '../../src/pool/pool.js';

describe('defaultYoungGenerationMb', () => {
  it('splits a 16 MB budget over the workers, at least 8 MB each', () => {
    expect(defaultYoungGenerationMb(1)).toBe(16);
    expect(defaultYoungGenerationMb(2)).toBe(8);
    expect(defaultYoungGenerationMb(3)).toBe(8);
    expect(defaultYoungGenerationMb(16)).toBe(8);
  });

  it('treats a pool without workers like one worker', () => {
    expect(defaultYoungGenerationMb(0)).toBe(16);
  });
});
