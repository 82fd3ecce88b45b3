// SPDX-License-Identifier: Apache-2.0
/**
 * A Collector's channel: one ring (lane) per worker thread, targets spread by a stable hash of
 * their record, so a target is scraped by the same worker every time and finds its series
 * cache warm there (a cache is per thread). Capacity is split evenly across the lanes.
 *
 * A worker takes from its own lane first and steals from the fullest other lane only when its
 * own is empty, so one slow or unlucky lane cannot hold targets while another worker idles.
 * Everything else (bounded, full means the caller retries or drops, close wakes waiters, closed
 * lanes still drain) is the ring's behaviour, see ring.ts.
 */
import { type AttachOptions, type ChannelRecord, TargetChannel } from './ring.js';

function hash(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

export interface LaneSetOptions {
  readonly lanes: number;
  /** Total capacity in records, split across the lanes (rounded up). */
  readonly capacity: number;
  readonly recordBytes: number;
}

export class LaneSet {
  readonly lanes: readonly TargetChannel[];
  readonly capacity: number;
  readonly recordBytes: number;

  constructor(init: LaneSetOptions | readonly TargetChannel[]) {
    if (Array.isArray(init)) {
      this.lanes = init as readonly TargetChannel[];
    } else {
      const o = init as LaneSetOptions;
      const n = Math.max(1, o.lanes);
      const per = Math.max(1, Math.ceil(o.capacity / n));
      this.lanes = Array.from({ length: n }, () => new TargetChannel({ capacity: per, recordBytes: o.recordBytes }));
    }
    this.capacity = this.lanes.reduce((a, l) => a + l.capacity, 0);
    this.recordBytes = (this.lanes[0] as TargetChannel).recordBytes;
  }

  /** Re-attaches a lane set in another thread. */
  static attach(buffers: readonly SharedArrayBuffer[], options: AttachOptions = {}): LaneSet {
    return new LaneSet(buffers.map((b) => TargetChannel.attach(b, options)));
  }

  get buffers(): SharedArrayBuffer[] {
    return this.lanes.map((l) => l.buffer);
  }

  get size(): number {
    let n = 0;
    for (const l of this.lanes) n += l.size;
    return n;
  }

  get closed(): boolean {
    return (this.lanes[0] as TargetChannel).closed;
  }

  laneOf(payload: Uint8Array): TargetChannel {
    return this.lanes[this.lanes.length === 1 ? 0 : hash(payload) % this.lanes.length] as TargetChannel;
  }

  tryPush(payload: Uint8Array): boolean {
    return this.laneOf(payload).tryPush(payload);
  }

  push(payload: Uint8Array, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.laneOf(payload).push(payload, timeoutMs, signal);
  }

  /**
   * Takes from lane `own` first, else steals from the fullest other lane holding more than
   * `stealAbove` records; null when there is nothing to take.
   */
  tryPop(own = 0, stealAbove = 0): ChannelRecord | null {
    const mine = this.lanes[own]?.tryPop() ?? null;
    if (mine !== null || this.lanes.length === 1) return mine;
    let best: TargetChannel | null = null;
    let depth = 0;
    for (let i = 0; i < this.lanes.length; i++) {
      if (i === own) continue;
      const l = this.lanes[i] as TargetChannel;
      const d = l.size;
      if (d > depth && d > stealAbove) {
        depth = d;
        best = l;
      }
    }
    return best === null ? null : best.tryPop();
  }

  close(): void {
    for (const l of this.lanes) l.close();
  }

  drain(): ChannelRecord[] {
    return this.lanes.flatMap((l) => l.drain());
  }
}
