/**
 * A closed loop on this thread: the benches' way of keeping N calls in
 * flight (renders, HTTP requests, NATS round trips).
 *
 * @module
 */
import { now } from './stats.ts';

/** When {@link drive} stops starting calls; at least one bound should be given. */
export interface DriveLimits {
  /** Calls in flight at once (lanes). */
  concurrency: number;
  /**
   * Calls to start in all.
   * @default no bound
   */
  total?: number;
  /**
   * Start no call after this long, ms.
   * @default no bound
   */
  durationMs?: number;
}

/**
 * Runs `limits.concurrency` lanes, each calling `once(i)` (`i` counts the
 * calls started) again as soon as its last call settled, until `total`
 * calls have started or `durationMs` has passed; resolves with every
 * call's result in the order they settled, and the time it all took.
 */
export async function drive<T>(
  limits: DriveLimits,
  once: (i: number) => Promise<T>,
): Promise<{ results: T[]; elapsedMs: number }> {
  const total = limits.total ?? Number.POSITIVE_INFINITY;
  const results: T[] = [];
  let next = 0;
  const started = now();
  const deadline = started + (limits.durationMs ?? Number.POSITIVE_INFINITY);
  await Promise.all(
    Array.from({ length: limits.concurrency }, async () => {
      while (next < total && now() < deadline) results.push(await once(next++));
    }),
  );
  return { results, elapsedMs: now() - started };
}
