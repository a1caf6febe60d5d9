import { describe, expect, it } from 'vitest';
import { PenaltyBox } from './penalty-box.ts';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('PenaltyBox', () => {
  it('boxes an app after `failures` user errors within the window that are most of its renders', () => {
    const c = clock();
    const changes: string[] = [];
    const box = new PenaltyBox({
      clock: c.now,
      onChange: (app, boxed) => changes.push(`${app} ${boxed}`),
    });
    for (let i = 0; i < 4; i++) box.record('a', true, 5);
    expect(box.boxed('a')).toBe(false);
    expect(box.readyIn('a', 0)).toBe(0);
    box.record('a', true, 5);
    expect(box.boxed('a')).toBe(true);
    expect(box.boxedApps()).toEqual(['a']);
    expect(changes).toEqual(['a true']);
    // Other apps are not affected.
    expect(box.readyIn('b', 3)).toBe(0);
  });

  it('leaves alone an app with the odd failing render among many good ones', () => {
    const box = new PenaltyBox({ clock: clock().now });
    for (let i = 0; i < 100; i++) box.record('busy', i % 10 === 0, 5);
    expect(box.boxed('busy')).toBe(false);
  });

  it('counts failures within the window only', () => {
    const c = clock();
    const box = new PenaltyBox({ clock: c.now, windowMs: 1000 });
    for (let i = 0; i < 10; i++) {
      box.record('slow-failing', true, 5);
      c.advance(300);
    }
    // Never 5 within one second.
    expect(box.boxed('slow-failing')).toBe(false);
  });

  it('paces a boxed app: one at a time, each after a pause as long as the last held its slot', () => {
    const c = clock();
    const box = new PenaltyBox({ clock: c.now, pauseMs: 200 });
    for (let i = 0; i < 5; i++) box.record('a', true, 5);
    // A render in flight: no other starts until it ends (its end wakes the queue).
    expect(box.readyIn('a', 1)).toBe(Number.POSITIVE_INFINITY);
    // Fast failures: the shortest pause.
    expect(box.readyIn('a', 0)).toBe(200);
    c.advance(150);
    expect(box.readyIn('a', 0)).toBe(50);
    c.advance(50);
    expect(box.readyIn('a', 0)).toBe(0);
    // A CPU bomb held its slot 1 s: it waits 1 s before the next.
    box.record('a', true, 1000);
    expect(box.readyIn('a', 0)).toBe(1000);
  });

  it('lets an app out `boxMs` after its last failure, and forgets it once its window is empty', () => {
    const c = clock();
    const changes: string[] = [];
    const box = new PenaltyBox({
      clock: c.now,
      boxMs: 5000,
      windowMs: 2000,
      onChange: (app, boxed) => changes.push(`${app} ${boxed}`),
    });
    for (let i = 0; i < 5; i++) box.record('a', true, 5);
    c.advance(4000);
    box.record('a', false, 5); // a success does not extend the box
    expect(box.boxed('a')).toBe(true);
    c.advance(1001);
    expect(box.boxed('a')).toBe(false);
    expect(box.readyIn('a', 0)).toBe(0);
    expect(changes).toEqual(['a true', 'a false']);
    c.advance(2001);
    box.prune();
    // Forgotten: it takes five failures again to box it.
    for (let i = 0; i < 4; i++) box.record('a', true, 5);
    expect(box.boxed('a')).toBe(false);
  });

  it('is off with failures: 0, and validates its options by name', () => {
    const box = new PenaltyBox({ failures: 0 });
    for (let i = 0; i < 100; i++) box.record('a', true, 5);
    expect(box.boxed('a')).toBe(false);
    expect(() => new PenaltyBox({ failures: -1 })).toThrow(/penaltyBoxFailures/);
    expect(() => new PenaltyBox({ failureShare: 0 })).toThrow(/penaltyBoxFailureShare/);
    expect(() => new PenaltyBox({ windowMs: 0 })).toThrow(/penaltyBoxWindowMs/);
    expect(() => new PenaltyBox({ boxMs: 1.5 })).toThrow(/penaltyBoxMs/);
    expect(() => new PenaltyBox({ pauseMs: -5 })).toThrow(/penaltyBoxPauseMs/);
  });
});
