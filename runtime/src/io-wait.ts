/**
 * When a render only waits on its backend `fetch` calls (no guest code of
 * it runs), so that the worker can let other renders use the CPU meanwhile.
 */

/**
 * What a render tells its caller about its backend I/O: the caller holds a
 * CPU slot for the render while it runs, and may give it to another render
 * while this one only waits.
 */
export interface RenderIoGate {
  /** The render now only waits on backend `fetch` calls: its CPU slot may go. */
  waiting(): void;
  /**
   * A `fetch` of the render answered: its continuation (guest code) runs
   * once this resolves, so the caller gets the render a CPU slot back
   * first (queued behind the renders already running, if need be).
   */
  resume(): Promise<void>;
}

/**
 * The backend calls of one render in flight, and whether the answer of one
 * is being delivered to the guest. The render waits on I/O while a call is
 * in flight and no answer is being delivered.
 *
 * A bundle that starts a `fetch` and goes on computing without awaiting it
 * counts as waiting from the call on: its CPU is still held to the render's
 * `cpuMs` limit.
 */
export class IoWait {
  #pending = 0;
  #delivering = 0;
  readonly #gate: RenderIoGate | undefined;

  constructor(gate: RenderIoGate | undefined) {
    this.#gate = gate;
  }

  /** A `fetch` call of the render started. */
  started(): void {
    this.#pending++;
    if (this.#pending === 1 && this.#delivering === 0) this.#gate?.waiting();
  }

  /** A call answered and its answer goes to the guest: resolves when it may run. */
  async answered(): Promise<void> {
    this.#pending--;
    this.#delivering++;
    try {
      await this.#gate?.resume();
    } catch {
      // a gate that failed still lets the render finish
    }
  }

  /** The answer was delivered (the guest ran its continuation). */
  delivered(): void {
    this.#delivering--;
    if (this.#pending > 0 && this.#delivering === 0) this.#gate?.waiting();
  }

  /** A call ended without an answer for the guest (its render ended). */
  dropped(): void {
    this.#pending--;
  }
}
