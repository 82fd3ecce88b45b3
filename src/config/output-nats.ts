// SPDX-License-Identifier: Apache-2.0
/**
 * The schema of a Collector's `output.nats`: where the NATS sink (`src/sink/nats.ts`) connects and
 * what it publishes to. Declared here beside its kind and listed in `resources.ts` as `nats`.
 *
 * Fields:
 * - `url`: one or several `nats://host[:port]` URLs, comma-separated (a cluster's seeds). A URL
 *   may carry credentials (`nats://user:password@host`, `nats://token@host`) when `auth` is not
 *   set; every message that names a URL redacts them.
 * - `subject`: the subject every message is published to (no wildcards).
 * - `auth`: exactly one method: `user` with `password`, `token`, `credsFile` (a `.creds` file
 *   holding a user JWT and its nkey seed) or `nkeySeedFile` (a file holding an `SU…` seed).
 * - `tls`: `ca`, `cert`, `key` (PEM files) and `insecureSkipVerify`; setting it requires TLS.
 * - `jetstream`: absent (or `false`): core NATS, at-most-once. `{stream}`: every message is
 *   published to JetStream and a send succeeds only once each is acknowledged by that stream.
 *   `{stream, create: true, subjects, maxAge, duplicateWindow}` creates the stream at connect
 *   when it does not exist (an existing stream is used as it is).
 * - `timeoutSeconds`: how long a connect, a flush or an acknowledgement may take.
 *
 * Durations are in seconds, as everywhere in Strata's resources. Validation reports every
 * problem with its field path (`spec.output.nats.auth.password: required when user is set`).
 */
import { tlsFilesSchema } from './tls.js';
import { redactNatsUrl, splitNatsUrls } from '../sink/nats-url.js';
import { type Check, type DecodeContext, type Infer, INVALID, type Invalid, type Issue, joinKey, type OpenApiSchema, quoteString, s, Schema } from './schema.js';

/** A NATS subject to publish to: dot-separated tokens, no wildcards, no whitespace. */
const SUBJECT = /^[^\s.*>]+(\.[^\s.*>]+)*$/;
/** A JetStream stream name: no whitespace, `.`, `*`, `>`, path separators or control characters. */
const STREAM_NAME = /^[^\s.*>/\\\u0000-\u001f]+$/;

/** Why `url` is not a usable NATS URL, or undefined. */
export function natsUrlProblem(url: string): string | undefined {
  if (!/^nats:\/\//i.test(url)) return `must be a nats:// URL, got ${quoteString(url)}`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `must be a nats:// URL, got ${quoteString(redactNatsUrl(url))}`;
  }
  if (parsed.hostname === '') return `must name a host, got ${quoteString(redactNatsUrl(url))}`;
  if (parsed.pathname !== '' && parsed.pathname !== '/') return `must not have a path, got ${quoteString(redactNatsUrl(url))}`;
  if (parsed.search !== '' || parsed.hash !== '') return `must not have a query or fragment, got ${quoteString(redactNatsUrl(url))}`;
  return undefined;
}


const seconds = (description: string) => s.number({ exclusiveMinimum: 0, finite: true }).describe(description);

const authSchema = s
  .object({
    user: s.string({ minLength: 1 }).optional().describe('user name; needs password'),
    password: s.string({ minLength: 1 }).optional().describe('password of user'),
    token: s.string({ minLength: 1 }).optional().describe('authorization token'),
    credsFile: s.string({ minLength: 1 }).optional().describe('path of a .creds file (user JWT and nkey seed)'),
    nkeySeedFile: s.string({ minLength: 1 }).optional().describe('path of a file holding an nkey user seed (SU…)'),
  })
  .refine((v, c) => {
    if (v.user !== undefined && v.password === undefined) c.report(joinKey(c.path, 'password'), 'required when user is set');
    if (v.password !== undefined && v.user === undefined) c.report(joinKey(c.path, 'user'), 'required when password is set');
    const methods = [
      v.user !== undefined || v.password !== undefined ? 'user/password' : null,
      v.token !== undefined ? 'token' : null,
      v.credsFile !== undefined ? 'credsFile' : null,
      v.nkeySeedFile !== undefined ? 'nkeySeedFile' : null,
    ].filter((m) => m !== null);
    if (methods.length === 0) c.report(c.path, 'must set one of user/password, token, credsFile, nkeySeedFile');
    else if (methods.length > 1) c.report(c.path, `must set only one of user/password, token, credsFile, nkeySeedFile; got ${methods.join(', ')}`);
  })
  .describe('how the sink authenticates: exactly one method');

const natsTlsSchema = tlsFilesSchema({ verifies: 'the server', certificate: 'the server certificate', description: 'TLS to the server (required when set)' });

