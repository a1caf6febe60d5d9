import { InvalidOptionError, positiveInt } from '@flotilla/protocol';
import { numberAtLeast, positiveNumber } from './options.ts';

/**
 * A Knative-KPA-style decider: from a stream of load observations it computes
 * how many workers the region should run.
 *
 * - Desired workers = ⌈average in-flight over the stable window ÷ target
 *   in-flight per worker⌉.
 * - Panic: when the panic-window average asks for at least `panicThreshold` ×
 *   the ready workers, the panic window drives the decision (it reacts in
 *   seconds). Panic mode ends as soon as demand has fallen: the panic window
 *   asks for no more workers than the stable window does.
 * - Peak hold: from the start of a panic until a whole stable window has
 *   passed without the panic condition, the count never goes down (as in
 *   Knative, so that a burst that comes back finds the workers still there).
 * - One evaluation may grow the count by at most `maxScaleUpRate` × ready and
 *   shrink it to no less than ready ÷ `maxScaleDownRate`.
 * - An optional scale-down delay keeps the highest decision of the last
 *   `scaleDownDelayMs`.
 * - The result always lies within [`minWorkers`, `maxWorkers`].
 *
 * Everything here is pure and deterministic: time comes from the
 * observations, state is an immutable value. {@link KpaDecider} wraps the
 * functions for callers that prefer an object.
 */

/** One look at the region's load, fed to the decider at a regular interval. */
export interface KpaObservation {
  /** When it was taken, in ms of a monotonic clock; never decreases between observations. */
  time: number;
  /**
   * Renders in flight in the region (running or queued on workers, plus any
   * waiting at schedulers for a worker).
   */
  inFlight: number;
  /** Workers that take work now: heartbeating and not draining. */
  readyWorkers: number;
  /**
   * Renders one worker accepts at once (the mean over ready workers); 0 when
   * unknown (no worker ready). Only used when the target is relative.
   */
  capacityPerWorker: number;
}

/** Options of the decider. Every field is optional; see each default. */
export interface KpaOptions {
  /**
   * Target in-flight renders per worker, as an absolute number. When set, it
   * wins over {@link KpaOptions.targetUtilization}.
   * @default undefined (relative: targetUtilization × each worker's capacity)
   */
  targetInFlightPerWorker?: number;
  /**
   * Target in-flight renders per worker as a fraction of a worker's capacity
   * (threads × renders per thread), in (0, 1].
   * @default 0.7
   */
  targetUtilization?: number;
  /**
   * Window whose average load drives the decision outside panic, ms.
   * @default 60000
   */
  stableWindowMs?: number;
  /**
   * Window whose average load drives the decision in panic, ms; shorter than
   * the stable window.
   * @default 6000
   */
  panicWindowMs?: number;
  /**
   * Panic when the panic window's average asks for this many times the ready
   * workers (2 = demand ≥ twice the ready capacity at target); ≥ 1.
   * @default 2
   */
  panicThreshold?: number;
  /**
   * One evaluation grows the count to at most ⌈this × ready workers⌉; > 1.
   * @default 1000
   */
  maxScaleUpRate?: number;
  /**
   * One evaluation shrinks the count to no less than ⌊ready workers ÷ this⌋
   * (2 = at most halve per evaluation); > 1.
   * @default 2
   */
  maxScaleDownRate?: number;
  /**
   * Never fewer workers than this (≥ 1; 2 keeps every region duplicated).
   * @default 2
   */
  minWorkers?: number;
  /**
   * Never more workers than this; ≥ minWorkers.
   * @default 10
   */
  maxWorkers?: number;
  /**
   * A scale-down takes effect only once the lower count has been asked for
   * during this long (the highest decision of the window wins); 0 turns the
   * delay off.
   * @default 0
   */
  scaleDownDelayMs?: number;
}

