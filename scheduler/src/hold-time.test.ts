import { describe, expect, it } from 'vitest';
import { HoldTime, PLANNED_WAIT_SHARE } from './hold-time.ts';

describe('HoldTime', () => {
  it('knows nothing before the first miss: the whole queue is room', () => {
    const hold = new HoldTime();
    expect(hold.plannedMs()).toBeUndefined();
    expect(hold.queueRoom(2, 1000, 64)).toBe(64);
    expect(hold.startsInMs(10, 2)).toBeUndefined();
  });

  it('counts whole turns of the slots that end within three quarters of the wait', () => {
    const hold = new HoldTime();
    hold.observe(220);
    // 750 / 220: three whole turns of 2 slots, not ⌊2 × 1000 / 220⌋ = 9 (the ninth would start at 1100 ms).
    expect(hold.queueRoom(2, 1000, 64)).toBe(6);
    expect(hold.queueRoom(2, 1000 / PLANNED_WAIT_SHARE, 64)).toBe(8);
    expect(hold.startsInMs(7, 2)).toBe(880);
    expect(hold.startsInMs(8, 2)).toBe(1100);
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
    expect(steady.plannedMs()).toBeCloseTo(200);
    expect(jittery.plannedMs()).toBeGreaterThan(300);
    expect(jittery.queueRoom(2, 1000, 64)).toBeLessThan(steady.queueRoom(2, 1000, 64));
  });
});
