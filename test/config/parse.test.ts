// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_VERSION, formatResourceError, parseResources, resourceKey, validateResource } from '../../src/config/index.js';
import { doc, parse } from './helpers.js';

const SUBDOMAIN = "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)";
const LABEL = "a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)";
const LABEL_KEY = "a label key ([prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; the prefix a DNS-1123 subdomain)";

/** All errors of a text, formatted as the CLI prints them. */
function lines(yaml: string, source = 'r.yaml'): string[] {
  return parseResources(yaml, source).errors.map(formatResourceError);
}

describe('resource header and metadata', () => {
  const cases: { name: string; input: string; errors: string[] }[] = [
    { name: 'a wrong apiVersion', input: 'apiVersion: v1\nkind: Collector\nmetadata: {name: a}', errors: [`apiVersion: must be ${API_VERSION}, got "v1"`] },
    { name: 'a missing apiVersion', input: 'kind: Collector\nmetadata: {name: a}', errors: ['apiVersion: required'] },
    { name: 'a kind of someone else', input: `apiVersion: ${API_VERSION}\nkind: Pod\nmetadata: {name: a}`, errors: ['kind: must be one of Collector, Discovery, got "Pod"'] },
    { name: 'a kind that is not a string', input: `apiVersion: ${API_VERSION}\nkind: 3\nmetadata: {name: a}`, errors: ['kind: must be one of Collector, Discovery, got number 3'] },
    {
      name: 'an unknown kind still has its header and metadata checked',
      input: 'apiVersion: v2\nmetadata: {name: A, size: 1}',
      errors: [`apiVersion: must be ${API_VERSION}, got "v2"`, 'kind: required', `metadata.name: must be ${SUBDOMAIN}, got "A"`, 'metadata.size: unknown field'],
    },
    { name: 'no metadata', input: `apiVersion: ${API_VERSION}\nkind: Collector`, errors: ['metadata: required'] },
    { name: 'metadata without a name', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {namespace: a}`, errors: ['metadata.name: required'] },
    { name: 'a name that is not a DNS subdomain', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: my_collector}`, errors: [`metadata.name: must be ${SUBDOMAIN}, got "my_collector"`] },
    { name: 'a name too long', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: ${'a'.repeat(254)}}`, errors: [`metadata.name: must be ${SUBDOMAIN}, got "${'a'.repeat(64)}"…`] },
    { name: 'a namespace that is not a DNS label', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: a, namespace: kube.system}`, errors: [`metadata.namespace: must be ${LABEL}, got "kube.system"`] },
    { name: 'metadata labels must be labels', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: a, labels: {"a b": x, team: 1}}`, errors: [`metadata.labels["a b"]: must be ${LABEL_KEY}, got "a b"`, 'metadata.labels.team: must be a string, got number 1'] },
    { name: 'an unknown metadata field', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: a, tags: [x]}`, errors: ['metadata.tags: unknown field'] },
    { name: 'an unknown top-level field', input: `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: a}\nspecs: {}`, errors: ['specs: unknown field'] },
    { name: 'a document that is a list', input: '- a\n- b', errors: ['(root): must be an object, got a list'] },
    { name: 'a document that is a string', input: 'hello', errors: ['(root): must be an object, got string "hello"'] },
  ];
  for (const c of cases) {
    it(`reports ${c.name}`, () => {
      expect(parse(c.input).errors).toEqual(c.errors);
    });
  }

  it('accepts the metadata the API server sets, and a status, and drops them', () => {
    const yaml = `apiVersion: ${API_VERSION}
kind: Collector
metadata:
  name: a
  namespace: infra
  uid: 0b7c8a5e-1111-2222-3333-444455556666
  generation: 3
  resourceVersion: "812"
  labels: {app.kubernetes.io/name: strata}
  annotations: {note: "any text at all"}
  creationTimestamp: "2024-01-01T00:00:00Z"
  managedFields: [{manager: kubectl}]
  finalizers: [strata.ctx.sh/cleanup]
status: {id: x, totalSent: 5}
`;
    const { resources, errors } = parse(yaml);
    expect(errors).toEqual([]);
    expect(resources[0]?.metadata).toEqual({
      name: 'a',
      namespace: 'infra',
      labels: { 'app.kubernetes.io/name': 'strata' },
      annotations: { note: 'any text at all' },
      uid: '0b7c8a5e-1111-2222-3333-444455556666',
      generation: 3,
      resourceVersion: '812',
    });
    expect(Object.keys(resources[0] as object)).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
  });

  it('puts a resource without a namespace in default', () => {
    const { resources } = parse(`apiVersion: ${API_VERSION}\nkind: Discovery\nmetadata: {name: d}\nspec: {collector: [{name: c}]}`);
    expect(resources[0]?.metadata.namespace).toBe('default');
    expect(resources[0]?.kind === 'Discovery' && resources[0].spec.collector).toEqual([{ name: 'c', namespace: 'default' }]);
  });
});