/** {@link KpaOptions} with every default filled in and validated. */
export interface KpaConfig {
  /** Absolute target, or `undefined` when relative to capacity. */
  readonly targetInFlightPerWorker: number | undefined;
  readonly targetUtilization: number;
  readonly stableWindowMs: number;
  readonly panicWindowMs: number;
  readonly panicThreshold: number;
  readonly maxScaleUpRate: number;
  readonly maxScaleDownRate: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly scaleDownDelayMs: number;
}

/** A past load sample kept for the window averages. */
export interface KpaSample {
  readonly time: number;
  readonly inFlight: number;
}

/** A past decision kept for the scale-down delay. */
export interface KpaRecentDecision {
  readonly time: number;
  readonly desired: number;
}

/** What the decider remembers between evaluations. Treat as opaque and immutable. */
export interface KpaState {
  /** Load samples of the last stable window, oldest first. */
  readonly samples: readonly KpaSample[];
  /**
   * Last time the panic condition held, while the peak is held (a stable
   * window after it); `undefined` when there is no hold.
   */
  readonly panicSince: number | undefined;
  /** True while in panic mode: from the panic condition until demand falls. */
  readonly panicking: boolean;
  /** Highest count asked for since the panic began (held until the hold ends). */
  readonly maxPanicWorkers: number;
  /** Decisions of the last `scaleDownDelayMs`, oldest first. */
  readonly recent: readonly KpaRecentDecision[];
  /** Last target per worker that could be computed (used while capacity is unknown). */
  readonly lastTarget: number | undefined;
  /** Last decision, or `undefined` before the first. */
  readonly lastDesired: number | undefined;
}

/** The outcome of one evaluation. */
export interface KpaDecision {
  /** Workers the region should run, within [minWorkers, maxWorkers]. */
  desired: number;
  /**
   * True while in panic mode: from the moment the panic-window demand is at
   * least `panicThreshold` × the ready workers until demand falls (the panic
   * window asks for no more workers than the stable window).
   */
  panic: boolean;
  /**
   * True while the count may not go down after a panic: until a whole stable
   * window has passed without the panic condition. Outlasts {@link panic}.
   */
  holdingPeak: boolean;
  /** Average in-flight renders over the stable window. */
  stableInFlight: number;
  /** Average in-flight renders over the panic window. */
  panicInFlight: number;
  /** Target in-flight renders per worker used, or `undefined` when it is not known yet. */
  targetPerWorker: number | undefined;
  /** Ready workers of the observation. */
  readyWorkers: number;
}

/** Validates `options` and fills in the defaults. @throws InvalidOptionError naming the option */
export function resolveKpaConfig(options: KpaOptions = {}): KpaConfig {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const targetInFlightPerWorker =
    options.targetInFlightPerWorker === undefined
      ? undefined
      : positiveNumber('targetInFlightPerWorker', options.targetInFlightPerWorker, 1);
  const targetUtilization = positiveNumber('targetUtilization', options.targetUtilization, 0.7);
  if (targetUtilization > 1) {
    throw new InvalidOptionError(
      'targetUtilization',
      `must be in (0, 1] (a fraction of a worker's capacity), got ${targetUtilization}`,
    );
  }
  const stableWindowMs = positiveInt('stableWindowMs', options.stableWindowMs, 60_000);
  const panicWindowMs = positiveInt('panicWindowMs', options.panicWindowMs, 6_000);
  if (panicWindowMs > stableWindowMs) {
    throw new InvalidOptionError(
      'panicWindowMs',
      `must not exceed stableWindowMs (${stableWindowMs}), got ${panicWindowMs}`,
    );
  }
  const panicThreshold = numberAtLeast('panicThreshold', options.panicThreshold, 1, 2);
  const maxScaleUpRate = numberAtLeast('maxScaleUpRate', options.maxScaleUpRate, 1, 1000);
  const maxScaleDownRate = numberAtLeast('maxScaleDownRate', options.maxScaleDownRate, 1, 2);
  for (const [name, value] of [
    ['maxScaleUpRate', maxScaleUpRate],
    ['maxScaleDownRate', maxScaleDownRate],
  ] as const) {
    if (value <= 1) throw new InvalidOptionError(name, `must be greater than 1, got ${value}`);
  }
  const minWorkers = positiveInt('minWorkers', options.minWorkers, 2);
  const maxWorkers = positiveInt('maxWorkers', options.maxWorkers, Math.max(10, minWorkers));
  if (maxWorkers < minWorkers) {
    throw new InvalidOptionError(
      'maxWorkers',
      `must be at least minWorkers (${minWorkers}), got ${maxWorkers}`,
    );
  }
  const scaleDownDelayMs = numberAtLeast('scaleDownDelayMs', options.scaleDownDelayMs, 0, 0);
  return {
    targetInFlightPerWorker,
    targetUtilization,
    stableWindowMs,
    panicWindowMs,
    panicThreshold,
    maxScaleUpRate,
    maxScaleDownRate,
    minWorkers,
    maxWorkers,
    scaleDownDelayMs,
  };
}

