/**
 * The shield's work that is not a hit answered at once (a miss, a pass, a
 * stale or cold hit), run in slices between turns of the event loop rather
 * than as it arrives. A burst of misses (256 sheds at once) would otherwise
 * hold the event loop for the whole burst, and every hit arriving meanwhile
 * would wait behind it; in slices, the hits read in between (answered at
 * once, synchronously, as they are parsed) wait for one slice at most.
 *
 * @module
 */
import { positiveInt } from '@flotilla/protocol';

/** Options of {@link MissQueue}. */
export interface MissQueueOptions {
  /**
   * Longest one slice runs before the event loop reads its sockets again,
   * ms (a slice runs at least one task, however long it takes).
   * @default 2
   */
  sliceMs?: number;
  /** Monotonic clock, ms. @default performance.now */
  clock?: () => number;
}

/**
 * Runs tasks in arrival order, in slices of about `sliceMs` (what the tasks
 * started in a slice still do in microtasks may run past it), each after a
 * turn of the event loop.
 */
export class MissQueue {
  readonly #sliceMs: number;
  readonly #clock: () => number;
  readonly #tasks: Array<() => void> = [];
  /** Index of the next task in `#tasks` (shifting one by one would be quadratic). */
  #head = 0;
  #scheduled = false;

  /** @throws InvalidOptionError naming `sliceMs` when it is not a positive integer */
  constructor(options: MissQueueOptions = {}) {
    this.#sliceMs = positiveInt('sliceMs', options.sliceMs, 2);
    this.#clock = options.clock ?? (() => performance.now());
  }

  /** Tasks waiting for their slice. */
  get waiting(): number {
    return this.#tasks.length - this.#head;
  }

  /** Runs `task` in a coming slice (never now). A task must not throw: what it throws is lost. */
  push(task: () => void): void {
    this.#tasks.push(task);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // setImmediate: after the poll phase, so the sockets already readable
    // (the hits among them) are read and answered before this slice.
    setImmediate(() => this.#slice());
  }

  /**
   * Starts tasks until the slice's time is up. Each next one starts from a
   * microtask, after what the previous ones queued at once: their work goes
   * on in microtasks (a task's promises) and counts against the slice too,
   * where a plain loop would start every task before any of it ran.
   */
  #slice(): void {
    this.#scheduled = false;
    const until = this.#clock() + this.#sliceMs;
    const next = (): void => {
      if (this.#head === this.#tasks.length) {
        this.#tasks.length = 0;
        this.#head = 0;
        return;
      }
      if (this.#clock() >= until) {
        this.#schedule();
        return;
      }
      const task = this.#tasks[this.#head] ?? noop;
      this.#tasks[this.#head] = noop;
      this.#head++;
      try {
        task();
      } catch {
        // A task answers its own failures; nothing here may stop the others.
      }
      queueMicrotask(next);
    };
    next();
  }
}

function noop(): void {}
