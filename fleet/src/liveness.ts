import { monitorEventLoopDelay } from 'node:perf_hooks';

/** What `/livez` reports. */
export type Liveness = {
  ok: boolean;
  /** Worst event-loop delay seen over the last window, ms. */
  eventLoopDelayMs: number;
};

/**
 * Watches this process's event-loop delay for `/livez`: the process is live
 * while the worst delay over the last `windowMs` stays under `maxDelayMs`.
 * NATS state and draining do not matter here (readiness is `/healthz`):
 * only a process that stopped responding should be restarted.
 */
export class EventLoopWatch {
  readonly #histogram = monitorEventLoopDelay({ resolution: 20 });
  readonly #maxDelayMs: number;
  #previousMaxMs = 0;
  readonly #timer: NodeJS.Timeout;

  /**
   * @param maxDelayMs delay past which the process is not live. @default 5000
   * @param windowMs how long a delay counts. @default 10000
   */
  constructor(maxDelayMs = 5000, windowMs = 10_000) {
    this.#maxDelayMs = maxDelayMs;
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#previousMaxMs = this.#histogram.max / 1e6;
      this.#histogram.reset();
    }, windowMs);
    this.#timer.unref();
  }

  /** The current verdict. */
  check(): Liveness {
    const delay = Math.max(this.#previousMaxMs, this.#histogram.max / 1e6);
    return { ok: delay < this.#maxDelayMs, eventLoopDelayMs: Math.round(delay) };
  }

  /** Stops watching. */
  close(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
}
