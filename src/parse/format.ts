// SPDX-License-Identifier: Apache-2.0
/**
 * Exposition formats and their choice by Content-Type.
 *
 * `application/openmetrics-text` (any version) selects OpenMetrics 1.0; `text/plain` (0.0.4),
 * a missing header and anything else select the Prometheus text format, as Prometheus falls
 * back to it.
 */

export const ExpositionFormat = {
  Prometheus: 'prometheus',
  OpenMetrics: 'openmetrics',
} as const;
export type ExpositionFormat = (typeof ExpositionFormat)[keyof typeof ExpositionFormat];

export function formatFromContentType(contentType: string | undefined): ExpositionFormat {
  if (contentType === undefined) return ExpositionFormat.Prometheus;
  const semi = contentType.indexOf(';');
  const media = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  return media === 'application/openmetrics-text' ? ExpositionFormat.OpenMetrics : ExpositionFormat.Prometheus;
}

/** The Accept header a scraper sends: OpenMetrics preferred, 0.0.4 as fallback. */
export const ACCEPT_HEADER =
  'application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