const jetStreamObjectSchema = s
  .object({
    stream: s
      .string({ minLength: 1, maxLength: 255 })
      .refine((v, c) => {
        if (!STREAM_NAME.test(v)) c.report(c.path, `must be a stream name (no whitespace, '.', '*', '>', '/' or '\\'), got ${quoteString(v)}`);
      })
      .describe('stream that must store every message (acknowledged publish)'),
    create: s.boolean().default(false).describe('create the stream at connect when it does not exist'),
    subjects: s
      .array(s.string({ minLength: 1 }), { minItems: 1 })
      .optional()
      .describe('subjects of a created stream; default: the subject'),
    maxAge: seconds('age after which a created stream discards messages; default: kept until limits').optional(),
    duplicateWindow: seconds('window in which a created stream drops messages with a Nats-Msg-Id it has seen; default 120 (at most maxAge)').optional(),
  })
  .refine((v, c) => {
    if (v.create) return;
    for (const key of ['subjects', 'maxAge', 'duplicateWindow'] as const) {
      if (v[key] !== undefined) c.report(joinKey(c.path, key), 'only applies with create: true');
    }
  })
  .refine((v, c) => {
    if (v.maxAge !== undefined && v.duplicateWindow !== undefined && v.duplicateWindow > v.maxAge) {
      c.report(joinKey(c.path, 'duplicateWindow'), `must be ≤ maxAge (${v.maxAge}), got ${v.duplicateWindow}`);
    }
  });

export type NatsJetStreamSpec = Infer<typeof jetStreamObjectSchema>;

/**
 * `jetstream`: an object, or `false` for core NATS (as when it is absent). The CRD types the
 * field as an object (a structural schema has one type per field): in a custom resource, core
 * NATS is written by leaving the field out.
 */
class JetStreamSchema extends Schema<NatsJetStreamSpec> {
  protected decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): NatsJetStreamSpec | Invalid {
    if (value === false) return undefined as unknown as NatsJetStreamSpec; // read as absent by the object
    if (value === true) {
      issues.push({ path, reason: 'must be false or an object {stream: …}, got true (JetStream needs the name of its stream)' });
      return INVALID;
    }
    return jetStreamObjectSchema.decode(value, path, ctx, issues);
  }
  openApiBody(): OpenApiSchema {
    return jetStreamObjectSchema.openApiBody();
  }
}

export const natsOutputSchema = s
  .object({
    url: s
      .string({ minLength: 1 })
      .optional()
      .refine((v, c) => {
        const urls = splitNatsUrls(v);
        if (urls.length === 0) c.report(c.path, 'must list at least one nats:// URL');
        const withCredentials = urls.filter((u) => /^[a-z]+:\/\/[^@/?#]*@/i.test(u));
        urls.forEach((u) => {
          const problem = natsUrlProblem(u);
          if (problem !== undefined) c.report(c.path, urls.length === 1 ? problem : `${problem} (URL ${urls.indexOf(u) + 1} of ${urls.length})`);
        });
        if (withCredentials.length > 0 && withCredentials.length < urls.length) {
          c.report(c.path, 'must carry credentials in every URL or in none (or set auth)');
        }
      })
      .describe('server URLs, comma-separated: nats://host[:port],…; required unless managed'),
    managed: s
      .boolean()
      .default(false)
      .describe('strata operator runs a NATS server with JetStream in its namespace and points the sink at it (no url)'),
    subject: s
      .string({ minLength: 1 })
      .refine((v, c: Check) => {
        if (!SUBJECT.test(v)) c.report(c.path, `must be a subject to publish to (dot-separated tokens, no '*', '>' or whitespace), got ${quoteString(v)}`);
      })
      .describe('subject every message is published to'),
    auth: authSchema.optional(),
    tls: natsTlsSchema.optional(),
    jetstream: new JetStreamSchema()
      .optional()
      .describe('publish to this JetStream stream with acknowledgement (at-least-once); absent or false: core NATS (at-most-once)'),
    timeoutSeconds: seconds('longest wait for a connect, a flush or an acknowledgement').default(10),
  })
  .refine((v, c) => {
    if (v.managed && v.url !== undefined) c.report(joinKey(c.path, 'url'), 'must not be set with managed: true (the operator gives the URL)');
    if (!v.managed && v.url === undefined) c.report(joinKey(c.path, 'url'), 'required (or managed: true under strata operator)');
  })
  .refine((v, c) => {
    if (v.auth === undefined || v.url === undefined) return;
    if (splitNatsUrls(v.url).some((u) => /^[a-z]+:\/\/[^@/?#]*@/i.test(u))) {
      c.report(joinKey(c.path, 'url'), 'must not carry credentials when auth is set');
    }
  })
  .describe('publish messages to NATS (core or JetStream)');

export type NatsOutput = Infer<typeof natsOutputSchema>;

export { redactNatsUrl, splitNatsUrls };
