/**
 * The CPU slots of one render thread: renders running guest code hold one;
 * a render that only waits on its backend calls gives its slot back and
 * queues for one again before its continuation runs (FIFO).
 */
export class CpuSlots {
  #free: number;
  readonly #queue: Array<() => void> = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Resolves once the caller holds a slot (at once when one is free and nobody queues). */
  acquire(): Promise<void> {
    if (this.#free > 0 && this.#queue.length === 0) {
      this.#free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#queue.push(resolve));
  }

  /** Gives a slot back: the longest-queued caller takes it. */
  release(): void {
    const next = this.#queue.shift();
    if (next) next();
    else this.#free++;
  }
}

/**
 * One render's hold on the thread's {@link CpuSlots}: taken before it runs,
 * given back while it only waits on I/O (see `RenderIoGate`), taken again
 * before its continuation, given back when it ends. `onWaiting` is told
 * each change of whether it waits on I/O.
 */
export class RenderSlot {
  #held = false;
  #waiting = false;
  readonly #slots: CpuSlots;
  readonly #onWaiting: (waiting: boolean) => void;

  constructor(slots: CpuSlots, onWaiting: (waiting: boolean) => void) {
    this.#slots = slots;
    this.#onWaiting = onWaiting;
  }

  async acquire(): Promise<void> {
    this.#setWaiting(false);
    if (this.#held) return;
    await this.#slots.acquire();
    this.#held = true;
  }

  /** The render only waits on I/O now. */
  waiting(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#slots.release();
    this.#setWaiting(true);
  }

  /** The render ended: its slot (if it holds one) goes back. */
  end(): void {
    this.#setWaiting(false);
    if (!this.#held) return;
    this.#held = false;
    this.#slots.release();
  }

  #setWaiting(waiting: boolean): void {
    if (this.#waiting === waiting) return;
    this.#waiting = waiting;
    this.#onWaiting(waiting);
  }
}
