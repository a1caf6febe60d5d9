import { describe, expect, it } from 'vitest';
import { DEFAULT_REQUEST_TIMEOUT_MS, wallLimitBelow, wallLimitFor } from './options.ts';

describe('the wall limit below the request deadline', () => {
  it('leaves 2 s (or a fifth of a short deadline) for the answer to reach the client', () => {
    expect(wallLimitBelow(DEFAULT_REQUEST_TIMEOUT_MS)).toBe(8000);
    expect(wallLimitBelow(30_000)).toBe(28_000);
    expect(wallLimitBelow(1000)).toBe(800);
    expect(wallLimitBelow(1)).toBe(1);
  });

  it('defaults to the longest allowed, keeps a lower one, clamps a higher one with a warning', () => {
    expect(wallLimitFor(undefined, 10_000)).toEqual({ wallMs: 8000 });
    expect(wallLimitFor(5000, 10_000)).toEqual({ wallMs: 5000 });
    const clamped = wallLimitFor(10_000, 10_000);
    expect(clamped.wallMs).toBe(8000);
    expect(clamped.warning).toMatch(
      /wall limit 10000 ms is not below the 10000 ms request deadline/,
    );
    expect(wallLimitFor(20_000, 4000)).toMatchObject({ wallMs: 3200 });
  });
});
