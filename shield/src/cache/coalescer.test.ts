import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  type CoalesceOutcome,
  type CoalesceRunOptions,
  Coalescer,
  CoalescerError,
  type FollowerTimeoutInfo,
} from './coalescer.ts';
import { type Deferred, deferred, ManualClock, settle } from './test-timing.ts';
import type { CacheTimers } from './timers.ts';

type Settled<T> = { ok: true; value: CoalesceOutcome<T> } | { ok: false; err: unknown };

// Tracks a run() promise without letting its rejection go unhandled.
function track<T>(p: Promise<CoalesceOutcome<T>>): { result: Settled<T> | undefined } {
  const box: { result: Settled<T> | undefined } = { result: undefined };
  p.then(
    (value) => {
      box.result = { ok: true, value };
    },
    (err: unknown) => {
      box.result = { ok: false, err };
    },
  );
  return box;
}

async function counter(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    // Known label sets start at 0; these tests count events.
    if (v.value === 0 && Object.keys(v.labels).length > 0) continue;
    const key = Object.values(v.labels).map(String).join(',') || 'total';
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

function setup(
  opts: { followerWaitMs?: number; maxFollowers?: number; leaderTimeoutMs?: number } = {},
) {
  const clock = new ManualClock();
  const registry = new Registry();
  const coalescer = new Coalescer<string>({
    followerWaitMs: opts.followerWaitMs ?? 50,
    maxFollowers: opts.maxFollowers,
    leaderTimeoutMs: opts.leaderTimeoutMs ?? 10_000,
    retryAfterSeconds: 2,
    registry,
    now: () => clock.now,
    timers: clock.timers,
  });
  return { clock, registry, coalescer };
}

// A leader function that counts its calls and lets the test settle each call.
function origin() {
  const calls: Array<{ id: number; d: Deferred<string>; signal: AbortSignal }> = [];
  const fn = (id: number) => (signal: AbortSignal) => {
    const d = deferred<string>();
    calls.push({ id, d, signal });
    return d.promise;
  };
  return { calls, fn };
}

function roles<T>(boxes: Array<{ result: Settled<T> | undefined }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const b of boxes) {
    const r = b.result;
    const k = r === undefined ? 'pending' : r.ok ? r.value.role : 'error';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

describe('Coalescer', () => {
  it('turns 1000 concurrent misses on one key into exactly one leader call', async () => {
    const { coalescer, registry } = setup();
    let calls = 0;
    const gate = deferred<string>();
    const leader = () => {
      calls++;
      return gate.promise;
    };
    const all = Array.from({ length: 1000 }, () => coalescer.run('k', leader));
    expect(coalescer.waiting('k')).toBe(999);
    gate.resolve('page');
    const outcomes = await Promise.all(all);
    expect(calls).toBe(1);
    expect(outcomes.every((o) => o.role !== 'stale' && o.value === 'page')).toBe(true);
    expect(outcomes.filter((o) => o.role === 'leader')).toHaveLength(1);
    expect(outcomes[0]?.role).toBe('leader');
    expect(outcomes.filter((o) => o.role === 'follower')).toHaveLength(999);
    expect(await counter(registry, 'flotilla_shield_coalesce_leaders_total')).toEqual({ first: 1 });
    expect(await counter(registry, 'flotilla_shield_coalesced_total')).toEqual({ total: 999 });
    expect(coalescer.inFlight).toBe(0);
  });

  it('keeps keys apart and starts a new wave once one is answered (results are not kept)', async () => {
    const { coalescer } = setup();
    const o = origin();
    const a = track(coalescer.run('a', o.fn(1)));
    const b = track(coalescer.run('b', o.fn(2)));
    expect(o.calls).toHaveLength(2);
    o.calls[0]?.d.resolve('A');
    o.calls[1]?.d.resolve('B');
    await settle();
    expect(a.result).toMatchObject({ ok: true, value: { role: 'leader', value: 'A' } });
    expect(b.result).toMatchObject({ ok: true, value: { role: 'leader', value: 'B' } });
    const again = track(coalescer.run('a', o.fn(3)));
    expect(o.calls).toHaveLength(3);
    o.calls[2]?.d.resolve('A2');
    await settle();
    expect(again.result).toMatchObject({ ok: true, value: { role: 'leader', value: 'A2' } });
  });

  it('reports how long a follower waited', async () => {
    const { coalescer, clock } = setup({ followerWaitMs: 100 });
    const o = origin();
    track(coalescer.run('k', o.fn(0)));
    await clock.advance(10);
    const follower = track(coalescer.run('k', o.fn(1)));
    await clock.advance(30);
    o.calls[0]?.d.resolve('page');
    await settle();
    expect(follower.result).toEqual({
      ok: true,
      value: { role: 'follower', value: 'page', waitedMs: 30 },
    });
  });

  describe('a leader that rejects', () => {
    it('does not poison its followers: exactly one of them is re-elected and answers the rest', async () => {
      const { coalescer, registry } = setup();
      const o = origin();
      const boxes = Array.from({ length: 50 }, (_, i) => track(coalescer.run('k', o.fn(i))));
      expect(o.calls).toHaveLength(1);
      o.calls[0]?.d.reject(new Error('render failed'));
      await settle();
      expect(boxes[0]?.result).toMatchObject({ ok: false, err: { message: 'render failed' } });
      expect(o.calls).toHaveLength(2);
      expect(o.calls[1]?.id).toBe(1); // the first follower in arrival order
      o.calls[1]?.d.resolve('page');
      await settle();
      expect(o.calls).toHaveLength(2);
      expect(roles(boxes)).toEqual({ error: 1, leader: 1, follower: 48 });
      expect(boxes[1]?.result).toMatchObject({
        ok: true,
        value: { role: 'leader', value: 'page' },
      });
      expect(await counter(registry, 'flotilla_shield_coalesce_leaders_total')).toEqual({
        first: 1,
        'leader-error': 1,
      });
    });

    it('re-elects at most once per wave: a second failure reaches every follower', async () => {
      const { coalescer } = setup();
      const o = origin();
      const boxes = Array.from({ length: 20 }, (_, i) => track(coalescer.run('k', o.fn(i))));
      o.calls[0]?.d.reject(new Error('first failure'));
      await settle();
      o.calls[1]?.d.reject(new Error('second failure'));
      await settle();
      expect(o.calls).toHaveLength(2);
      expect(boxes[0]?.result).toMatchObject({ ok: false, err: { message: 'first failure' } });
      for (const b of boxes.slice(1)) {
        expect(b.result).toMatchObject({ ok: false, err: { message: 'second failure' } });
      }
      expect(coalescer.inFlight).toBe(0);
    });

    it('passes a final error straight to the followers, with no re-election', async () => {
      const { coalescer } = setup();
      const o = origin();
      const opts: CoalesceRunOptions<string> = {
        isFinalError: (err) =>
          err instanceof FlotillaError && err.code === 'FLOTILLA_ERR_NOT_FOUND',
      };
      const boxes = Array.from({ length: 10 }, (_, i) => track(coalescer.run('k', o.fn(i), opts)));
      o.calls[0]?.d.reject(new FlotillaError('FLOTILLA_ERR_NOT_FOUND', 'no such site'));
      await settle();
      expect(o.calls).toHaveLength(1);
      expect(roles(boxes)).toEqual({ error: 10 });
      for (const b of boxes) {
        expect(b.result).toMatchObject({ ok: false, err: { code: 'FLOTILLA_ERR_NOT_FOUND' } });
      }
    });

    it('treats a leader function that throws synchronously as a rejection', async () => {
      const { coalescer } = setup();
      let calls = 0;
      const leader = (): Promise<string> => {
        calls++;
        if (calls === 1) throw new Error('sync boom');
        return Promise.resolve('page');
      };
      const first = track(coalescer.run('k', leader));
      const second = track(coalescer.run('k', leader));
      await settle();
      expect(first.result).toMatchObject({ ok: false, err: { message: 'sync boom' } });
      expect(second.result).toMatchObject({ ok: true, value: { role: 'leader', value: 'page' } });
    });

    it('with no follower waiting, simply ends the wave', async () => {
      const { coalescer } = setup();
      const o = origin();
      const only = track(coalescer.run('k', o.fn(0)));
      o.calls[0]?.d.reject(new Error('nope'));
      await settle();
      expect(only.result).toMatchObject({ ok: false });
      expect(coalescer.inFlight).toBe(0);
    });
  });

  describe('a leader that hangs', () => {
    it('releases followers after followerWaitMs with their stale copy when they have one', async () => {
      const { coalescer, clock, registry } = setup({ followerWaitMs: 50 });
      const o = origin();
      const info: FollowerTimeoutInfo[] = [];
      track(coalescer.run('k', o.fn(0)));
      const boxes = Array.from({ length: 5 }, (_, i) =>
        track(
          coalescer.run('k', o.fn(i + 1), {
            onFollowerTimeout: (i) => {
              info.push(i);
              return 'stale';
            },
          }),
        ),
      );
      await clock.advance(49);
      expect(roles(boxes)).toEqual({ pending: 5 });
      await clock.advance(1);
      expect(roles(boxes)).toEqual({ stale: 5 });
      expect(boxes[0]?.result).toEqual({ ok: true, value: { role: 'stale', waitedMs: 50 } });
      expect(info[0]).toEqual({ key: 'k', waitedMs: 50, canElect: true });
      expect(o.calls).toHaveLength(1);
      expect(coalescer.waiting('k')).toBe(0);
      expect(await counter(registry, 'flotilla_shield_coalesce_timeouts_total')).toEqual({
        stale: 5,
      });
    });

    it('answers fail with a typed 503 carrying Retry-After', async () => {
      const { coalescer, clock } = setup({ followerWaitMs: 30 });
      const o = origin();
      track(coalescer.run('k', o.fn(0)));
      const follower = track(coalescer.run('k', o.fn(1), { onFollowerTimeout: () => 'fail' }));
      await clock.advance(30);
      const r = follower.result;
      expect(r?.ok).toBe(false);
      const err = (r as { err: unknown }).err;
      expect(err).toBeInstanceOf(CoalescerError);
      expect(err).toMatchObject({
        code: 'FLOTILLA_ERR_OVERLOADED',
        reason: 'follower-timeout',
        retryAfterSeconds: 2,
        key: 'k',
        status: 503,
      });
    });

    it('elects exactly one new leader among the waiting followers, who then share its result', async () => {
      const { coalescer, clock, registry } = setup({ followerWaitMs: 50 });
      const o = origin();
      const leader = track(coalescer.run('k', o.fn(0)));
      const boxes = Array.from({ length: 100 }, (_, i) =>
        track(coalescer.run('k', o.fn(i + 1), { onFollowerTimeout: () => 'new-leader' })),
      );
      await clock.advance(50);
      expect(o.calls).toHaveLength(2);
      expect(o.calls[1]?.id).toBe(1);
      expect(coalescer.waiting('k')).toBe(99);
      o.calls[1]?.d.resolve('fresh');
      await settle();
      expect(roles(boxes)).toEqual({ leader: 1, follower: 99 });
      expect(boxes[5]?.result).toMatchObject({ ok: true, value: { value: 'fresh' } });
      expect(leader.result).toBeUndefined(); // the hung leader is bounded by its own deadline
      expect(await counter(registry, 'flotilla_shield_coalesce_leaders_total')).toEqual({
        first: 1,
        'follower-timeout': 1,
      });
      expect(await counter(registry, 'flotilla_shield_coalesce_timeouts_total')).toEqual({
        'new-leader': 1,
      });
    });

    it('gives the re-elected leader a full wait, then fails followers once no re-election is left', async () => {
      const { coalescer, clock } = setup({ followerWaitMs: 50 });
      const o = origin();
      const info: FollowerTimeoutInfo[] = [];
      track(coalescer.run('k', o.fn(0)));
      const boxes = Array.from({ length: 3 }, (_, i) =>
        track(
          coalescer.run('k', o.fn(i + 1), {
            onFollowerTimeout: (i) => {
              info.push(i);
              return 'new-leader';
            },
          }),
        ),
      );
      await clock.advance(50); // follower 1 is elected; 2 and 3 wait again
      expect(o.calls).toHaveLength(2);
      await clock.advance(49);
      expect(roles(boxes)).toEqual({ pending: 3 });
      await clock.advance(1);
      expect(o.calls).toHaveLength(2);
      expect(roles(boxes)).toEqual({ pending: 1, error: 2 });
      expect(info.slice(1)).toEqual([
        { key: 'k', waitedMs: 100, canElect: false },
        { key: 'k', waitedMs: 100, canElect: false },
      ]);
      expect(boxes[1]?.result).toMatchObject({
        ok: false,
        err: { reason: 'follower-timeout', code: 'FLOTILLA_ERR_OVERLOADED' },
      });
    });

    it('lets the first leader of the wave to answer serve the followers still waiting', async () => {
      const { coalescer, clock } = setup({ followerWaitMs: 50 });
      const o = origin();
      const first = track(coalescer.run('k', o.fn(0)));
      const boxes = Array.from({ length: 4 }, (_, i) =>
        track(coalescer.run('k', o.fn(i + 1), { onFollowerTimeout: () => 'new-leader' })),
      );
      await clock.advance(50);
      expect(o.calls).toHaveLength(2);
      o.calls[0]?.d.resolve('late but first'); // the hung leader comes back first
      await settle();
      expect(first.result).toMatchObject({ ok: true, value: { role: 'leader' } });
      expect(roles(boxes)).toEqual({ pending: 1, follower: 3 });
      o.calls[1]?.d.resolve('second');
      await settle();
      expect(boxes[0]?.result).toMatchObject({
        ok: true,
        value: { role: 'leader', value: 'second' },
      });
      expect(boxes[1]?.result).toMatchObject({ ok: true, value: { value: 'late but first' } });
    });

    it('keeps followers waiting for the elected leader when the hung one then fails', async () => {
      const { coalescer, clock } = setup({ followerWaitMs: 50 });
      const o = origin();
      track(coalescer.run('k', o.fn(0)));
      const boxes = Array.from({ length: 3 }, (_, i) => track(coalescer.run('k', o.fn(i + 1))));
      await clock.advance(50); // default decision: new-leader
      o.calls[0]?.d.reject(new Error('hung leader gave up'));
      await settle();
      expect(roles(boxes)).toEqual({ pending: 3 });
      o.calls[1]?.d.resolve('page');
      await settle();
      expect(roles(boxes)).toEqual({ leader: 1, follower: 2 });
      expect(o.calls).toHaveLength(2);
    });

    it('bounds the leader by its deadline: the signal aborts and the call fails even if it ignores it', async () => {
      const { coalescer, clock } = setup({ followerWaitMs: 1000, leaderTimeoutMs: 80 });
      const o = origin();
      const leader = track(coalescer.run('k', o.fn(0)));
      const follower = track(coalescer.run('k', o.fn(1)));
      await clock.advance(79);
      expect(o.calls[0]?.signal.aborted).toBe(false);
      await clock.advance(1);
      expect(o.calls[0]?.signal.aborted).toBe(true);
      expect(leader.result).toMatchObject({
        ok: false,
        err: { code: 'FLOTILLA_ERR_DEADLINE', reason: 'leader-deadline', status: 504 },
      });
      // The follower was not poisoned: it is re-elected, under its own deadline.
      expect(o.calls).toHaveLength(2);
      expect(follower.result).toBeUndefined();
      o.calls[1]?.d.resolve('page');
      await settle();
      expect(follower.result).toMatchObject({ ok: true, value: { role: 'leader', value: 'page' } });
    });

    it('honours a per-call leaderTimeoutMs', async () => {
      const { coalescer, clock } = setup({ leaderTimeoutMs: 10_000 });
      const o = origin();
      const leader = track(coalescer.run('k', o.fn(0), { leaderTimeoutMs: 20 }));
      await clock.advance(20);
      expect(leader.result).toMatchObject({ ok: false, err: { reason: 'leader-deadline' } });
      expect(clock.pendingTimers).toBe(0);
    });
  });

  describe('a result that is not shareable', () => {
    it('is never handed to followers: each one goes to the origin on its own', async () => {
      const { coalescer, registry } = setup();
      const o = origin();
      const opts: CoalesceRunOptions<string> = { shareable: (v) => !v.startsWith('private') };
      const boxes = Array.from({ length: 10 }, (_, i) => track(coalescer.run('k', o.fn(i), opts)));
      o.calls[0]?.d.resolve('private page for user 0');
      await settle();
      expect(boxes[0]?.result).toMatchObject({
        ok: true,
        value: { role: 'leader', value: 'private page for user 0' },
      });
      expect(o.calls.map((c) => c.id)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      for (const c of o.calls.slice(1)) c.d.resolve(`private page for user ${c.id}`);
      await settle();
      expect(roles(boxes)).toEqual({ leader: 1, alone: 9 });
      for (let i = 1; i < 10; i++) {
        expect(boxes[i]?.result).toMatchObject({
          ok: true,
          value: { role: 'alone', value: `private page for user ${i}` },
        });
      }
      expect(await counter(registry, 'flotilla_shield_coalesce_passes_total')).toEqual({
        total: 9,
      });
      expect(await counter(registry, 'flotilla_shield_coalesced_total')).toEqual({ total: 0 });
    });

    it('counts a throwing judge as "not shareable"', async () => {
      const { coalescer } = setup();
      const o = origin();
      const opts: CoalesceRunOptions<string> = {
        shareable: () => {
          throw new Error('judge failed');
        },
      };
      track(coalescer.run('k', o.fn(0), opts));
      const follower = track(coalescer.run('k', o.fn(1), opts));
      o.calls[0]?.d.resolve('garbage');
      await settle();
      expect(o.calls).toHaveLength(2);
      o.calls[1]?.d.resolve('own');
      await settle();
      expect(follower.result).toMatchObject({ ok: true, value: { role: 'alone', value: 'own' } });
    });

    it('passes an own call failure to that follower only', async () => {
      const { coalescer } = setup();
      const o = origin();
      const opts: CoalesceRunOptions<string> = { shareable: () => false };
      const boxes = Array.from({ length: 3 }, (_, i) => track(coalescer.run('k', o.fn(i), opts)));
      o.calls[0]?.d.resolve('x');
      await settle();
      o.calls[1]?.d.reject(new Error('own failure'));
      o.calls[2]?.d.resolve('y');
      await settle();
      expect(roles(boxes)).toEqual({ leader: 1, error: 1, alone: 1 });
    });
  });

  describe('follower cap', () => {
    it('turns away callers past maxFollowers at once, with a typed over-capacity 503', async () => {
      const { coalescer, registry } = setup({ maxFollowers: 3 });
      const o = origin();
      const boxes = Array.from({ length: 4 }, (_, i) => track(coalescer.run('k', o.fn(i))));
      const over = track(coalescer.run('k', o.fn(99)));
      await settle();
      expect(over.result).toMatchObject({
        ok: false,
        err: {
          code: 'FLOTILLA_ERR_OVERLOADED',
          reason: 'over-capacity',
          retryAfterSeconds: 2,
          status: 503,
        },
      });
      expect((over.result as { err: unknown }).err).toBeInstanceOf(CoalescerError);
      expect(roles(boxes)).toEqual({ pending: 4 });
      expect(await counter(registry, 'flotilla_shield_coalesce_overflows_total')).toEqual({
        total: 1,
      });
      // Another key is not affected.
      track(coalescer.run('other', o.fn(100)));
      expect(o.calls).toHaveLength(2);
      o.calls[0]?.d.resolve('page');
      await settle();
      expect(roles(boxes)).toEqual({ leader: 1, follower: 3 });
    });
  });

  describe('caller signal', () => {
    it('ends a follower wait without disturbing the others', async () => {
      const { coalescer } = setup();
      const o = origin();
      track(coalescer.run('k', o.fn(0)));
      const ac = new AbortController();
      const gone = track(coalescer.run('k', o.fn(1), { signal: ac.signal }));
      const stays = track(coalescer.run('k', o.fn(2)));
      ac.abort(new Error('client went away'));
      await settle();
      expect(gone.result).toMatchObject({ ok: false, err: { message: 'client went away' } });
      expect(coalescer.waiting('k')).toBe(1);
      o.calls[0]?.d.resolve('page');
      await settle();
      expect(stays.result).toMatchObject({ ok: true, value: { role: 'follower' } });
    });

    it('on the leader, never aborts the call its followers share', async () => {
      const { coalescer } = setup();
      const o = origin();
      const ac = new AbortController();
      const leader = track(coalescer.run('k', o.fn(0), { signal: ac.signal }));
      const follower = track(coalescer.run('k', o.fn(1)));
      ac.abort(new Error('leader client went away'));
      await settle();
      expect(leader.result).toMatchObject({ ok: false });
      expect(o.calls[0]?.signal.aborted).toBe(false);
      o.calls[0]?.d.resolve('page');
      await settle();
      expect(follower.result).toMatchObject({ ok: true, value: { role: 'follower' } });
    });

    it('rejects at once when already aborted, and aborts an unshared own call', async () => {
      const { coalescer } = setup();
      const o = origin();
      const pre = track(
        coalescer.run('k', o.fn(0), { signal: AbortSignal.abort(new Error('too late')) }),
      );
      await settle();
      expect(pre.result).toMatchObject({ ok: false, err: { message: 'too late' } });
      expect(o.calls).toHaveLength(0);

      const ac = new AbortController();
      track(coalescer.run('k', o.fn(1), { shareable: () => false }));
      const alone = track(coalescer.run('k', o.fn(2), { signal: ac.signal }));
      o.calls[0]?.d.resolve('x');
      await settle();
      expect(o.calls).toHaveLength(2);
      ac.abort(new Error('bye'));
      await settle();
      expect(o.calls[1]?.signal.aborted).toBe(true);
      expect(alone.result).toMatchObject({ ok: false, err: { message: 'bye' } });
    });
  });

  it('works with the real timers (tens of ms)', async () => {
    const coalescer = new Coalescer<string>({ followerWaitMs: 20, leaderTimeoutMs: 40 });
    const hang = (signal: AbortSignal) =>
      new Promise<string>((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason)),
      );
    const leader = coalescer.run('k', hang);
    const follower = coalescer.run('k', hang, { onFollowerTimeout: () => 'stale' });
    await expect(follower).resolves.toMatchObject({ role: 'stale' });
    await expect(leader).rejects.toMatchObject({ reason: 'leader-deadline' });
    expect(coalescer.inFlight).toBe(0);
  });

  it('reuses its metrics when two coalescers share a registry', () => {
    const registry = new Registry();
    new Coalescer({ registry });
    expect(() => new Coalescer({ registry })).not.toThrow();
  });

  it('validates its options, naming the bad one', () => {
    expect(() => new Coalescer({ followerWaitMs: 0 })).toThrow(InvalidOptionError);
    expect(() => new Coalescer({ followerWaitMs: 0 })).toThrow(/followerWaitMs/);
    expect(() => new Coalescer({ maxFollowers: -1 })).toThrow(/maxFollowers/);
    expect(() => new Coalescer({ leaderTimeoutMs: 1.5 })).toThrow(/leaderTimeoutMs/);
    expect(() => new Coalescer({ retryAfterSeconds: Number.NaN })).toThrow(/retryAfterSeconds/);
    expect(() => new Coalescer({ timers: {} as CacheTimers })).toThrow(/timers/);
    const c = new Coalescer<string>();
    expect(() => c.run('k', () => Promise.resolve('x'), { leaderTimeoutMs: 0 })).toThrow(
      /leaderTimeoutMs/,
    );
  });
});
