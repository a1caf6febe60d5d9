import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.ts';

describe('waitFor', () => {
  it('resolves with the milliseconds until the predicate held', async () => {
    let calls = 0;
    const took = await waitFor(() => ++calls === 3, { intervalMs: 20 });
    expect(calls).toBe(3);
    // Two pauses of 20 ms at least; an upper bound would not hold on a busy machine.
    expect(took).toBeGreaterThanOrEqual(30);
    expect(await waitFor(async () => true)).toBeGreaterThanOrEqual(0);
  });

  it('counts a throwing predicate as "not yet", and names the last error on timeout', async () => {
    const failure = waitFor(
      () => {
        throw new Error('still down');
      },
      { timeoutMs: 100, intervalMs: 10, message: 'never came up' },
    );
    await expect(failure).rejects.toThrow('never came up');
    await expect(failure).rejects.toMatchObject({ cause: { message: 'still down' } });
  });

  it('abandons a predicate call that hangs at the deadline', async () => {
    await expect(waitFor(() => new Promise<boolean>(() => {}), { timeoutMs: 100 })).rejects.toThrow(
      'waitFor: condition not met within 100 ms',
    );
  });
});
