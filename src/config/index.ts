// SPDX-License-Identifier: Apache-2.0
/** Public surface of the resource model: the Collector and Discovery resources and their schemas. */
export {
  API_VERSION,
  PLANNED_OUTPUTS,
  collectorSchema,
  discoverySchema,
  type Collector,
  type CollectorRef,
  type CollectorSpec,
  type Discovery,
  type DiscoverySpec,
  type LabelSelector,
  type ObjectMeta,
  type OutputSpec,
  type Resource,
  type ScrapeSpec,
  type StaticTarget,
  type TlsSpec,
} from './resources.js';
export { ROOT_PATH, formatResourceError, parseResources, resourceKey, validateResource } from './parse.js';
export type { ParseOptions, ResourceError } from './parse.js';
export { toOpenApi } from './schema.js';
export type { Infer, OpenApiSchema } from './schema.js';
