import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '@flotilla/test-harness';
import { afterEach, describe, expect, it } from 'vitest';
import {
  autoscalerLeaseKey,
  isCasConflict,
  LeaderLease,
  type LeaderLeaseOptions,
  type LeaseLossReason,
  type LeaseRecord,
  type LeaseStore,
} from './lease.ts';
import { MemoryLeaseStore } from './memory-lease-store.ts';

/** An in-memory store whose clients can be cut off (calls fail like a lost connection). */
class MemoryKv {
  readonly store = new MemoryLeaseStore();

  client(down: () => boolean = () => false): LeaseStore {
    const check = async () => {
      await delay(1);
      if (down()) throw new Error('connection lost');
    };
    return {
      get: async (key) => {
        await check();
        return this.store.get(key);
      },
      create: async (key, value) => {
        await check();
        return this.store.create(key, value);
      },
      update: async (key, value, revision) => {
        await check();
        return this.store.update(key, value, revision);
      },
      delete: async (key, options) => {
        await check();
        return this.store.delete(key, options);
      },
    };
  }

  get entries() {
    return { get: (key: string) => this.store.peek(key) };
  }

  write(key: string, value: Uint8Array): number {
    return this.store.put(key, value);
  }

  record(key: string): LeaseRecord | undefined {
    const e = this.store.peek(key);
    if (e?.operation !== 'PUT') return undefined;
    return JSON.parse(new TextDecoder().decode(e.value)) as LeaseRecord;
  }
}

const leases: LeaderLease[] = [];
afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.close()));
});

interface Tracked {
  lease: LeaderLease;
  events: Array<'acquired' | LeaseLossReason>;
}

function candidate(
  store: LeaseStore,
  holderId: string,
  options: Partial<LeaderLeaseOptions> = {},
): Tracked {
  const lease = new LeaderLease({
    store,
    key: 'autoscaler.test',
    holderId,
    ttlMs: 300,
    ...options,
  });
  const events: Tracked['events'] = [];
  lease.onAcquired(() => events.push('acquired'));
  lease.onLost((reason) => events.push(reason));
  leases.push(lease);
  return { lease, events };
}

