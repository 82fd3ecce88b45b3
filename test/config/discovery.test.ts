// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { doc, parse, specOf } from './helpers.js';

const DEFAULTS = {
  collector: [{ name: 'main', namespace: 'default' }],
  selector: {},
  enabled: true,
  intervalSeconds: 10,
  prefix: 'prometheus.io',
  resources: { pods: true, services: true, endpoints: true },
  static: [],
  files: [],
};

const REF = 'collector: [{name: main}]';

describe('Discovery defaults', () => {
  const cases: { name: string; spec: string; namespace?: string; want: unknown }[] = [
    { name: 'one collector reference gives every default', spec: REF, want: DEFAULTS },
    {
      name: "a reference without a namespace takes the Discovery's",
      spec: 'collector: [{name: main}, {name: other, namespace: infra}]',
      namespace: 'monitoring',
      want: { ...DEFAULTS, collector: [{ name: 'main', namespace: 'monitoring' }, { name: 'other', namespace: 'infra' }] },
    },
    {
      name: 'resources given in part are completed',
      spec: `${REF}\nresources: {pods: false}`,
      want: { ...DEFAULTS, resources: { pods: false, services: true, endpoints: true } },
    },
    {
      name: 'a static target without labels gets an empty map',
      spec: `${REF}\nstatic:\n  - url: http://127.0.0.1:9100/metrics\n  - url: https://node:9100/metrics\n    labels: {job: node, __scheme__: https}`,
      want: {
        ...DEFAULTS,
        static: [
          { url: 'http://127.0.0.1:9100/metrics', labels: {} },
          { url: 'https://node:9100/metrics', labels: { job: 'node', __scheme__: 'https' } },
        ],
      },
    },
    {
      name: 'a selector is kept as written',
      spec: `${REF}\nselector:\n  matchLabels: {app.kubernetes.io/name: api}\n  matchExpressions:\n    - {key: tier, operator: In, values: [web, ""]}\n    - {key: canary, operator: DoesNotExist}\n    - {key: team, operator: Exists, values: []}`,
      want: {
        ...DEFAULTS,
        selector: {
          matchLabels: { 'app.kubernetes.io/name': 'api' },
          matchExpressions: [
            { key: 'tier', operator: 'In', values: ['web', ''] },
            { key: 'canary', operator: 'DoesNotExist' },
            { key: 'team', operator: 'Exists', values: [] },
          ],
        },
      },
    },
    {
      name: 'other fields are kept',
      spec: `${REF}\nenabled: false\nintervalSeconds: 1\nprefix: example.com\nfiles: [/etc/strata/targets.yaml]`,
      want: { ...DEFAULTS, enabled: false, intervalSeconds: 1, prefix: 'example.com', files: ['/etc/strata/targets.yaml'] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(specOf(doc('Discovery', c.spec, c.namespace))).toEqual(c.want);
    });
  }
});

const SUBDOMAIN = "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)";
const LABEL = "a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)";
const LABEL_KEY = "a label key ([prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; the prefix a DNS-1123 subdomain)";
const LABEL_VALUE = "a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";
const URL = 'an absolute http or https URL';

