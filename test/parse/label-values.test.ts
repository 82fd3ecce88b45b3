// SPDX-License-Identifier: Apache-2.0
/**
 * Label values (src/parse/label-values.ts): unescaping as the text format defines it, and the
 * bounded table that keeps one copy of each value, owned per thread and replaceable per parser.
 */
import { describe, expect, it } from 'vitest';
import { ParseError } from '../../src/errors.js';
import { parseExposition, SeriesCache } from '../../src/parse/index.js';
import { decodeLabelValue, LabelValueTable, THREAD_LABEL_VALUES, unescapeLabelValue } from '../../src/parse/label-values.js';
import { L_ESCAPE, L_HIGH } from '../../src/parse/series-syntax.js';

describe('unescapeLabelValue', () => {
  const cases: { input: string; want: string }[] = [
    { input: 'plain', want: 'plain' },
    { input: 'a\\\\b', want: 'a\\b' },
    { input: 'say \\"hi\\"', want: 'say "hi"' },
    { input: 'line\\nbreak', want: 'line\nbreak' },
    { input: 'kept \\t and \\x', want: 'kept \\t and \\x' },
    { input: 'trailing \\', want: 'trailing \\' },
    { input: '\\\\n', want: '\\n' },
  ];
  for (const { input, want } of cases) {
    it(`turns ${JSON.stringify(input)} into ${JSON.stringify(want)}`, () => {
      expect(unescapeLabelValue(input)).toBe(want);
    });
  }
});

describe('decodeLabelValue', () => {
  it('decodes UTF-8 and escapes, and interns the result in the table it is given', () => {
    const table = new LabelValueTable();
    const buf = Buffer.from('x="zürich\\n"');
    const value = decodeLabelValue(buf, 3, buf.length - 1, L_HIGH | L_ESCAPE, 'x', 1, table);
    expect(value).toBe('zürich\n');
    expect(table.size).toBe(1);
  });

  it('refuses a value that is not valid UTF-8, naming the label and the line', () => {
    const buf = Buffer.from([0x61, 0xff, 0x62]);
    expect(() => decodeLabelValue(buf, 0, 3, L_HIGH, 'x', 7, new LabelValueTable())).toThrow(ParseError);
    expect(() => decodeLabelValue(buf, 0, 3, L_HIGH, 'x', 7, new LabelValueTable())).toThrow('line 7: value of label "x" is not valid UTF-8');
  });
});

describe('LabelValueTable', () => {
  it('keeps one entry per distinct value and answers an equal string', () => {
    const table = new LabelValueTable();
    expect(table.intern('default')).toBe('default');
    expect(table.intern(['de', 'fault'].join(''))).toBe('default');
    expect(table.size).toBe(1);
  });

  it('does not store long values', () => {
    const table = new LabelValueTable();
    const long = 'v'.repeat(257);
    expect(table.intern(long)).toBe(long);
    expect(table.size).toBe(0);
  });

  it('starts over when full, so it stays bounded', () => {
    const table = new LabelValueTable();
    for (let i = 0; i < 131_072; i++) table.intern(`v${i}`);
    expect(table.size).toBe(131_072);
    expect(table.intern('one more')).toBe('one more');
    expect(table.size).toBe(1);
  });

  it('is the table every parser of the thread interns the values it keeps into', () => {
    const before = THREAD_LABEL_VALUES.size;
    const unique = `value-${process.pid}-${Date.now()}`;
    // Label limits need the values as strings, and the cache keeps them.
    const kept = { cache: new SeriesCache(), labelLimits: { labelValueLengthLimit: 1000 } };
    parseExposition(Buffer.from(`a{x="${unique}"} 1\nb{y="${unique}"} 2\n`), kept);
    expect(THREAD_LABEL_VALUES.size).toBe(before + 1);
    // Without a cache nothing is kept, and nothing is interned.
    parseExposition(Buffer.from(`c{z="${unique}-not-kept"} 1\n`));
    expect(THREAD_LABEL_VALUES.size).toBe(before + 1);
  });
});
