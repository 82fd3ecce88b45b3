// SPDX-License-Identifier: Apache-2.0
/**
 * The types inferred from the schemas are exactly the ones the rest of Strata codes against.
 * These are compile-time checks (`npx tsc --noEmit`); at run time they only need to load.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type * as config from '../../src/config/index.js';
import type { FluentOutput } from '../../src/config/output-fluent.js';
import type { HttpOutput } from '../../src/config/output-http.js';
import type { KafkaOutputSpec } from '../../src/config/output-kafka.js';
import type { NatsOutput } from '../../src/config/output-nats.js';
import type { StatsdOutput } from '../../src/config/output-statsd.js';
import type { FilterConfig } from '../../src/filter/config.js';

type API_VERSION = 'strata.ctx.sh/v1beta1';
interface ObjectMeta { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; uid?: string; generation?: number; resourceVersion?: string }
interface CollectorRef { name: string; namespace: string }
interface RemoteWriteOutput {
  url: string;
  headers?: Record<string, string>;
  basicAuth?: { username: string; passwordFile?: string };
  bearerTokenFile?: string;
  tls?: { ca?: string; cert?: string; key?: string; insecureSkipVerify: boolean };
  timeoutSeconds: number;
  maxSamplesPerSend: number;
  staleMarkers: boolean;
}
// Each sink's own fields are pinned by its output-*.ts schema and its tests; here, the union.
type OutputSpec =
  | { stdout: {} }
  | { file: { path: string; maxBytes: number; maxFiles: number } }
  | { nats: NatsOutput }
  | { kafka: KafkaOutputSpec }
  | { remoteWrite: RemoteWriteOutput }
  | { http: HttpOutput }
  | { statsd: StatsdOutput }
  | { fluent: FluentOutput };
interface TlsSpec { ca?: string; cert?: string; key?: string; insecureSkipVerify: boolean }
interface ScrapeSpec {
  timeoutSeconds: number;
  maxBodyBytes: number;
  sampleLimit: number;
  sampleLimitPolicy: 'fail' | 'truncate';
  concurrency: number;
  bodyConcurrency: number;
  maxLineBytes: number;
  labelLimit: number;
  labelNameLengthLimit: number;
  labelValueLengthLimit: number;
  targetSeries?: boolean;
  basicAuth?: { username: string; passwordFile: string };
  bearerTokenFile?: string;
}
interface BufferSpec { maxBytes: number; policy: 'block' | 'dropOldest' | 'dropNewest'; path?: string; spoolMaxBytes?: number; maxAgeSeconds?: number }
interface CollectorSpec { enabled: boolean; workers: number; bufferSize: number; encoder: 'json' | 'fluent' | 'statsd'; includeLabels: string[]; includeAnnotations: string[]; includeMetadata: boolean; honorLabels: boolean; filters: FilterConfig; output: OutputSpec; tls?: TlsSpec; scrape: ScrapeSpec; seriesBudget: { maxSeries: number; policy: 'dropNew' | 'failTarget' }; batch: { maxSamples: number; maxBytes: number }; buffer: BufferSpec }
interface LabelSelector { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[] }
interface StaticTarget { url: string; labels: Record<string, string> }
interface DiscoverySpec { collector: CollectorRef[]; selector: LabelSelector; enabled: boolean; intervalSeconds: number; prefix: string; resources: { pods: boolean; services: boolean; endpoints: boolean }; static: StaticTarget[]; files: string[] }
interface Collector { apiVersion: API_VERSION; kind: 'Collector'; metadata: ObjectMeta; spec: CollectorSpec }
interface Discovery { apiVersion: API_VERSION; kind: 'Discovery'; metadata: ObjectMeta; spec: DiscoverySpec }

describe('resource types', () => {
  it('are inferred from the schemas as the API promises', () => {
    expectTypeOf<typeof config.API_VERSION>().toEqualTypeOf<API_VERSION>();
    expectTypeOf<config.ObjectMeta>().toEqualTypeOf<ObjectMeta>();
    expectTypeOf<config.CollectorRef>().toEqualTypeOf<CollectorRef>();
    expectTypeOf<config.OutputSpec>().toEqualTypeOf<OutputSpec>();
    expectTypeOf<config.TlsSpec>().toEqualTypeOf<TlsSpec>();
    expectTypeOf<config.ScrapeSpec>().toEqualTypeOf<ScrapeSpec>();
    expectTypeOf<config.CollectorSpec>().toEqualTypeOf<CollectorSpec>();
    expectTypeOf<config.LabelSelector>().toEqualTypeOf<LabelSelector>();
    expectTypeOf<config.StaticTarget>().toEqualTypeOf<StaticTarget>();
    expectTypeOf<config.DiscoverySpec>().toEqualTypeOf<DiscoverySpec>();
    expectTypeOf<config.Collector>().toEqualTypeOf<Collector>();
    expectTypeOf<config.Discovery>().toEqualTypeOf<Discovery>();
    expectTypeOf<config.Resource>().toEqualTypeOf<Collector | Discovery>();
    expectTypeOf<config.Infer<typeof config.collectorSchema>>().toEqualTypeOf<Collector>();
  });
});
