// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { doc, MiB, parse, specOf } from './helpers.js';

const DEFAULTS = {
  enabled: true,
  workers: 1,
  bufferSize: 10000,
  encoder: 'json',
  includeLabels: [],
  includeAnnotations: [],
  includeMetadata: false,
  honorLabels: true,
  filters: {},
  output: { stdout: {} },
  scrape: {
    timeoutSeconds: 10,
    maxBodyBytes: 64 * MiB,
    sampleLimit: 0,
    sampleLimitPolicy: 'fail',
    concurrency: 64,
    bodyConcurrency: 8,
    maxLineBytes: MiB,
    labelLimit: 0,
    labelNameLengthLimit: 0,
    labelValueLengthLimit: 0,
  },
  seriesBudget: { maxSeries: 0, policy: 'dropNew' },
  batch: { maxSamples: 1000, maxBytes: MiB },
  buffer: { maxBytes: 64 * MiB, policy: 'block' },
};

describe('Collector defaults', () => {
  const cases: { name: string; spec: string | undefined; want: unknown }[] = [
    { name: 'no spec at all gives every default', spec: undefined, want: DEFAULTS },
    { name: 'an empty spec gives every default', spec: '{}', want: DEFAULTS },
    { name: 'a null field is the same as an absent one', spec: 'workers: null\nscrape:', want: DEFAULTS },
    {
      name: 'given fields are kept and the rest defaulted',
      spec: 'enabled: false\nworkers: 4\nbufferSize: 1\nencoder: statsd\nincludeLabels: [app]\nincludeAnnotations: [team]\nincludeMetadata: true',
      want: { ...DEFAULTS, enabled: false, workers: 4, bufferSize: 1, encoder: 'statsd', includeLabels: ['app'], includeAnnotations: ['team'], includeMetadata: true },
    },
    {
      name: 'a partial scrape block is completed field by field',
      spec: 'scrape: {timeoutSeconds: 2.5, sampleLimit: 5000, sampleLimitPolicy: truncate}',
      want: { ...DEFAULTS, scrape: { ...DEFAULTS.scrape, timeoutSeconds: 2.5, sampleLimit: 5000, sampleLimitPolicy: 'truncate' } },
    },
    { name: 'a partial batch block is completed', spec: 'batch: {maxSamples: 1}', want: { ...DEFAULTS, batch: { maxSamples: 1, maxBytes: MiB } } },
    {
      name: 'a file output gets its default size',
      spec: 'output:\n  file: {path: /var/log/strata.ndjson}',
      want: { ...DEFAULTS, output: { file: { path: '/var/log/strata.ndjson', maxBytes: 100 * MiB, maxFiles: 5 } } },
    },
    { name: 'tls is absent unless given', spec: 'workers: 2', want: { ...DEFAULTS, workers: 2 } },
    { name: 'a tls block gets insecureSkipVerify false', spec: 'tls: {ca: /etc/ca.pem}', want: { ...DEFAULTS, tls: { ca: '/etc/ca.pem', insecureSkipVerify: false } } },
    {
      name: 'tls with a client certificate',
      spec: 'tls: {cert: c.pem, key: k.pem, insecureSkipVerify: true}',
      want: { ...DEFAULTS, tls: { cert: 'c.pem', key: 'k.pem', insecureSkipVerify: true } },
    },
    {
      name: 'filters are kept as written, NaN and infinities included',
      spec: 'filters:\n  exclude: {values: [.nan, 0]}\n  clip: {min: 0, inclusive: true}\n  clamp: {max: .inf}',
      want: { ...DEFAULTS, filters: { exclude: { values: [Number.NaN, 0] }, clip: { min: 0, inclusive: true }, clamp: { max: Number.POSITIVE_INFINITY } } },
    },
    { name: 'limits may sit exactly on their minimum', spec: 'scrape: {maxBodyBytes: 1024, sampleLimit: 0, concurrency: 1, maxLineBytes: 1}\nbatch: {maxBytes: 256}\noutput: {file: {path: x, maxBytes: 1024}}', want: { ...DEFAULTS, scrape: { ...DEFAULTS.scrape, maxBodyBytes: 1024, concurrency: 1, maxLineBytes: 1 }, batch: { maxSamples: 1000, maxBytes: 256 }, output: { file: { path: 'x', maxBytes: 1024, maxFiles: 5 } } } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(specOf(doc('Collector', c.spec))).toEqual(c.want);
    });
  }

  it('returns the fields in declared order, whatever the order written', () => {
    const spec = specOf(doc('Collector', 'batch: {maxBytes: 512}\nworkers: 3')) as object;
    expect(Object.keys(spec)).toEqual(Object.keys(DEFAULTS));
  });
});

