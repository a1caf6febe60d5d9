import { describe, expect, it } from 'vitest';
import { HoldTime, PLANNED_WAIT_SHARE } from './hold-time.ts';

describe('HoldTime', () => {
  it('knows nothing before the first miss: the whole queue is room', () => {
    const hold = new HoldTime();
    expect(hold.meanMs()).toBeUndefined();
    expect(hold.queueRoom(2, 1000, 64)).toBe(64);
    expect(hold.startsInMs(10, 2)).toBeUndefined();
  });

  it('plans starts as the slots end one after another, within three quarters of the wait', () => {
    const hold = new HoldTime();
    hold.observe(220);
    // Two slots drain a miss every 110 ms: the 6th queued starts at 660 ms, the 7th at 770 (> 750).
    expect(hold.queueRoom(2, 1000, 64)).toBe(6);
    expect(hold.startsInMs(5, 2)).toBe(660);
    expect(hold.startsInMs(6, 2)).toBe(770);
    expect(hold.queueRoom(2, 1000 / PLANNED_WAIT_SHARE, 64)).toBe(9);
    // Never more than the queue, never less than one turn.
    expect(hold.queueRoom(40, 1000, 64)).toBe(64);
    expect(hold.queueRoom(3, 100, 64)).toBe(3);
  });

  it('plans with the spread of hold times, not their average alone', () => {
    const steady = new HoldTime();
    const jittery = new HoldTime();
    for (let i = 0; i < 50; i++) {
      steady.observe(200);
      jittery.observe(i % 2 === 0 ? 100 : 300);
    }
    expect(steady.meanMs()).toBeCloseTo(200);
    expect(jittery.meanMs()).toBeCloseTo(200, -1);
    expect(jittery.deviationMs()).toBeGreaterThan(50);
    expect(jittery.queueRoom(2, 1000, 64)).toBeLessThan(steady.queueRoom(2, 1000, 64));
    expect(jittery.startsInMs(4, 2) ?? 0).toBeGreaterThan(steady.startsInMs(4, 2) ?? 0);
  });

  it('plans a deep queue by the spread of a sum (√n deviations), not n turns each at the worst', () => {
    // A mix of fast pages and slow ones (or a CPU-starved machine): average ~76 ms, deviation ~90.
    const mixed = new HoldTime();
    for (let i = 0; i < 200; i++) mixed.observe(i % 5 === 4 ? 300 : 20);
    const mean = mixed.meanMs() ?? 0;
    const dev = mixed.deviationMs();
    // 8 slots and a 5 s wait: 3.75 s at ~76 ms per turn is ~49 turns; the
    // queue gets most of them, where mean + 2 deviations per turn gave ~14.
    const room = mixed.queueRoom(8, 5000, 1000);
    const perTurnAtWorst = Math.floor((PLANNED_WAIT_SHARE * 5000) / (mean + 2 * dev));
    expect(room).toBeGreaterThan(8 * perTurnAtWorst * 2);
    expect(room).toBeLessThan((8 * PLANNED_WAIT_SHARE * 5000) / mean);
    // And the last miss it takes is planned to start within the wait.
    expect(mixed.startsInMs(room - 1, 8) ?? Infinity).toBeLessThanOrEqual(
      PLANNED_WAIT_SHARE * 5000,
    );
    expect(mixed.startsInMs(room, 8) ?? 0).toBeGreaterThan(PLANNED_WAIT_SHARE * 5000);
  });
});
