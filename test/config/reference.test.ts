// SPDX-License-Identifier: Apache-2.0
/** docs/configuration.md is generated from the schemas: it must match them, field for field. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReference } from '../../src/config/reference.js';

const root = join(import.meta.dirname, '../..');

describe('the configuration reference', () => {
  it('is what the schemas render (run `npm run docs` after a schema change)', () => {
    expect(readFileSync(join(root, 'docs/configuration.md'), 'utf8')).toBe(renderReference());
  });

  it('has a row, a type and a default or "required" for every field a Collector accepts', () => {
    const text = renderReference();
    for (const field of ['workers', 'output.file.path', 'output.file.maxFiles', 'scrape.sampleLimit', 'filters.clip.inclusive', 'batch.maxSamples']) {
      expect(text).toMatch(new RegExp(`\\| \`${field.replace(/\./g, '\\.')}\` \\| [^|]+ \\| [^|]+ \\| `));
    }
    expect(text).toContain('| `output.file.maxBytes` | integer (≥ 1024) | `104857600` (100 MiB) |');
  });
});
