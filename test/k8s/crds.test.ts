// SPDX-License-Identifier: Apache-2.0
/**
 * The CRDs are generated from the resource schemas and committed under deploy/crds/: the
 * committed file must be exactly what `strata crds` prints, and the CRDs must be what the API
 * server accepts (structural: every node typed, status subresource, printer columns that point
 * at fields the schema has).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { main } from '../../src/cli/main.js';
import { customResourceDefinitions, renderCrds } from '../../src/k8s/crds.js';

const root = join(import.meta.dirname, '../..');

type Node = Record<string, unknown>;

function untyped(node: Node, path: string, out: string[]): string[] {
  if (node['x-kubernetes-preserve-unknown-fields'] !== true && typeof node['type'] !== 'string') out.push(path);
  for (const [k, v] of Object.entries((node['properties'] as Record<string, Node> | undefined) ?? {})) untyped(v, `${path}.${k}`, out);
  if (typeof node['items'] === 'object') untyped(node['items'] as Node, `${path}[]`, out);
  if (typeof node['additionalProperties'] === 'object') untyped(node['additionalProperties'] as Node, `${path}.*`, out);
  return out;
}

describe('strata crds', () => {
  it('prints what deploy/crds/strata.ctx.sh.yaml holds (run `npm run docs` after a schema change)', async () => {
    let out = '';
    const io = { stdout: { write: (s: string | Uint8Array) => ((out += String(s)), true) }, stderr: { write: () => true } };
    expect(await main(['crds'], io)).toBe(0);
    expect(out).toBe(renderCrds());
    expect(readFileSync(join(root, 'deploy/crds/strata.ctx.sh.yaml'), 'utf8')).toBe(out);
  });

  it('defines Collector (cx) and Discovery (dx) in strata.ctx.sh/v1beta1, namespaced, with a status subresource', () => {
    const docs = parseAllDocuments(renderCrds()).map((d) => d.toJS() as Node);
    expect(docs.map((d) => (d['metadata'] as Node)['name'])).toEqual(['collectors.strata.ctx.sh', 'discoveries.strata.ctx.sh']);
    for (const [doc, short] of [
      [docs[0] as Node, 'cx'],
      [docs[1] as Node, 'dx'],
    ] as const) {
      const spec = doc['spec'] as Node;
      expect(spec['group']).toBe('strata.ctx.sh');
      expect(spec['scope']).toBe('Namespaced');
      expect((spec['names'] as Node)['shortNames']).toEqual([short]);
      const version = (spec['versions'] as Node[])[0] as Node;
      expect(version['name']).toBe('v1beta1');
      expect(version['subresources']).toEqual({ status: {} });
    }
  });

  it('types every node of the schema, as a structural schema must', () => {
    for (const crd of customResourceDefinitions()) {
      const version = ((crd['spec'] as Node)['versions'] as Node[])[0] as Node;
      const schema = (version['schema'] as Node)['openAPIV3Schema'] as Node;
      expect(untyped(schema, 'openAPIV3Schema', [])).toEqual([]);
    }
  });

  it('has the printer columns kubectl get cx,dx shows, each pointing at a field the schema defines', () => {
    const names = customResourceDefinitions().map((crd) => {
      const version = ((crd['spec'] as Node)['versions'] as Node[])[0] as Node;
      const schema = (version['schema'] as Node)['openAPIV3Schema'] as Node;
      const columns = version['additionalPrinterColumns'] as { name: string; jsonPath: string }[];
      for (const c of columns) {
        if (c.jsonPath.startsWith('.metadata.')) continue;
        let node: Node | undefined = schema;
        for (const part of c.jsonPath.slice(1).split('.')) node = (node?.['properties'] as Record<string, Node> | undefined)?.[part];
        expect(node, `${c.name}: ${c.jsonPath}`).toBeDefined();
      }
      return columns.map((c) => c.name);
    });
    expect(names).toEqual([
      ['Enabled', 'Collected', 'Sent', 'Errors', 'Filtered', 'Registered', 'Age'],
      ['Enabled', 'Ready Collectors', 'Total Collectors', 'Discovered', 'In Flight', 'Last', 'Age'],
    ]);
  });
});
