// SPDX-License-Identifier: Apache-2.0
/**
 * The Collector and Discovery resources (API group `strata.ctx.sh`, version `v1beta1`, both
 * namespaced), each defined once as a schema (DESIGN "Resources"). The TypeScript types, the
 * defaulting, the validation and the CRD openAPIV3Schema all come from these schemas; the
 * interfaces below only name the inferred types.
 *
 * Decisions where DESIGN is silent:
 * - `metadata` accepts and drops the fields the API server sets (`creationTimestamp`,
 *   `managedFields`, ...); a top-level `status` is accepted and dropped (it is not configuration).
 * - `metadata.name` is a DNS-1123 subdomain, `metadata.namespace` a DNS-1123 label; selector keys
 *   and values follow Kubernetes label syntax; static target label names follow Prometheus'.
 * - `tls.cert` and `tls.key` go together. Collector references in a Discovery are unique.
 * - `output`: exactly one of the kinds DESIGN names; each sink's fields are declared beside it
 *   (`output-*.ts`).
 */
import { tlsFilesSchema } from './tls.js';
import { ConfigError } from '../errors.js';
import { type FilterConfig, validateFilterConfig } from '../filter/config.js';
import { FILE_DEFAULT_MAX_FILES } from '../sink/file.js';
import { RESERVED_HEADERS } from '../sink/remote-write.js';
import { fluentOutputSchema } from './output-fluent.js';
import { httpOutputSchema } from './output-http.js';
import { kafkaOutputSchema } from './output-kafka.js';
import { natsOutputSchema } from './output-nats.js';
import { statsdOutputSchema } from './output-statsd.js';
import { type Check, type Infer, joinIndex, joinKey, quoteString, s } from './schema.js';

export const API_VERSION = 'strata.ctx.sh/v1beta1';

const KiB = 1024;
const MiB = 1024 * KiB;

