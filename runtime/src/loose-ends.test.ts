import { describe, expect, it } from 'vitest';
import { LooseEnds } from './loose-ends.ts';

describe('LooseEnds', () => {
  it('defers a render with no pending timer and every fetch answer handed over', () => {
    const ends = new LooseEnds();
    ends.fetchStarted('a');
    ends.fetchStarted('a');
    ends.fetchDelivered('a');
    ends.fetchDelivered('a');
    ends.timerSet(1, 'a');
    expect(ends.timerDone(1)).toBe('a');
    expect(ends.ended('a')).toBe(true);
    expect(ends.take()).toEqual(['a']);
    expect(ends.take()).toBeNull();
  });

  it('settles at once a render with a pending timer or an unanswered fetch', () => {
    const ends = new LooseEnds();
    ends.timerSet(1, 'a');
    expect(ends.ended('a')).toBe(false);
    ends.fetchStarted('b');
    ends.fetchStarted('b');
    ends.fetchDelivered('b');
    expect(ends.ended('b')).toBe(false);
    // A late answer of an ended render changes nothing.
    ends.fetchDelivered('b');
    expect(ends.take()).toBeNull();
  });

  it('counts a timer set again under the same id once', () => {
    const ends = new LooseEnds();
    ends.timerSet(7, 'a');
    ends.timerSet(7, 'a');
    ends.timerDone(7);
    expect(ends.ended('a')).toBe(true);
    expect(ends.take()).toEqual(['a']);
    ends.timerSet(8, 'b');
    ends.ended('c');
    ends.clear();
    expect(ends.take()).toBeNull();
    expect(ends.ended('b')).toBe(true);
  });
});