describe('parseResources', () => {
  it('reads a valid multi-document file in order, with defaults', () => {
    const yaml = `${doc('Collector', 'workers: 2')}---\n${doc('Discovery', 'collector: [{name: main}]')}---\n${doc('Collector', undefined, 'infra')}`;
    const { resources, errors } = parseResources(yaml, 'r.yaml');
    expect(errors).toEqual([]);
    expect(resources.map(resourceKey)).toEqual(['Collector/default/main', 'Discovery/default/main', 'Collector/infra/main']);
    expect(resources[0]?.kind === 'Collector' && resources[0].spec.workers).toBe(2);
    expect(resources[2]?.kind === 'Collector' && resources[2].spec.workers).toBe(1);
  });

  it('reports every error of every document, naming each document, and keeps the valid ones', () => {
    const yaml = [
      doc('Collector', 'workers: 0\nencoder: xml'),
      doc('Discovery', 'collector: [{name: main}]'),
      `apiVersion: ${API_VERSION}\nkind: Discovery\nmetadata: {name: other, namespace: infra}\nspec: {intervalSeconds: 0}\n`,
      'kind: Gadget\n',
    ].join('---\n');
    const { resources, errors } = parseResources(yaml, 'resources.yaml');
    expect(errors.map(formatResourceError)).toEqual([
      'resources.yaml#1 (Collector default/main): spec.workers: must be ≥ 1, got 0',
      'resources.yaml#1 (Collector default/main): spec.encoder: must be one of json, fluent, statsd, got "xml"',
      'resources.yaml#3 (Discovery infra/other): spec.intervalSeconds: must be ≥ 1, got 0',
      'resources.yaml#3 (Discovery infra/other): spec.collector: required',
      'resources.yaml#4 (Gadget): apiVersion: required',
      'resources.yaml#4 (Gadget): kind: must be one of Collector, Discovery, got "Gadget"',
      'resources.yaml#4 (Gadget): metadata: required',
    ]);
    expect(resources.map(resourceKey)).toEqual(['Discovery/default/main']);
    expect(errors[0]).toEqual({ document: 'resources.yaml#1 (Collector default/main)', path: 'spec.workers', reason: 'must be ≥ 1, got 0' });
  });

  it('reports a duplicate kind, namespace and name on the later document', () => {
    const yaml = [
      doc('Collector', undefined),
      doc('Discovery', 'collector: [{name: main}]'), // same name, other kind: fine
      doc('Collector', undefined, 'infra'), // same name, other namespace: fine
      `apiVersion: ${API_VERSION}\nkind: Collector\nmetadata: {name: main}\nspec: {workers: 3}\n`, // namespace defaults to default
    ].join('---\n');
    const { resources, errors } = parseResources(yaml, 'r.yaml');
    expect(errors.map(formatResourceError)).toEqual([
      'r.yaml#4 (Collector default/main): metadata.name: duplicate Collector default/main, first defined in r.yaml#1 (Collector default/main)',
    ]);
    expect(resources.map(resourceKey)).toEqual(['Collector/default/main', 'Discovery/default/main', 'Collector/infra/main']);
  });

  it('reports a duplicate even when the first definition is invalid', () => {
    const yaml = `${doc('Collector', 'workers: 0')}---\n${doc('Collector', undefined)}`;
    expect(lines(yaml)).toEqual([
      'r.yaml#1 (Collector default/main): spec.workers: must be ≥ 1, got 0',
      'r.yaml#2 (Collector default/main): metadata.name: duplicate Collector default/main, first defined in r.yaml#1 (Collector default/main)',
    ]);
  });

  it('finds duplicates across sources that share a map of seen resources', () => {
    const seen = new Map<string, string>();
    expect(parseResources(doc('Collector', undefined), 'a.yaml', { seen }).errors).toEqual([]);
    const second = parseResources(doc('Collector', undefined), 'b.yaml', { seen });
    expect(second.errors.map(formatResourceError)).toEqual([
      'b.yaml#1 (Collector default/main): metadata.name: duplicate Collector default/main, first defined in a.yaml#1 (Collector default/main)',
    ]);
    expect(second.resources).toEqual([]);
  });

  it('skips empty documents but counts them in the numbering', () => {
    const yaml = `---\n# nothing here\n---\n${doc('Collector', 'workers: 0')}---\n`;
    expect(lines(yaml)).toEqual(['r.yaml#2 (Collector default/main): spec.workers: must be ≥ 1, got 0']);
    expect(parseResources('', 'r.yaml')).toEqual({ resources: [], errors: [] });
    expect(parseResources('---\n---\n', 'r.yaml')).toEqual({ resources: [], errors: [] });
  });

  it('reports YAML syntax errors by line and column, and still reads the other documents', () => {
    const yaml = `${doc('Collector', undefined)}---\nmetadata:\n  name: a\n  name: b\n---\n${doc('Discovery', 'collector: [{name: main}]')}`;
    const { resources, errors } = parseResources(yaml, 'r.yaml');
    expect(errors.map(formatResourceError)).toEqual(['r.yaml#2: line 9, column 3: Map keys must be unique']);
    expect(resources.map(resourceKey)).toEqual(['Collector/default/main', 'Discovery/default/main']);
  });

  it('refuses YAML alias bombs', () => {
    const bomb = 'a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n';
    expect(lines(bomb)).toEqual(['r.yaml#1: (root): Excessive alias count indicates a resource exhaustion attack']);
  });

  it('reads YAML 1.2: yes is a string, and a quoted number is a string', () => {
    expect(parse(doc('Collector', 'enabled: yes\nworkers: "2"')).errors).toEqual([
      'spec.enabled: must be true or false, got string "yes"',
      'spec.workers: must be an integer, got string "2"',
    ]);
  });

  it('caps long values in messages', () => {
    const long = 'x'.repeat(100);
    expect(parse(doc('Collector', `encoder: ${long}`)).errors).toEqual([`spec.encoder: must be one of json, fluent, statsd, got "${'x'.repeat(64)}"…`]);
  });
});

