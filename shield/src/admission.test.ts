import { describe, expect, it } from 'vitest';
import { Admission, type Release } from './admission.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const beat = (schedulerId: string, slots: number, queue: number) => ({
  schedulerId,
  intervalMs: 1000,
  slots,
  queue,
});

describe('Admission', () => {
  it('admits everything while no scheduler has told the region’s room (an older one, or none yet)', () => {
    const a = new Admission();
    a.heard('eu', { schedulerId: 's-old', intervalMs: 1000 });
    expect(a.limit('eu')).toBeUndefined();
    for (let i = 0; i < 500; i++) expect(typeof a.admit('eu', 'dep')).toBe('function');
  });

  it('takes the workers’ slots once (every scheduler sees the same workers) plus each scheduler’s queue', () => {
    const c = clock();
    const a = new Admission(c.now);
    a.heard('eu', beat('s1', 8, 64));
    a.heard('eu', beat('s2', 6, 64));
    expect(a.limit('eu')).toBe(8 + 64 + 64);
    // A scheduler silent for 2.5 intervals no longer counts; none at all: no limit.
    c.advance(2000);
    a.heard('eu', beat('s2', 6, 64));
    c.advance(1000);
    expect(a.limit('eu')).toBe(6 + 64);
    c.advance(5000);
    expect(a.limit('eu')).toBeUndefined();
  });

  it('refuses misses past the region’s room, and again admits as they end', () => {
    const a = new Admission();
    a.heard('eu', beat('s1', 2, 2));
    const held: Release[] = [];
    for (const app of ['a', 'a', 'b', 'c']) {
      const r = a.admit('eu', app);
      if (typeof r !== 'function') throw new Error(r.message);
      held.push(r);
    }
    expect(a.inFlight('eu')).toBe(4);
    expect(a.admit('eu', 'd')).toMatchObject({
      reason: 'region_full',
      message: expect.stringContaining('region eu is at capacity'),
    });
    held[0]?.();
    held[0]?.(); // released once only
    expect(a.inFlight('eu')).toBe(3);
    expect(typeof a.admit('eu', 'd')).toBe('function');
    // Regions are counted apart.
    expect(typeof a.admit('us', 'd')).toBe('function');
  });

  it('keeps a quarter of the queues’ room from any one app, so a flood cannot turn the others away', () => {
    const a = new Admission();
    a.heard('eu', beat('s1', 4, 8));
    // Every slot and 6 of the 8 queue places.
    for (let i = 0; i < 10; i++) expect(typeof a.admit('eu', 'flood')).toBe('function');
    expect(a.admit('eu', 'flood')).toMatchObject({ reason: 'app_full' });
    expect(typeof a.admit('eu', 'other')).toBe('function');
    expect(typeof a.admit('eu', 'other')).toBe('function');
    expect(a.admit('eu', 'third')).toMatchObject({ reason: 'region_full' });
  });

  it('after a scheduler refused a miss of a flooding app, sends no more of its at once than it had besides, until the next heartbeat', () => {
    const a = new Admission();
    a.heard('eu', beat('s1', 2, 64));
    const held: Release[] = [];
    for (let i = 0; i < 10; i++) {
      const r = a.admit('eu', 'flood');
      if (typeof r !== 'function') throw new Error(r.message);
      held.push(r);
    }
    // The tenth came back refused, with 10 in flight against 2 slots: the region
    // takes 9 of the app's from this shield now, not the 66 announced.
    expect(a.refused('eu', 'flood')).toBe(true);
    held.pop()?.();
    expect(a.inFlight('eu')).toBe(9);
    expect(a.admit('eu', 'flood')).toMatchObject({
      reason: 'app_full',
      message: expect.stringContaining('until its next heartbeat'),
    });
    // Another app's misses still go: the scheduler may have refused the flood its fair share only.
    expect(typeof a.admit('eu', 'other')).toBe('function');
    held.pop()?.();
    expect(typeof a.admit('eu', 'flood')).toBe('function');
    expect(a.admit('eu', 'flood')).toMatchObject({ reason: 'app_full' });
    // Refused again with fewer in flight: the cap only goes down,
    expect(a.refused('eu', 'flood')).toBe(true);
    held.pop()?.();
    expect(a.admit('eu', 'flood')).toMatchObject({ reason: 'app_full' });
    // …down to the region's slots: a refusal with no more than the slots in flight caps nothing.
    while (held.length > 0) held.pop()?.();
    for (let i = 0; i < 3; i++) {
      const r = a.admit('eu', 'flood');
      if (typeof r !== 'function') throw new Error(r.message);
      held.push(r);
    }
    expect(a.refused('eu', 'flood')).toBe(true);
    held.pop()?.();
    expect(a.admit('eu', 'flood')).toMatchObject({ reason: 'app_full' });
    held.pop()?.();
    expect(a.refused('eu', 'flood')).toBe(false);
    expect(typeof a.admit('eu', 'flood')).toBe('function');
    // A heartbeat announces the room afresh.
    a.heard('eu', beat('s1', 2, 64));
    expect(typeof a.admit('eu', 'flood')).toBe('function');
  });

  it('does not cap an app within the region’s slots when one of its misses is refused', () => {
    const a = new Admission();
    a.heard('eu', beat('s1', 8, 64));
    const held: Release[] = [];
    for (let i = 0; i < 8; i++) {
      const r = a.admit('eu', 'app');
      if (typeof r !== 'function') throw new Error(r.message);
      held.push(r);
    }
    // One of 8 refused (a queue slow behind a neighbour's CPU bomb, say): not a flood.
    expect(a.refused('eu', 'app')).toBe(false);
    held.pop()?.();
    for (let i = 0; i < 10; i++) expect(typeof a.admit('eu', 'app')).toBe('function');
  });

  it('caps nothing after a refusal while no scheduler announced the region’s room', () => {
    const a = new Admission();
    const held: Release[] = [];
    for (let i = 0; i < 20; i++) {
      const r = a.admit('eu', 'a');
      if (typeof r !== 'function') throw new Error(r.message);
      held.push(r);
    }
    expect(a.refused('eu', 'a')).toBe(false);
    held.pop()?.();
    expect(typeof a.admit('eu', 'a')).toBe('function');
  });
});
