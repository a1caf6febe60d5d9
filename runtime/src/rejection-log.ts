/**
 * A bundle's unhandled promise rejections, logged rather than failing the
 * render they came from.
 *
 * @module
 */
import type { GuestLogEntry } from './console-capture.ts';

/**
 * Unhandled rejections one isolate logs (a bundle rejecting in a loop must
 * not flood the worker's log); the rest are still survived, silently.
 */
const MAX_REJECTION_LINES = 1000;

/** Logs one isolate's unhandled rejections, at most {@link MAX_REJECTION_LINES}. */
export class RejectionLog {
  readonly #deploymentId: string;
  readonly #log: ((entry: GuestLogEntry) => void) | undefined;
  #logged = 0;

  constructor(deploymentId: string, log: ((entry: GuestLogEntry) => void) | undefined) {
    this.#deploymentId = deploymentId;
    this.#log = log;
  }

  /** Logs `err`, rejected unhandled during render `requestId` (if known). */
  note(err: unknown, requestId: string | undefined): void {
    if (this.#logged++ >= MAX_REJECTION_LINES) return;
    let reason: string;
    try {
      reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    } catch {
      reason = 'an unprintable value';
    }
    this.#log?.({
      level: 'error',
      message: `Unhandled promise rejection: ${reason}`.slice(0, 8192),
      deploymentId: this.#deploymentId,
      requestId: requestId || undefined,
    });
  }
}
