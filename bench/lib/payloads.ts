// SPDX-License-Identifier: Apache-2.0
/**
 * The benchmark payloads: cluster-mix bodies, generated once per process and cached on disk in
 * /tmp/strata-bench (keyed by generator version, series, seed and scrape, so a changed generator
 * never serves stale bytes). Generating 100k series takes a couple of seconds; reading the cache
 * takes milliseconds.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  type ClusterMixDescription,
  GENERATOR_VERSION,
  dataSetName,
  generateClusterMixWithDescription,
} from '../data/cluster-mix.js';
import { env } from './env.js';

export interface Payload {
  readonly body: Buffer;
  readonly description: ClusterMixDescription;
}

const CACHE_DIR = '/tmp/strata-bench';
const memo = new Map<string, Payload>();

function writeAtomically(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

/** The cluster-mix payload for `scrape` (same series every scrape, different values). */
export function clusterMix(scrape = 0, series: number = env.series, seed: number = env.seed): Payload {
  const key = `${dataSetName(series)}-seed${seed}-scrape${scrape}-v${GENERATOR_VERSION}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const file = path.join(CACHE_DIR, `${key}.prom`);
  const meta = `${file}.json`;
  let payload: Payload;
  if (existsSync(file) && existsSync(meta)) {
    payload = { body: readFileSync(file), description: JSON.parse(readFileSync(meta, 'utf8')) as ClusterMixDescription };
    if (payload.body.length !== payload.description.bytes) payload = generate();
  } else {
    payload = generate();
  }
  memo.set(key, payload);
  return payload;

  function generate(): Payload {
    const { body, description } = generateClusterMixWithDescription({ series, seed, scrape });
    mkdirSync(CACHE_DIR, { recursive: true });
    writeAtomically(file, body);
    writeAtomically(meta, JSON.stringify(description, null, 2));
    return { body, description };
  }
}

/** Default file for the CLI benchmark: `/tmp/cluster-100k.prom` for 100k series. */
export function defaultClusterMixFile(series: number = env.series): string {
  return `/tmp/${dataSetName(series).replace('cluster-mix-', 'cluster-')}.prom`;
}

/** Makes sure `file` holds exactly the scrape-0 payload (rewrites it if not); returns it. */
export function clusterMixFile(file: string = defaultClusterMixFile(), series: number = env.series, seed: number = env.seed): Payload {
  const payload = clusterMix(0, series, seed);
  const current = existsSync(file) ? readFileSync(file) : undefined;
  if (current === undefined || !current.equals(payload.body)) writeAtomically(file, payload.body);
  return payload;
}

/** One line naming the data set, for table headers. */
export function payloadLine(p: Payload): string {
  const d = p.description;
  return `data set ${d.name}: ${d.series.toLocaleString('en')} series (${d.byType.counter.series} counter, ${d.byType.gauge.series} gauge, ` +
    `${d.byType.histogram.series} histogram, ${d.byType.summary.series} summary, ${d.byType.untyped.series} untyped lines), ` +
    `${(d.bytes / 1e6).toFixed(1)} MB, ${d.samples.toLocaleString('en')} samples after ${d.nanDropped} NaN drops`;
}
