/**
 * How long a miss holds a worker's slot, and from it when a queued miss
 * starts and how many queued misses can still start within the queue wait.
 *
 * The slots of a busy region end one after another, not all at once: a miss
 * with `ahead` misses queued before it starts once `ahead + 1` renders have
 * ended, about `(ahead + 1) / slots` hold times from now, at the average hold
 * time (the rate the region drains its queue). The spread of hold times is
 * planned for too, but as the spread of a sum: `n` hold times in a row vary
 * by about √n deviations, not n. Planning each turn at the average plus two
 * deviations instead (as this did before) made a deep queue look several
 * times slower than it drains whenever renders are uneven (a mix of fast
 * pages and slow ones, or a CPU-starved machine where every render's time
 * varies), so misses were refused that would have started in time.
 *
 * @module
 */

/** Weight of the newest sample in the moving averages. */
const WEIGHT = 0.1;
/** Deviations of the sum of hold times before a miss added when planning its start. */
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

  /** The average hold time, ms (at least 1); undefined before the first. */
  meanMs(): number | undefined {
    return this.#meanMs === undefined ? undefined : Math.max(1, this.#meanMs);
  }

  /** The mean deviation of hold times, ms. */
  deviationMs(): number {
    return this.#deviationMs;
  }

  /**
   * Misses that may queue behind `slots` busy slots and all still start
   * within {@link PLANNED_WAIT_SHARE} of `waitMs` ({@link startsInMs} of the
   * last one). Never less than one turn of the slots (a miss waiting for an
   * app's fair share, or for a worker about to join, still gets a place),
   * nor more than `maxQueue`; `maxQueue` before any hold time is known.
   */
  queueRoom(slots: number, waitMs: number, maxQueue: number): number {
    const mean = this.meanMs();
    if (mean === undefined) return maxQueue;
    const budget = PLANNED_WAIT_SHARE * waitMs;
    // Largest n (hold times per slot) with n·mean + D·√n·dev ≤ budget: a quadratic in √n.
    const d = DEVIATIONS * this.#deviationMs;
    const root = (-d + Math.sqrt(d * d + 4 * mean * budget)) / (2 * mean);
    const turns = root * root;
    // The miss at place q (from 0) starts after (q + 1) / slots hold times per slot.
    const room = Math.floor(turns * Math.max(1, slots) + 1e-9);
    return Math.min(maxQueue, Math.max(1, slots, room));
  }

  /**
   * When a miss with `ahead` misses queued before it would start, ms from
   * now: once `ahead + 1` of the `slots` renders have ended, planned at the
   * average hold time plus two deviations of that sum; undefined before any
   * hold time is known.
   */
  startsInMs(ahead: number, slots: number): number | undefined {
    const mean = this.meanMs();
    if (mean === undefined) return undefined;
    const turns = (ahead + 1) / Math.max(1, slots);
    return turns * mean + DEVIATIONS * Math.sqrt(turns) * this.#deviationMs;
  }
}
