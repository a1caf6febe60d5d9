import { randomBytes } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import type { IoWaitReport } from './task.ts';

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A worker's renders waiting on backend I/O, as its threads report them
 * ({@link IoWaitReport} on a `BroadcastChannel`), and the load updates
 * they call for: an extra heartbeat at most every `intervalMs`, so that
 * schedulers see CPU slots freed (or taken back) well before the next
 * regular heartbeat.
 */
export class IoLoad {
  /** Name of the channel the threads post to (their `RenderThreadData.ioChannel`). */
  readonly channel: string;
  readonly #byThread = new Map<number, number>();
  readonly #port: BroadcastChannel;
  readonly #intervalMs: number;
  readonly #onChange: (waiting: number) => void;
  readonly #send: () => void;
  #waiting = 0;
  #lastSentAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /**
   * @param onChange told the new count (for the gauge).
   * @param send sends a heartbeat (and calls {@link IoLoad.sent}).
   */
  constructor(
    workerId: string,
    intervalMs: number,
    onChange: (waiting: number) => void,
    send: () => void,
  ) {
    this.channel = `flotilla-io-${workerId}-${randomBytes(4).toString('hex')}`;
    this.#intervalMs = intervalMs;
    this.#onChange = onChange;
    this.#send = send;
    this.#port = new BroadcastChannel(this.channel);
    this.#port.onmessage = (event) => this.#record(event.data as IoWaitReport);
    this.#port.unref();
  }

  /** Renders only waiting on I/O now, all threads together. */
  get waiting(): number {
    return this.#waiting;
  }

  /** A heartbeat went out: the next load update waits `intervalMs` from now. */
  sent(): void {
    this.#lastSentAt = now();
  }

  #record(report: IoWaitReport): void {
    this.#byThread.set(report.threadId, report.waiting);
    let waiting = 0;
    for (const n of this.#byThread.values()) waiting += n;
    if (waiting === this.#waiting) return;
    this.#waiting = waiting;
    this.#onChange(waiting);
    this.update();
  }

  /** Sends a load update now, or `intervalMs` after the last heartbeat (one pending at most). */
  update(): void {
    if (this.#timer || this.#closed) return;
    const wait = this.#lastSentAt + this.#intervalMs - now();
    if (wait <= 0) {
      this.#send();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#send();
    }, wait);
    this.#timer.unref();
  }

  /** No more load updates (the worker drains). */
  stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /** Stops and closes the channel. */
  close(): void {
    this.stop();
    this.#port.close();
  }
}
