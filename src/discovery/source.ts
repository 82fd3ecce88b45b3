// SPDX-License-Identifier: Apache-2.0
/**
 * Target sources: where a Discovery finds its targets. Static lists and target files here; the
 * Kubernetes sources (pods, services, endpoints) implement the same interface.
 */

import type { TargetResource } from './tags.js';

export interface DiscoveredTarget {
  readonly url: string;
  readonly labels: Readonly<Record<string, string>>;
  /** The Kubernetes object it was found on: each Collector adds what it includes of it (tags.ts). */
  readonly resource?: TargetResource;
}

export interface TargetSource {
  /** A short name for status and errors (`static`, `file:/path`). */
  readonly name: string;
  /** The current targets. Throws on a failure the service reports; last good results are kept by the source. */
  discover(signal: AbortSignal): Promise<readonly DiscoveredTarget[]>;
  close?(): void;
}

export class StaticSource implements TargetSource {
  readonly name = 'static';
  readonly #targets: readonly DiscoveredTarget[];

  constructor(targets: readonly DiscoveredTarget[]) {
    this.#targets = targets.map((t) => ({ url: t.url, labels: { ...t.labels } }));
  }

  async discover(): Promise<readonly DiscoveredTarget[]> {
    return this.#targets;
  }
}
