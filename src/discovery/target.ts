// SPDX-License-Identifier: Apache-2.0
/**
 * A scrape target as discovery produces it and the channel carries it.
 *
 * Wire form (a channel record's payload): compact UTF-8 JSON
 * `{"u": url, "l": {labels}, "d": "namespace/name of the Discovery", "i": intervalMs}`.
 * Labels are the target's tags (static labels, and in Kubernetes the included resource labels,
 * annotations and metadata). A record that does not decode is dropped and counted by the worker.
 */

export interface Target {
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  /** `namespace/name` of the Discovery that produced it. */
  readonly discovery: string;
  /** The Discovery's interval: a target older than this when taken from the channel is stale. */
  readonly intervalMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeTarget(t: Target): Uint8Array {
  return encoder.encode(JSON.stringify({ u: t.url, l: t.labels, d: t.discovery, i: t.intervalMs }));
}

/** Decodes a channel payload; null when it is not a target record. */
export function decodeTarget(payload: Uint8Array): Target | null {
  try {
    const o = JSON.parse(decoder.decode(payload)) as { u?: unknown; l?: unknown; d?: unknown; i?: unknown };
    if (typeof o.u !== 'string' || typeof o.d !== 'string' || typeof o.i !== 'number') return null;
    const labels = o.l !== null && typeof o.l === 'object' ? (o.l as Record<string, string>) : {};
    return { url: o.u, labels, discovery: o.d, intervalMs: o.i };
  } catch {
    return null;
  }
}

/** A stable identity of a target within a collector: its URL and its labels. */
export function targetKey(t: Pick<Target, 'url' | 'labels'>): string {
  const keys = Object.keys(t.labels).sort();
  let key = t.url;
  for (const k of keys) key += `\u0000${k}=${t.labels[k] as string}`;
  return key;
}
