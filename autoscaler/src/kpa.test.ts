import { describe, expect, it } from 'vitest';
import {
  initialKpaState,
  KpaDecider,
  type KpaDecision,
  type KpaOptions,
  kpaStep,
  resolveKpaConfig,
  windowAverage,
} from './kpa.ts';

/** Capacity 10 per worker at 70 % → target 7 in flight per worker. */
const CAPACITY = 10;

interface Tick {
  time: number;
  decision: KpaDecision;
}

/**
 * Feeds one observation per `stepMs` from `from` (inclusive) to `to`
 * (exclusive). Ready workers follow the previous decision (an instant
 * actuator) unless `ready` returns a count ≥ 0 for that time.
 */
function run(
  kpa: KpaDecider,
  from: number,
  to: number,
  load: (t: number) => number,
  options: { stepMs?: number; ready?: (t: number) => number } = {},
): Tick[] {
  const stepMs = options.stepMs ?? 1000;
  const ticks: Tick[] = [];
  for (let t = from; t < to; t += stepMs) {
    const given = options.ready?.(t) ?? -1;
    const ready = given >= 0 ? given : (kpa.lastDecision?.desired ?? kpa.config.minWorkers);
    const decision = kpa.observe({
      time: t,
      inFlight: load(t),
      readyWorkers: ready,
      capacityPerWorker: CAPACITY,
    });
    ticks.push({ time: t, decision });
  }
  return ticks;
}

const last = (ticks: Tick[]): KpaDecision => {
  const t = ticks[ticks.length - 1];
  if (!t) throw new Error('no ticks');
  return t.decision;
};

