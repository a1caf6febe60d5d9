/**
 * Host side of the guest's `setTimeout`/`clearTimeout`: each guest timer is
 * a host timer (unref'd, at most the wall limit) until it fires or its
 * render ends. None outlives the isolate.
 */
import { MAX_TIMERS } from './guest/host.ts';

/** The host timers of one isolate, and the render that set each. */
export class HostTimers {
  readonly #timers = new Map<number, NodeJS.Timeout>();
  /** The request that set each pending timer, for what its callback logs. */
  readonly #owners = new Map<number, string>();
  readonly #maxMs: number;
  readonly #fire: (id: number, owner: string | undefined) => void;

  /**
   * @param maxMs longest delay (the wall limit: no render waits longer).
   * @param fire runs timer `id` (set by request `owner`) in the guest once its delay passed.
   */
  constructor(maxMs: number, fire: (id: number, owner: string | undefined) => void) {
    this.#maxMs = maxMs;
    this.#fire = fire;
  }

  /** Timers pending. */
  get size(): number {
    return this.#timers.size;
  }

  /** A guest call: `set` timer `id` to fire after `ms` (for request `owner`), or `clear` it. */
  handle(op: string, id: number, ms: number, owner?: unknown): void {
    if (op === 'set' && typeof owner === 'string') this.#owners.set(id, owner);
    else this.#owners.delete(id);
    if (op === 'clear') {
      this.clear(id);
      return;
    }
    // The guest keeps MAX_TIMERS alive at most, but its count can run ahead
    // of clears still queued here; the host bound holds whatever the guest does.
    if (op !== 'set' || this.#timers.size >= 2 * MAX_TIMERS) return;
    const delay = Math.min(Math.max(0, ms), this.#maxMs);
    const t = setTimeout(() => {
      const owner = this.#owners.get(id);
      this.#timers.delete(id);
      this.#owners.delete(id);
      this.#fire(id, owner);
    }, delay);
    t.unref();
    this.#timers.set(id, t);
  }

  /** Cancels timer `id` (nothing when it is not pending). */
  clear(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.#owners.delete(id);
  }

  /** Cancels every timer. */
  clearAll(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#owners.clear();
  }
}