// ---- names ----

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const PROMETHEUS_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const isDnsLabel = (v: string): boolean => v.length <= 63 && DNS_LABEL.test(v);
export const isDnsSubdomain = (v: string): boolean => v.length <= 253 && DNS_SUBDOMAIN.test(v);
/** A Kubernetes label key: `[prefix/]name`, the prefix a DNS subdomain. */
export function isLabelKey(v: string): boolean {
  const slash = v.indexOf('/');
  const name = slash < 0 ? v : v.slice(slash + 1);
  if (slash >= 0 && !isDnsSubdomain(v.slice(0, slash))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}
export const isLabelValue = (v: string): boolean => v.length <= 63 && LABEL_VALUE.test(v);
export const isPrometheusLabelName = (v: string): boolean => PROMETHEUS_LABEL.test(v);
export function isHttpUrl(v: string): boolean {
  if (!/^https?:\/\//i.test(v)) return false;
  try {
    return new URL(v).hostname !== '';
  } catch {
    return false;
  }
}

const SUBDOMAIN_SYNTAX = "a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)";
const LABEL_SYNTAX = "a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)";
const LABEL_KEY_SYNTAX = "a label key ([prefix/]name: the name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; the prefix a DNS-1123 subdomain)";
const LABEL_VALUE_SYNTAX = "a label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)";

/** A refine rule for strings: `must be <syntax>, got "<value>"`. */
function syntax(test: (v: string) => boolean, description: string) {
  return (v: string, c: Check): void => {
    if (!test(v)) c.report(c.path, `must be ${description}, got ${quoteString(v)}`);
  };
}

const mapKey = (test: (v: string) => boolean, description: string) => (key: string) =>
  test(key) ? undefined : `must be ${description}, got ${quoteString(key)}`;

// ---- metadata ----

/** Fields the API server sets; accepted and dropped. */
const SERVER_METADATA = [
  'creationTimestamp',
  'deletionGracePeriodSeconds',
  'deletionTimestamp',
  'finalizers',
  'generateName',
  'managedFields',
  'ownerReferences',
  'selfLink',
] as const;

export const metadataSchema = s
  .object(
    {
      name: s.string().refine(syntax(isDnsSubdomain, SUBDOMAIN_SYNTAX)),
      namespace: s.string().refine(syntax(isDnsLabel, LABEL_SYNTAX)).default('default'),
      labels: s.map(s.string().refine(syntax(isLabelValue, LABEL_VALUE_SYNTAX)), { key: mapKey(isLabelKey, LABEL_KEY_SYNTAX) }).optional(),
      annotations: s.map(s.string(), { key: mapKey(isLabelKey, LABEL_KEY_SYNTAX) }).optional(),
      uid: s.string().optional(),
      generation: s.integer({ minimum: 0 }).optional(),
      resourceVersion: s.string().optional(),
    },
    { ignore: SERVER_METADATA },
  )
  // A CRD may not constrain metadata beyond its type.
  .openApi({ type: 'object' });

// ---- Collector ----

/** A list of series matchers (`filters.dropSeries`, `filters.keepSeries`). */
const seriesMatchers = s.array(
  s
    .object({
      name: s.string().optional().describe('RE2 regex the metric name as exposed (`x_bucket`, not the flattened `x`) must fully match'),
      labels: s
        .map(s.string().describe('RE2 regex the label value must fully match; an absent label has the value ""'))
        .optional()
        .describe('label name → regex; every one must match (target tags included)'),
    })
    .describe('a series matcher: name and every label regex must match (anchored as Prometheus anchors them)'),
);

const filtersSchema = s
  .object({
    exclude: s
      .object({ values: s.array(s.number()).describe('drop samples whose value is one of these') })
      .optional()
      .describe('drop samples with given values'),
    clip: s
      .object({
        min: s.number().optional().describe('lower bound; unset is -Infinity'),
        max: s.number().optional().describe('upper bound; unset is +Infinity'),
        inclusive: s.boolean().optional().describe('keep values equal to a bound; default false'),
      })
      .optional()
      .describe('drop samples outside [min, max]'),
    clamp: s
      .object({
        min: s.number().optional().describe('values below are raised to it; unset: no lower bound'),
        max: s.number().optional().describe('values above are lowered to it; unset: no upper bound'),
      })
      .optional()
      .describe('pin values below min to min and above max to max'),
    dropSeries: seriesMatchers
      .optional()
      .describe('drop every series any of these matchers matches, once per series; its samples count as filtered'),
    keepSeries: seriesMatchers
      .optional()
      .describe('when set, drop every series none of these matchers matches; its samples count as filtered'),
    dropLabels: s
      .array(s.string().describe('a label name, or an RE2 regex that label names must fully match'))
      .optional()
      .describe(
        'labels removed from every kept series (target tags included) before it is encoded; `le` of buckets and `quantile` of summaries stay; two series that become one are both kept',
      ),
  })
  // The shape is checked above (every error at once); the ranges by the filters' own rules.
  .refine((v, c) => {
    try {
      validateFilterConfig(v, c.path);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const prefix = `${e.field}: `;
      c.report(e.field, e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message);
    }
  })
  .as<FilterConfig>()
  .describe('series filters (dropSeries, keepSeries, dropLabels) once per series; then exclude, clip and clamp on counter and gauge values')
  .default({});

/** Every output kind DESIGN names. */
export const OUTPUT_KINDS = ['stdout', 'file', 'nats', 'kafka', 'remoteWrite', 'http', 'statsd', 'fluent'] as const;

/** The output kinds this build has, one schema each (a sink's fields live beside its kind). */
const OUTPUTS = {
  stdout: s.object({}).describe('write messages to standard output'),
  file: s
    .object({
      path: s.string({ minLength: 1 }).describe('file to append messages to'),
      maxBytes: s.integer({ minimum: 1024 }).default(100 * MiB).describe('size at which the file is rotated'),
      maxFiles: s.integer({ minimum: 1 }).default(FILE_DEFAULT_MAX_FILES).describe('rotated files kept (`path.1` … `path.N`), the oldest removed'),
    })
    .describe('append messages to a file'),
  nats: natsOutputSchema,
  kafka: kafkaOutputSchema,
  remoteWrite: s
    .object({
      url: s.string().refine(syntax(isHttpUrl, 'an absolute http or https URL')).describe('remote write endpoint, e.g. http://prometheus:9090/api/v1/write'),
      headers: s
        .map(s.string(), {
          key: (k: string) => (RESERVED_HEADERS.includes(k.toLowerCase()) ? `is set by the remote write protocol or by basicAuth/bearerTokenFile, not here: ${quoteString(k)}` : undefined),
        })
        .optional()
        .describe('extra HTTP headers of every request'),
      basicAuth: s
        .object({
          username: s.string({ minLength: 1 }),
          passwordFile: s.string({ minLength: 1 }).optional().describe('file holding the password, re-read every minute'),
        })
        .optional(),
      bearerTokenFile: s.string({ minLength: 1 }).optional().describe('file holding the bearer token, re-read every minute'),
      tls: tlsFilesSchema({ verifies: 'the receiver', certificate: 'the receiver certificate', description: 'TLS to the receiver' }).optional(),
      timeoutSeconds: s.number({ exclusiveMinimum: 0, finite: true }).default(30).describe('timeout of one request'),
      maxSamplesPerSend: s.integer({ minimum: 1 }).default(2000).describe('most samples per request'),
      staleMarkers: s
        .boolean()
        .default(true)
        .describe("write Prometheus' stale marker for a series that vanished from its target's scrape, and for every series of a target whose scrape failed or that discovery no longer lists"),
    })
    .refine((v, c) => {
      if (v.basicAuth !== undefined && v.bearerTokenFile !== undefined) c.report(joinKey(c.path, 'bearerTokenFile'), 'cannot be set together with basicAuth');
    })
    .describe('Prometheus remote write 1.0 (protobuf, snappy); implies its own encoding: spec.encoder is ignored'),
  http: httpOutputSchema,
  statsd: statsdOutputSchema,
  fluent: fluentOutputSchema,
};

/** Output kinds DESIGN names that this build does not have yet. */
export const PLANNED_OUTPUTS: readonly string[] = OUTPUT_KINDS.filter((k) => !(k in OUTPUTS));
const AVAILABLE_OUTPUTS = Object.keys(OUTPUTS).join(', ');
const PLANNED_NOTE = PLANNED_OUTPUTS.length === 0 ? '' : `; planned: ${PLANNED_OUTPUTS.join(', ')}`;

export const outputSchema = s
  .exactlyOne(OUTPUTS, {
    unknownKey: (key) =>
      PLANNED_OUTPUTS.includes(key)
        ? `output ${JSON.stringify(key)} is not available in this build (planned: ${PLANNED_OUTPUTS.join(', ')})`
        : `unknown output ${quoteString(key)} (available: ${AVAILABLE_OUTPUTS}${PLANNED_NOTE})`,
  })
  .describe(`where encoded samples go: exactly one of ${AVAILABLE_OUTPUTS}`)
  .default({ stdout: {} });

export const tlsSchema = tlsFilesSchema({ verifies: 'targets', certificate: 'target certificates', description: 'scrape TLS' });

export const scrapeSchema = s
  .object({
    timeoutSeconds: s.number({ exclusiveMinimum: 0, finite: true }).default(10).describe('timeout of one scrape'),
    maxBodyBytes: s.integer({ minimum: 1024 }).default(64 * MiB).describe('largest body accepted, after decompression'),
    sampleLimit: s.integer({ minimum: 0 }).default(0).describe('most samples per scrape; 0 is unlimited'),
    sampleLimitPolicy: s.enum(['fail', 'truncate']).default('fail').describe('over the sample limit: fail the scrape or keep the first samples'),
    concurrency: s.integer({ minimum: 1 }).default(64).describe('scrapes in flight per worker'),
    bodyConcurrency: s.integer({ minimum: 1 }).default(8).describe('scrape bodies read (decompressed and parsed) at once per worker'),
    maxLineBytes: s.integer({ minimum: 1 }).default(MiB).describe('longest exposition line accepted'),
    labelLimit: s
      .integer({ minimum: 0 })
      .default(0)
      .describe('most labels of a series, __name__ and target tags included; over it the scrape fails (error label_limit); 0 is unlimited'),
    labelNameLengthLimit: s
      .integer({ minimum: 0 })
      .default(0)
      .describe('longest label name in bytes; over it the scrape fails (error label_limit); 0 is unlimited'),
    labelValueLengthLimit: s
      .integer({ minimum: 0 })
      .default(0)
      .describe('longest label value in UTF-8 bytes, the metric name included; over it the scrape fails (error label_limit); 0 is unlimited'),
    targetSeries: s
      .boolean()
      .optional()
      .describe('after every scrape, write the series up, scrape_duration_seconds, scrape_samples_scraped and scrape_series_added with the target\'s labels, as Prometheus does; default: true with output remoteWrite, else false'),
    basicAuth: s
      .object({
        username: s
          .string({ minLength: 1 })
          .refine(syntax((v) => !/[:\x00-\x1f\x7f]/.test(v), 'a user name without ":" or control characters (RFC 7617)'))
          .describe('user name of HTTP basic authentication'),
        passwordFile: s.string({ minLength: 1 }).describe('file holding the password; re-read when it changes'),
      })
      .optional()
      .describe('HTTP basic authentication sent with every scrape (Authorization: Basic)'),
    bearerTokenFile: s
      .string({ minLength: 1 })
      .optional()
      .describe('file holding a bearer token sent with every scrape (Authorization: Bearer); re-read when it changes'),
  })
  .refine((v, c) => {
    if (v.basicAuth !== undefined && v.bearerTokenFile !== undefined) {
      c.report(joinKey(c.path, 'bearerTokenFile'), 'must not be set together with basicAuth (a scrape sends one Authorization header)');
    }
  })
  .describe('scrape limits and credentials')
  .default({});

export const batchSchema = s
  .object({
    maxSamples: s.integer({ minimum: 1 }).default(1000).describe('most samples per message'),
    maxBytes: s.integer({ minimum: 256 }).default(MiB).describe('most bytes per message'),
  })
  .describe('message size')
  .default({});

export const collectorSpecSchema = s.object({
  enabled: s.boolean().default(true).describe('run or pause the pool'),
  workers: s.integer({ minimum: 1 }).default(1).describe('worker threads in the pool'),
  bufferSize: s.integer({ minimum: 1 }).default(10000).describe('channel capacity in targets'),
  encoder: s.enum(['json', 'fluent', 'statsd']).default('json').describe('message encoding'),
  includeLabels: s.array(s.string({ minLength: 1 })).default([]).describe('names of resource labels added as tags'),
  includeAnnotations: s.array(s.string({ minLength: 1 })).default([]).describe('names of resource annotations added as tags'),
  includeMetadata: s.boolean().default(false).describe('add namespace, kind and name of the resource as tags'),
  honorLabels: s
    .boolean()
    .default(true)
    .describe("on a clash, the sample's own label wins over the target's (true), or the target's wins and the sample's is kept as exported_<name> (false)"),
  filters: filtersSchema,
  output: outputSchema,
  tls: tlsSchema.optional(),
  scrape: scrapeSchema,
  seriesBudget: s
    .object({
      maxSeries: s
        .integer({ minimum: 0 })
        .default(0)
        .describe("most distinct active series across the Collector's targets (each target's last successful scrape, summed); 0 is unlimited"),
      policy: s
        .enum(['dropNew', 'failTarget'])
        .default('dropNew')
        .describe('past maxSeries: dropNew refuses new series (their samples dropped, series_budget) and keeps the rest; failTarget fails the scrape that brings one (error series_budget)'),
    })
    .describe('a cap on active series, so one exploding exporter cannot take the Collector down')
    .default({}),
  batch: batchSchema,
  buffer: s
    .object({
      maxBytes: s.integer({ minimum: 64 * KiB }).default(64 * MiB).describe('memory for encoded messages waiting for the sink, split over the workers'),
      policy: s
        .enum(['block', 'dropOldest', 'dropNewest'])
        .default('block')
        .describe('when memory (and the spool) is full: block slows scraping, dropOldest and dropNewest drop and count'),
      path: s.string({ minLength: 1 }).optional().describe('directory of the on-disk spool (one subdirectory w<index> per worker); unset: no spool'),
      spoolMaxBytes: s.integer({ minimum: MiB }).optional().describe('most bytes of the spool, split over the workers; default 1 GiB'),
      maxAgeSeconds: s.number({ exclusiveMinimum: 0, finite: true }).optional().describe('drop messages older than this (counted too_old); unset: kept however old'),
    })
    .describe('outage buffer between the encoder and the sink: memory, then the optional spool')
    .default({}),
}).refine((v, c) => {
  const kafka = (v.output as { kafka?: { key: string } }).kafka;
  if (kafka !== undefined && kafka.key !== 'none' && v.encoder !== 'json') {
    c.report(`${joinKey(joinKey(c.path, 'output'), 'kafka')}.key`, `must be none with encoder ${v.encoder} (name and series key the json encoder's lines)`);
  }
});

// ---- Discovery ----

export const collectorRefSchema = s.object({
  name: s.string().refine(syntax(isDnsSubdomain, SUBDOMAIN_SYNTAX)).describe('name of the Collector'),
  namespace: s
    .string()
    .refine(syntax(isDnsLabel, LABEL_SYNTAX))
    .defaultFrom((ctx) => ctx.namespace)
    .describe("namespace of the Collector; default: the Discovery's"),
});

const labelKey = s.string().refine(syntax(isLabelKey, LABEL_KEY_SYNTAX));
const labelValue = s.string().refine(syntax(isLabelValue, LABEL_VALUE_SYNTAX));

export const labelSelectorSchema = s
  .object({
    matchLabels: s.map(labelValue, { key: mapKey(isLabelKey, LABEL_KEY_SYNTAX) }).optional().describe('labels a resource must have, with these values'),
    matchExpressions: s
      .array(
        s
          .object({
            key: labelKey.describe('label key the expression tests'),
            operator: s.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']).describe('how the label is tested'),
            values: s.array(labelValue).optional().describe('values for In and NotIn; none for Exists and DoesNotExist'),
          })
          .refine((e, c) => {
            const n = e.values?.length ?? 0;
            if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) {
              c.report(joinKey(c.path, 'values'), `must list at least one value for operator ${e.operator}`);
            } else if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) {
              c.report(joinKey(c.path, 'values'), `must not be set for operator ${e.operator}`);
            }
          }),
      )
      .optional()
      .describe('expressions a resource must all satisfy'),
  })
  .describe('label selector of the pods and services to scrape; empty selects all')
  .default({});

