// SPDX-License-Identifier: Apache-2.0
/**
 * The schema of a Collector's `output.http` (the sink in `src/sink/http.ts`), and the TLS block
 * the push sinks `http` and `fluent` share. Declared here beside its kind and listed in
 * `resources.ts` as `http`.
 *
 * Fields: `url` (http or https, required), `compression` (`none` or `gzip`), `headers` (names
 * are RFC 9110 tokens; the sink's own headers, Content-Type, Content-Encoding, Content-Length,
 * Host, Transfer-Encoding and Strata-Msg-Id, cannot be set, nor Authorization when `basicAuth` or
 * `bearerTokenFile` is), `bearerTokenFile` or `basicAuth {username, passwordFile}` (not both),
 * `tls {ca, cert, key, insecureSkipVerify}` (only with an https URL; cert and key together) and
 * `timeoutSeconds` (default 30).
 *
 * Validation reports every problem with its field path, e.g.
 * `spec.output.http.headers.Content-Type: is set by the sink, not here`.
 */
import { tlsFilesSchema } from './tls.js';
import { HTTP_RESERVED_HEADERS } from '../sink/http.js';
import { type Infer, joinKey, quoteString, s } from './schema.js';

/** An RFC 9110 field name. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value without control characters other than tab. */
const HEADER_VALUE = /^[^\u0000-\u0008\u000a-\u001f\u007f]*$/;

function httpUrlProblem(v: string): string | undefined {
  if (!/^https?:\/\//i.test(v)) return `must be an absolute http or https URL, got ${quoteString(v)}`;
  try {
    if (new URL(v).hostname === '') return `must name a host, got ${quoteString(v)}`;
  } catch {
    return `must be an absolute http or https URL, got ${quoteString(v)}`;
  }
  return undefined;
}

/** TLS of a push sink, with PEM file paths. */
export const sinkTlsSchema = tlsFilesSchema({ verifies: 'the server; default: the system roots', certificate: 'the server certificate', description: 'TLS to the server' });

export const httpOutputSchema = s
  .object({
    url: s
      .string()
      .refine((v, c) => {
        const problem = httpUrlProblem(v);
        if (problem !== undefined) c.report(c.path, problem);
      })
      .describe('URL every message is POSTed to'),
    compression: s.enum(['none', 'gzip']).default('none').describe('gzip each body (Content-Encoding: gzip)'),
    headers: s
      .map(
        s.string().refine((v, c) => {
          if (!HEADER_VALUE.test(v)) c.report(c.path, 'must not hold control characters (CR, LF, …)');
        }),
        {
          key: (k: string) => {
            if (!HEADER_NAME.test(k)) return `must be an HTTP header name (letters, digits and !#$%&'*+.^_\`|~-), got ${quoteString(k)}`;
            if ((HTTP_RESERVED_HEADERS as readonly string[]).includes(k.toLowerCase())) return 'is set by the sink, not here';
            return undefined;
          },
        },
      )
      .optional()
      .describe('extra headers of every request'),
    bearerTokenFile: s.string({ minLength: 1 }).optional().describe('file holding a bearer token (Authorization: Bearer), re-read every minute'),
    basicAuth: s
      .object({
        username: s
          .string({ minLength: 1 })
          .refine((v, c) => {
            if (/[:\u0000-\u001f\u007f]/.test(v)) c.report(c.path, `must not hold ":" or control characters (RFC 7617), got ${quoteString(v)}`);
          }),
        passwordFile: s.string({ minLength: 1 }).optional().describe('file holding the password, re-read every minute; default: empty password'),
      })
      .optional()
      .describe('HTTP basic authentication'),
    tls: sinkTlsSchema.optional(),
    timeoutSeconds: s.number({ exclusiveMinimum: 0, finite: true }).default(30).describe('longest one POST may take, connect to the end of the answer'),
  })
  .refine((v, c) => {
    if (v.basicAuth !== undefined && v.bearerTokenFile !== undefined) {
      c.report(joinKey(c.path, 'bearerTokenFile'), 'must not be set together with basicAuth (a request sends one Authorization header)');
    }
    if ((v.basicAuth !== undefined || v.bearerTokenFile !== undefined) && v.headers !== undefined) {
      for (const k of Object.keys(v.headers)) {
        if (k.toLowerCase() === 'authorization') c.report(joinKey(joinKey(c.path, 'headers'), k), 'must not be set together with basicAuth or bearerTokenFile');
      }
    }
    if (v.tls !== undefined && /^http:/i.test(v.url)) c.report(joinKey(c.path, 'tls'), 'only applies to an https URL');
  })
  .describe('POST each message to an HTTP(S) endpoint');

export type HttpOutput = Infer<typeof httpOutputSchema>;
