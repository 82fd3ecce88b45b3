// SPDX-License-Identifier: Apache-2.0
import { describe, expect, expectTypeOf, it } from 'vitest';
import { collectorSchema, discoverySchema, type Infer, toOpenApi } from '../../src/config/index.js';
import { collectorSpecSchema, discoverySpecSchema } from '../../src/config/resources.js';
import { decode, joinKey, type OpenApiSchema, s } from '../../src/config/schema.js';

const ctx = { namespace: 'ns' };

describe('the schema DSL', () => {
  const point = s.object({
    x: s.integer({ minimum: 0 }),
    y: s.integer().default(7),
    label: s.string().optional(),
    tags: s.map(s.string()).default({}),
  });

  it('infers required, defaulted and optional fields', () => {
    expectTypeOf<Infer<typeof point>>().toEqualTypeOf<{ x: number; y: number; label?: string; tags: Record<string, string> }>();
    const one = s.exactlyOne({ a: s.object({}), b: s.integer() });
    expectTypeOf<Infer<typeof one>>().toEqualTypeOf<{ a: {} } | { b: number }>();
    const e = s.enum(['p', 'q']);
    expectTypeOf<Infer<typeof e>>().toEqualTypeOf<'p' | 'q'>();
  });

  it('applies defaults, leaves optional fields out, and treats null as absent', () => {
    expect(decode(point, { x: 1 }, ctx)).toEqual({ value: { x: 1, y: 7, tags: {} } });
    expect(decode(point, { x: 1, y: null, label: null }, ctx)).toEqual({ value: { x: 1, y: 7, tags: {} } });
    expect(decode(point, { x: 1, label: 'p' }, ctx)).toEqual({ value: { x: 1, y: 7, label: 'p', tags: {} } });
  });

  it('applies nested defaults under a defaulted object, and decodes each default afresh', () => {
    const outer = s.object({ inner: s.object({ n: s.integer().default(1), list: s.array(s.integer()).default([]) }).default({}) });
    const a = decode(outer, {}, ctx);
    const b = decode(outer, {}, ctx);
    expect(a).toEqual({ value: { inner: { n: 1, list: [] } } });
    expect('value' in a && 'value' in b && a.value.inner.list !== b.value.inner.list).toBe(true);
  });

  it('takes a default from the context', () => {
    const ref = s.object({ namespace: s.string().defaultFrom((c) => c.namespace) });
    expect(decode(ref, {}, ctx)).toEqual({ value: { namespace: 'ns' } });
  });

  it('reports every issue with its path, unknown fields in the order written, then missing ones', () => {
    expect(decode(point, { z: 1, y: 'a', tags: { 'a.b': 1, c: 'd' } }, ctx)).toEqual({
      issues: [
        { path: 'z', reason: 'unknown field' },
        { path: 'y', reason: 'must be an integer, got string "a"' },
        { path: 'tags["a.b"]', reason: 'must be a string, got number 1' },
        { path: 'x', reason: 'required' },
      ],
    });
  });

  it('runs a refine rule only when the value is otherwise valid', () => {
    let calls = 0;
    const range = s.object({ lo: s.integer(), hi: s.integer() }).refine((v, c) => {
      calls++;
      if (v.lo > v.hi) c.report(joinKey(c.path, 'lo'), 'must not be greater than hi');
    });
    expect(decode(range, { lo: 'x', hi: 1 }, ctx)).toEqual({ issues: [{ path: 'lo', reason: 'must be an integer, got string "x"' }] });
    expect(calls).toBe(0);
    expect(decode(range, { lo: 2, hi: 1 }, ctx)).toEqual({ issues: [{ path: 'lo', reason: 'must not be greater than hi' }] });
    expect(calls).toBe(1);
  });

  it('keeps modifiers from changing the schema they were called on', () => {
    const base = s.integer();
    base.default(3);
    base.optional();
    expect(decode(s.object({ n: base }), {}, ctx)).toEqual({ issues: [{ path: 'n', reason: 'required' }] });
  });

  it('does not let a map key reach the prototype', () => {
    const m = s.map(s.string());
    const out = decode(m, JSON.parse('{"__proto__": "x"}'), ctx);
    expect('value' in out && Object.getPrototypeOf(out.value)).toBe(Object.prototype);
    expect('value' in out && Object.keys(out.value)).toEqual(['__proto__']);
  });
});

