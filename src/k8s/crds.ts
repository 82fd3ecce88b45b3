// SPDX-License-Identifier: Apache-2.0
/**
 * The CustomResourceDefinitions (apiextensions.k8s.io/v1) of the Collector and Discovery
 * resources, generated from the same schemas as `strata validate` (src/config/resources.ts):
 * group `strata.ctx.sh`, version `v1beta1`, namespaced, short names `cx` and `dx`, the status
 * subresource, and printer columns for `kubectl get cx,dx`.
 *
 * `strata crds` prints them as one multi-document YAML; the same text is committed under
 * `deploy/crds/`, and a test fails when the two differ (regenerate with `npm run docs`).
 *
 * The spec's openAPIV3Schema is the schema's structural OpenAPI form (defaults included, so the
 * API server applies the same defaults as `strata validate`). Status is typed here: it is
 * written by the operator, never by users, and not validated by the resource schemas.
 */
import { stringify } from 'yaml';
import { collectorSpecSchema, discoverySpecSchema } from '../config/resources.js';
import { type OpenApiSchema, toOpenApi } from '../config/schema.js';

export const GROUP = 'strata.ctx.sh';
export const VERSION = 'v1beta1';

const int = (description: string): OpenApiSchema => ({ type: 'integer', format: 'int64', description });
const str = (description: string): OpenApiSchema => ({ type: 'string', description });

/** Collector status (DESIGN "Resources"), plus the last error an operator should see. */
export const COLLECTOR_STATUS: OpenApiSchema = {
  type: 'object',
  properties: {
    id: str('identifier of this Collector instance (a uuid)'),
    registeredDiscoveries: int('Discoveries that feed this Collector'),
    inFlightResources: int('targets being scraped now'),
    metricsCollected: int('samples scraped and parsed'),
    totalSent: int('samples the sink acknowledged'),
    totalErrors: int('failed scrapes'),
    totalFiltered: int('samples dropped by the filters'),
    totalDropped: int('samples lost after scraping, all reasons'),
    lastError: str('the most recent failure (scrape, worker or sink), with its time'),
    observedGeneration: int('the generation of the spec this status describes'),
  },
};

/** Discovery status (DESIGN "Resources"), plus the last error. */
export const DISCOVERY_STATUS: OpenApiSchema = {
  type: 'object',
  properties: {
    discoveredResourcesCount: int('targets found by the last discovery run'),
    lastDiscovered: { type: 'string', format: 'date-time', description: 'when the last discovery run ended' },
    readyCollectors: int('referenced Collectors that are running'),
    totalCollectors: int('referenced Collectors'),
    inFlightResources: int('targets queued and not yet taken'),
    lastError: str('the most recent failure (an API error, a refused annotation), with its time'),
    observedGeneration: int('the generation of the spec this status describes'),
  },
};

interface Column {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly priority?: number;
}

const AGE: Column = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

interface KindDef {
  readonly kind: string;
  readonly plural: string;
  readonly short: string;
  readonly spec: Parameters<typeof toOpenApi>[0];
  readonly status: OpenApiSchema;
  readonly columns: readonly Column[];
}

const KINDS: readonly KindDef[] = [
  {
    kind: 'Collector',
    plural: 'collectors',
    short: 'cx',
    spec: collectorSpecSchema,
    status: COLLECTOR_STATUS,
    columns: [
      { name: 'Enabled', type: 'boolean', jsonPath: '.spec.enabled' },
      { name: 'Collected', type: 'integer', jsonPath: '.status.metricsCollected' },
      { name: 'Sent', type: 'integer', jsonPath: '.status.totalSent' },
      { name: 'Errors', type: 'integer', jsonPath: '.status.totalErrors' },
      { name: 'Filtered', type: 'integer', jsonPath: '.status.totalFiltered' },
      { name: 'Registered', type: 'integer', jsonPath: '.status.registeredDiscoveries' },
      AGE,
    ],
  },
  {
    kind: 'Discovery',
    plural: 'discoveries',
    short: 'dx',
    spec: discoverySpecSchema,
    status: DISCOVERY_STATUS,
    columns: [
      { name: 'Enabled', type: 'boolean', jsonPath: '.spec.enabled' },
      { name: 'Ready Collectors', type: 'integer', jsonPath: '.status.readyCollectors' },
      { name: 'Total Collectors', type: 'integer', jsonPath: '.status.totalCollectors' },
      { name: 'Discovered', type: 'integer', jsonPath: '.status.discoveredResourcesCount' },
      { name: 'In Flight', type: 'integer', jsonPath: '.status.inFlightResources' },
      { name: 'Last', type: 'date', jsonPath: '.status.lastDiscovered' },
      AGE,
    ],
  },
];

/** The two CRDs as objects, Collector first. */
export function customResourceDefinitions(): OpenApiSchema[] {
  return KINDS.map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}`, labels: { 'app.kubernetes.io/name': 'strata' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: k.kind, listKind: `${k.kind}List`, plural: k.plural, singular: k.kind.toLowerCase(), shortNames: [k.short], categories: ['strata'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `Strata ${k.kind} (generated from src/config/resources.ts)`,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: { ...toOpenApi(k.spec), default: {} },
                status: k.status,
              },
            },
          },
        },
      ],
    },
  }));
}

/** `strata crds`: both CRDs as one multi-document YAML. */
export function renderCrds(): string {
  const header = '# Generated by `strata crds` from src/config/resources.ts; do not edit by hand.\n';
  return header + customResourceDefinitions().map((crd) => stringify(crd, { lineWidth: 0 })).join('---\n');
}
