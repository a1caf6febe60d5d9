import type { Subscription } from './transport.ts';

/** A subscription {@link Subscriptions.open} made, and how its running handlers are counted. */
export interface OpenSubscription {
  readonly subscription: Subscription;
  /** Counts `work` (a running handler) in `inFlight` until it settles; drain waits for it. */
  track(work: Promise<unknown>): void;
}

/**
 * The live subscriptions of one transport. Draining one stops its messages,
 * then waits for the handlers it tracks; {@link Subscriptions.drain} drains
 * them all.
 */
export class Subscriptions {
  readonly #live = new Set<Subscription>();

  /** A live subscription whose drain calls `stop` (no more messages), then waits for what it tracks. */
  open(stop: () => void | Promise<void>): OpenSubscription {
    const running = new Set<Promise<unknown>>();
    const subscription: Subscription = {
      drain: async () => {
        this.#live.delete(subscription);
        await stop();
        while (running.size > 0) await Promise.allSettled([...running]);
      },
      get inFlight() {
        return running.size;
      },
    };
    this.#live.add(subscription);
    return {
      subscription,
      track: (work) => {
        running.add(work);
        const done = () => running.delete(work);
        void work.then(done, done);
      },
    };
  }

  /** Drains every live subscription. */
  async drain(): Promise<void> {
    await Promise.all([...this.#live].map((s) => s.drain()));
  }
}