/** Problems that make a schema non-structural in the sense of Kubernetes CRDs. */
function structuralProblems(node: OpenApiSchema, path: string): string[] {
  const problems: string[] = [];
  const allowed = new Set(['type', 'description', 'default', 'properties', 'required', 'additionalProperties', 'items', 'enum', 'minimum', 'exclusiveMinimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'oneOf']);
  for (const key of Object.keys(node)) if (!allowed.has(key)) problems.push(`${path}: unexpected keyword ${key}`);
  const type = node['type'];
  if (!['object', 'array', 'string', 'integer', 'number', 'boolean'].includes(type as string)) problems.push(`${path}: no type`);
  const props = node['properties'] as Record<string, OpenApiSchema> | undefined;
  if (props !== undefined) {
    if (type !== 'object') problems.push(`${path}: properties on a ${String(type)}`);
    for (const [k, v] of Object.entries(props)) problems.push(...structuralProblems(v, `${path}.${k}`));
  }
  const additional = node['additionalProperties'] as OpenApiSchema | undefined;
  if (additional !== undefined) {
    if (props !== undefined) problems.push(`${path}: both properties and additionalProperties`);
    problems.push(...structuralProblems(additional, `${path}.*`));
  }
  if (type === 'array') {
    if (node['items'] === undefined) problems.push(`${path}: array without items`);
    else problems.push(...structuralProblems(node['items'] as OpenApiSchema, `${path}[]`));
  }
  for (const r of (node['required'] as string[] | undefined) ?? []) if (props?.[r] === undefined) problems.push(`${path}: required ${r} is not a property`);
  for (const branch of (node['oneOf'] as OpenApiSchema[] | undefined) ?? []) {
    for (const key of Object.keys(branch)) if (key !== 'required') problems.push(`${path}: oneOf branch with ${key}`);
    for (const r of (branch['required'] as string[] | undefined) ?? []) if (props?.[r] === undefined) problems.push(`${path}: oneOf requires ${r}, not a property`);
  }
  const d = node['default'];
  if (d !== undefined && type === 'object' && props !== undefined) {
    for (const k of Object.keys(d as object)) if (props[k] === undefined) problems.push(`${path}: default has ${k}, which pruning would drop`);
  }
  return problems;
}

describe('toOpenApi', () => {
  const collector = toOpenApi(collectorSchema);
  const discovery = toOpenApi(discoverySchema);
  const spec = (o: OpenApiSchema) => (o['properties'] as Record<string, OpenApiSchema>)['spec'] as OpenApiSchema;
  const prop = (o: OpenApiSchema, ...keys: string[]): OpenApiSchema =>
    keys.reduce((n, k) => (n['properties'] as Record<string, OpenApiSchema>)[k] as OpenApiSchema, o);

  it('gives Collector and Discovery structural schemas', () => {
    expect(structuralProblems(collector, 'Collector')).toEqual([]);
    expect(structuralProblems(discovery, 'Discovery')).toEqual([]);
  });

  it('types the header and leaves metadata to the API server', () => {
    expect(collector['type']).toBe('object');
    expect(prop(collector, 'apiVersion')).toEqual({ type: 'string' });
    expect(prop(collector, 'kind')).toEqual({ type: 'string' });
    expect(prop(collector, 'metadata')).toEqual({ type: 'object' });
  });

  it('carries defaults, minimums, enums and required fields', () => {
    const c = spec(collector);
    expect(c['default']).toEqual({});
    expect(prop(c, 'workers')).toEqual({ type: 'integer', description: 'worker threads in the pool', minimum: 1, default: 1 });
    expect(prop(c, 'encoder')).toMatchObject({ type: 'string', enum: ['json', 'fluent', 'statsd'], default: 'json' });
    expect(prop(c, 'includeLabels')).toMatchObject({ type: 'array', items: { type: 'string', minLength: 1 }, default: [] });
    expect(prop(c, 'scrape', 'timeoutSeconds')).toMatchObject({ type: 'number', minimum: 0, exclusiveMinimum: true, default: 10 });
    expect(prop(c, 'scrape', 'sampleLimitPolicy')).toMatchObject({ enum: ['fail', 'truncate'], default: 'fail' });
    expect(prop(c, 'batch', 'maxBytes')).toMatchObject({ type: 'integer', minimum: 256, default: 1048576 });
    expect(prop(c, 'tls')['default']).toBeUndefined();
    expect(prop(c, 'tls', 'insecureSkipVerify')).toMatchObject({ type: 'boolean', default: false });
    expect(prop(c, 'filters', 'exclude')['required']).toEqual(['values']);
    const output = prop(c, 'output');
    expect(output['oneOf']).toEqual(['stdout', 'file', 'nats', 'kafka', 'remoteWrite', 'http', 'statsd', 'fluent'].map((k) => ({ required: [k] })));
    expect(output['default']).toEqual({ stdout: {} });
    expect(prop(output, 'file')).toMatchObject({ required: ['path'], properties: { maxBytes: { type: 'integer', minimum: 1024, default: 104857600 } } });

    const d = spec(discovery);
    expect(d['required']).toEqual(['collector']);
    expect(prop(d, 'collector')).toMatchObject({ type: 'array', minItems: 1, items: { type: 'object', required: ['name'] } });
    // The namespace default depends on the Discovery: it is not in the schema.
    expect((prop(d, 'collector')['items'] as OpenApiSchema)['properties']).toMatchObject({ namespace: { type: 'string' } });
    expect(((prop(d, 'collector')['items'] as OpenApiSchema)['properties'] as Record<string, OpenApiSchema>)['namespace']?.['default']).toBeUndefined();
    expect(prop(d, 'selector', 'matchLabels')).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
    expect(prop(d, 'selector', 'matchExpressions')).toMatchObject({ items: { required: ['key', 'operator'], properties: { operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] } } } });
    expect(prop(d, 'resources')).toMatchObject({ default: {}, properties: { pods: { type: 'boolean', default: true } } });
    expect(prop(d, 'static')).toMatchObject({ default: [], items: { required: ['url'], properties: { labels: { type: 'object', default: {} } } } });
  });

  it('has defaults that decode to the same specs as the validator gives', () => {
    // Kubernetes defaults top-down from the schema; it must agree with our own defaulting.
    const applyDefaults = (node: OpenApiSchema, value: unknown): unknown => {
      const v = value === undefined ? structuredClone(node['default']) : value;
      const props = node['properties'] as Record<string, OpenApiSchema> | undefined;
      if (props === undefined || typeof v !== 'object' || v === null) return v;
      const out: Record<string, unknown> = { ...(v as Record<string, unknown>) };
      for (const [k, p] of Object.entries(props)) {
        const d = applyDefaults(p, out[k]);
        if (d !== undefined) out[k] = d;
      }
      return out;
    };
    const viaSchema = applyDefaults(spec(collector), undefined);
    expect(viaSchema).toEqual((decode(collectorSpecSchema, {}, ctx) as { value: unknown }).value);
    const viaSchemaD = applyDefaults(spec(discovery), { collector: [{ name: 'c', namespace: 'ns' }] });
    expect(viaSchemaD).toEqual((decode(discoverySpecSchema, { collector: [{ name: 'c' }] }, ctx) as { value: unknown }).value);
  });

  it('returns a fresh object each time', () => {
    const a = toOpenApi(collectorSchema);
    (prop(spec(a), 'workers') as { default: number }).default = 99;
    expect(prop(spec(toOpenApi(collectorSchema)), 'workers')['default']).toBe(1);
  });
});
