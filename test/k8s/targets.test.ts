// SPDX-License-Identifier: Apache-2.0
/** Kubernetes objects to targets: annotations are untrusted, so every refusal is tested. */
import { describe, expect, it } from 'vitest';
import { annotatedUrl, endpointTargets, labelName, podTargets, selectorString, serviceTargets, tagsFor } from '../../src/k8s/targets.js';

const P = 'prometheus.io';
const ann = (a: Record<string, string>): Record<string, string> => ({ [`${P}/scrape`]: 'true', ...Object.fromEntries(Object.entries(a).map(([k, v]) => [`${P}/${k}`, v])) });

describe('annotatedUrl', () => {
  it.each([
    { a: {}, want: 'http://10.1.2.3:9090/metrics' },
    { a: { port: '8080', path: '/stats/prometheus', scheme: 'https' }, want: 'https://10.1.2.3:8080/stats/prometheus' },
    { a: { path: '/metrics?format=text' }, want: 'http://10.1.2.3:9090/metrics?format=text' },
    { a: { port: '1' }, want: 'http://10.1.2.3:1/metrics' },
    { a: { port: '65535' }, want: 'http://10.1.2.3:65535/metrics' },
    { a: { port: '80' }, want: 'http://10.1.2.3:80/metrics' },
    { a: { port: '443', scheme: 'https' }, want: 'https://10.1.2.3:443/metrics' },
  ])('builds $want from $a', ({ a, want }) => {
    expect(annotatedUrl('10.1.2.3', ann(a), P)).toEqual({ url: want });
  });

  it.each([
    { a: { port: '0' }, reason: 'prometheus.io/port must be a number in 1-65535, got "0"' },
    { a: { port: '65536' }, reason: 'prometheus.io/port must be a number in 1-65535, got "65536"' },
    { a: { port: '80@evil.example' }, reason: 'prometheus.io/port must be a number in 1-65535, got "80@evil.example"' },
    { a: { port: '-1' }, reason: 'prometheus.io/port must be a number in 1-65535, got "-1"' },
    { a: { port: ' 80' }, reason: 'prometheus.io/port must be a number in 1-65535, got " 80"' },
    { a: { scheme: 'file' }, reason: 'prometheus.io/scheme must be http or https, got "file"' },
    { a: { scheme: 'HTTP' }, reason: 'prometheus.io/scheme must be http or https, got "HTTP"' },
    { a: { path: 'metrics' }, reason: 'prometheus.io/path must start with /, got "metrics"' },
    { a: { path: '//evil.example/x' }, reason: 'prometheus.io/path must not name a host (//…), got "//evil.example/x"' },
    { a: { path: '/@evil.example' }, reason: 'prometheus.io/path must not contain @, got "/@evil.example"' },
    { a: { path: '/x/http://evil' }, reason: 'prometheus.io/path must not contain a scheme (://), got "/x/http://evil"' },
    { a: { path: '/\\evil' }, reason: 'prometheus.io/path must not contain \\, got "/\\\\evil"' },
    { a: { path: '/a b' }, reason: 'prometheus.io/path must not contain whitespace or control characters, got "/a b"' },
    { a: { path: '/a\r\nHost: x' }, reason: 'prometheus.io/path must not contain whitespace or control characters, got "/a\\r\\nHost: x"' },
  ])('refuses $a', ({ a, reason }) => {
    expect(annotatedUrl('10.1.2.3', ann(a), P)).toEqual({ reason });
  });

  it('brackets an IPv6 address and refuses an address that is not an IP', () => {
    expect(annotatedUrl('fd00::1', ann({}), P)).toEqual({ url: 'http://[fd00::1]:9090/metrics' });
    expect(annotatedUrl('evil.example', ann({}), P)).toEqual({ reason: 'address "evil.example" is not an IP address' });
  });
});

