// SPDX-License-Identifier: Apache-2.0
/** Public surface of the self-metrics and the operator HTTP endpoints. */
export { StrataMetrics, OTHER_REASON, QUEUE_DELAY_BUCKETS, SCRAPE_DURATION_BUCKETS } from './metrics.js';
export type { CollectorTotals, StrataMetricsOptions } from './metrics.js';
export { startTelemetryServer } from './server.js';
export type { Readiness, TelemetryServer, TelemetryServerOptions } from './server.js';