/** The state before the first observation. */
export function initialKpaState(): KpaState {
  return {
    samples: [],
    panicSince: undefined,
    panicking: false,
    maxPanicWorkers: 0,
    recent: [],
    lastTarget: undefined,
    lastDesired: undefined,
  };
}

/**
 * Mean in-flight of the samples taken in `(now - windowMs, now]`; 0 when
 * there are none. Samples are expected at a regular interval, so a plain
 * mean is the time average.
 */
export function windowAverage(
  samples: readonly KpaSample[],
  now: number,
  windowMs: number,
): number {
  let sum = 0;
  let n = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i] as KpaSample;
    if (s.time <= now - windowMs) break;
    if (s.time > now) continue;
    sum += s.inFlight;
    n++;
  }
  return n === 0 ? 0 : sum / n;
}

/** Target in-flight renders per worker for `capacityPerWorker`, or `undefined` when unknown. */
export function targetPerWorker(config: KpaConfig, capacityPerWorker: number): number | undefined {
  if (config.targetInFlightPerWorker !== undefined) return config.targetInFlightPerWorker;
  if (!(capacityPerWorker > 0)) return undefined;
  return config.targetUtilization * capacityPerWorker;
}

function checkObservation(obs: KpaObservation, state: KpaState): void {
  const fields = ['time', 'inFlight', 'readyWorkers', 'capacityPerWorker'] as const;
  for (const f of fields) {
    const v = obs?.[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || (f !== 'time' && v < 0)) {
      throw new InvalidOptionError(
        `observation.${f}`,
        `must be a finite number${f === 'time' ? '' : ' ≥ 0'}, got ${String(v)}`,
      );
    }
  }
  const last = state.samples[state.samples.length - 1];
  if (last && obs.time < last.time) {
    throw new InvalidOptionError(
      'observation.time',
      `went backwards (${obs.time} < ${last.time}); use a monotonic clock`,
    );
  }
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}

/**
 * Records `observation` and decides. Pure: returns the next state instead of
 * changing `state`.
 */
