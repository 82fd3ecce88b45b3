// SPDX-License-Identifier: Apache-2.0
// Adds the SPDX license line to every source file that lacks it (after a #! line if there is one).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HEADER = '// SPDX-License-Identifier: Apache-2.0';
const root = join(import.meta.dirname, '..');
const walk = (dir) =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    return statSync(path).isDirectory() ? walk(path) : /\.(ts|mts|js|mjs)$/.test(name) ? [path] : [];
  });
for (const dir of ['src', 'workers', 'test', 'bench', 'scripts', 'examples', 'bin']) {
  for (const path of walk(join(root, dir))) {
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    if (lines[0] === HEADER || (lines[0]?.startsWith('#!') && lines[1] === HEADER)) continue;
    const out = lines[0]?.startsWith('#!') ? [lines[0], HEADER, ...lines.slice(1)] : [HEADER, ...lines];
    writeFileSync(path, out.join('\n'));
    console.log(`added: ${path.slice(root.length + 1)}`);
  }
}
