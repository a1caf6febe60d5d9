import { setTimeout as delay } from 'node:timers/promises';
import {
  type Fleet,
  httpGet,
  schedulerHealth,
  startFleet,
  workerHealth,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';
import {
  clock,
  describeFailures,
  formatSummary,
  latency,
  outcome,
  type RequestRecord,
  startLoad,
  summarize,
} from './load.ts';

/** Request deadline at the shield (`--timeout-ms`), short to keep the suite short. */
const DEADLINE_MS = 3000;
/** Timers and the shield's 100 ms sweep may finish a request a little after its deadline. */
const DEADLINE_SLACK_MS = 500;
const OUTAGE_MS = 10_000;
const BEFORE_MS = 2000;
const AFTER_MS = 3500;
/** The target: service resumes within 2 s of NATS returning. */
const RESUME_WITHIN_MS = 2000;
/** Probing rate: the resume figure is precise to 1000 / RATE ms. */
const RATE = 20;

/**
 * There is no shield cache yet (it comes with the shield cache issue), so
 * there is nothing stale to serve: during the outage every request must end
 * with a clear 5xx FLOTILLA_ERR_* answer by its deadline. Once the cache
 * exists, cached pages should be served stale here instead.
 */
describe('nats-server down for 10 s under light load, then back on the same port', () => {
  let fleet: Fleet;
  let shieldUrl: string;

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 1,
      schedulers: 2,
      workers: 2,
      publish: fixtures(),
      warmPath: '/react-shop/p/1',
      // Workers heartbeat at the default 1 s: resume time includes waiting for one.
      // A busy machine may keep a miss waiting for a worker's room past the
      // default 1 s: this suite counts what the outage causes, not sheds.
      args: {
        shield: ['--timeout-ms', String(DEADLINE_MS)],
        scheduler: ['--queue-wait-ms', String(DEADLINE_MS - 500)],
      },
    });
    shieldUrl = fleet.live('shield')[0]?.url ?? '';
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('nothing hangs past its deadline, errors are clear 5xx, service resumes within 2 s', async () => {
    const run = startLoad({
      rate: RATE,
      durationMs: BEFORE_MS + OUTAGE_MS + AFTER_MS + 1000,
      target: (i) => `${shieldUrl}/react-shop/p/${(i % 120) + 1}`,
      timeoutMs: DEADLINE_MS + 5000,
    });
    await delay(BEFORE_MS);

    await fleet.nats.kill('SIGKILL');
    const down = clock();

    // Schedulers forget workers whose heartbeats stopped (2.5 × 1 s), and
    // every role's admin endpoint still answers while NATS is gone.
    await delay(4000);
    const during = await Promise.all(fleet.live('scheduler').map(schedulerHealth));
    const workersDuring = await Promise.all(fleet.live('worker').map(workerHealth));
    const shieldHealth = await httpGet(`${shieldUrl}/healthz`, { timeoutMs: 2000 });
    await delay(OUTAGE_MS - (clock() - down));

    const restartCalled = clock();
    await fleet.nats.restart();
    const up = clock();

    // Workers re-register: every scheduler sees both again.
    await fleet.settled(5000);
    const reRegisteredMs = clock() - up;

    await delay(Math.max(0, AFTER_MS - (clock() - up)));
    run.stop();
    const records = await run.done;

    const ended = (r: RequestRecord) => r.endedAt ?? Number.POSITIVE_INFINITY;
    const before = records.filter((r) => ended(r) < down);
    const outage = records.filter((r) => r.sentAt >= down && r.sentAt < up);
    const firstOk = records
      .filter((r) => r.status === 200 && ended(r) >= up)
      .sort((a, b) => ended(a) - ended(b))[0];
    const resumeMs = firstOk ? ended(firstOk) - up : Number.POSITIVE_INFINITY;
    const steady = records.filter((r) => r.sentAt >= up + RESUME_WITHIN_MS);
    const longest = Math.max(...records.map(latency));
    const outageSummary = summarize(outage);

    console.log(
      formatSummary(
        `nats outage ${OUTAGE_MS / 1000} s, requests sent while down`,
        outageSummary,
        `longest request overall ${Math.round(longest)} ms (deadline ${DEADLINE_MS} ms)`,
      ),
    );
    console.log(
      `[fault] nats outage: service resumed ${Math.round(resumeMs)} ms after nats-server accepted again ` +
        `(restart took ${Math.round(up - restartCalled)} ms); schedulers saw both workers again after ` +
        `${Math.round(reRegisteredMs)} ms; during the outage schedulers saw ${during.map((h) => h.liveWorkers).join('/')} ` +
        `live workers; /healthz while down: shield ${shieldHealth.status}, ` +
        `schedulers ${during.map((h) => h.status).join('/')}, workers ${workersDuring.map((h) => h.status).join('/')}; ` +
        `${summarize(steady).ok}/${steady.length} ok from ${RESUME_WITHIN_MS} ms after return`,
    );

    // Nothing hangs: every request ended, with an HTTP answer (no reset, no
    // client timeout), by its deadline.
    expect(records.filter((r) => r.status === undefined).map(outcome)).toEqual([]);
    const late = records.filter((r) => latency(r) > DEADLINE_MS + DEADLINE_SLACK_MS);
    expect(late.map((r) => `#${r.i} ${outcome(r)} ${Math.round(latency(r))} ms`)).toEqual([]);

    // Before the outage: all served.
    expect(before.length).toBeGreaterThan(0);
    expect(summarize(before).failed, describeFailures(before)).toBe(0);

    // While NATS is down (and around it): clear 5xx FLOTILLA_ERR_* answers.
    expect(outage.length).toBeGreaterThan(OUTAGE_MS / (1000 / RATE) / 2);
    const unclear = records.filter(
      (r) =>
        r.status !== 200 &&
        !(
          r.status !== undefined &&
          r.status >= 500 &&
          /^FLOTILLA_ERR_[A-Z_]+$/.test(r.flotillaError ?? '')
        ),
    );
    expect(unclear.map(outcome)).toEqual([]);
    expect(outageSummary.failed).toBeGreaterThan(0);

    // Readiness while NATS is down: the shield stays ready (it can still
    // answer, stale pages included, and a readiness probe must not take it
    // out of its Service); schedulers and workers cannot work, and say so.
    expect(shieldHealth.status).toBe(200);
    expect(during.map((h) => h.status)).toEqual(['unavailable', 'unavailable']);
    expect(workersDuring.map((h) => h.status)).toEqual(['unavailable', 'unavailable']);

    // After NATS returns, no request is failed as if the schedulers, which
    // were alive all along, had been lost or had gone away.
    const blamed = records.filter(
      (r) =>
        r.sentAt >= up &&
        ['FLOTILLA_ERR_SCHEDULER_LOST', 'FLOTILLA_ERR_NO_RESPONDERS'].includes(
          r.flotillaError ?? '',
        ),
    );
    expect(
      blamed.map(
        (r) =>
          `${outcome(r)} sent ${Math.round(r.sentAt - up)} ms after return, took ${Math.round(latency(r))} ms`,
      ),
    ).toEqual([]);

    // The schedulers dropped the silent workers, and took them back after.
    expect(during.map((h) => h.liveWorkers)).toEqual([0, 0]);
    expect(reRegisteredMs).toBeLessThan(RESUME_WITHIN_MS + 1000);

    // Service resumes within 2 s of NATS returning, and stays up.
    expect(resumeMs).toBeLessThanOrEqual(RESUME_WITHIN_MS);
    expect(steady.length).toBeGreaterThan(0);
    expect(summarize(steady).failed, describeFailures(steady)).toBe(0);
  }, 40_000);
});