export function kpaStep(
  config: KpaConfig,
  state: KpaState,
  observation: KpaObservation,
): { state: KpaState; decision: KpaDecision } {
  checkObservation(observation, state);
  const now = observation.time;
  const horizon = now - Math.max(config.stableWindowMs, config.panicWindowMs);
  const samples = [
    ...state.samples.filter((s) => s.time > horizon),
    { time: now, inFlight: observation.inFlight },
  ];
  const stableInFlight = windowAverage(samples, now, config.stableWindowMs);
  const panicInFlight = windowAverage(samples, now, config.panicWindowMs);
  const target = targetPerWorker(config, observation.capacityPerWorker) ?? state.lastTarget;
  const ready = observation.readyWorkers;

  if (target === undefined) {
    // No worker has told us its capacity yet: hold the floor (or the last decision).
    const desired = clamp(
      state.lastDesired ?? config.minWorkers,
      config.minWorkers,
      config.maxWorkers,
    );
    return {
      state: { ...state, samples, lastDesired: desired },
      decision: {
        desired,
        panic: state.panicking,
        holdingPeak: state.panicSince !== undefined,
        stableInFlight,
        panicInFlight,
        targetPerWorker: undefined,
        readyWorkers: ready,
      },
    };
  }

  // Knative: ready pods count as at least one so that rates work from zero.
  const readyForRates = Math.max(1, ready);
  const maxScaleUp = Math.ceil(config.maxScaleUpRate * readyForRates);
  const maxScaleDown = Math.floor(readyForRates / config.maxScaleDownRate);
  const stableWanted = Math.ceil(stableInFlight / target);
  const panicWanted = Math.ceil(panicInFlight / target);
  const stableDesired = clamp(stableWanted, maxScaleDown, maxScaleUp);
  const panicDesired = clamp(panicWanted, maxScaleDown, maxScaleUp);
  const overPanicThreshold = panicWanted / readyForRates >= config.panicThreshold;

  let panicSince = state.panicSince;
  let panicking = state.panicking;
  let maxPanicWorkers = state.maxPanicWorkers;
  if (overPanicThreshold) {
    // Enter panic, or extend it; the peak is held a stable window past the last overload.
    panicSince = now;
    panicking = true;
  } else if (panicSince !== undefined && now - panicSince >= config.stableWindowMs) {
    // The surge has made its way into the stable window: calm down.
    panicSince = undefined;
    panicking = false;
    maxPanicWorkers = 0;
  } else if (panicking && panicWanted <= stableWanted) {
    // Demand has fallen (or the stable window caught up with it): the panic
    // window adds nothing to the decision any more. Panic mode ends here; the
    // peak hold below still keeps the count from going down.
    panicking = false;
  }

  let desired = stableDesired;
  if (panicSince !== undefined) {
    // Provision for the larger of the two windows, and never scale down during the hold.
    desired = Math.max(desired, panicDesired);
    if (desired > maxPanicWorkers) maxPanicWorkers = desired;
    else desired = maxPanicWorkers;
  }

  let recent = state.recent;
  if (config.scaleDownDelayMs > 0) {
    recent = [
      ...recent.filter((r) => r.time > now - config.scaleDownDelayMs),
      { time: now, desired },
    ];
    for (const r of recent) desired = Math.max(desired, r.desired);
  }

  desired = clamp(desired, config.minWorkers, config.maxWorkers);
  return {
    state: {
      samples,
      panicSince,
      panicking,
      maxPanicWorkers,
      recent,
      lastTarget: target,
      lastDesired: desired,
    },
    decision: {
      desired,
      panic: panicking,
      holdingPeak: panicSince !== undefined,
      stableInFlight,
      panicInFlight,
      targetPerWorker: target,
      readyWorkers: ready,
    },
  };
}

/**
 * {@link kpaStep} with the state kept inside.
 *
 * @example
 * const kpa = new KpaDecider({ minWorkers: 2, maxWorkers: 8 });
 * const { desired, panic } = kpa.observe({
 *   time: performance.now(), inFlight: 42, readyWorkers: 3, capacityPerWorker: 8,
 * });
 */
export class KpaDecider {
  /** The validated configuration. */
  readonly config: KpaConfig;
  #state: KpaState = initialKpaState();
  #last: KpaDecision | undefined;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: KpaOptions = {}) {
    this.config = resolveKpaConfig(options);
  }

  /** Records one observation and returns the decision. */
  observe(observation: KpaObservation): KpaDecision {
    const { state, decision } = kpaStep(this.config, this.#state, observation);
    this.#state = state;
    this.#last = decision;
    return decision;
  }

  /** The last decision, or `undefined` before the first observation. */
  get lastDecision(): KpaDecision | undefined {
    return this.#last;
  }

  /** The current state (immutable). */
  get state(): KpaState {
    return this.#state;
  }

  /** Forgets every observation and the panic state. */
  reset(): void {
    this.#state = initialKpaState();
    this.#last = undefined;
  }
}
