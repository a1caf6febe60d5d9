import type { LogLine } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { limitRepeats } from './log-repeats.ts';

function setup(burst = 3, windowMs = 10_000) {
  let t = 0;
  const lines: LogLine[] = [];
  const limited = limitRepeats((l) => lines.push(l), { burst, windowMs, now: () => t });
  return { lines, limited, advance: (ms: number) => (t += ms) };
}

describe('limitRepeats', () => {
  it('writes a burst of one kind, counts the rest, and says how many when the window ends', () => {
    const { lines, limited, advance } = setup();
    for (let i = 0; i < 50; i++) {
      limited.log({ level: 'warn', msg: 'revalidation failed', key: `k${i}` });
    }
    limited.log({ msg: 'something else' });
    expect(lines.map((l) => l.key ?? l.msg)).toEqual(['k0', 'k1', 'k2', 'something else']);
    advance(5000);
    limited.sweep();
    expect(lines).toHaveLength(4);
    advance(5000);
    limited.sweep();
    expect(lines[4]).toMatchObject({
      level: 'warn',
      msg: 'revalidation failed',
      key: 'k3',
      repeated: 47,
    });
    // A new window: a burst again.
    limited.log({ level: 'warn', msg: 'revalidation failed', key: 'again' });
    expect(lines[5]).toMatchObject({ key: 'again' });
    expect(lines[5]?.repeated).toBeUndefined();
  });

  it('counts kinds by level and message apart, and writes every pending count on flush', () => {
    const { lines, limited } = setup(1);
    for (let i = 0; i < 3; i++) {
      limited.log({ level: 'warn', msg: 'a' });
      limited.log({ level: 'error', msg: 'a' });
    }
    limited.flush();
    expect(lines.map((l) => [l.level, l.msg, l.repeated])).toEqual([
      ['warn', 'a', undefined],
      ['error', 'a', undefined],
      ['warn', 'a', 2],
      ['error', 'a', 2],
    ]);
  });

  it('leaves the bundles’ console lines alone (the worker budgets them)', () => {
    const { lines, limited } = setup(1);
    for (let i = 0; i < 5; i++) limited.log({ msg: 'fetching', source: 'app' });
    limited.flush();
    expect(lines).toHaveLength(5);
  });
});
