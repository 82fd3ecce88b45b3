// SPDX-License-Identifier: Apache-2.0
/**
 * Replicas coordinate through `coordination.k8s.io/v1` Leases in Strata's own namespace; the
 * Kubernetes API is the only coordinator (no gossip, no StatefulSet ordinals).
 *
 * `LeaseLock` takes, renews and releases one Lease with optimistic concurrency: every write
 * carries the resourceVersion it read, so of two replicas racing for a Lease one wins and the
 * other gets 409 Conflict. A Lease held by someone else counts as expired only when this
 * replica has seen no change of it for `leaseDurationSeconds` (client-go's rule: observed time,
 * not the holder's clock, so clock skew cannot steal a Lease).
 *
 * `ShardManager` (`--shards=N`; `--ha=leader` is the same with one shard) runs a loop every
 * `retryPeriodMs`:
 * 1. renew this replica's membership Lease (`strata-member-<identity>`) and read all Leases;
 * 2. live members are the membership Leases renewed within the lease duration; shares are
 *    dealt in identity order (the first N mod M members get ⌈N/M⌉ shards, the rest ⌊N/M⌋);
 * 3. renew the shard Leases held (`strata-shard-<i>`; `strata-leader` with `--ha=leader`); a
 *    shard whose renewal has not succeeded within `renewDeadlineMs` is dropped here first, so
 *    it is not scraped by two replicas once another takes it after the lease duration;
 * 4. above its share, a replica stops scraping its highest shards, then releases them
 *    (holder cleared), so a joining replica takes them at once, with no gap and no overlap;
 *    below its share, it takes free or expired shards.
 * `onChange(owned)` is called, before any release, whenever the owned set changes. A replica
 * that stops cleanly releases everything; one that dies is taken over after the lease duration.
 */
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';

export const LEASE_LABEL = 'strata.ctx.sh/lease';

export interface LeaseTiming {
  readonly leaseDurationSeconds: number;
  /** How long a held Lease may go without a successful renewal before it is dropped locally. */
  readonly renewDeadlineMs: number;
  /** How often the loop runs. */
  readonly retryPeriodMs: number;
}