describe('LeaderLease (in-memory store)', () => {
  it('acquires a free lease at once, renews it, and writes the record', async () => {
    const kv = new MemoryKv();
    const a = candidate(kv.client(), 'a', { ttlMs: 600 });
    a.lease.start();
    await waitFor(() => a.lease.isLeader, { timeoutMs: 200, intervalMs: 5 });
    expect(a.events).toEqual(['acquired']);
    expect(a.lease.holder).toBe('a');
    const first = kv.entries.get('autoscaler.test')?.revision ?? 0;
    await delay(700); // > ttl: renewals keep it
    expect(a.lease.isLeader).toBe(true);
    expect(kv.entries.get('autoscaler.test')?.revision).toBeGreaterThan(first);
    const record = kv.record('autoscaler.test');
    expect(record).toMatchObject({ holder: 'a', ttlMs: 600 });
    expect((record?.expiresAt ?? 0) - (record?.renewedAt ?? 0)).toBe(600);
    expect(a.events).toEqual(['acquired']);
  });

  it('elects exactly one of several candidates', async () => {
    const kv = new MemoryKv();
    const all = ['a', 'b', 'c'].map((id) => candidate(kv.client(), id, { ttlMs: 2000 }));
    for (const c of all) c.lease.start();
    await waitFor(() => all.some((c) => c.lease.isLeader), { timeoutMs: 200, intervalMs: 5 });
    for (let i = 0; i < 60; i++) {
      expect(all.filter((c) => c.lease.isLeader)).toHaveLength(1);
      await delay(10);
    }
    const leader = all.find((c) => c.lease.isLeader);
    for (const c of all) expect(c.lease.holder).toBe(leader?.lease.holderId);
  });

  it('a holder cut off from the store steps down, then another takes over (never two at once)', async () => {
    const kv = new MemoryKv();
    let aDown = false;
    const a = candidate(
      kv.client(() => aDown),
      'a',
    );
    a.lease.start();
    await waitFor(() => a.lease.isLeader, { timeoutMs: 200, intervalMs: 5 });
    const b = candidate(kv.client(), 'b');
    b.lease.start();
    await delay(100);
    expect(b.lease.isLeader).toBe(false);
    expect(b.lease.holder).toBe('a');

    aDown = true;
    const cut = performance.now();
    let overlap = 0;
    await waitFor(
      () => {
        if (a.lease.isLeader && b.lease.isLeader) overlap++;
        return b.lease.isLeader;
      },
      { timeoutMs: 2000, intervalMs: 5 },
    );
    const takeover = performance.now() - cut;
    expect(overlap).toBe(0);
    expect(a.events).toEqual(['acquired', 'expired']);
    expect(b.events).toEqual(['acquired']);
    // TTL 300 ms, renew 100 ms, poll 60 ms: takeover well within TTL + a poll or two.
    expect(takeover).toBeLessThan(300 + 400);

    // Back online, a stays a follower.
    aDown = false;
    await delay(200);
    expect(a.lease.isLeader).toBe(false);
    expect(a.lease.holder).toBe('b');
  });

  it('close() releases the lease so a candidate takes over on its next poll', async () => {
    const kv = new MemoryKv();
    const a = candidate(kv.client(), 'a', { ttlMs: 5_000 });
    a.lease.start();
    await waitFor(() => a.lease.isLeader, { timeoutMs: 200, intervalMs: 5 });
    const b = candidate(kv.client(), 'b', { ttlMs: 5_000, retryEveryMs: 50 });
    b.lease.start();
    await delay(80);
    await a.lease.close();
    expect(a.events).toEqual(['acquired', 'closed']);
    expect(kv.entries.get('autoscaler.test')?.operation).toBe('DEL');
    const took = await waitFor(() => b.lease.isLeader, { timeoutMs: 1000, intervalMs: 5 });
    expect(took).toBeLessThan(300); // not the 5 s TTL
  });

  it('loses the lease at once when someone overwrites it (CAS conflict on renew)', async () => {
    const kv = new MemoryKv();
    const a = candidate(kv.client(), 'a');
    a.lease.start();
    await waitFor(() => a.lease.isLeader, { timeoutMs: 200, intervalMs: 5 });
    kv.write(
      'autoscaler.test',
      new TextEncoder().encode(JSON.stringify({ holder: 'intruder', ttlMs: 10_000 })),
    );
    await waitFor(() => a.lease.holder === 'intruder', { timeoutMs: 300, intervalMs: 5 });
    expect(a.events).toEqual(['acquired', 'taken']);
    // The intruder's record asks for a 10 s TTL: a does not take it back early.
    await delay(400);
    expect(a.lease.isLeader).toBe(false);
  });

  it('reclaims its own record after a restart with the same id', async () => {
    const kv = new MemoryKv();
    kv.write(
      'autoscaler.test',
      new TextEncoder().encode(JSON.stringify({ holder: 'a', ttlMs: 60_000 })),
    );
    const a = candidate(kv.client(), 'a');
    a.lease.start();
    await waitFor(() => a.lease.isLeader, { timeoutMs: 200, intervalMs: 5 });
  });

  it('keeps campaigning while the store fails, and logs each distinct error once', async () => {
    const kv = new MemoryKv();
    let down = true;
    const lines: Array<Record<string, unknown>> = [];
    const a = candidate(
      kv.client(() => down),
      'a',
      { log: (l) => lines.push(l) },
    );
    a.lease.start();
    await delay(200);
    expect(a.lease.isLeader).toBe(false);
    expect(lines.filter((l) => l.msg === 'lease store error')).toHaveLength(1);
    down = false;
    await waitFor(() => a.lease.isLeader, { timeoutMs: 300, intervalMs: 5 });
  });

  it('validates its options, naming the bad one', () => {
    const store = new MemoryKv().client();
    const base = { store, key: 'k', holderId: 'h' };
    expect(() => new LeaderLease({ ...base, store: undefined as never })).toThrow(
      /option "store" is required/,
    );
    expect(() => new LeaderLease({ ...base, key: 'a b' })).toThrow(
      /option "key" must be a valid KV key/,
    );
    expect(() => new LeaderLease({ ...base, holderId: '' })).toThrow(/option "holderId"/);
    expect(() => new LeaderLease({ ...base, ttlMs: 0 })).toThrow(/option "ttlMs"/);
    expect(() => new LeaderLease({ ...base, ttlMs: 1000, renewEveryMs: 950 })).toThrow(
      /option "renewEveryMs" plus guardMs \(100\) must be less than ttlMs \(1000\)/,
    );
    expect(() => new LeaderLease({ ...base, clock: 5 as never })).toThrow(
      /option "clock" must be a function/,
    );
    expect(autoscalerLeaseKey('us-east')).toBe('autoscaler.us-east');
    expect(isCasConflict({ code: 10071 })).toBe(true);
    expect(isCasConflict(new Error('timeout'))).toBe(false);
  });
});
