// SPDX-License-Identifier: Apache-2.0
/**
 * The schema of a Collector's `output.statsd` (the sink in `src/sink/statsd.ts`). Declared here
 * beside its kind and listed in `resources.ts` as `statsd`.
 *
 * Fields: `host` (a host name or IP address, required), `port` (default 8125), `protocol`
 * (`udp`, the default, or `tcp`), `maxDatagramBytes` (UDP only, 64 to 65507, default 1432: one
 * datagram on a 1500-byte MTU), and the line format, which the statsd encoder writes and the
 * sink only carries: `tagStyle` (`dogstatsd`, the default, `telegraf` or `none`), `prefix`
 * (prepended to every name with a `.`) and `counterAs` (`gauge`, the default, since Prometheus
 * counters are cumulative, or `counter`, only right for delta sources). The Collector's
 * `encoder` must be `statsd` with this output.
 */
import { type Infer, joinKey, quoteString, s } from './schema.js';

/** A host name (RFC 1123 labels), an IPv4 address or an IPv6 address (without brackets). */
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$|^[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*$/;

export function hostProblem(v: string): string | undefined {
  return v.length <= 253 && HOST.test(v) ? undefined : `must be a host name or an IP address, got ${quoteString(v)}`;
}

export const hostSchema = s.string({ minLength: 1 }).refine((v, c) => {
  const problem = hostProblem(v);
  if (problem !== undefined) c.report(c.path, problem);
});

export const statsdOutputSchema = s
  .object({
    host: hostSchema.describe('statsd daemon host'),
    port: s.integer({ minimum: 1, maximum: 65535 }).default(8125).describe('statsd daemon port'),
    protocol: s.enum(['udp', 'tcp']).default('udp').describe('udp (no acknowledgement, at-most-once) or tcp'),
    maxDatagramBytes: s
      .integer({ minimum: 64, maximum: 65507 })
      .default(1432)
      .describe('largest UDP datagram; lines are packed up to it and a longer line is dropped and counted (too_large)'),
    tagStyle: s.enum(['dogstatsd', 'telegraf', 'none']).default('dogstatsd').describe('how tags are written: name:1|g|#k:v, name,k=v:1|g, or dropped'),
    prefix: s.string({ minLength: 1 }).optional().describe('prepended to every metric name, joined with a dot'),
    counterAs: s.enum(['gauge', 'counter']).default('gauge').describe('statsd type of Prometheus counters; counter (|c) only for delta sources'),
  })
  .refine((v, c) => {
    if (v.protocol === 'tcp' && v.maxDatagramBytes !== 1432) c.report(joinKey(c.path, 'maxDatagramBytes'), 'only applies to protocol udp');
  })
  .describe('send statsd lines to a statsd daemon (etsy statsd, DogStatsD, Telegraf)');

export type StatsdOutput = Infer<typeof statsdOutputSchema>;
