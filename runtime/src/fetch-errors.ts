/**
 * How a backend sub-request fails: aborted (and why), or refused or failed
 * with a message for the guest. Nothing here reaches the guest but a message.
 */

/** Why a sub-request was aborted. */
export type AbortKind = 'deadline' | 'ended' | 'disposed' | 'too_large';

/** The reason of an aborted sub-request's signal. */
export class FetchAbort extends Error {
  readonly kind: AbortKind;
  constructor(kind: AbortKind) {
    super(kind);
    this.kind = kind;
  }
}

/** A failure reported to the guest as `TypeError(message)`, counted as `outcome`. */
export class GuestFailure extends Error {
  readonly outcome: string;
  constructor(message: string, outcome: string) {
    super(message);
    this.outcome = outcome;
  }
}
