/**
 * A penalty box for apps whose renders keep failing by their own fault (a
 * limit, a render error). Such a render fails in milliseconds and its client
 * comes straight back: an output bomb costs the shield, NATS, the scheduler
 * and a worker a round trip each time, hundreds of times a second, on the
 * cores every other app shares; a CPU bomb holds its slot until its CPU
 * limit, over and over. The fair share counts slots, not this cost.
 *
 * An app enters the box when, within `windowMs`, at least `failures` of its
 * renders failed by its fault and they were at least `failureShare` of its
 * renders (an app with the odd failing page among many good ones never
 * does). While boxed, its renders start one at a time, and each only after
 * a pause as long as the last one held its slot (at least `pauseMs`): a
 * boxed app gets at most half a slot, and a fast-failing one a few renders
 * a second. Its other misses wait in its queue (a wait costs nothing) and
 * those that cannot start within the queue wait are refused with `503
 * FLOTILLA_ERR_THROTTLED`. It leaves the box `boxMs` after its last failure
 * that met the condition. Other apps are not affected.
 *
 * @module
 */
import { InvalidOptionError, nonNegativeInt, positiveInt } from '@flotilla/protocol';

/** Options of {@link PenaltyBox}. */
export interface PenaltyBoxOptions {
  /**
   * User-error failures of an app within `windowMs` that put it in the box
   * (with `failureShare`). 0 turns the box off.
   * @default 5
   */
  failures?: number;
  /**
   * Least share of the app's renders within `windowMs` that failed by its
   * fault for it to enter the box.
   * @default 0.5
   */
  failureShare?: number;
  /** Window over which failures are counted, ms. @default 10000 */
  windowMs?: number;
  /** How long an app stays boxed after its last failure that met the condition, ms. @default 10000 */
  boxMs?: number;
  /** Shortest pause between the end of a boxed app's render and the start of its next, ms. @default 200 */
  pauseMs?: number;
  /** Called when an app enters (true) or leaves (false) the box. */
  onChange?: (app: string, boxed: boolean) => void;
  /** Clock, ms. @default performance.now */
  clock?: () => number;
}

/** Buckets a window is counted in. */
const BUCKETS = 10;

interface AppState {
  /** Renders and failures per bucket, keyed by bucket number. */
  buckets: Map<number, { renders: number; failures: number }>;
  /** Boxed until then (clock ms); 0: not boxed. */
  boxedUntil: number;
  /** A boxed app's next render may start at this time (clock ms). */
  nextStart: number;
}

/** Per-app counts of renders failing by their own fault, and the box they put an app in. */
export class PenaltyBox {
  readonly failures: number;
  readonly failureShare: number;
  readonly windowMs: number;
  readonly boxMs: number;
  readonly pauseMs: number;
  readonly #apps = new Map<string, AppState>();
  readonly #onChange: (app: string, boxed: boolean) => void;
  readonly #clock: () => number;

  constructor(options: PenaltyBoxOptions = {}) {
    this.failures = nonNegativeInt('penaltyBoxFailures', options.failures, 5);
    this.failureShare = share('penaltyBoxFailureShare', options.failureShare, 0.5);
    this.windowMs = positiveInt('penaltyBoxWindowMs', options.windowMs, 10_000);
    this.boxMs = positiveInt('penaltyBoxMs', options.boxMs, 10_000);
    this.pauseMs = nonNegativeInt('penaltyBoxPauseMs', options.pauseMs, 200);
    this.#onChange = options.onChange ?? (() => {});
    this.#clock = options.clock ?? (() => performance.now());
  }

  /**
   * Records a render of `app` that held its slot `holdMs` and failed by its
   * fault (`userError`) or not (a success, or the fleet's failure).
   */
  record(app: string, userError: boolean, holdMs: number): void {
    if (this.failures === 0) return;
    const t = this.#clock();
    let state = this.#apps.get(app);
    // Counted from an app's first failure on: an app that never fails costs nothing here.
    if (!state && !userError) return;
    if (!state) {
      state = { buckets: new Map(), boxedUntil: 0, nextStart: 0 };
      this.#apps.set(app, state);
    }
    const bucketMs = this.windowMs / BUCKETS;
    const now = Math.floor(t / bucketMs);
    for (const key of state.buckets.keys()) if (key <= now - BUCKETS) state.buckets.delete(key);
    let bucket = state.buckets.get(now);
    if (!bucket) {
      bucket = { renders: 0, failures: 0 };
      state.buckets.set(now, bucket);
    }
    bucket.renders++;
    const wasBoxed = this.#isBoxed(app, state, t);
    if (userError) {
      bucket.failures++;
      let renders = 0;
      let failures = 0;
      for (const b of state.buckets.values()) {
        renders += b.renders;
        failures += b.failures;
      }
      if (failures >= this.failures && failures >= this.failureShare * renders) {
        state.boxedUntil = t + this.boxMs;
        if (!wasBoxed) this.#onChange(app, true);
      }
    }
    // One at a time, each after a pause as long as the last held its slot.
    if (this.#isBoxed(app, state, t)) state.nextStart = t + Math.max(this.pauseMs, holdMs);
  }

  /** Forgets the apps out of the box with no render counted within the window (call now and then). */
  prune(): void {
    const t = this.#clock();
    const oldest = Math.floor(t / (this.windowMs / BUCKETS)) - BUCKETS;
    for (const [app, state] of this.#apps) {
      if (this.#isBoxed(app, state, t)) continue;
      if ([...state.buckets.keys()].every((key) => key <= oldest)) this.#apps.delete(app);
    }
  }

  /** Whether `app` is in the box now. */
  boxed(app: string): boolean {
    const state = this.#apps.get(app);
    return state !== undefined && this.#isBoxed(app, state, this.#clock());
  }

  /** Apps in the box now. */
  boxedApps(): string[] {
    const t = this.#clock();
    return [...this.#apps].filter(([app, s]) => this.#isBoxed(app, s, t)).map(([app]) => app);
  }

  /**
   * Ms until `app` may start a render with `inFlight` of its renders in
   * flight: 0 now (not boxed, or its pause is over and none in flight),
   * `Infinity` while a boxed app has one in flight (its end wakes the queue).
   */
  readyIn(app: string, inFlight: number): number {
    const state = this.#apps.get(app);
    const t = this.#clock();
    if (!state || !this.#isBoxed(app, state, t)) return 0;
    if (inFlight > 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, state.nextStart - t);
  }

  #isBoxed(app: string, state: AppState, t: number): boolean {
    if (state.boxedUntil === 0) return false;
    if (t < state.boxedUntil) return true;
    state.boxedUntil = 0;
    this.#onChange(app, false);
    return false;
  }
}

function share(name: string, value: number | undefined, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !(v > 0 && v <= 1)) {
    throw new InvalidOptionError(name, `must be a number in (0, 1], got ${value}`);
  }
  return v;
}
