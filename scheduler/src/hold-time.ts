/**
 * How long a miss holds a worker's slot, and from it how many queued misses
 * can still start within the queue wait. Planned with the moving average
 * plus twice the moving mean deviation, not the average alone: a queue sized
 * on the average lets about half the misses at its tail wait the whole
 * `maxQueueWaitMs` and be shed after all, a second late, whenever renders
 * run a little slower than usual (as they do in an overload).
 *
 * @module
 */

/** Weight of the newest sample in the moving averages. */
const WEIGHT = 0.1;
/** Deviations added to the average hold time when planning. */
const DEVIATIONS = 2;
/**
 * Share of the queue wait a queued miss is planned to start within: the
 * rest is left for renders that slow down once the queue is full (an
 * overload slows the whole machine), which the averages only see later.
 */
export const PLANNED_WAIT_SHARE = 0.75;

/** A miss's hold time, as a moving average and mean deviation of recent ones. */
export class HoldTime {
  #meanMs: number | undefined;
  #deviationMs = 0;

  /** Records how long one miss held its slot, ms. */
  observe(ms: number): void {
    if (this.#meanMs === undefined) {
      this.#meanMs = ms;
      return;
    }
    this.#deviationMs = (1 - WEIGHT) * this.#deviationMs + WEIGHT * Math.abs(ms - this.#meanMs);
    this.#meanMs = (1 - WEIGHT) * this.#meanMs + WEIGHT * ms;
  }

  /** The hold time planned with (average plus twice the deviation), ms; undefined before the first. */
  plannedMs(): number | undefined {
    return this.#meanMs === undefined
      ? undefined
      : Math.max(1, this.#meanMs + DEVIATIONS * this.#deviationMs);
  }

  /**
   * Misses that may queue behind `slots` busy slots and all still start
   * within {@link PLANNED_WAIT_SHARE} of `waitMs`: a miss at place q (from
   * 0) starts when ⌊q / slots⌋ + 1 turns of the slots have ended, so
   * `slots` per whole turn that fits. Never less than one turn of the slots (a miss
   * waiting for an app's fair share, or for a worker about to join, still
   * gets a place), nor more than `maxQueue`; `maxQueue` before any hold time
   * is known.
   */
  queueRoom(slots: number, waitMs: number, maxQueue: number): number {
    const hold = this.plannedMs();
    if (hold === undefined) return maxQueue;
    const turns = Math.floor((PLANNED_WAIT_SHARE * waitMs) / hold);
    return Math.min(maxQueue, Math.max(1, slots, slots * turns));
  }

  /**
   * When a miss with `ahead` misses queued before it would start, ms from
   * now, at the planned hold time; undefined before any hold time is known.
   */
  startsInMs(ahead: number, slots: number): number | undefined {
    const hold = this.plannedMs();
    if (hold === undefined) return undefined;
    return (Math.floor(ahead / Math.max(1, slots)) + 1) * hold;
  }
}
