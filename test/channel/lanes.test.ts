// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { LaneSet } from '../../src/channel/index.js';

const rec = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (r: { payload: Uint8Array } | null): string | null => (r === null ? null : new TextDecoder().decode(r.payload));

describe('lanes', () => {
  it('puts the same record in the same lane every time, and splits the capacity', () => {
    const lanes = new LaneSet({ lanes: 3, capacity: 10, recordBytes: 64 });
    expect(lanes.lanes.map((l) => l.capacity)).toEqual([4, 4, 4]);
    const a = lanes.laneOf(rec('target-a'));
    for (let i = 0; i < 5; i++) expect(lanes.laneOf(rec('target-a'))).toBe(a);
    const used = new Set(Array.from({ length: 50 }, (_, i) => lanes.laneOf(rec(`t${i}`))));
    expect(used.size).toBe(3);
  });

  it('takes from its own lane first and steals from the fullest other lane only when empty', () => {
    const lanes = new LaneSet({ lanes: 2, capacity: 100, recordBytes: 64 });
    const own: string[] = [];
    const other: string[] = [];
    for (let i = 0; own.length < 2 || other.length < 3; i++) {
      const r = `t${i}`;
      if (lanes.laneOf(rec(r)) === lanes.lanes[0]) {
        if (own.length < 2) {
          own.push(r);
          lanes.tryPush(rec(r));
        }
      } else if (other.length < 3) {
        other.push(r);
        lanes.tryPush(rec(r));
      }
    }
    expect([text(lanes.tryPop(0)), text(lanes.tryPop(0))]).toEqual(own);
    expect(text(lanes.tryPop(0))).toBe(other[0]); // stolen
    expect(lanes.size).toBe(2);
    lanes.close();
    expect(lanes.drain().map(text)).toEqual(other.slice(1));
    expect(lanes.tryPop(0)).toBeNull();
  });

  it('re-attaches from its buffers in another thread', () => {
    const lanes = new LaneSet({ lanes: 2, capacity: 8, recordBytes: 64 });
    lanes.tryPush(rec('x'));
    const again = LaneSet.attach(lanes.buffers);
    expect(again.size).toBe(1);
    expect(text(again.tryPop(1))).toBe('x');
  });
});
