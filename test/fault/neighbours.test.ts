import {
  type Fleet,
  metricSamples,
  metricValue,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import {
  type HoldingBackend,
  measureNeighbours,
  NEIGHBOUR_ATTACKS,
  NEIGHBOUR_B,
  quantile,
  sample,
  startHoldingBackend,
} from '@flotilla/test-harness/neighbours';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/**
 * Noisy neighbours on a real fleet: one scheduler, two workers, one shield,
 * each its own process, over a real nats-server. App B serves one request
 * at a time (its own deployment; the shield does not cache, so every
 * request renders) while app A keeps twice the region's slots in flight:
 * renders awaiting a backend that holds them, the same with 4× the slots
 * (a flood), CPU bombs, then output bombs. B must get no error and never
 * wait behind A: its p99 under attack stays far below the time one of A's
 * renders holds a slot. In the flood A must hold more renders than the
 * region has CPU slots: renders that only await a backend hold none.
 *
 * The figure, B's p99 under attack ÷ its baseline p99, stays within
 * 2 (`MAX_P99_RATIO`), asserted here and measured over more rounds by
 * `bench/src/neighbours.ts`. Before the scheduler's penalty box it was not
 * deterministic on a shared 2-core machine: an output bomb fails within
 * milliseconds and its client comes straight back (~300 requests a second
 * through the shield, NATS, the scheduler and a worker, on the cores B
 * shares: ×1.4–7), and a CPU bomb held a whole core again and again
 * (up to ×2.3). Boxed, A's renders start one at a time, each after a pause
 * as long as the last held its slot, and its other requests wait: A sends
 * a few requests a second and holds at most half a slot.
 *
 * Room for B by design, not by luck: each worker thread runs one render at
 * a time (`--tasks-per-thread 1`: a CPU bomb never shares B's thread), the
 * region has 2 slots, and the scheduler's fair share keeps one free of A.
 */

/** Region CPU slots: 2 workers × 1 thread × 1 render per thread (each worker holds 4 in flight: `--io-slots` default). */
const SLOTS = 2;
/**
 * Baseline and attack windows, alternated, so that a change in the machine's
 * load hits both. Three rounds give each attack 7.5 s and at least 150 of B's
 * requests; the ratio itself is the bench's (8 rounds).
 */
const ROUNDS = 3;
/**
 * Each window lasts this long (and has at least 50 of B's requests): an
 * attack window spans more than one of A's renders (a CPU bomb lasts its
 * 1 s CPU limit), starts included, as a lasting attack would.
 */
const WINDOW_MS = 2500;
/** Far below any wait behind one of A's renders (≥ 1 s) and below the scheduler's 1 s queue limit. */
const B_NEVER_WAITS_MS = 500;
/** B's p99 under attack ÷ its baseline p99, at most (issue 15). */
const MAX_P99_RATIO = 2;
/** How long the backend holds each of A's requests. */
const HOLD_MS = 4000;

const RUNAWAY = {
  name: 'neighbour-runaway',
  code: 'Flotilla.serve(() => new Promise(() => {}));',
};

let fleet: Fleet;
let backend: HoldingBackend;
let shield: string;

beforeAll(async () => {
  backend = await startHoldingBackend(HOLD_MS);
  fleet = await startFleet({
    schedulers: 1,
    workers: 2,
    shields: 1,
    args: { worker: ['--tasks-per-thread', '1'] },
    publish: fixtures(NEIGHBOUR_B, RUNAWAY, ...NEIGHBOUR_ATTACKS.map((a) => a.app(backend.url))),
  });
  shield = fleet.shield.url;
  // B warm on both workers: a cold start is not what is measured.
  for (let i = 0; i < 10; i++) {
    await Promise.all([
      sample(shield, '/neighbour-b/warm-a', 1),
      sample(shield, '/neighbour-b/warm-b', 1),
    ]);
  }
}, 60_000);

afterAll(async () => {
  await fleet?.stop();
  await backend?.close();
});

/** Renders of `app` A holds on the workers now, as the scheduler counts them. */
function inFlightOf(app: string): Promise<number> {
  const [scheduler] = fleet.live('scheduler');
  if (!scheduler) {
    const gone = fleet.started.scheduler[0];
    throw new Error(
      `no live scheduler: ${JSON.stringify(gone?.child.exitStatus)}; last output:\n${gone?.child.output().slice(-2000)}`,
    );
  }
  return metricValue(scheduler.adminUrl, 'flotilla_scheduler_app_in_flight', { app });
}

describe('neighbours: app A attacks, app B keeps its latency', () => {
  for (const kind of NEIGHBOUR_ATTACKS) {
    it(`${kind.name}: B gets no error and never waits behind A`, async () => {
      const app = kind.app(backend.url).name;
      const m = await measureNeighbours({
        shieldUrl: shield,
        bPath: '/neighbour-b/',
        aPath: `/${app}/`,
        concurrency: (kind.slotsMultiple ?? 2) * SLOTS,
        rounds: ROUNDS,
        perRound: 50,
        windowMs: WINDOW_MS,
        inFlightOfA: () => inFlightOf(app),
        settleA: () => backend.releaseAll(),
      });
      const [p50b, p99b, p50u, p99u] = [
        quantile(m.baseline.ms, 0.5),
        quantile(m.baseline.ms, 0.99),
        quantile(m.under.ms, 0.5),
        quantile(m.under.ms, 0.99),
      ];
      console.log(
        `[neighbours] ${kind.name}: B p50/p99 ${p50b.toFixed(1)}/${p99b.toFixed(1)} ms alone, ` +
          `${p50u.toFixed(1)}/${p99u.toFixed(1)} ms under attack (×${(p99u / p99b).toFixed(2)}); ` +
          `A sent ${m.attackSent} (${JSON.stringify(m.attackStatuses)}), held at most ${m.peakInFlightOfA} at once`,
      );
      expect(m.baseline.errors).toEqual([]);
      expect(m.under.errors).toEqual([]);
      // Each window began once A held a slot (measureNeighbours waits for it).
      // B never queued behind A: a wait for A's slot would take a whole render
      // of A (a CPU bomb's 1 s, a held backend's 4 s) or the scheduler's 1 s
      // queue limit, then a 503.
      expect(p99u).toBeLessThan(B_NEVER_WAITS_MS);
      expect(p99u / p99b).toBeLessThanOrEqual(MAX_P99_RATIO);
      if ((kind.slotsMultiple ?? 2) > 2) {
        // A's renders awaiting the backend did not hold CPU slots: it held more than there are.
        expect(m.peakInFlightOfA).toBeGreaterThan(SLOTS);
      }
    }, 180_000);
  }
});

describe('a runaway render', () => {
  it('answers 503 FLOTILLA_ERR_WALL_LIMIT below the deadline, and runs on exactly one worker', async () => {
    const renders = async () => {
      let sum = 0;
      for (const w of fleet.live('worker')) {
        for (const s of await metricSamples(w.adminUrl, 'flotilla_worker_renders_total')) {
          if (s.labels.deployment?.startsWith(`${RUNAWAY.name}-`)) sum += s.value;
        }
      }
      return sum;
    };
    const [scheduler] = fleet.live('scheduler');
    if (!scheduler) throw new Error('no scheduler');
    const retries = () => metricValue(scheduler.adminUrl, 'flotilla_scheduler_retries_total');
    const [before, retriesBefore] = await Promise.all([renders(), retries()]);
    const res = await fetch(`${shield}/${RUNAWAY.name}/`);
    expect(res.status).toBe(503);
    expect(res.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_WALL_LIMIT');
    expect(await res.text()).toMatch(/^FLOTILLA_ERR_WALL_LIMIT: /);
    await waitFor(async () => (await renders()) - before >= 1, { timeoutMs: 5000 });
    expect((await renders()) - before).toBe(1);
    expect(await retries()).toBe(retriesBefore);
  }, 30_000);
});