export const staticTargetSchema = s.object({
  url: s.string().refine(syntax(isHttpUrl, 'an absolute http or https URL')).describe('URL to scrape'),
  labels: s
    .map(s.string(), { key: mapKey(isPrometheusLabelName, 'a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)') })
    .default({})
    .describe('tags added to every sample of the target'),
});

export const discoverySpecSchema = s.object({
  collector: s
    .array(collectorRefSchema, { minItems: 1 })
    .refine((refs, c) => {
      const seen = new Set<string>();
      refs.forEach((r, i) => {
        const key = `${r.namespace}/${r.name}`;
        if (seen.has(key)) c.report(joinIndex(c.path, i), `duplicate reference to Collector ${key}`);
        seen.add(key);
      });
    })
    .describe('Collectors that receive the discovered targets; at least one'),
  selector: labelSelectorSchema,
  enabled: s.boolean().default(true).describe('run or pause this discovery'),
  intervalSeconds: s.integer({ minimum: 1 }).default(10).describe('how often targets are rediscovered and queued'),
  prefix: s
    .string()
    .refine(syntax(isDnsSubdomain, SUBDOMAIN_SYNTAX))
    .default('prometheus.io')
    .describe('annotation prefix read from pods and services'),
  resources: s
    .object({
      pods: s.boolean().default(true).describe('annotated pods that are running with an IP'),
      services: s.boolean().default(true).describe('annotated services'),
      endpoints: s.boolean().default(true).describe('the endpoint addresses of annotated headless services'),
    })
    .describe('kinds of Kubernetes resources discovered')
    .default({}),
  static: s.array(staticTargetSchema).default([]).describe('targets given by URL'),
  files: s
    .array(s.string({ minLength: 1 }))
    .default([])
    .describe('paths of target files (JSON or YAML lists of {url, labels}), re-read on change'),
});

