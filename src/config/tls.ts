// SPDX-License-Identifier: Apache-2.0
/**
 * The TLS block every TLS peer takes (scrape targets, and the NATS, Kafka, remote write, http
 * and fluent outputs): PEM file paths `ca`, `cert`, `key` and `insecureSkipVerify`; `cert` and
 * `key` go together. Only the words naming the peer differ.
 */
import { joinKey, s } from './schema.js';

export interface TlsWords {
  /** What the CA verifies, e.g. "the server; default: the system roots". */
  readonly verifies: string;
  /** What insecureSkipVerify skips, e.g. "the server certificate". */
  readonly certificate: string;
  /** The block's description. */
  readonly description: string;
}

export function tlsFilesSchema(words: TlsWords) {
  return s
    .object({
      ca: s.string({ minLength: 1 }).optional().describe(`PEM file of the CA bundle that verifies ${words.verifies}`),
      cert: s.string({ minLength: 1 }).optional().describe('PEM file of the client certificate'),
      key: s.string({ minLength: 1 }).optional().describe('PEM file of the client key'),
      insecureSkipVerify: s.boolean().default(false).describe(`do not verify ${words.certificate}`),
    })
    .refine((v, c) => {
      if (v.cert !== undefined && v.key === undefined) c.report(joinKey(c.path, 'key'), 'required when cert is set');
      if (v.key !== undefined && v.cert === undefined) c.report(joinKey(c.path, 'cert'), 'required when key is set');
    })
    .describe(words.description);
}
