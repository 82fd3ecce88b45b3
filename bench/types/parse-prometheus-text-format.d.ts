// SPDX-License-Identifier: Apache-2.0
// Types for parse-prometheus-text-format 1.1.1 (it ships none), as far as the benchmarks use it.
declare module 'parse-prometheus-text-format' {
  export interface PrometheusMetric {
    labels?: Record<string, string>;
    value?: string;
    timestamp_ms?: string;
    buckets?: Record<string, string>;
    quantiles?: Record<string, string>;
    count?: string;
    sum?: string;
  }
  export interface PrometheusFamily {
    name: string;
    help: string;
    /** Upper case: COUNTER, GAUGE, SUMMARY, HISTOGRAM, UNTYPED. */
    type: string;
    metrics: PrometheusMetric[];
  }
  export default function parsePrometheusTextFormat(text: string): PrometheusFamily[];
}