export const DEFAULT_TIMING: LeaseTiming = { leaseDurationSeconds: 15, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** RFC 3339 with microseconds, as a Lease's MicroTime fields must be written. */
function microTime(d: Date): V1MicroTime {
  return new V1MicroTime(d.getTime());
}

export class LeaseLock {
  readonly #api: CoordinationV1Api;
  readonly namespace: string;
  readonly identity: string;
  readonly #durationSeconds: number;
  readonly #now: () => number;
  /** Per Lease: the last resourceVersion seen and when it was first seen. */
  readonly #observed = new Map<string, { rv: string; at: number }>();

  constructor(config: KubeConfig, namespace: string, identity: string, durationSeconds: number, now: () => number = Date.now) {
    this.#api = config.makeApiClient(CoordinationV1Api);
    this.namespace = namespace;
    this.identity = identity;
    this.#durationSeconds = durationSeconds;
    this.#now = now;
  }

  /** Every Lease of Strata in the namespace (label `strata.ctx.sh/lease`), observed. */
  async list(): Promise<V1Lease[]> {
    const list = await this.#api.listNamespacedLease({ namespace: this.namespace, labelSelector: LEASE_LABEL });
    for (const l of list.items) this.#observe(l);
    return list.items;
  }

  #observe(l: V1Lease): void {
    const name = l.metadata?.name ?? '';
    const rv = l.metadata?.resourceVersion ?? '';
    const seen = this.#observed.get(name);
    if (seen === undefined || seen.rv !== rv) this.#observed.set(name, { rv, at: this.#now() });
  }

  /** Whether `l` is held by a live holder: non-empty, and changed within its duration as observed here. */
  isHeld(l: V1Lease): boolean {
    const holder = l.spec?.holderIdentity ?? '';
    if (holder === '') return false;
    if (holder === this.identity) return true;
    const seen = this.#observed.get(l.metadata?.name ?? '');
    const duration = (l.spec?.leaseDurationSeconds ?? this.#durationSeconds) * 1000;
    return seen !== undefined && this.#now() - seen.at < duration;
  }

  /**
   * Takes or renews Lease `name` (`current`: as last read, or undefined to read it). True when
   * this replica holds it afterwards; false when someone else holds it or won the race.
   */
  async acquire(name: string, kind: string, current?: V1Lease): Promise<boolean> {
    let lease = current;
    if (lease === undefined) {
      try {
        lease = await this.#api.readNamespacedLease({ name, namespace: this.namespace });
        this.#observe(lease);
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw e;
        return this.#create(name, kind);
      }
    }
    const mine = lease.spec?.holderIdentity === this.identity;
    if (!mine && this.isHeld(lease)) return false;
    const now = microTime(new Date(this.#now()));
    const body: V1Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        holderIdentity: this.identity,
        leaseDurationSeconds: this.#durationSeconds,
        renewTime: now,
        ...(mine ? {} : { acquireTime: now, leaseTransitions: (lease.spec?.leaseTransitions ?? 0) + 1 }),
      },
    };
    try {
      const updated = await this.#api.replaceNamespacedLease({ name, namespace: this.namespace, body });
      this.#observe(updated);
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return false; // someone else wrote it first
      throw e;
    }
  }

  async #create(name: string, kind: string): Promise<boolean> {
    const now = microTime(new Date(this.#now()));
    try {
      const created = await this.#api.createNamespacedLease({
        namespace: this.namespace,
        body: {
          metadata: { name, namespace: this.namespace, labels: { [LEASE_LABEL]: kind } },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: this.#durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        },
      });
      this.#observe(created);
      return true;
    } catch (e) {
      if ((e as { code?: number }).code === 409) return false;
      throw e;
    }
  }

  /** Gives Lease `name` up if this replica holds it (holder cleared), so another can take it now. */
  async release(name: string): Promise<void> {
    try {
      const lease = await this.#api.readNamespacedLease({ name, namespace: this.namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      await this.#api.replaceNamespacedLease({ name, namespace: this.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } } });
    } catch {
      // it expires on its own
    }
  }

  async delete(name: string): Promise<void> {
    await this.#api.deleteNamespacedLease({ name, namespace: this.namespace }).catch(() => {});
  }
}

export interface ShardManagerOptions {
  readonly config: KubeConfig;
  readonly namespace: string;
  readonly identity: string;
  /** Number of shards; 1 with `leaderLease` for `--ha=leader`. */
  readonly shards: number;
  /** `--ha=leader`: the one shard is the Lease `strata-leader`. */
  readonly leaderLease?: boolean;
  readonly timing?: Partial<LeaseTiming>;
  readonly onChange?: (owned: ReadonlySet<number>) => void;
  readonly onError?: (message: string) => void;
  readonly now?: () => number;
}

export interface ShardState {
  readonly identity: string;
  readonly shards: number;
  readonly owned: readonly number[];
  readonly members: readonly string[];
  readonly share: number;
  readonly lastError: string | null;
  readonly takeovers: number;
}

export class ShardManager {
  readonly #o: ShardManagerOptions;
  readonly #lock: LeaseLock;
  readonly #timing: LeaseTiming;
  readonly #now: () => number;
  /** Shards held, with when their Lease was last renewed. */
  readonly #owned = new Map<number, number>();
  #members: string[] = [];
  #share = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | null = null;
  #stopped = false;
  #lastError: string | null = null;
  /** Shards taken from a holder that stopped renewing. */
  takeovers = 0;

  constructor(o: ShardManagerOptions) {
    this.#o = o;
    this.#timing = { ...DEFAULT_TIMING, ...o.timing };
    this.#now = o.now ?? Date.now;
    this.#lock = new LeaseLock(o.config, o.namespace, o.identity, this.#timing.leaseDurationSeconds, this.#now);
  }

  /** The shard of a target: a stable hash of its URL, modulo the number of shards. */
  static shardOf(url: string, shards: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < url.length; i++) {
      h ^= url.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    return (h >>> 0) % shards;
  }

  owns(url: string): boolean {
    return this.#owned.has(ShardManager.shardOf(url, this.#o.shards));
  }

  get owned(): ReadonlySet<number> {
    return new Set(this.#owned.keys());
  }

  state(): ShardState {
    return {
      identity: this.#o.identity,
      shards: this.#o.shards,
      owned: [...this.#owned.keys()].sort((a, b) => a - b),
      members: this.#members,
      share: this.#share,
      lastError: this.#lastError,
      takeovers: this.takeovers,
    };
  }

  /** Runs the first round now, then one every retry period. */
  async start(): Promise<void> {
    await this.#round();
    this.#timer = setInterval(() => {
      if (this.#running === null) this.#running = this.#round().finally(() => (this.#running = null));
    }, this.#timing.retryPeriodMs);
    this.#timer.unref();
  }

  /** Stops renewing without releasing anything, as a replica that died would (tests). */
  halt(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#owned.clear();
  }

  /** Stops scraping everything, then releases every Lease (a clean hand-over). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#running;
    const held = [...this.#owned.keys()];
    this.#owned.clear();
    this.#o.onChange?.(this.owned);
    await Promise.all(held.map((i) => this.#lock.release(this.#name(i))));
    await this.#lock.delete(this.#memberName());
  }

  #name(i: number): string {
    return this.#o.leaderLease === true ? 'strata-leader' : `strata-shard-${i}`;
  }

  #memberName(): string {
    return `strata-member-${this.#o.identity}`;
  }

  async #round(): Promise<void> {
    if (this.#stopped) return;
    const before = [...this.#owned.keys()].sort().join(',');
    try {
      await this.#lock.acquire(this.#memberName(), 'member');
      const leases = await this.#lock.list();
      const byName = new Map(leases.map((l) => [l.metadata?.name ?? '', l]));
      this.#members = leases
        .filter((l) => l.metadata?.labels?.[LEASE_LABEL] === 'member' && this.#lock.isHeld(l))
        .map((l) => l.spec?.holderIdentity ?? '')
        .filter((id) => id !== '')
        .sort();
      if (!this.#members.includes(this.#o.identity)) this.#members = [...this.#members, this.#o.identity].sort();
      const n = this.#o.shards;
      const m = this.#members.length;
      const rank = this.#members.indexOf(this.#o.identity);
      this.#share = Math.floor(n / m) + (rank < n % m ? 1 : 0);

      // Renew what is held; drop locally what could not be renewed in time.
      for (const i of [...this.#owned.keys()]) {
        const ok = await this.#lock.acquire(this.#name(i), 'shard', byName.get(this.#name(i))).catch((e: unknown) => {
          this.#lastError = `renew ${this.#name(i)}: ${String((e as Error).message ?? e)}`;
          return null;
        });
        if (ok === true) this.#owned.set(i, this.#now());
        else if (ok === false || this.#now() - (this.#owned.get(i) as number) > this.#timing.renewDeadlineMs) this.#owned.delete(i);
      }
      // Above the share: stop scraping the highest shards first, then release them.
      const extra = [...this.#owned.keys()].sort((a, b) => b - a).slice(0, Math.max(0, this.#owned.size - this.#share));
      if (extra.length > 0) {
        for (const i of extra) this.#owned.delete(i);
        this.#o.onChange?.(this.owned);
        await Promise.all(extra.map((i) => this.#lock.release(this.#name(i))));
      }
      // Below the share: take free or expired shards.
      for (let i = 0; i < n && this.#owned.size < this.#share; i++) {
        if (this.#owned.has(i)) continue;
        const lease = byName.get(this.#name(i));
        if (lease !== undefined && this.#lock.isHeld(lease)) continue;
        const wasHeld = lease !== undefined && (lease.spec?.holderIdentity ?? '') !== '';
        if (await this.#lock.acquire(this.#name(i), 'shard', lease)) {
          this.#owned.set(i, this.#now());
          if (wasHeld) this.takeovers++;
        }
      }
      this.#lastError = null;
    } catch (e) {
      this.#lastError = (e as Error).message ?? String(e);
      this.#o.onError?.(`shards: ${this.#lastError}`);
      for (const [i, at] of [...this.#owned]) if (this.#now() - at > this.#timing.renewDeadlineMs) this.#owned.delete(i);
    }
    const after = [...this.#owned.keys()].sort().join(',');
    if (after !== before) this.#o.onChange?.(this.owned);
  }
}