describe('KPA decider', () => {
  it('holds a steady count under steady load, without panic', () => {
    const kpa = new KpaDecider({ maxWorkers: 20 });
    // 21 in flight at target 7 → 3 workers.
    const ticks = run(kpa, 0, 120_000, () => 21);
    expect(ticks.every((t) => !t.decision.panic)).toBe(true);
    expect(ticks.slice(1).every((t) => t.decision.desired === 3)).toBe(true);
    expect(last(ticks)).toMatchObject({
      stableInFlight: 21,
      panicInFlight: 21,
      targetPerWorker: 7,
    });
  });

  it('panics on a 10× step and scales within the panic window', () => {
    const kpa = new KpaDecider({ maxWorkers: 30 });
    run(kpa, 0, 60_000, () => 14); // 2 workers at target
    expect(kpa.lastDecision).toMatchObject({ desired: 2, panic: false });

    const step = run(kpa, 60_000, 66_000, () => 140);
    // The very first evaluation after the step already panics and scales up.
    expect(step[0]?.decision.panic).toBe(true);
    expect(step[0]?.decision.desired).toBeGreaterThan(2);
    // Within one panic window (6 s) it asks for the whole need: 140 / 7 = 20.
    expect(last(step)).toMatchObject({ desired: 20, panic: true });
    // The stable window alone would still ask for far less.
    expect(Math.ceil(last(step).stableInFlight / 7)).toBeLessThan(20);
  });

  it('ends panic once demand falls, and holds the peak a stable window after the surge', () => {
    const kpa = new KpaDecider({ maxWorkers: 30 });
    run(kpa, 0, 60_000, () => 14);
    const surge = run(kpa, 60_000, 66_000, () => 140);
    const peak = last(surge).desired;
    expect(last(surge)).toMatchObject({ panic: true, holdingPeak: true });
    // Load falls back at once. The panic condition last held during the surge
    // (≥ 60 s), so the peak is held until at least a stable window later.
    const after = run(kpa, 66_000, 140_000, () => 14);
    const held = after.filter((t) => t.time < 120_000);
    expect(held.every((t) => t.decision.desired === peak && t.decision.holdingPeak)).toBe(true);
    // Panic mode itself ends within a panic window (6 s) of the fall: the
    // panic window then asks for no more than the stable window.
    const firstCalm = after.findIndex((t) => !t.decision.panic);
    expect(firstCalm).toBeGreaterThanOrEqual(0);
    expect(after[firstCalm]?.time).toBeLessThanOrEqual(66_000 + 6_000);
    expect(after.slice(firstCalm).every((t) => !t.decision.panic)).toBe(true);
    // Once the hold ends, scale-down starts.
    expect(last(after)).toMatchObject({ panic: false, holdingPeak: false });
    expect(last(after).desired).toBeLessThan(peak);
  });

  it('leaves panic at zero traffic within a panic window, not a stable window', () => {
    // The finding: panic stayed 1 for 63 s at zero traffic (the 60 s stable
    // window of the peak hold, plus the panic window draining).
    const kpa = new KpaDecider({ maxWorkers: 30 });
    run(kpa, 0, 10_000, () => 0);
    run(kpa, 10_000, 20_000, () => 140);
    expect(kpa.lastDecision?.panic).toBe(true);
    const idle = run(kpa, 20_000, 100_000, () => 0);
    const calmAt = idle.find((t) => !t.decision.panic)?.time;
    expect(calmAt).toBeDefined();
    expect((calmAt as number) - 20_000).toBeLessThanOrEqual(6_000);
    expect(
      idle.filter((t) => (t.time as number) >= (calmAt as number)).every((t) => !t.decision.panic),
    ).toBe(true);
    expect(last(idle)).toMatchObject({ panic: false, holdingPeak: false, desired: 2 });
  });

  it('stays in panic while the surge lasts, until the stable window has caught up', () => {
    const kpa = new KpaDecider({ maxWorkers: 30 });
    run(kpa, 0, 60_000, () => 14);
    // The fleet follows the decision at once, so after the first ticks the
    // panic condition (2× ready) no longer holds; the surge still does.
    const surge = run(kpa, 60_000, 90_000, () => 140);
    expect(surge.every((t) => t.decision.panic)).toBe(true);
    expect(last(surge).desired).toBe(20);
    // A stable window into the steady surge, both windows agree: panic ends, the count stays.
    const steady = run(kpa, 90_000, 200_000, () => 140);
    expect(last(steady)).toMatchObject({ panic: false, desired: 20 });
  });

  it('extends panic while the overload lasts', () => {
    const kpa = new KpaDecider({ maxWorkers: 8, stableWindowMs: 10_000, panicWindowMs: 2_000 });
    run(kpa, 0, 10_000, () => 14);
    // Demand far above even the max keeps the panic condition true on max workers.
    const ticks = run(kpa, 10_000, 40_000, () => 1000);
    expect(ticks.every((t) => t.decision.panic && t.decision.desired === 8)).toBe(true);
  });

  it('bounds the scale-down per evaluation by maxScaleDownRate', () => {
    const kpa = new KpaDecider({ maxWorkers: 40, maxScaleDownRate: 2 });
    // 32 workers running while the load is (and was) zero: the stable window
    // alone would ask for the floor at once; each evaluation at most halves.
    const ticks = run(kpa, 0, 10_000, () => 0, { ready: (t) => (t === 0 ? 32 : -1) });
    expect(ticks.map((t) => t.decision.desired).slice(0, 5)).toEqual([16, 8, 4, 2, 2]);

    const faster = new KpaDecider({ maxWorkers: 40, maxScaleDownRate: 4 });
    const quick = run(faster, 0, 3_000, () => 0, { ready: (t) => (t === 0 ? 32 : -1) });
    expect(quick.map((t) => t.decision.desired)).toEqual([8, 2, 2]);
  });

  it('never goes below minWorkers nor above maxWorkers', () => {
    const kpa = new KpaDecider({ minWorkers: 2, maxWorkers: 4 });
    const idle = run(kpa, 0, 30_000, () => 0);
    expect(idle.every((t) => t.decision.desired === 2)).toBe(true);
    const flood = run(kpa, 30_000, 60_000, () => 10_000);
    expect(flood.every((t) => t.decision.desired >= 2 && t.decision.desired <= 4)).toBe(true);
    expect(last(flood).desired).toBe(4);
    // Also with no ready worker at all.
    const none = run(kpa, 60_000, 61_000, () => 10_000, { ready: () => 0 });
    expect(last(none).desired).toBe(4);
  });

  it('returns to the minimum once the load falls', () => {
    const kpa = new KpaDecider({
      minWorkers: 2,
      maxWorkers: 6,
      stableWindowMs: 6_000,
      panicWindowMs: 1_000,
    });
    run(kpa, 0, 6_000, () => 3, { stepMs: 250 });
    const surge = run(kpa, 6_000, 14_000, () => 40, { stepMs: 250 });
    expect(last(surge).desired).toBe(6);
    const fall = run(kpa, 14_000, 40_000, () => 2, { stepMs: 250 });
    expect(last(fall)).toMatchObject({ desired: 2, panic: false });
    // It went down in steps, never below the floor.
    expect(fall.every((t) => t.decision.desired >= 2)).toBe(true);
  });

  it('delays scale-down by scaleDownDelayMs (the highest recent decision wins)', () => {
    const kpa = new KpaDecider({
      maxWorkers: 10,
      stableWindowMs: 4_000,
      panicWindowMs: 1_000,
      panicThreshold: 1000, // keep panic out of this test
      scaleDownDelayMs: 10_000,
    });
    run(kpa, 0, 10_000, () => 35); // 5 workers
    expect(kpa.lastDecision?.desired).toBe(5);
    const fall = run(kpa, 10_000, 30_000, () => 0);
    // Stable window (4 s) would reach the floor well within 10 s; the delay holds 5.
    const held = fall.filter((t) => t.time < 10_000 + 9_000);
    expect(held.every((t) => t.decision.desired === 5)).toBe(true);
    expect(last(fall).desired).toBe(2);
  });

  it('uses an absolute target when given, and holds the floor until capacity is known', () => {
    const kpa = new KpaDecider({ targetInFlightPerWorker: 2, maxWorkers: 10 });
    const unknown = kpa.observe({ time: 0, inFlight: 50, readyWorkers: 0, capacityPerWorker: 0 });
    // Absolute target does not need capacity.
    expect(unknown).toMatchObject({ targetPerWorker: 2, desired: 10 });

    const relative = new KpaDecider();
    const d = relative.observe({ time: 0, inFlight: 50, readyWorkers: 0, capacityPerWorker: 0 });
    expect(d).toMatchObject({ targetPerWorker: undefined, desired: 2 });
    // Once known, the last target is remembered while no worker reports a capacity.
    relative.observe({ time: 1000, inFlight: 14, readyWorkers: 2, capacityPerWorker: 10 });
    const gone = relative.observe({
      time: 2000,
      inFlight: 14,
      readyWorkers: 0,
      capacityPerWorker: 0,
    });
    expect(gone.targetPerWorker).toBe(7);
  });

  it('kpaStep is pure: the given state is not changed', () => {
    const config = resolveKpaConfig();
    const s0 = initialKpaState();
    const frozen = JSON.stringify(s0);
    const { state: s1 } = kpaStep(config, s0, {
      time: 0,
      inFlight: 100,
      readyWorkers: 2,
      capacityPerWorker: 10,
    });
    expect(JSON.stringify(s0)).toBe(frozen);
    const a = kpaStep(config, s1, {
      time: 1000,
      inFlight: 5,
      readyWorkers: 2,
      capacityPerWorker: 10,
    });
    const b = kpaStep(config, s1, {
      time: 1000,
      inFlight: 5,
      readyWorkers: 2,
      capacityPerWorker: 10,
    });
    expect(a).toEqual(b);
  });

  it('averages only the samples inside the window', () => {
    const samples = [
      { time: 0, inFlight: 100 },
      { time: 1000, inFlight: 10 },
      { time: 2000, inFlight: 20 },
    ];
    expect(windowAverage(samples, 2000, 1500)).toBe(15);
    expect(windowAverage(samples, 2000, 2000)).toBe(15);
    expect(windowAverage(samples, 2000, 2001)).toBeCloseTo(130 / 3);
    expect(windowAverage([], 2000, 1000)).toBe(0);
  });

  it('forgets samples older than the stable window', () => {
    const kpa = new KpaDecider({ stableWindowMs: 5_000, panicWindowMs: 1_000 });
    run(kpa, 0, 60_000, () => 1);
    expect(kpa.state.samples.length).toBeLessThanOrEqual(6);
    kpa.reset();
    expect(kpa.lastDecision).toBeUndefined();
    expect(kpa.state.samples).toEqual([]);
  });

  it('rejects invalid options and observations with messages naming them', () => {
    const bad: Array<[KpaOptions, RegExp]> = [
      [{ targetUtilization: 0 }, /option "targetUtilization" must be a finite number > 0/],
      [{ targetUtilization: 1.5 }, /option "targetUtilization" must be in \(0, 1\]/],
      [{ targetInFlightPerWorker: -1 }, /option "targetInFlightPerWorker"/],
      [{ stableWindowMs: 0 }, /option "stableWindowMs" must be a positive integer/],
      [{ panicWindowMs: 70_000 }, /option "panicWindowMs" must not exceed stableWindowMs/],
      [{ panicThreshold: 0.5 }, /option "panicThreshold" must be a finite number ≥ 1/],
      [{ maxScaleUpRate: 1 }, /option "maxScaleUpRate" must be greater than 1/],
      [{ maxScaleDownRate: 1 }, /option "maxScaleDownRate" must be greater than 1/],
      [{ minWorkers: 0 }, /option "minWorkers" must be a positive integer/],
      [{ minWorkers: 4, maxWorkers: 3 }, /option "maxWorkers" must be at least minWorkers \(4\)/],
      [{ scaleDownDelayMs: -1 }, /option "scaleDownDelayMs"/],
    ];
    for (const [options, message] of bad) {
      expect(() => new KpaDecider(options), JSON.stringify(options)).toThrow(message);
    }
    // maxWorkers defaults to max(10, minWorkers).
    expect(new KpaDecider({ minWorkers: 12 }).config.maxWorkers).toBe(12);

    const kpa = new KpaDecider();
    kpa.observe({ time: 10, inFlight: 0, readyWorkers: 2, capacityPerWorker: 4 });
    expect(() =>
      kpa.observe({ time: 5, inFlight: 0, readyWorkers: 2, capacityPerWorker: 4 }),
    ).toThrow(/option "observation.time" went backwards/);
    expect(() =>
      kpa.observe({ time: 20, inFlight: Number.NaN, readyWorkers: 2, capacityPerWorker: 4 }),
    ).toThrow(/observation.inFlight/);
  });
});
