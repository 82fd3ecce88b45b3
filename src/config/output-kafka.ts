// SPDX-License-Identifier: Apache-2.0
/**
 * The schema of a Collector's `output.kafka`: where the Kafka sink (`src/sink/kafka.ts`) connects
 * and how it produces. Declared here beside its kind and listed in `resources.ts` as `kafka`.
 *
 * Fields:
 * - `brokers`: bootstrap brokers, `host:port` each (no scheme).
 * - `topic`: the topic every record goes to (Kafka's rules: at most 249 of `a-z A-Z 0-9 . _ -`,
 *   not `.` or `..`).
 * - `clientId`: the client id the brokers see (quotas, logs); default `strata`.
 * - `acks`: `all` (default: every in-sync replica has the records), `1` (the leader) or `0`
 *   (no acknowledgement: at-most-once). The CRD types it as a string (a structural schema has
 *   one type per field), so a Kubernetes resource quotes the numbers (`acks: "1"`); a file read
 *   by `strata run` may write them bare.
 * - `compression`: `none` (default) or `gzip`.
 * - `key`: `none` (default: a record per message, no key), `name` or `series` (a record per
 *   NDJSON line, keyed by the sample's metric name or series: needs the json encoder).
 * - `sasl`: `{mechanism: plain | scram-sha-256 | scram-sha-512, username, passwordFile}`.
 * - `tls`: `ca`, `cert`, `key` (PEM files) and `insecureSkipVerify`; setting it (even `{}`)
 *   requires TLS.
 * - `idempotent`: the idempotent producer (false by default; needs `acks: all`).
 * - `batch`: `maxRecords` and `maxBytes` per produce request (the defaults are the sink's own,
 *   `KAFKA_DEFAULT_MAX_RECORDS` and `KAFKA_DEFAULT_MAX_BYTES`, written out here so that reading a
 *   resource does not load kafkajs; a test checks they agree).
 * - `timeoutSeconds`: how long a connect, a request or an acknowledgement may take.
 *
 * Validation reports every problem with its field path (`spec.output.kafka.brokers[1]: must be
 * host:port, got "kafka://b:9092"`).
 */
import { tlsFilesSchema } from './tls.js';
import type { KafkaAcks } from '../sink/kafka.js';
import { type DecodeContext, type Infer, INVALID, type Invalid, type Issue, joinKey, type OpenApiSchema, quoteString, s, Schema, showValue } from './schema.js';

const KiB = 1024;
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@]+):([0-9]{1,5})$/;

/** Why `broker` is not `host:port`, or undefined. */
export function brokerProblem(broker: string): string | undefined {
  const m = HOST_PORT.exec(broker);
  if (m === null) return `must be host:port, got ${quoteString(broker)}`;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `must have a port from 1 to 65535, got ${quoteString(broker)}`;
  return undefined;
}

/** `acks`: `all`, 1 or 0 (also written `"1"`, `"0"`, or -1 for all, as Kafka clients do). */
class AcksSchema extends Schema<KafkaAcks> {
  protected decodeValue(value: unknown, path: string, _ctx: DecodeContext, issues: Issue[]): KafkaAcks | Invalid {
    if (value === 'all' || value === -1 || value === '-1') return 'all';
    if (value === 1 || value === '1') return 1;
    if (value === 0 || value === '0') return 0;
    issues.push({ path, reason: `must be all, 1 or 0, got ${showValue(value)}` });
    return INVALID;
  }
  openApiBody(): OpenApiSchema {
    return { type: 'string', enum: ['all', '1', '0'] };
  }
}

const kafkaTlsSchema = tlsFilesSchema({ verifies: 'the brokers', certificate: 'the broker certificates', description: 'TLS to the brokers (required when set)' });

const saslSchema = s
  .object({
    mechanism: s.enum(['plain', 'scram-sha-256', 'scram-sha-512']).describe('SASL mechanism'),
    username: s.string({ minLength: 1 }).describe('SASL user name'),
    passwordFile: s.string({ minLength: 1 }).describe('file holding the password (surrounding whitespace is trimmed)'),
  })
  .describe('SASL authentication');

export const kafkaOutputSchema = s
  .object({
    brokers: s
      .array(
        s.string({ minLength: 1 }).refine((v, c) => {
          const problem = brokerProblem(v);
          if (problem !== undefined) c.report(c.path, problem);
        }),
        { minItems: 1 },
      )
      .describe('bootstrap brokers, host:port'),
    topic: s
      .string({ minLength: 1 })
      .refine((v, c) => {
        if (!TOPIC.test(v) || v === '.' || v === '..') c.report(c.path, `must be a Kafka topic name (at most 249 of a-z, A-Z, 0-9, '.', '_', '-'; not "." or ".."), got ${quoteString(v)}`);
      })
      .describe('topic every record is produced to'),
    clientId: s.string({ minLength: 1 }).default('strata').describe('client id the brokers see'),
    acks: new AcksSchema().default('all').describe('acknowledgement: all (every in-sync replica), 1 (the leader) or 0 (none); quote the numbers in a Kubernetes resource'),
    compression: s.enum(['none', 'gzip']).default('none').describe('compression of record batches'),
    key: s
      .enum(['none', 'name', 'series'])
      .default('none')
      .describe('none: a record per message; name or series: a record per JSON line keyed by metric name or series (json encoder)'),
    sasl: saslSchema.optional(),
    tls: kafkaTlsSchema.optional(),
    idempotent: s.boolean().default(false).describe('idempotent producer: the broker drops retried duplicates (needs acks all)'),
    batch: s
      .object({
        maxRecords: s.integer({ minimum: 1 }).default(1000).describe('most records per produce request'),
        maxBytes: s.integer({ minimum: KiB }).default(900 * KiB).describe('most record bytes per produce request (keep below the broker message.max.bytes)'),
      })
      .describe('produce request size')
      .default({}),
    timeoutSeconds: s.number({ exclusiveMinimum: 0, finite: true }).default(30).describe('longest wait for a connect, a request or an acknowledgement'),
  })
  .refine((v, c) => {
    if (v.idempotent && v.acks !== 'all') c.report(joinKey(c.path, 'acks'), `must be all when idempotent is true, got ${v.acks}`);
  })
  .describe('produce messages to Kafka');

export type KafkaOutputSpec = Infer<typeof kafkaOutputSchema>;