describe('validateResource', () => {
  it('validates and defaults one decoded object, as the admission webhook will', () => {
    const obj = { apiVersion: API_VERSION, kind: 'Discovery', metadata: { name: 'd', namespace: 'mon' }, spec: { collector: [{ name: 'c' }], intervalSeconds: 30 } };
    const { resource, errors } = validateResource(obj, 'admission');
    expect(errors).toEqual([]);
    expect(resource?.kind === 'Discovery' && resource.spec).toMatchObject({ collector: [{ name: 'c', namespace: 'mon' }], intervalSeconds: 30, prefix: 'prometheus.io' });
    expect(obj.spec.collector[0]).toEqual({ name: 'c' }); // the input is not changed
  });

  it('reports errors under the document name it is given', () => {
    const { resource, errors } = validateResource({ apiVersion: API_VERSION, kind: 'Collector', metadata: { name: 'c' }, spec: { workers: 0 } }, 'Collector default/c');
    expect(resource).toBeUndefined();
    expect(errors).toEqual([{ document: 'Collector default/c', path: 'spec.workers', reason: 'must be ≥ 1, got 0' }]);
  });

  it('reports a value that is not an object', () => {
    expect(validateResource(null, 'x').errors).toEqual([{ document: 'x', path: '(root)', reason: 'must be an object, got null' }]);
  });
});

describe('resourceKey and formatResourceError', () => {
  it('key a resource by kind, namespace and name and print an error on one line', () => {
    expect(resourceKey({ kind: 'Collector', metadata: { namespace: 'ns', name: 'n' } })).toBe('Collector/ns/n');
    expect(formatResourceError({ document: 'r.yaml#2 (Collector default/main)', path: 'spec.workers', reason: 'must be ≥ 1, got 0' })).toBe(
      'r.yaml#2 (Collector default/main): spec.workers: must be ≥ 1, got 0',
    );
  });
});

describe('examples/quickstart.yaml', () => {
  it('holds the quick start Collector and Discovery, valid', () => {
    const text = readFileSync(new URL('../../examples/quickstart.yaml', import.meta.url), 'utf8');
    const { resources, errors } = parseResources(text, 'examples/quickstart.yaml');
    expect(errors).toEqual([]);
    expect(resources.map(resourceKey)).toEqual(['Collector/default/quickstart', 'Discovery/default/quickstart']);
    const [collector, discovery] = resources;
    expect(collector?.kind === 'Collector' && collector.spec).toMatchObject({
      workers: 1,
      encoder: 'json',
      filters: { clip: { min: 0, inclusive: true } },
      output: { stdout: {} },
    });
    expect(discovery?.kind === 'Discovery' && discovery.spec).toMatchObject({
      collector: [{ name: 'quickstart', namespace: 'default' }],
      intervalSeconds: 5,
      static: [
        { url: 'http://127.0.0.1:9101/metrics', labels: { job: 'demo' } },
        { url: 'http://127.0.0.1:9464/metrics', labels: { job: 'strata' } },
      ],
    });
  });
});
