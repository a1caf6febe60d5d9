/**
 * Time and promise helpers of the cache's unit tests (coalescer,
 * revalidator, edge cache). Not exported from the package.
 *
 * @module
 */
import type { CacheTimers } from './timers.ts';

/** Hand-driven time: timers fire only inside advance(), in due order. */
export class ManualClock {
  now = 0;
  #seq = 0;
  readonly #pending = new Map<number, { at: number; fn: () => void }>();
  readonly timers: CacheTimers = {
    setTimeout: (fn, ms) => {
      const id = ++this.#seq;
      this.#pending.set(id, { at: this.now + ms, fn });
      return id;
    },
    clearTimeout: (handle) => {
      this.#pending.delete(handle as number);
    },
  };

  get pendingTimers(): number {
    return this.#pending.size;
  }

  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.#pending) {
        if (e[1].at <= target && (next === undefined || e[1].at < next[1].at)) next = e;
      }
      if (next === undefined) break;
      this.#pending.delete(next[0]);
      this.now = next[1].at;
      next[1].fn();
      await settle();
    }
    this.now = target;
    await settle();
  }
}

/** Lets every promise chain already under way run to its end. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

/** A promise and the functions that settle it. */
export function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
