// SPDX-License-Identifier: Apache-2.0
/**
 * Every source file carries an SPDX license line (the project is Apache-2.0, LICENSE at the
 * root): the first line, or the second after a `#!` line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const HEADER = '// SPDX-License-Identifier: Apache-2.0';
const FOLDERS = ['src', 'workers', 'test', 'bench', 'scripts', 'examples', 'bin'];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') continue;
    if (statSync(path).isDirectory()) sources(path, out);
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(path);
  }
  return out;
}

describe('license headers', () => {
  it('are on every source file', () => {
    const missing = FOLDERS.flatMap((f) => sources(join(root, f))).filter((path) => {
      const lines = readFileSync(path, 'utf8').split('\n', 2);
      return lines[0] !== HEADER && !(lines[0]?.startsWith('#!') === true && lines[1] === HEADER);
    });
    expect(missing.map((p) => relative(root, p))).toEqual([]);
  });

  it('name the license that package.json and LICENSE give', () => {
    expect((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { license: string }).license).toBe('Apache-2.0');
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('Apache License\n                           Version 2.0, January 2004');
  });
});
