import { setTimeout as delay } from 'node:timers/promises';
import {
  autoscalerLeaseKey,
  DEFAULT_LEASE_BUCKET,
  LeaderLease,
  type LeaseLossReason,
  type LeaseRecord,
  openLeaseBucket,
} from '@flotilla/autoscaler';
import { type NatsServerHandle, startNatsServer, waitFor } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * The autoscaler's leader lease on a real nats-server with JetStream (the
 * Debian 2.9 server has no per-key TTL: expiry is the lease's own protocol).
 */

let nats: NatsServerHandle;
const connections: NatsConnection[] = [];
const leases: LeaderLease[] = [];

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
});

afterEach(async () => {
  await Promise.all(leases.splice(0).map((l) => l.close()));
  await Promise.all(
    connections.splice(0).map((nc) => (nc.isClosed() ? undefined : nc.close().catch(() => {}))),
  );
});

afterAll(async () => {
  await nats?.stop();
});

async function connection(): Promise<NatsConnection> {
  const nc = await connect({ servers: nats.url, name: 'lease-test' });
  connections.push(nc);
  return nc;
}

interface Candidate {
  lease: LeaderLease;
  nc: NatsConnection;
  events: Array<'acquired' | LeaseLossReason>;
}

async function candidate(id: string, key: string, ttlMs: number): Promise<Candidate> {
  const nc = await connection();
  const store = await openLeaseBucket(nc);
  const lease = new LeaderLease({ store, key, holderId: id, ttlMs });
  const events: Candidate['events'] = [];
  lease.onAcquired(() => events.push('acquired'));
  lease.onLost((reason) => events.push(reason));
  leases.push(lease);
  lease.start();
  return { lease, nc, events };
}

describe('LeaderLease over JetStream KV', () => {
  it('replicas starting together all open the bucket, whoever creates it', async () => {
    const ncs = await Promise.all(Array.from({ length: 8 }, () => connection()));
    const kvs = await Promise.all(ncs.map((nc) => openLeaseBucket(nc, { bucket: 'race_leases' })));
    await kvs[0]?.put('k', 'v');
    for (const kv of kvs) expect((await kv.get('k'))?.string()).toBe('v');
  });

  it('elects exactly one of two candidates and records it in the bucket', async () => {
    const key = autoscalerLeaseKey('elect');
    const [a, b] = await Promise.all([candidate('s-a', key, 2000), candidate('s-b', key, 2000)]);
    await waitFor(() => a.lease.isLeader || b.lease.isLeader, {
      timeoutMs: 3000,
      intervalMs: 10,
      message: 'a leader',
    });
    for (let i = 0; i < 40; i++) {
      expect([a, b].filter((c) => c.lease.isLeader)).toHaveLength(1);
      await delay(50);
    }
    const leader = a.lease.isLeader ? a : b;
    const follower = leader === a ? b : a;
    // The follower learns the holder on its next try, whenever its timer runs.
    await waitFor(() => follower.lease.holder !== undefined, {
      message: 'the follower to see a holder',
    });
    expect(follower.lease.holder).toBe(leader.lease.holderId);
    expect(follower.events).toEqual([]);

    const kv = await openLeaseBucket(await connection());
    const entry = await kv.get(key);
    const record = entry?.json<LeaseRecord>();
    expect(record).toMatchObject({ holder: leader.lease.holderId, ttlMs: 2000 });
    expect((record?.expiresAt ?? 0) - (record?.renewedAt ?? 0)).toBe(2000);
    const status = await kv.status();
    expect(status.bucket).toBe(DEFAULT_LEASE_BUCKET);
    expect(status.history).toBe(1);
  });

  it('the other candidate takes over within TTL + 1 s when the leader’s connection dies', async () => {
    const key = autoscalerLeaseKey('failover');
    const ttlMs = 2000;
    const a = await candidate('s-a', key, ttlMs);
    await waitFor(() => a.lease.isLeader, {
      timeoutMs: 3000,
      intervalMs: 10,
      message: 'a leading',
    });
    const b = await candidate('s-b', key, ttlMs);
    await delay(300);
    expect(b.lease.isLeader).toBe(false);

    // The leader's process "dies": its connection closes, renewals stop.
    await a.nc.close();
    const took = await waitFor(() => b.lease.isLeader, {
      timeoutMs: ttlMs + 1500,
      intervalMs: 10,
      message: 'b taking over',
    });
    expect(took).toBeLessThan(ttlMs + 1000);
    // a noticed on its own that it no longer leads (before b took over).
    expect(a.lease.isLeader).toBe(false);
    expect(a.events).toEqual(['acquired', 'expired']);
    expect(b.events).toEqual(['acquired']);
  });

  it('a released lease (close) is taken over on the next poll, not after a TTL', async () => {
    const key = autoscalerLeaseKey('release');
    const a = await candidate('s-a', key, 5000);
    await waitFor(() => a.lease.isLeader, {
      timeoutMs: 3000,
      intervalMs: 10,
      message: 'a leading',
    });
    const b = await candidate('s-b', key, 5000);
    await delay(200);
    await a.lease.close();
    const took = await waitFor(() => b.lease.isLeader, {
      timeoutMs: 3000,
      intervalMs: 10,
      message: 'b taking over',
    });
    expect(took).toBeLessThan(1500); // poll = TTL / 5 = 1 s
    expect(a.events).toEqual(['acquired', 'closed']);
  });
});
