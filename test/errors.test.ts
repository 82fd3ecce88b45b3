// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError, ErrorCode, errorCodeDocs, fromWire, ParseError, quote, StrataError, toWire } from '../src/errors.js';

describe('errors', () => {
  it('documents every code', () => {
    for (const code of Object.values(ErrorCode)) {
      expect(errorCodeDocs[code]).toMatch(/\w+/);
      expect(code).toMatch(/^STRATA_E_[A-Z_]+$/);
    }
    const header = readFileSync(new URL('../src/errors.ts', import.meta.url), 'utf8');
    for (const code of Object.values(ErrorCode)) expect(header).toContain(` * - ${code}`);
  });

  it('survives a worker boundary as a wire object and is rebuilt with its code', () => {
    const wire = toWire(new ParseError(3, 'bad'));
    expect(wire).toEqual({ ok: false, code: 'STRATA_E_PARSE', message: 'line 3: bad', retryable: false });
    const back = fromWire(structuredClone(wire));
    expect(back).toBeInstanceOf(StrataError);
    expect((back as StrataError).code).toBe('STRATA_E_PARSE');
    expect(toWire(new Error('boom')).code).toBe('STRATA_E_INTERNAL');
  });

  it('names the field of a config error', () => {
    const e = new ConfigError('filters.clip.min', 'must be a number');
    expect(e.field).toBe('filters.clip.min');
    expect(e.message).toBe('filters.clip.min: must be a number');
  });

  it('quotes bytes, escaping the unprintable and capping the length', () => {
    expect(quote(Buffer.from('a"b\\c\n\u0001'))).toBe('"a\\"b\\\\c\\n\\x01"');
    expect(quote(Buffer.from('x'.repeat(100)), 0, 100, 4)).toBe('"xxxx"…');
  });
});
