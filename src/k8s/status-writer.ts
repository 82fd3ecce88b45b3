// SPDX-License-Identifier: Apache-2.0
/**
 * Writes each Collector's and Discovery's status subresource on its own timer (every
 * `intervalMs`, not on each discovery run), so `kubectl get cx,dx` shows live counts. A status
 * is written only when it changed since the last write to that resource. Writes are JSON merge
 * patches of `/status` (no resourceVersion: a status write never conflicts with a spec edit);
 * a 409 Conflict (another writer holding the status) is retried once after re-reading, and a
 * resource deleted in between (404) is forgotten. Failures are counted and the last one is kept
 * for `/status`; they never stop the timer.
 */
import { CustomObjectsApi, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION } from './crds.js';

export interface StatusEntry {
  readonly kind: 'Collector' | 'Discovery';
  readonly namespace: string;
  readonly name: string;
  readonly status: Readonly<Record<string, unknown>>;
}

export interface StatusWriterOptions {
  readonly config: KubeConfig;
  /** What to write now: one entry per resource in force. */
  readonly snapshot: () => readonly StatusEntry[];
  readonly intervalMs?: number;
  readonly onError?: (message: string) => void;
}

const PLURALS = { Collector: 'collectors', Discovery: 'discoveries' } as const;
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export class StatusWriter {
  readonly #options: StatusWriterOptions;
  readonly #api: CustomObjectsApi;
  readonly #written = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  writes = 0;
  failures = 0;
  lastError: string | null = null;

  constructor(options: StatusWriterOptions) {
    this.#options = options;
    this.#api = options.config.makeApiClient(CustomObjectsApi);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      if (this.#running === null) this.#running = this.writeOnce().finally(() => (this.#running = null));
    }, this.#options.intervalMs ?? 5000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Writes every status that changed since it was last written. */
  async writeOnce(): Promise<void> {
    const entries = this.#options.snapshot();
    const live = new Set<string>();
    for (const e of entries) {
      const key = `${e.kind}/${e.namespace}/${e.name}`;
      live.add(key);
      const body = JSON.stringify(e.status);
      if (this.#written.get(key) === body) continue;
      if (await this.#write(e)) this.#written.set(key, body);
    }
    for (const key of this.#written.keys()) if (!live.has(key)) this.#written.delete(key);
  }

  async #write(e: StatusEntry, retried = false): Promise<boolean> {
    try {
      await this.#api.patchNamespacedCustomObjectStatus(
        { group: GROUP, version: VERSION, namespace: e.namespace, plural: PLURALS[e.kind], name: e.name, body: { status: e.status } },
        MERGE_PATCH,
      );
      this.writes++;
      return true;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) return false; // deleted meanwhile: nothing to show it on
      if (code === 409 && !retried) return this.#write(e, true);
      this.failures++;
      this.lastError = `status of ${e.kind} ${e.namespace}/${e.name}: ${code === undefined ? String(err) : `HTTP ${code}`}`;
      this.#options.onError?.(this.lastError);
      return false;
    }
  }
}