describe('podTargets', () => {
  const pod = (phase: string, ip: string | undefined, a: Record<string, string>) => ({
    metadata: { name: 'web-0', namespace: 'shop', labels: { app: 'web' }, annotations: a },
    status: { phase, ...(ip === undefined ? {} : { podIP: ip }) },
  });

  it('scrapes a running, annotated pod at its own IP', () => {
    const d = podTargets(pod('Running', '10.0.0.7', ann({ port: '9100' })), P);
    expect(d.targets).toEqual([{ url: 'http://10.0.0.7:9100/metrics', labels: {}, resource: { kind: 'Pod', namespace: 'shop', name: 'web-0', labels: { app: 'web' }, annotations: ann({ port: '9100' }) } }]);
    expect(d.refused).toEqual([]);
  });

  it('skips a pod that is not running, has no IP, or is not annotated', () => {
    expect(podTargets(pod('Pending', '10.0.0.7', ann({})), P).targets).toEqual([]);
    expect(podTargets(pod('Running', undefined, ann({})), P).targets).toEqual([]);
    expect(podTargets(pod('Running', '10.0.0.7', { [`${P}/scrape`]: 'false' }), P).targets).toEqual([]);
    expect(podTargets(pod('Running', '10.0.0.7', ann({})), 'example.com').targets).toEqual([]);
  });

  it('refuses a hostile annotation with the object and the reason', () => {
    expect(podTargets(pod('Running', '10.0.0.7', ann({ path: '//169.254.169.254/latest' })), P)).toEqual({
      targets: [],
      refused: [{ object: 'pod shop/web-0', reason: 'prometheus.io/path must not name a host (//…), got "//169.254.169.254/latest"' }],
    });
  });
});

describe('services and endpoints', () => {
  const svc = (clusterIP: string, a: Record<string, string>) => ({ metadata: { name: 'db', namespace: 'shop', annotations: a }, spec: { clusterIP } });
  const slice = {
    metadata: { name: 'db-x1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'db' } },
    endpoints: [
      { addresses: ['10.0.1.1'], conditions: { ready: true }, targetRef: { kind: 'Pod', name: 'db-0' } },
      { addresses: ['10.0.1.2'], conditions: { ready: false }, targetRef: { kind: 'Pod', name: 'db-1' } },
      { addresses: ['10.0.1.3'], targetRef: { kind: 'Pod', name: 'db-2' } },
    ],
  };

  it('scrapes an annotated service at its cluster IP, and leaves a headless one to its endpoints', () => {
    expect(serviceTargets(svc('10.96.0.10', ann({ port: '9187' })), P).targets.map((t) => t.url)).toEqual(['http://10.96.0.10:9187/metrics']);
    expect(serviceTargets(svc('None', ann({})), P).targets).toEqual([]);
  });

  it('scrapes each ready endpoint of an annotated headless service, tagged with its pod', () => {
    const d = endpointTargets(slice, svc('None', ann({ port: '9187' })), P);
    expect(d.targets.map((t) => [t.url, t.labels])).toEqual([
      ['http://10.0.1.1:9187/metrics', { pod: 'db-0' }],
      ['http://10.0.1.3:9187/metrics', { pod: 'db-2' }],
    ]);
    expect(endpointTargets(slice, svc('10.96.0.10', ann({})), P).targets).toEqual([]);
    expect(endpointTargets(slice, undefined, P).targets).toEqual([]);
  });
});

describe('tags and selectors', () => {
  const target = {
    url: 'http://10.0.0.7:9090/metrics',
    labels: { pod: 'db-0' },
    resource: { kind: 'Pod' as const, namespace: 'shop', name: 'db-0', labels: { 'app.kubernetes.io/name': 'db', team: 'x' }, annotations: { owner: 'ops' } },
  };

  it('adds what each Collector includes', () => {
    expect(tagsFor(target, { includeLabels: [], includeAnnotations: [], includeMetadata: false })).toEqual({ pod: 'db-0' });
    expect(tagsFor(target, { includeLabels: ['app.kubernetes.io/name', 'missing'], includeAnnotations: ['owner'], includeMetadata: true })).toEqual({
      pod: 'db-0',
      app_kubernetes_io_name: 'db',
      owner: 'ops',
      namespace: 'shop',
      kind: 'Pod',
      name: 'db-0',
    });
    expect(labelName('9lives/x')).toBe('_9lives_x');
  });

  it('writes a label selector as the API reads it', () => {
    expect(
      selectorString({
        matchLabels: { app: 'web' },
        matchExpressions: [
          { key: 'tier', operator: 'In', values: ['a', 'b'] },
          { key: 'env', operator: 'NotIn', values: ['dev'] },
          { key: 'scrape', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      }),
    ).toBe('app=web,tier in (a,b),env notin (dev),scrape,!legacy');
  });
});