// ---- the resources ----

const header = <K extends 'Collector' | 'Discovery'>(kind: K) => ({
  // The API server checks these two; a CRD schema only types them.
  apiVersion: s.enum([API_VERSION]).openApi({ type: 'string' }),
  kind: s.enum([kind]).openApi({ type: 'string' }),
  metadata: metadataSchema,
});

export const collectorSchema = s.object(
  { ...header('Collector'), spec: collectorSpecSchema.describe('a pool of workers that scrape, filter, encode and send').default({}) },
  { ignore: ['status'] },
);

export const discoverySchema = s.object(
  { ...header('Discovery'), spec: discoverySpecSchema.describe('where targets come from and which Collectors get them').default({}) },
  { ignore: ['status'] },
);

// ---- the types, inferred from the schemas ----

export interface ObjectMeta extends Infer<typeof metadataSchema> {}
export interface CollectorRef extends Infer<typeof collectorRefSchema> {}
/** Exactly one key. */
export type OutputSpec = Infer<typeof outputSchema>;
/** `ca`, `cert` and `key` are paths of PEM files. */
export interface TlsSpec extends Infer<typeof tlsSchema> {}
export interface ScrapeSpec extends Infer<typeof scrapeSchema> {}
export interface CollectorSpec extends Infer<typeof collectorSpecSchema> {}
export interface LabelSelector extends Infer<typeof labelSelectorSchema> {}
export interface StaticTarget extends Infer<typeof staticTargetSchema> {}
export interface DiscoverySpec extends Infer<typeof discoverySpecSchema> {}
export interface Collector extends Infer<typeof collectorSchema> {}
export interface Discovery extends Infer<typeof discoverySchema> {}
export type Resource = Collector | Discovery;
