/**
 * The host's asynchronous calls into one isolate's guest: each counted until
 * it answers (see calls-in-flight.ts), an unhandled rejection it fails with
 * logged and survived, and, for calls outside a render's own (timer
 * callbacks, `fetch` answers, stream credit, aborts), its run held to the
 * CPU limit.
 *
 * @module
 */
import { FlotillaError } from '@flotilla/protocol';
import { CallsInFlight } from './calls-in-flight.ts';
import type { GuestEntries } from './host-bridge.ts';
import type { LimitGuard } from './limit-guard.ts';
import type { RejectionLog } from './rejection-log.ts';

/** What {@link GuestCalls} works with: the guest's entry points, the isolate's limit guard and rejection log. */
export interface GuestCallsOptions {
  guest: GuestEntries;
  /** The isolate's wall limit, ms: each call's own timeout (a backstop). */
  wallMs: number;
  guard: LimitGuard;
  rejections: RejectionLog;
  /** True once the isolate is disposed (its calls' failures are then not rejections). */
  disposed: () => boolean;
}

/** One isolate's calls into its guest (see the module). */
export class GuestCalls {
  /** Every asynchronous call not answered yet. */
  readonly inFlight = new CallsInFlight();
  readonly #guest: GuestEntries;
  readonly #wallMs: number;
  readonly #guard: LimitGuard;
  readonly #rejections: RejectionLog;
  readonly #disposed: () => boolean;

  constructor(options: GuestCallsOptions) {
    this.#guest = options.guest;
    this.#wallMs = options.wallMs;
    this.#guard = options.guard;
    this.#rejections = options.rejections;
    this.#disposed = options.disposed;
  }

  /** Counts `call`, which runs guest code, until it answers (the isolate is busy meanwhile). */
  count<T>(call: Promise<T>): Promise<T> {
    return this.inFlight.add(call, true);
  }

  /** `call`, with an unhandled rejection it fails with logged and survived. */
  survive(call: Promise<unknown>, requestId: string | undefined): Promise<unknown> {
    return call.catch((err: unknown) => {
      if (!this.isUnhandledRejection(err, requestId)) throw err;
    });
  }

  /**
   * `call` (guest code run for render `requestId`, outside the render's own
   * calls) counted, surviving an unhandled rejection, and held to the CPU
   * limit as `what`. Resolves once it answered.
   */
  enter(call: Promise<unknown>, requestId: string | undefined, what: string): Promise<unknown> {
    const survived = this.survive(this.count(call), requestId);
    this.#guard.enterGuest(survived, what);
    return survived;
  }

  /** Fires guest timer `id` of render `owner` (its delay passed). */
  fireTimer(id: number, owner: string | undefined): void {
    void this.enter(
      this.#guest.fireTimer.apply(undefined, [id], { timeout: this.#wallMs }),
      owner,
      'a setTimeout callback or what followed it',
    );
  }

  /** Gives streaming render `owner` back `bytes` of credit (see render-streams.ts). */
  credit(owner: string, bytes: number): void {
    void this.enter(
      this.#guest.credit.apply(undefined, [owner, bytes], { timeout: this.#wallMs }),
      owner,
      'code that ran after a streamed chunk left',
    );
  }

  /** Aborts the signal of render `requestId` if it still runs (its listeners run under the CPU limit). */
  abort(requestId: string, message: string): void {
    void this.enter(
      this.#guest.abort.apply(undefined, [requestId, message], { timeout: this.#wallMs }),
      requestId,
      "the request signal's abort listeners",
    );
  }

  /**
   * Makes the guest forget the timers request `requestId` left pending and its
   * unanswered `fetch` calls; resolves with the timers' ids for the host to clear.
   */
  settle(requestId: string): Promise<number[]> {
    return this.count(
      this.#guest.settle.apply(undefined, [requestId], {
        result: { copy: true },
        timeout: this.#wallMs,
      }),
    );
  }

  /**
   * True when a call into the isolate failed only because a promise was
   * rejected with no handler while it ran (isolated-vm then throws the
   * rejection from the call, whatever the call returned): the rejection is
   * logged to the app's log as a browser or Node would report it, and the
   * render it belongs to goes on. Anything else (a limit, a disposed
   * isolate) is false.
   */
  isUnhandledRejection(err: unknown, requestId: string | undefined): boolean {
    if (err instanceof FlotillaError || this.#disposed() || !this.#guard.isRejection(err)) {
      return false;
    }
    this.#rejections.note(err, requestId);
    return true;
  }
}
