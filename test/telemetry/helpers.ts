// SPDX-License-Identifier: Apache-2.0
/** Shared helpers of the telemetry tests: instances cleaned up after each test, a scrape parser. */
import { afterEach, expect } from 'vitest';
import { parseExposition } from '../../src/parse/index.js';
import type { Sample } from '../../src/sample.js';
import { type CollectorTotals, type Readiness, StrataMetrics, type TelemetryServer, startTelemetryServer } from '../../src/telemetry/index.js';
import { get } from '../demo/http.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

export function metrics(options: ConstructorParameters<typeof StrataMetrics>[0] = { defaultMetrics: false }): StrataMetrics {
  const m = new StrataMetrics(options);
  cleanup.push(() => m.close());
  return m;
}

export async function serve(m: StrataMetrics, status: () => unknown = () => ({}), ready: () => boolean | Readiness = () => true): Promise<TelemetryServer> {
  const s = await startTelemetryServer({ port: 0, host: '127.0.0.1', metrics: m, status, ready });
  cleanup.push(() => s.close());
  return s;
}

export function totals(over: Partial<CollectorTotals> = {}): CollectorTotals {
  return { collected: 0, filtered: 0, clamped: 0, sent: 0, errors: {}, dropped: {}, targetsUp: 0, channelDepth: 0, ...over };
}

export async function scrape(s: TelemetryServer): Promise<Sample[]> {
  const r = await get(`${s.url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(r.body, { contentType: r.headers['content-type'] as string }).batch.toSamples();
}

export function value(samples: Sample[], name: string, tags: Record<string, string>): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(tags).every(([k, v]) => s.tags[k] === v))?.value;
}
