// SPDX-License-Identifier: Apache-2.0
/**
 * Writes the files generated from the resource schemas: `docs/configuration.md` (the field
 * reference), `deploy/crds/strata.ctx.sh.yaml` (the CRDs) and `deploy/nats/nats.yaml` (the NATS component). `npm run docs` runs it; tests
 * (test/config/reference.test.ts, test/k8s/crds.test.ts) fail when a committed file differs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReference } from '../src/config/reference.js';
import { renderCrds } from '../src/k8s/crds.js';
import { renderNatsComponent } from '../src/k8s/managed-nats.js';

const root = join(import.meta.dirname, '..');
for (const [path, text] of [
  ['docs/configuration.md', renderReference()],
  ['deploy/crds/strata.ctx.sh.yaml', renderCrds()],
  ['deploy/nats/nats.yaml', renderNatsComponent()],
] as const) {
  writeFileSync(join(root, path), text);
  process.stdout.write(`wrote ${path} (${text.length} bytes)\n`);
}
