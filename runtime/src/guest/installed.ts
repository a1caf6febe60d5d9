/**
 * The prelude's entry points, as the host calls them (`installed` in
 * prelude.ts; the host's References to them are `GuestEntries` in
 * host-bridge.ts).
 */
import type { GuestFetchResult, GuestRequestInit, GuestResult } from './host.ts';

export interface Installed {
  /**
   * Starts rendering one request as render `id` (the host numbers them).
   * When the call returns, the render has run as far as it can without the
   * host (its synchronous part and every microtask it queued). `forget`
   * lists renders the host has the results of (taken or waited for): their
   * records go. The record of a render stays until then, so that the host
   * still gets its result when isolated-vm fails the call that settled it
   * with an unhandled rejection (see `runtime/README.md`). `settled` lists
   * requests that ended with nothing left pending for the host (no timer, no
   * unanswered `fetch`): they are settled as by `settle` first, here rather
   * than in a call of their own.
   */
  start(
    init: GuestRequestInit,
    id: number,
    forget: number[] | null,
    settled: string[] | null,
  ): void;
  /** `start`, then `wait`: one call into the isolate for a render that goes asynchronously at once. */
  dispatch(
    init: GuestRequestInit,
    id: number,
    forget: number[] | null,
    settled: string[] | null,
  ): GuestResult | Promise<GuestResult>;
  /**
   * The result of render `id` (forgetting the render) if it has settled and
   * left the host nothing to do for it: no timer pending and no `fetch` call
   * made (the host has not seen those calls yet, and must settle them).
   * Otherwise null, and the host waits for it with `wait`.
   */
  take(id: number): GuestResult | null;
  /** The result of render `id`, or a promise of it. */
  wait(id: number): GuestResult | Promise<GuestResult>;
  /** True once the bundle called `Flotilla.serve`. */
  hasHandler(): boolean;
  /** Fires timer `id` (called by the host when its delay passes). */
  fireTimer(id: number): void;
  /** Settles `fetch` call `id` with the host's answer (called by the host). */
  deliverFetch(id: number, result: GuestFetchResult): void;
  /**
   * Aborts the signal of every render of request `requestId` still running
   * (its deadline passed: the caller stopped waiting), with a `TimeoutError`
   * DOMException carrying `message`. Its `abort` listeners run now.
   */
  abort(requestId: string, message: string): void;
  /**
   * Forgets the timers request `requestId` left pending when it ended (a
   * timer never outlives its render) and returns their ids for the host to clear.
   */
  settle(requestId: string): number[];
  /**
   * Gives streaming render `requestId` back `bytes` of credit: that much of
   * what it streamed out has left the worker (see `STREAM_WINDOW_BYTES`).
   */
  credit(requestId: string, bytes: number): void;
}
