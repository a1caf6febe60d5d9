import type { Heartbeat } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { WorkerRegistry } from './worker-registry.ts';

function hb(workerId: string, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    workerId,
    inFlight: 0,
    capacity: 4,
    warm: [],
    draining: false,
    intervalMs: 1000,
    ...over,
  };
}

const none = new Set<string>();

function registry(staleAfterMs = 3000) {
  let t = 1_000_000;
  const reg = new WorkerRegistry(staleAfterMs, () => t);
  return { reg, advance: (ms: number) => (t += ms) };
}

describe('WorkerRegistry.pick', () => {
  it('counts renders waiting on I/O as holding no CPU slot, up to the in-flight bound', () => {
    const { reg } = registry();
    // One CPU slot, four renders in flight at most: the three this scheduler sent wait on a backend.
    reg.update(hb('w', { capacity: 1, ioSlots: 4, warm: ['dep'] }));
    for (let i = 0; i < 3; i++) reg.begin('w');
    reg.update(hb('w', { capacity: 1, ioSlots: 4, inFlight: 3, ioWaiting: 3, warm: ['dep'] }));
    expect(reg.pick('dep', none, true)).toBe('w');
    expect(reg.running()).toBe(0);
    expect(reg.ioSlots()).toBe(4);
    reg.begin('w');
    // The render just sent runs (until a load update says otherwise): the slot is taken.
    expect(reg.running()).toBe(1);
    expect(reg.pick('dep', none, true)).toBeUndefined();
    // Its load update: it waits too, but the in-flight bound (4) is reached.
    reg.update(hb('w', { capacity: 1, ioSlots: 4, inFlight: 4, ioWaiting: 4, warm: ['dep'] }));
    expect(reg.running()).toBe(0);
    expect(reg.pick('dep', none, true)).toBeUndefined();
  });

  it('treats a worker without ioWaiting/ioSlots (an older one) as every render holding a slot', () => {
    const { reg } = registry();
    reg.update(hb('old', { capacity: 2, inFlight: 2, warm: ['dep'] }));
    expect(reg.pick('dep', none, true)).toBeUndefined();
    expect(reg.ioSlots()).toBe(2);
    expect(reg.running()).toBe(2);
  });

  it('returns undefined when no worker is known', () => {
    expect(registry().reg.pick('dep', none)).toBeUndefined();
  });

  it('prefers a worker holding the deployment warm, even when it is busier, while it is less than half busy', () => {
    const { reg } = registry();
    reg.update(hb('idle-cold', { inFlight: 0 }));
    reg.update(hb('busier-warm', { inFlight: 1, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('busier-warm');
    expect(reg.pick('other', none)).toBe('idle-cold');
  });

  it('gives a cold worker (joined or restarted) its share once every warm one is half busy', () => {
    const { reg } = registry();
    reg.update(hb('restarted', { inFlight: 0 }));
    reg.update(hb('warm', { inFlight: 2, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('restarted');
    // Sent there, it is warm after its first render; the two then share by load.
    reg.update(hb('restarted', { inFlight: 1, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('restarted');
    reg.update(hb('restarted', { inFlight: 3, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('warm');
  });

  it('counts renders waiting on I/O as not busy when choosing between warm and cold', () => {
    const { reg } = registry();
    reg.update(hb('cold', { inFlight: 0, ioSlots: 16 }));
    reg.update(hb('warm', { inFlight: 3, ioWaiting: 3, ioSlots: 16, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('warm');
  });

  it('spills over to a cold worker when every warm one is full', () => {
    const { reg } = registry();
    reg.update(hb('idle-cold', { inFlight: 0 }));
    reg.update(hb('full-warm', { inFlight: 4, warm: ['dep'] }));
    expect(reg.pick('dep', none)).toBe('idle-cold');
  });

  it('counts requests sent but not yet in a heartbeat toward a worker being busy or full', () => {
    const { reg } = registry();
    reg.update(hb('cold', { inFlight: 0 }));
    reg.update(hb('warm', { inFlight: 0, warm: ['dep'] }));
    for (let i = 0; i < 2; i++) {
      expect(reg.pick('dep', none)).toBe('warm');
      reg.begin('warm');
    }
    expect(reg.pick('dep', none)).toBe('cold');
    reg.settle('warm');
    expect(reg.pick('dep', none)).toBe('warm');
    // Full by what was sent (4 of 4), with no cold worker: nothing with room.
    reg.remove('cold');
    for (let i = 0; i < 3; i++) reg.begin('warm');
    expect(reg.pick('dep', none, true)).toBeUndefined();
  });

  it('does not let a "full" heartbeat hide renders it saw end since', () => {
    const { reg } = registry();
    reg.update(hb('w', { inFlight: 4, capacity: 4 }));
    expect(reg.pick('dep', none, true)).toBeUndefined();
    reg.begin('w');
    reg.settle('w');
    expect(reg.pick('dep', none, true)).toBe('w');
    // The next heartbeat is the truth again.
    reg.update(hb('w', { inFlight: 4, capacity: 4 }));
    expect(reg.pick('dep', none, true)).toBeUndefined();
  });

  it('among warm workers, picks the least loaded', () => {
    const { reg } = registry();
    reg.update(hb('a', { inFlight: 3, warm: ['dep'] }));
    reg.update(hb('b', { inFlight: 1, warm: ['dep'] }));
    reg.update(hb('c', { inFlight: 0 }));
    expect(reg.pick('dep', none)).toBe('b');
  });

  it('weighs load relative to capacity', () => {
    const { reg } = registry();
    reg.update(hb('small', { inFlight: 1, capacity: 2 })); // (1+1)/2 = 1
    reg.update(hb('large', { inFlight: 4, capacity: 16 })); // (4+1)/16 ≈ 0.31
    expect(reg.pick('dep', none)).toBe('large');
  });

  it('counts requests it sent that the heartbeat does not show yet', () => {
    const { reg } = registry();
    reg.update(hb('a'));
    reg.update(hb('b'));
    const first = reg.pick('dep', none) as string;
    reg.begin(first);
    reg.begin(first);
    const second = reg.pick('dep', none);
    expect(second).not.toBe(first);
    reg.settle(first);
    reg.settle(first);
    reg.settle(first); // never below zero
    reg.begin(second as string);
    expect(reg.pick('dep', none)).toBe(first);
  });

  it('keeps what it sent across a heartbeat', () => {
    const { reg } = registry();
    reg.update(hb('a'));
    reg.update(hb('b'));
    reg.begin('a');
    reg.begin('a');
    reg.update(hb('a', { inFlight: 0 }));
    expect(reg.pick('dep', none)).toBe('b');
  });

  it('excludes workers already tried, falling back to cold ones', () => {
    const { reg } = registry();
    reg.update(hb('warm', { warm: ['dep'] }));
    reg.update(hb('cold'));
    expect(reg.pick('dep', new Set(['warm']))).toBe('cold');
    expect(reg.pick('dep', new Set(['warm', 'cold']))).toBeUndefined();
  });

  it('skips draining workers', () => {
    const { reg } = registry();
    reg.update(hb('a', { warm: ['dep'] }));
    reg.update(hb('b'));
    reg.update(hb('a', { warm: ['dep'], draining: true }));
    expect(reg.pick('dep', none)).toBe('b');
    expect(reg.size).toBe(1);
    expect(reg.live().map((w) => w.workerId)).toEqual(['b']);
  });

  it('drops workers whose last heartbeat is older than staleAfterMs', () => {
    const { reg, advance } = registry(3000);
    reg.update(hb('old'));
    advance(2000);
    reg.update(hb('fresh'));
    advance(1000);
    expect(reg.size).toBe(2); // exactly at the limit still counts
    advance(1);
    expect(reg.size).toBe(1);
    expect(reg.pick('dep', none)).toBe('fresh');
    reg.update(hb('old'));
    expect(reg.size).toBe(2);
    advance(3001);
    expect(reg.pick('dep', none)).toBeUndefined();
  });

  it('forgets a removed worker until it heartbeats again', () => {
    const { reg } = registry();
    reg.update(hb('a'));
    reg.remove('a');
    expect(reg.pick('dep', none)).toBeUndefined();
    reg.update(hb('a'));
    expect(reg.pick('dep', none)).toBe('a');
  });
});
