// SPDX-License-Identifier: Apache-2.0
/**
 * The registry: owns one channel (and one set of shared counters) per Collector, runs the
 * Collector's pool on it, and queues discovered targets into it.
 *
 * Invariants:
 * - The channel belongs to the registry, not to the pool. Replacing a Collector (new workers,
 *   filters, encoder, output) starts the new pool on the same channel before stopping the old
 *   one, so nothing queued is lost and collection does not pause. A new `bufferSize` gets a new
 *   channel; what was queued in the old one is moved over (what does not fit is counted).
 * - A full channel is retried until the deadline (the next discovery run), then the target is
 *   dropped and counted (`channel_full`).
 * - Deleting a Collector stops queueing at once, lets its pool drain the channel within the
 *   grace period, and counts what is left (`collector_deleted`).
 * - A disabled Collector keeps its channel and counters but runs no pool and takes no targets.
 */
import type { IncludeSpec } from '../discovery/tags.js';
import { LaneSet } from '../channel/index.js';
import { SharedCounters, TargetDropReason } from '../channel/counters.js';
import type { Collector, CollectorRef } from '../config/index.js';
import type { CollectorState, TargetQueue } from '../discovery/service.js';

/** A running pool of workers consuming a collector's channel. */
export interface PoolHandle {
  /** Asks the workers to finish what they hold and stop; waits at most `graceMs`, then forces. */
  stop(graceMs: number): Promise<void>;
  /** Tells the workers that discovery no longer lists these targets (by `targetKey`). */
  targetsGone?(keys: readonly string[]): void;
}

export interface PoolContext {
  readonly key: string;
  readonly resource: Collector;
  readonly channel: LaneSet;
  readonly counters: SharedCounters;
}

export type PoolFactory = (ctx: PoolContext) => PoolHandle;

export interface CollectorRuntime {
  readonly key: string;
  resource: Collector;
  channel: LaneSet;
  readonly counters: SharedCounters;
  pool: PoolHandle | null;
  /** Random id, kept across replacements (status.id). */
  readonly id: string;
  readonly registeredDiscoveries: Set<string>;
}

export interface RegistryOptions {
  readonly poolFactory: PoolFactory;
  /**
   * Largest target record in bytes. Default 2 KiB: a URL and its labels. A record of up to 240
   * bytes stays in its slot (256 bytes); only longer ones touch their slot's overflow area, so
   * the channel's resident memory is about bufferSize × 256 bytes plus the pages long records
   * used, whatever recordBytes is (see channel/layout.ts).
   */
  readonly recordBytes?: number;
  /** How long a stopping pool may take to finish what it holds. Default 10 s. */
  readonly graceMs?: number;
}

export const refKey = (ref: CollectorRef): string => `${ref.namespace}/${ref.name}`;

export class Registry implements TargetQueue {
  readonly #collectors = new Map<string, CollectorRuntime>();
  readonly #poolFactory: PoolFactory;
  readonly #recordBytes: number;
  readonly #graceMs: number;
  /** Targets counted after their collector was deleted. */
  deletedDrops = 0;
  #closed = false;

  constructor(options: RegistryOptions) {
    this.#poolFactory = options.poolFactory;
    this.#recordBytes = options.recordBytes ?? 2048;
    this.#graceMs = options.graceMs ?? 10_000;
  }

  get(key: string): CollectorRuntime | undefined {
    return this.#collectors.get(key);
  }

