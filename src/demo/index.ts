// SPDX-License-Identifier: Apache-2.0
/** Public surface of the demo target: a synthetic, high-cardinality Kubernetes exporter. */
export { createDemoExposition } from './exposition.js';
export type { ChurnOptions, DemoDescription, DemoExposition, DemoExpositionOptions, DemoType } from './exposition.js';
export { startDemoTarget, METRICS_CONTENT_TYPE } from './target.js';
export type { DemoTarget, DemoTargetOptions } from './target.js';
