// SPDX-License-Identifier: Apache-2.0
/**
 * Replicas sharing work through Leases on the API server fixture, with short lease timings:
 * a leader and a standby (failover within the lease duration), and three replicas with eight
 * shards (each shard owned by exactly one replica, none unowned), then one stopped cleanly,
 * one dying without a word, and one joining, with no shard ever owned by two at once.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardManager } from '../../src/k8s/lease.js';
import { ApiServer } from '../fixtures/k8s/api-server.js';

const timing = { leaseDurationSeconds: 2, renewDeadlineMs: 1300, retryPeriodMs: 200 };

async function until(cond: () => boolean, what: string, timeoutMs = 20_000, onTick?: () => void): Promise<number> {
  const started = Date.now();
  while (!cond()) {
    onTick?.();
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - started;
}

describe('Lease-owned shards', () => {
  let server: ApiServer;
  let config: KubeConfig;
  beforeAll(async () => {
    server = await ApiServer.start();
    server.upsert({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'strata' } });
    config = new KubeConfig();
    config.loadFromFile(server.writeKubeconfig('strata'));
  }, 30_000);
  afterAll(async () => {
    await server.close();
  });

  const manager = (identity: string, shards: number, leaderLease = false): ShardManager =>
    new ShardManager({ config, namespace: 'strata', identity, shards, leaderLease, timing });

  it('hashes a target to a stable shard', () => {
    expect(ShardManager.shardOf('http://10.0.0.1:9100/metrics', 8)).toBe(ShardManager.shardOf('http://10.0.0.1:9100/metrics', 8));
    const spread = new Set(Array.from({ length: 200 }, (_, i) => ShardManager.shardOf(`http://10.0.${i}.1:9100/metrics`, 8)));
    expect(spread.size).toBe(8);
  });

  it('elects one leader, and a standby takes over within the lease duration when the leader dies', async () => {
    const a = manager('replica-a', 1, true);
    const b = manager('replica-b', 1, true);
    await a.start();
    await b.start();
    try {
      await until(() => a.owned.size + b.owned.size === 1, 'one leader');
      const [leader, standby] = a.owned.size === 1 ? [a, b] : [b, a];
      expect(server.get('Lease', 'strata', 'strata-leader')?.spec).toMatchObject({ holderIdentity: leader.state().identity });
      leader.halt();
      const took = await until(() => standby.owned.size === 1, 'the standby to take over');
      expect(took).toBeLessThan(timing.leaseDurationSeconds * 1000 + 3000);
      expect(standby.takeovers).toBe(1);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 60_000);

  it('splits 8 shards over 3 replicas with no overlap and no gap, through a clean stop, a death and a join', async () => {
    const owners = (ms: ShardManager[]): number[][] => Array.from({ length: 8 }, (_, i) => ms.flatMap((m, j) => (m.owned.has(i) ? [j] : [])));
    const noOverlap = (ms: ShardManager[]): void => {
      for (const [i, o] of owners(ms).entries()) expect(o.length, `shard ${i} owners`).toBeLessThanOrEqual(1);
    };
    const complete = (ms: ShardManager[]): boolean => {
      const sizes = ms.map((m) => m.owned.size);
      return owners(ms).every((o) => o.length === 1) && Math.max(...sizes) - Math.min(...sizes) <= 1;
    };
    const ms = ['r1', 'r2', 'r3'].map((id) => manager(id, 8));
    for (const m of ms) await m.start();
    try {
      await until(() => complete(ms), 'every shard owned once', 20_000, () => noOverlap(ms));
      expect(ms.map((m) => m.owned.size).sort()).toEqual([2, 3, 3]);

      await (ms[0] as ShardManager).stop(); // a clean stop hands its shards over at once
      const live = ms.slice(1);
      await until(() => complete(live), 'the two left to own every shard', 20_000, () => noOverlap(live));
      expect(live.map((m) => m.owned.size)).toEqual([4, 4]);

      const joiner = manager('r4', 8);
      await joiner.start();
      const three = [...live, joiner];
      await until(() => complete(three), 'the joiner to get its share', 20_000, () => noOverlap(three));
      expect(three.map((m) => m.owned.size).sort()).toEqual([2, 3, 3]);

      (live[0] as ShardManager).halt(); // dies without a word: taken over after the lease duration
      const two = [live[1] as ShardManager, joiner];
      const took = await until(() => complete(two), 'the others to take the dead replica\'s shards', 30_000, () => noOverlap(two));
      expect(took).toBeLessThan(2 * timing.leaseDurationSeconds * 1000 + 5000);
      expect(two.map((m) => m.owned.size)).toEqual([4, 4]);
      await joiner.stop();
    } finally {
      for (const m of ms) await m.stop();
    }
  }, 120_000);
});
