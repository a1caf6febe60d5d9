import { setTimeout as delay } from 'node:timers/promises';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /**
   * How long to keep polling before giving up.
   * @default 10000
   */
  timeoutMs?: number;
  /**
   * Pause between two calls of the predicate.
   * @default 50
   */
  intervalMs?: number;
  /**
   * Message of the Error thrown on timeout.
   * @default 'waitFor: condition not met within <timeoutMs> ms'
   */
  message?: string;
}

const TIMED_OUT = Symbol('timed out');

/**
 * Polls `predicate` until it returns (or resolves to) `true`, and resolves
 * with the milliseconds that took (from the call to the first `true`).
 *
 * A predicate that throws or rejects counts as "not yet"; the last such error
 * becomes the `cause` of the timeout error. A predicate call that hangs is
 * abandoned at the deadline.
 *
 * @throws Error with `options.message` when the deadline passes first.
 * @example
 * const tookMs = await waitFor(() => lease.isLeader, { timeoutMs: 3000, message: 'no leader' });
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 50;
  const started = performance.now();
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    const remaining = deadline - Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      const outcome = await Promise.race([
        Promise.resolve().then(predicate),
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(resolve, Math.max(0, remaining), TIMED_OUT);
        }),
      ]);
      if (outcome === true) return performance.now() - started;
    } catch (error) {
      lastError = error;
    } finally {
      clearTimeout(timer);
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const message = options.message ?? `waitFor: condition not met within ${timeoutMs} ms`;
      throw lastError === undefined ? new Error(message) : new Error(message, { cause: lastError });
    }
    await delay(Math.min(intervalMs, left));
  }
}
