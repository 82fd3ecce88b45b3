// SPDX-License-Identifier: Apache-2.0
/**
 * The schema of a Collector's `output.fluent` (the sink in `src/sink/fluent.ts`). Declared here
 * beside its kind and listed in `resources.ts` as `fluent`.
 *
 * Fields: `host` (required), `port` (default 24224), `tag` (the Fluent tag of every message,
 * default `strata`, written by the fluent encoder), `requireAck` (default false; true makes the
 * encoder add chunk ids and the sink wait for the server's ack: at-least-once),
 * `ackTimeoutSeconds` (30), `connectTimeoutSeconds` (10), `reconnectMaxSeconds` (30), `tls`
 * (the push sinks' TLS block), `sharedKeyFile` (a file holding the `<security>` shared key;
 * runs the handshake) and `selfHostname` (sent in the handshake; default the machine's name).
 * The Collector's `encoder` must be `fluent` with this output.
 */
import { sinkTlsSchema } from './output-http.js';
import { hostSchema } from './output-statsd.js';
import { type Infer, joinKey, quoteString, s } from './schema.js';

/** A Fluent tag: dot-separated parts of printable ASCII without whitespace. */
const TAG = /^[!-~]+$/;

const seconds = (description: string) => s.number({ exclusiveMinimum: 0, finite: true }).describe(description);

export const fluentOutputSchema = s
  .object({
    host: hostSchema.describe('Fluentd or Fluent Bit forward input host'),
    port: s.integer({ minimum: 1, maximum: 65535 }).default(24224).describe('forward input port'),
    tag: s
      .string({ minLength: 1 })
      .refine((v, c) => {
        if (!TAG.test(v) || v.startsWith('.') || v.endsWith('.') || v.includes('..')) {
          c.report(c.path, `must be a Fluent tag (dot-separated parts, printable ASCII, no spaces), got ${quoteString(v)}`);
        }
      })
      .default('strata')
      .describe('tag of every message; Fluentd routes on it'),
    requireAck: s.boolean().default(false).describe('wait for the server to ack each chunk (at-least-once)'),
    ackTimeoutSeconds: seconds('longest wait for the acks of one send').default(30),
    connectTimeoutSeconds: seconds('longest a connect (and TLS handshake) may take').default(10),
    reconnectMaxSeconds: seconds('longest wait between reconnect attempts').default(30),
    tls: sinkTlsSchema.optional(),
    sharedKeyFile: s.string({ minLength: 1 }).optional().describe('file holding the shared key of the server <security> section'),
    selfHostname: s.string({ minLength: 1 }).optional().describe('self_hostname sent in the shared-key handshake'),
  })
  .refine((v, c) => {
    if (v.selfHostname !== undefined && v.sharedKeyFile === undefined) c.report(joinKey(c.path, 'selfHostname'), 'only applies with sharedKeyFile');
  })
  .describe('send Fluent Forward messages to Fluentd or Fluent Bit');

export type FluentOutput = Infer<typeof fluentOutputSchema>;