  collectors(): CollectorRuntime[] {
    return [...this.#collectors.values()];
  }

  /** Creates or replaces a Collector. */
  async applyCollector(resource: Collector): Promise<void> {
    const key = `${resource.metadata.namespace}/${resource.metadata.name}`;
    const existing = this.#collectors.get(key);
    if (existing === undefined) {
      const channel = this.#lanes(resource);
      const rt: CollectorRuntime = {
        key,
        resource,
        channel,
        counters: new SharedCounters(),
        pool: null,
        id: crypto.randomUUID(),
        registeredDiscoveries: new Set(),
      };
      this.#collectors.set(key, rt);
      if (resource.spec.enabled) rt.pool = this.#poolFactory({ key, resource, channel, counters: rt.counters });
      return;
    }
    const old = existing.pool;
    const oldChannel = existing.channel;
    const was = existing.resource.spec;
    existing.resource = resource;
    if (resource.spec.bufferSize !== was.bufferSize || resource.spec.workers !== was.workers) {
      existing.channel = this.#lanes(resource);
    }
    existing.pool = resource.spec.enabled
      ? this.#poolFactory({ key, resource, channel: existing.channel, counters: existing.counters })
      : null;
    if (old !== null) {
      if (existing.channel !== oldChannel) oldChannel.close();
      await old.stop(this.#graceMs);
    }
    if (existing.channel !== oldChannel) this.#move(oldChannel, existing);
  }

  /** Deletes a Collector: stop queueing, drain within the grace period, count the rest. */
  async deleteCollector(key: string): Promise<void> {
    const rt = this.#collectors.get(key);
    if (rt === undefined) return;
    this.#collectors.delete(key);
    rt.channel.close();
    if (rt.pool !== null) await rt.pool.stop(this.#graceMs);
    const left = rt.channel.drain().length;
    rt.counters.dropTarget(TargetDropReason.CollectorDeleted, left);
    this.deletedDrops += left;
  }

  targetsGone(ref: CollectorRef, keys: readonly string[]): void {
    this.#collectors.get(refKey(ref))?.pool?.targetsGone?.(keys);
  }

  includesOf(ref: CollectorRef): IncludeSpec | undefined {
    return this.#collectors.get(refKey(ref))?.resource.spec;
  }

  collectorState(ref: CollectorRef): CollectorState {
    const rt = this.#closed ? undefined : this.#collectors.get(refKey(ref));
    if (rt === undefined) return 'missing';
    return rt.resource.spec.enabled ? 'ready' : 'disabled';
  }

  async enqueue(
    ref: CollectorRef,
    payloads: readonly Uint8Array[],
    deadline: number,
    signal: AbortSignal,
  ): Promise<{ queued: number; dropped: number }> {
    const key = refKey(ref);
    let queued = 0;
    let dropped = 0;
    for (const payload of payloads) {
      for (;;) {
        const rt = this.#closed ? undefined : this.#collectors.get(key);
        if (rt === undefined || !rt.resource.spec.enabled) {
          dropped++;
          break;
        }
        const channel = rt.channel;
        if (payload.byteLength > channel.recordBytes) {
          // A target whose URL and labels do not fit a record: counted, never queued.
          rt.counters.dropTarget(TargetDropReason.TooLarge);
          dropped++;
          break;
        }
        if (channel.tryPush(payload)) {
          queued++;
          break;
        }
        const wait = deadline - Date.now();
        const pushed = wait > 0 && !signal.aborted ? await channel.push(payload, wait, signal) : false;
        if (pushed) {
          queued++;
          break;
        }
        // The channel may have been replaced (new bufferSize) while waiting: try the new one.
        if (rt.channel !== channel && this.#collectors.get(key) === rt && Date.now() < deadline) continue;
        rt.counters.dropTarget(TargetDropReason.ChannelFull);
        dropped++;
        break;
      }
    }
    return { queued, dropped };
  }

  /**
   * Shutdown: stops taking targets, lets every pool finish what it holds (each within the grace
   * period), and counts what was left queued (`collector_deleted`). The runtimes stay readable,
   * so final counts can be reported.
   */
  async close(): Promise<void> {
    const all = [...this.#collectors.values()];
    this.#closed = true;
    for (const rt of all) rt.channel.close();
    await Promise.all(all.map((rt) => rt.pool?.stop(this.#graceMs)));
    for (const rt of all) {
      const left = rt.channel.drain().length;
      rt.counters.dropTarget(TargetDropReason.CollectorDeleted, left);
      this.deletedDrops += left;
      rt.pool = null;
    }
  }

  /** One lane per worker, the Collector's bufferSize split across them. */
  #lanes(resource: Collector): LaneSet {
    return new LaneSet({ lanes: resource.spec.workers, capacity: resource.spec.bufferSize, recordBytes: this.#recordBytes });
  }

  #move(from: LaneSet, rt: CollectorRuntime): void {
    for (const rec of from.drain()) {
      if (!rt.channel.tryPush(rec.payload)) rt.counters.dropTarget(TargetDropReason.ChannelFull);
    }
  }
}
