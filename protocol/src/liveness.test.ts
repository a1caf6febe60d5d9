import { describe, expect, it } from 'vitest';
import { isLost, lostAfterMs } from './liveness.ts';

describe('liveness', () => {
  it('counts a process lost after 2.5 of its heartbeat intervals', () => {
    expect(lostAfterMs(1000)).toBe(2500);
    expect(isLost(0, 1000, 2500)).toBe(false);
    expect(isLost(0, 1000, 2501)).toBe(true);
  });

  it('never sooner than 250 ms, and an unknown interval counts as 1000 ms', () => {
    expect(lostAfterMs(10)).toBe(250);
    expect(lostAfterMs(0)).toBe(2500);
  });

  it('uses an explicit silence limit as is', () => {
    expect(lostAfterMs(1000, 40)).toBe(40);
    expect(isLost(0, 1000, 41, 40)).toBe(true);
  });
});