const KINDS = 'stdout, file, nats, kafka, remoteWrite, http, statsd, fluent';
const SUBDOMAIN = "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)";

describe('Collector errors', () => {
  const cases: { spec: string; errors: string[] }[] = [
    // enabled, includeMetadata
    { spec: 'enabled: "true"', errors: ['spec.enabled: must be true or false, got string "true"'] },
    { spec: 'enabled: yes', errors: ['spec.enabled: must be true or false, got string "yes"'] },
    { spec: 'includeMetadata: 1', errors: ['spec.includeMetadata: must be true or false, got number 1'] },
    // workers, bufferSize
    { spec: 'workers: 0', errors: ['spec.workers: must be ≥ 1, got 0'] },
    { spec: 'workers: -3', errors: ['spec.workers: must be ≥ 1, got -3'] },
    { spec: 'workers: 1.5', errors: ['spec.workers: must be an integer, got number 1.5'] },
    { spec: 'workers: "4"', errors: ['spec.workers: must be an integer, got string "4"'] },
    { spec: 'workers: [1]', errors: ['spec.workers: must be an integer, got a list'] },
    { spec: 'bufferSize: 0', errors: ['spec.bufferSize: must be ≥ 1, got 0'] },
    { spec: 'bufferSize: {size: 1}', errors: ['spec.bufferSize: must be an integer, got an object'] },
    // encoder
    { spec: 'encoder: xml', errors: ['spec.encoder: must be one of json, fluent, statsd, got "xml"'] },
    { spec: 'encoder: JSON', errors: ['spec.encoder: must be one of json, fluent, statsd, got "JSON"'] },
    { spec: 'encoder: 5', errors: ['spec.encoder: must be one of json, fluent, statsd, got number 5'] },
    // includeLabels, includeAnnotations
    { spec: 'includeLabels: app', errors: ['spec.includeLabels: must be a list, got string "app"'] },
    { spec: 'includeLabels: [app, 5, ""]', errors: ['spec.includeLabels[1]: must be a string, got number 5', 'spec.includeLabels[2]: must not be empty'] },
    { spec: 'includeLabels: [app, null]', errors: ['spec.includeLabels[1]: must be a string, got null'] },
    { spec: 'includeAnnotations: {team: x}', errors: ['spec.includeAnnotations: must be a list, got an object'] },
    // filters: shape from the schema, ranges from validateFilterConfig
    { spec: 'filters: [clip]', errors: ['spec.filters: must be an object, got a list'] },
    { spec: 'filters: {drop: {}}', errors: ['spec.filters.drop: unknown field'] },
    { spec: 'filters: {clip: x}', errors: ['spec.filters.clip: must be an object, got string "x"'] },
    { spec: 'filters: {clip: {minimum: 0}}', errors: ['spec.filters.clip.minimum: unknown field'] },
    { spec: 'filters: {clip: {min: "0"}}', errors: ['spec.filters.clip.min: must be a number, got string "0"'] },
    { spec: 'filters: {clip: {inclusive: "true"}}', errors: ['spec.filters.clip.inclusive: must be true or false, got string "true"'] },
    { spec: 'filters: {clip: {min: 1, max: 0}}', errors: ['spec.filters.clip.min: must not be greater than max (1 > 0)'] },
    { spec: 'filters: {clip: {min: .nan}}', errors: ['spec.filters.clip.min: must not be NaN'] },
    { spec: 'filters: {clamp: {min: 5, max: 1}}', errors: ['spec.filters.clamp.min: must not be greater than max (5 > 1)'] },
    { spec: 'filters: {clamp: {max: .nan}}', errors: ['spec.filters.clamp.max: must not be NaN'] },
    { spec: 'filters: {exclude: {}}', errors: ['spec.filters.exclude.values: required'] },
    { spec: 'filters: {exclude: {values: 0}}', errors: ['spec.filters.exclude.values: must be a list, got number 0'] },
    { spec: 'filters: {exclude: {values: [1, x, null]}}', errors: ['spec.filters.exclude.values[1]: must be a number, got string "x"', 'spec.filters.exclude.values[2]: must be a number, got null'] },
    // output: exactly one of the kinds of this build
    { spec: 'output: {}', errors: [`spec.output: must have exactly one of ${KINDS}, got none`] },
    { spec: 'output:\n  stdout:', errors: [`spec.output: must have exactly one of ${KINDS}, got none (stdout has no value: write "stdout: {}")`] },
    { spec: 'output: stdout', errors: ['spec.output: must be an object, got string "stdout"'] },
    { spec: 'output: {stdout: {}, file: {path: /tmp/x}}', errors: [`spec.output: must have exactly one of ${KINDS}, got stdout, file`] },
    { spec: 'output: {nats: {url: "nats://localhost:4222"}}', errors: ['spec.output.nats.subject: required'] },
    { spec: 'output: {nats: {subject: s}}', errors: ['spec.output.nats.url: required (or managed: true under strata operator)'] },
    { spec: 'output: {nats: {managed: true, url: "nats://x:4222", subject: s}}', errors: ['spec.output.nats.url: must not be set with managed: true (the operator gives the URL)'] },
    { spec: 'output: {kafka: {}}', errors: ['spec.output.kafka.brokers: required', 'spec.output.kafka.topic: required'] },
    { spec: 'encoder: statsd\noutput: {kafka: {brokers: [k:9092], topic: t, key: series}}', errors: ["spec.output.kafka.key: must be none with encoder statsd (name and series key the json encoder's lines)"] },
    { spec: 'output: {http: {}}', errors: ['spec.output.http.url: required'] },
    { spec: 'output: {statsd: {}}', errors: ['spec.output.statsd.host: required'] },
    { spec: 'output: {fluent: {}}', errors: ['spec.output.fluent.host: required'] },
    { spec: 'output: {s3: {}}', errors: [`spec.output.s3: unknown output "s3" (available: ${KINDS})`] },
    { spec: 'output: {stdout: {pretty: true}}', errors: ['spec.output.stdout.pretty: unknown field'] },
    { spec: 'output: {stdout: true}', errors: ['spec.output.stdout: must be an object, got boolean true'] },
    { spec: 'output: {file: {}}', errors: ['spec.output.file.path: required'] },
    { spec: 'output: {file: {path: ""}}', errors: ['spec.output.file.path: must not be empty'] },
    { spec: 'output: {file: {path: x, maxBytes: 1023}}', errors: ['spec.output.file.maxBytes: must be ≥ 1024, got 1023'] },
    // tls
    { spec: 'tls: true', errors: ['spec.tls: must be an object, got boolean true'] },
    { spec: 'tls: {insecureSkipVerify: "false"}', errors: ['spec.tls.insecureSkipVerify: must be true or false, got string "false"'] },
    { spec: 'tls: {ca: 5}', errors: ['spec.tls.ca: must be a string, got number 5'] },
    { spec: 'tls: {ca: ""}', errors: ['spec.tls.ca: must not be empty'] },
    { spec: 'tls: {cert: c.pem}', errors: ['spec.tls.key: required when cert is set'] },
    { spec: 'tls: {key: k.pem}', errors: ['spec.tls.cert: required when key is set'] },
    { spec: 'tls: {verify: false}', errors: ['spec.tls.verify: unknown field'] },
    // scrape
    { spec: 'scrape: 10', errors: ['spec.scrape: must be an object, got number 10'] },
    { spec: 'scrape: {timeoutSeconds: 0}', errors: ['spec.scrape.timeoutSeconds: must be > 0, got 0'] },
    { spec: 'scrape: {timeoutSeconds: -1}', errors: ['spec.scrape.timeoutSeconds: must be > 0, got -1'] },
    { spec: 'scrape: {timeoutSeconds: .inf}', errors: ['spec.scrape.timeoutSeconds: must be a finite number, got Infinity'] },
    { spec: 'scrape: {timeoutSeconds: 10s}', errors: ['spec.scrape.timeoutSeconds: must be a number, got string "10s"'] },
    { spec: 'scrape: {maxBodyBytes: 1023}', errors: ['spec.scrape.maxBodyBytes: must be ≥ 1024, got 1023'] },
    { spec: 'scrape: {maxBodyBytes: 1.5e6}', errors: [] },
    { spec: 'scrape: {maxBodyBytes: 1048576.5}', errors: ['spec.scrape.maxBodyBytes: must be an integer, got number 1048576.5'] },
    { spec: 'scrape: {sampleLimit: -1}', errors: ['spec.scrape.sampleLimit: must be ≥ 0, got -1'] },
    { spec: 'scrape: {sampleLimitPolicy: drop}', errors: ['spec.scrape.sampleLimitPolicy: must be one of fail, truncate, got "drop"'] },
    { spec: 'scrape: {concurrency: 0}', errors: ['spec.scrape.concurrency: must be ≥ 1, got 0'] },
    { spec: 'scrape: {maxLineBytes: 0}', errors: ['spec.scrape.maxLineBytes: must be ≥ 1, got 0'] },
    { spec: 'scrape: {timeout: 5}', errors: ['spec.scrape.timeout: unknown field'] },
    // batch
    { spec: 'batch: 5', errors: ['spec.batch: must be an object, got number 5'] },
    { spec: 'batch: {maxSamples: 0}', errors: ['spec.batch.maxSamples: must be ≥ 1, got 0'] },
    { spec: 'batch: {maxBytes: 255}', errors: ['spec.batch.maxBytes: must be ≥ 256, got 255'] },
    // unknown fields, the spec itself
    { spec: 'replicas: 3', errors: ['spec.replicas: unknown field'] },
    { spec: '"odd key": 1', errors: ['spec["odd key"]: unknown field'] },
    { spec: '[workers]', errors: ['spec: must be an object, got a list'] },
    // every error of a document at once, in the order written
    {
      spec: 'workers: 0\nencoder: xml\nfoo: 1\noutput: {}\nscrape: {timeoutSeconds: 0, concurrency: 0}\nbatch: {maxBytes: 1}',
      errors: [
        'spec.workers: must be ≥ 1, got 0',
        'spec.encoder: must be one of json, fluent, statsd, got "xml"',
        'spec.foo: unknown field',
        'spec.output: must have exactly one of stdout, file, nats, kafka, remoteWrite, http, statsd, fluent, got none',
        'spec.scrape.timeoutSeconds: must be > 0, got 0',
        'spec.scrape.concurrency: must be ≥ 1, got 0',
        'spec.batch.maxBytes: must be ≥ 256, got 1',
      ],
    },
  ];
  for (const c of cases) {
    it(`${JSON.stringify(c.spec)} → ${c.errors.length === 0 ? 'valid' : c.errors.join('; ')}`, () => {
      const got = parse(doc('Collector', c.spec));
      expect(got.errors).toEqual(c.errors);
      expect(got.resources).toHaveLength(c.errors.length === 0 ? 1 : 0);
    });
  }

  it('checks metadata like every resource', () => {
    const yaml = 'apiVersion: strata.ctx.sh/v1beta1\nkind: Collector\nmetadata: {name: Main}\n';
    expect(parse(yaml).errors).toEqual([`metadata.name: must be ${SUBDOMAIN}, got "Main"`]);
  });
});
