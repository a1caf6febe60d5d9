import { describe, expect, it } from 'vitest';
import { rendezvousOrder } from './rendezvous.ts';

const KEYS = Array.from({ length: 20_000 }, (_, i) => `shop@d1:/p/${i}?v=${i % 7}`);

function owners(members: string[]): Map<string, string> {
  return new Map(KEYS.map((k) => [k, rendezvousOrder(k, members)[0] as string]));
}

describe('rendezvousOrder', () => {
  it('orders every member once, the same whatever order they are given in', () => {
    const a = rendezvousOrder('k', ['g-1', 'g-2', 'g-3', 'g-2']);
    expect([...a].sort()).toEqual(['g-1', 'g-2', 'g-3']);
    expect(rendezvousOrder('k', ['g-3', 'g-1', 'g-2'])).toEqual(a);
    expect(rendezvousOrder('k', [])).toEqual([]);
  });

  it('spreads keys evenly over the members', () => {
    for (const n of [2, 3, 5]) {
      const members = Array.from({ length: n }, (_, i) => `g-${i}`);
      const counts = new Map<string, number>();
      for (const owner of owners(members).values()) {
        counts.set(owner, (counts.get(owner) ?? 0) + 1);
      }
      const share = KEYS.length / n;
      for (const m of members) {
        // 20,000 keys: a fair share within ±5 % (binomial sd is < 1 %).
        expect(Math.abs((counts.get(m) ?? 0) - share) / share, `${m} of ${n}`).toBeLessThan(0.05);
      }
    }
  });

  it('moves only the keys of a member that leaves, each to the next of its order, and back when it returns', () => {
    const all = ['g-a', 'g-b', 'g-c', 'g-d'];
    const before = owners(all);
    const after = owners(['g-a', 'g-c', 'g-d']);
    let moved = 0;
    for (const k of KEYS) {
      if (before.get(k) === 'g-b') {
        moved++;
        expect(after.get(k)).toBe(rendezvousOrder(k, all)[1]);
      } else {
        expect(after.get(k)).toBe(before.get(k));
      }
    }
    expect(moved).toBeGreaterThan(KEYS.length / 4 - KEYS.length / 20);
    expect(owners(all)).toEqual(before);
  });

  it('moves only a fair share of keys to a member that joins', () => {
    const before = owners(['g-a', 'g-b']);
    const after = owners(['g-a', 'g-b', 'g-new']);
    let moved = 0;
    for (const k of KEYS) {
      if (after.get(k) !== before.get(k)) {
        moved++;
        expect(after.get(k)).toBe('g-new');
      }
    }
    expect(Math.abs(moved - KEYS.length / 3) / (KEYS.length / 3)).toBeLessThan(0.05);
  });
});
