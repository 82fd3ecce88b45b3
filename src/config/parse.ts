// SPDX-License-Identifier: Apache-2.0
/**
 * Reading resources: multi-document YAML (standalone files) or one decoded object (the admission
 * webhook), validated and defaulted by the schemas of `resources.ts`.
 *
 * Every error of every document is reported, each as `{document, path, reason}`:
 * `resources.yaml#2 (Collector default/main): spec.workers: must be ≥ 1, got 0`. Documents are
 * numbered from 1 in stream order, empty ones included (and skipped). A document with an error
 * is not returned; the others are. A YAML syntax error names `line L, column C` as its path; a
 * document that is not an object names `(root)`. A second resource with the same kind, namespace
 * and name is an error on the later document.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { API_VERSION, type Resource, collectorSchema, discoverySchema, metadataSchema } from './resources.js';
import { type AnySchema, type Issue, decode, describeValue, showValue, s } from './schema.js';

export interface ResourceError {
  /** e.g. `resources.yaml#2 (Collector default/main)` */
  readonly document: string;
  /** e.g. `spec.workers`; `(root)` for the document itself. */
  readonly path: string;
  /** e.g. `must be ≥ 1, got 0` */
  readonly reason: string;
}

export const ROOT_PATH = '(root)';

export function formatResourceError(e: ResourceError): string {
  return `${e.document}: ${e.path}: ${e.reason}`;
}

export function resourceKey(r: { kind: string; metadata: { namespace: string; name: string } }): string {
  return `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`;
}

const KINDS = ['Collector', 'Discovery'] as const;
const apiVersionSchema = s.enum([API_VERSION]);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a raw document says it is, before validation: kind, namespace and name if given. */
function identity(obj: Record<string, unknown>): { kind?: string; namespace: string; name?: string } {
  const meta = isObject(obj['metadata']) ? obj['metadata'] : {};
  const ns = meta['namespace'];
  const name = meta['name'];
  return {
    ...(typeof obj['kind'] === 'string' ? { kind: obj['kind'] } : {}),
    namespace: typeof ns === 'string' ? ns : 'default',
    ...(typeof name === 'string' ? { name } : {}),
  };
}

/** `file#2 (Collector default/main)`, with what the document says of itself. */
function documentLabel(base: string, obj: unknown): string {
  if (!isObject(obj)) return base;
  const id = identity(obj);
  const parts = [id.kind, id.name === undefined ? undefined : `${id.namespace}/${id.name}`].filter((p) => p !== undefined);
  return parts.length === 0 ? base : `${base} (${parts.join(' ')})`;
}

function toErrors(document: string, issues: readonly Issue[]): ResourceError[] {
  return issues.map((i) => ({ document, path: i.path === '' ? ROOT_PATH : i.path, reason: i.reason }));
}

/** Validates and defaults one resource object, as decoded from YAML or JSON. */
export function validateResource(obj: unknown, document: string): { resource?: Resource; errors: ResourceError[] } {
  if (!isObject(obj)) return { errors: [{ document, path: ROOT_PATH, reason: `must be an object, got ${describeValue(obj)}` }] };
  const ctx = { namespace: identity(obj).namespace };
  const kind = obj['kind'];
  if (kind === 'Collector' || kind === 'Discovery') {
    const out = decode<Resource>(kind === 'Collector' ? collectorSchema : discoverySchema, obj, ctx);
    return 'value' in out ? { resource: out.value, errors: [] } : { errors: toErrors(document, out.issues) };
  }
  // Not a kind of ours: check what every resource has, and say which kinds there are.
  const issues: Issue[] = [];
  const check = (value: unknown, schema: AnySchema, path: string) => {
    const out = decode(schema, value, ctx, path);
    if ('issues' in out) issues.push(...out.issues);
  };
  check(obj['apiVersion'], apiVersionSchema, 'apiVersion');
  issues.push({ path: 'kind', reason: kind === undefined || kind === null ? 'required' : `must be one of ${KINDS.join(', ')}, got ${showValue(kind)}` });
  check(obj['metadata'], metadataSchema, 'metadata');
  return { errors: toErrors(document, issues) };
}

export interface ParseOptions {
  /**
   * Resources seen in earlier sources, by `resourceKey`, with the document that defined them;
   * filled in as documents are read. Pass the same map for several files to catch duplicates
   * across them.
   */
  readonly seen?: Map<string, string>;
}

/** Reads multi-document YAML; returns the valid resources, defaulted, and every error. */
export function parseResources(text: string, source: string, options: ParseOptions = {}): { resources: Resource[]; errors: ResourceError[] } {
  const seen = options.seen ?? new Map<string, string>();
  const resources: Resource[] = [];
  const errors: ResourceError[] = [];
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  docs.forEach((doc, i) => {
    const base = `${source}#${i + 1}`;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        errors.push({ document: base, path: `line ${line}, column ${col}`, reason: e.message });
      }
      return;
    }
    let obj: unknown;
    try {
      obj = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      errors.push({ document: base, path: ROOT_PATH, reason: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (obj === null || obj === undefined) return; // an empty document, e.g. after a final `---`
    const document = documentLabel(base, obj);
    const result = validateResource(obj, document);
    errors.push(...result.errors);
    let duplicate = false;
    if (isObject(obj)) {
      const id = identity(obj);
      if ((id.kind === 'Collector' || id.kind === 'Discovery') && id.name !== undefined) {
        const key = resourceKey({ kind: id.kind, metadata: { namespace: id.namespace, name: id.name } });
        const first = seen.get(key);
        if (first === undefined) seen.set(key, document);
        else {
          duplicate = true;
          errors.push({ document, path: 'metadata.name', reason: `duplicate ${id.kind} ${id.namespace}/${id.name}, first defined in ${first}` });
        }
      }
    }
    if (result.resource !== undefined && !duplicate) resources.push(result.resource);
  });
  return { resources, errors };
}
