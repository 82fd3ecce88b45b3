// SPDX-License-Identifier: Apache-2.0
/** Shared helpers for the resource tests: wrap a spec in a document, list errors as strings. */
import { parseResources, type Resource } from '../../src/config/index.js';

/** Indents a YAML snippet to sit under `spec:`. */
function indent(yaml: string): string {
  return yaml
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

/** One document of `kind` named `main` in `namespace`, with `spec` (a YAML snippet) if given. */
export function doc(kind: string, spec: string | undefined, namespace = 'default'): string {
  const head = `apiVersion: strata.ctx.sh/v1beta1\nkind: ${kind}\nmetadata:\n  name: main\n  namespace: ${namespace}\n`;
  return spec === undefined ? head : `${head}spec:\n${indent(spec)}\n`;
}

/** Parses YAML and returns the resources and the errors as `path: reason` lines. */
export function parse(yaml: string): { resources: Resource[]; errors: string[] } {
  const { resources, errors } = parseResources(yaml, 'test.yaml');
  return { resources, errors: errors.map((e) => `${e.path}: ${e.reason}`) };
}

/** The spec of the only resource of a valid document; fails the test with the errors otherwise. */
export function specOf(yaml: string): unknown {
  const { resources, errors } = parse(yaml);
  if (errors.length > 0) throw new Error(`unexpected errors:\n${errors.join('\n')}`);
  if (resources.length !== 1) throw new Error(`expected one resource, got ${resources.length}`);
  return (resources[0] as Resource).spec;
}

export const MiB = 1024 * 1024;
