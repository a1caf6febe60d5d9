/**
 * When a process that heartbeats counts as lost: it has been silent for 2.5
 * of its own heartbeat intervals (never less than 250 ms). Schedulers apply
 * it to workers, shields to schedulers, the autoscaler to workers.
 *
 * @module
 */

/** Heartbeat intervals a process may miss before it counts as lost. */
export const MISSED_HEARTBEATS = 2.5;

/** The shortest silence that counts as lost, whatever the interval, in ms. */
export const MIN_LOST_AFTER_MS = 250;

/**
 * How long a process heartbeating every `intervalMs` may stay silent before
 * it is lost.
 *
 * @param intervalMs - The interval the process announced; 0 or less counts as 1000.
 * @param override - An explicit silence limit, used as is when given.
 */
export function lostAfterMs(intervalMs: number, override?: number): number {
  if (override !== undefined) return override;
  const interval = intervalMs > 0 ? intervalMs : 1000;
  return Math.max(MIN_LOST_AFTER_MS, MISSED_HEARTBEATS * interval);
}

/**
 * True when a process last heard from at `seenAt`, heartbeating every
 * `intervalMs`, counts as lost at `now` (all in ms).
 */
export function isLost(
  seenAt: number,
  intervalMs: number,
  now: number,
  override?: number,
): boolean {
  return now - seenAt > lostAfterMs(intervalMs, override);
}