describe('Discovery errors', () => {
  const cases: { spec: string | undefined; errors: string[] }[] = [
    // collector references
    { spec: undefined, errors: ['spec.collector: required'] },
    { spec: '{}', errors: ['spec.collector: required'] },
    { spec: 'collector: []', errors: ['spec.collector: must not be empty'] },
    { spec: 'collector: main', errors: ['spec.collector: must be a list, got string "main"'] },
    { spec: 'collector: [main]', errors: ['spec.collector[0]: must be an object, got string "main"'] },
    { spec: 'collector: [null]', errors: ['spec.collector[0]: must be an object, got null'] },
    { spec: 'collector: [{namespace: infra}]', errors: ['spec.collector[0].name: required'] },
    { spec: 'collector: [{name: Main}]', errors: [`spec.collector[0].name: must be ${SUBDOMAIN}, got "Main"`] },
    { spec: 'collector: [{name: main, namespace: Infra_1}]', errors: [`spec.collector[0].namespace: must be ${LABEL}, got "Infra_1"`] },
    { spec: 'collector: [{name: main, kind: Collector}]', errors: ['spec.collector[0].kind: unknown field'] },
    { spec: 'collector: [{name: main}, {name: main, namespace: default}]', errors: ['spec.collector[1]: duplicate reference to Collector default/main'] },
    // selector
    { spec: `${REF}\nselector: app=web`, errors: ['spec.selector: must be an object, got string "app=web"'] },
    { spec: `${REF}\nselector: {matchFields: {}}`, errors: ['spec.selector.matchFields: unknown field'] },
    { spec: `${REF}\nselector: {matchLabels: {app: [web]}}`, errors: ['spec.selector.matchLabels.app: must be a string, got a list'] },
    { spec: `${REF}\nselector: {matchLabels: {app: 1}}`, errors: ['spec.selector.matchLabels.app: must be a string, got number 1'] },
    { spec: `${REF}\nselector: {matchLabels: {"bad key!": web}}`, errors: [`spec.selector.matchLabels["bad key!"]: must be ${LABEL_KEY}, got "bad key!"`] },
    { spec: `${REF}\nselector: {matchLabels: {app: "web app"}}`, errors: [`spec.selector.matchLabels.app: must be ${LABEL_VALUE}, got "web app"`] },
    { spec: `${REF}\nselector: {matchExpressions: {key: app}}`, errors: ['spec.selector.matchExpressions: must be a list, got an object'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: In}]}`, errors: ['spec.selector.matchExpressions[0].values: must list at least one value for operator In'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: NotIn, values: []}]}`, errors: ['spec.selector.matchExpressions[0].values: must list at least one value for operator NotIn'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: Exists, values: [web]}]}`, errors: ['spec.selector.matchExpressions[0].values: must not be set for operator Exists'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: DoesNotExist, values: [web]}]}`, errors: ['spec.selector.matchExpressions[0].values: must not be set for operator DoesNotExist'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: in, values: [web]}]}`, errors: ['spec.selector.matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist, got "in"'] },
    { spec: `${REF}\nselector: {matchExpressions: [{operator: Exists}]}`, errors: ['spec.selector.matchExpressions[0].key: required'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app}]}`, errors: ['spec.selector.matchExpressions[0].operator: required'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: Exists, value: x}]}`, errors: ['spec.selector.matchExpressions[0].value: unknown field'] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: -app, operator: Exists}]}`, errors: [`spec.selector.matchExpressions[0].key: must be ${LABEL_KEY}, got "-app"`] },
    { spec: `${REF}\nselector: {matchExpressions: [{key: app, operator: In, values: [a b]}]}`, errors: [`spec.selector.matchExpressions[0].values[0]: must be ${LABEL_VALUE}, got "a b"`] },
    // enabled, intervalSeconds, prefix
    { spec: `${REF}\nenabled: no`, errors: ['spec.enabled: must be true or false, got string "no"'] },
    { spec: `${REF}\nintervalSeconds: 0`, errors: ['spec.intervalSeconds: must be ≥ 1, got 0'] },
    { spec: `${REF}\nintervalSeconds: 0.5`, errors: ['spec.intervalSeconds: must be an integer, got number 0.5'] },
    { spec: `${REF}\nintervalSeconds: "10"`, errors: ['spec.intervalSeconds: must be an integer, got string "10"'] },
    { spec: `${REF}\nprefix: ""`, errors: [`spec.prefix: must be ${SUBDOMAIN}, got ""`] },
    { spec: `${REF}\nprefix: Prometheus.IO`, errors: [`spec.prefix: must be ${SUBDOMAIN}, got "Prometheus.IO"`] },
    { spec: `${REF}\nprefix: 5`, errors: ['spec.prefix: must be a string, got number 5'] },
    // resources
    { spec: `${REF}\nresources: [pods]`, errors: ['spec.resources: must be an object, got a list'] },
    { spec: `${REF}\nresources: {pods: "yes"}`, errors: ['spec.resources.pods: must be true or false, got string "yes"'] },
    { spec: `${REF}\nresources: {nodes: true}`, errors: ['spec.resources.nodes: unknown field'] },
    // static
    { spec: `${REF}\nstatic: http://a/metrics`, errors: ['spec.static: must be a list, got string "http://a/metrics"'] },
    { spec: `${REF}\nstatic: [http://a/metrics]`, errors: ['spec.static[0]: must be an object, got string "http://a/metrics"'] },
    { spec: `${REF}\nstatic: [{labels: {}}]`, errors: ['spec.static[0].url: required'] },
    { spec: `${REF}\nstatic: [{url: "localhost:9100/metrics"}]`, errors: [`spec.static[0].url: must be ${URL}, got "localhost:9100/metrics"`] },
    { spec: `${REF}\nstatic: [{url: /metrics}]`, errors: [`spec.static[0].url: must be ${URL}, got "/metrics"`] },
    { spec: `${REF}\nstatic: [{url: "ftp://host/metrics"}]`, errors: [`spec.static[0].url: must be ${URL}, got "ftp://host/metrics"`] },
    { spec: `${REF}\nstatic: [{url: "http://"}]`, errors: [`spec.static[0].url: must be ${URL}, got "http://"`] },
    { spec: `${REF}\nstatic: [{url: 80}]`, errors: ['spec.static[0].url: must be a string, got number 80'] },
    { spec: `${REF}\nstatic: [{url: "http://a/", labels: [job]}]`, errors: ['spec.static[0].labels: must be an object, got a list'] },
    { spec: `${REF}\nstatic: [{url: "http://a/", labels: {1x: y, job.name: z}}]`, errors: ['spec.static[0].labels["1x"]: must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), got "1x"', 'spec.static[0].labels["job.name"]: must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), got "job.name"'] },
    { spec: `${REF}\nstatic: [{url: "http://a/", labels: {job: 5, env: null}}]`, errors: ['spec.static[0].labels.job: must be a string, got number 5', 'spec.static[0].labels.env: must be a string, got null'] },
    { spec: `${REF}\nstatic: [{url: "http://a/", job: x}]`, errors: ['spec.static[0].job: unknown field'] },
    // files
    { spec: `${REF}\nfiles: targets.yaml`, errors: ['spec.files: must be a list, got string "targets.yaml"'] },
    { spec: `${REF}\nfiles: ["", 3]`, errors: ['spec.files[0]: must not be empty', 'spec.files[1]: must be a string, got number 3'] },
    // unknown fields; several at once
    { spec: `${REF}\ninterval: 10`, errors: ['spec.interval: unknown field'] },
    {
      spec: 'collector: []\nintervalSeconds: 0\nstatic: [{url: x}, {url: "http://ok/"}, {}]\nselector: {matchExpressions: [{key: a, operator: In}]}',
      errors: [
        'spec.collector: must not be empty',
        'spec.intervalSeconds: must be ≥ 1, got 0',
        `spec.static[0].url: must be ${URL}, got "x"`,
        'spec.static[2].url: required',
        'spec.selector.matchExpressions[0].values: must list at least one value for operator In',
      ],
    },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.spec)} → ${c.errors.join('; ')}`, () => {
      const got = parse(doc('Discovery', c.spec));
      expect(got.errors).toEqual(c.errors);
      expect(got.resources).toEqual([]);
    });
  }
});
