import { setTimeout as delay } from 'node:timers/promises';
import {
  type Fleet,
  findBusy,
  metricValue,
  schedulerHealth,
  startFleet,
  workerHealth,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';
import {
  describeFailures,
  formatSummary,
  type LoadSummary,
  type RequestRecord,
  startLoad,
  summarize,
} from './load.ts';

/**
 * A page that awaits 300 ms: one request in five is one, so that every
 * process of the fleet holds requests in flight when it is killed (the React
 * pages take a few ms, and a kill between two of them would prove little).
 */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async (req) => {
    await new Promise((r) => setTimeout(r, 300));
    return new Response('slow ' + new URL(req.url).pathname);
  });`,
};

const RATE = 40;
/**
 * The load runs near the fleet's capacity on a busy machine, and the GETs a
 * lost process held are sent again on top of it: misses may wait longer for
 * a worker with room than the default 1 s before being shed. What these
 * tests count is failures the faults cause, not sheds of a saturated region
 * (the scheduler's own tests cover shedding).
 */
const QUEUE_WAIT = ['--queue-wait-ms', '5000'];
const DURATION_MS = 6000;
/** When, into the load, the fault is injected. */
const FAULT_AT_MS = 2000;

/** Mixed GETs: four React product pages, then one slow page. */
function mixedTarget(shieldUrl: () => string) {
  return (i: number) =>
    i % 5 === 4 ? `${shieldUrl()}/slow/${i}` : `${shieldUrl()}/react-shop/p/${(i % 120) + 1}`;
}

/** Scheduler and shield retries counted so far by each live process of `fleet`, by URL. */
async function retries(fleet: Fleet): Promise<Map<string, number>> {
  const counts = await Promise.all([
    ...fleet
      .live('scheduler')
      .map(async (s) => [s.url, await metricValue(s.url, 'flotilla_scheduler_retries_total')]),
    ...fleet
      .live('shield')
      .map(async (s) => [s.url, await metricValue(s.adminUrl, 'flotilla_shield_retries_total')]),
  ] as Promise<[string, number]>[]);
  return new Map(counts);
}

/** Retries counted between two {@link retries} readings by the processes alive at the second. */
function retriesBetween(before: Map<string, number>, after: Map<string, number>): number {
  let sum = 0;
  for (const [url, n] of after) sum += n - (before.get(url) ?? 0);
  return sum;
}

/**
 * Runs RATE req/s for `durationMs` against the fleet's shield, calls `fault`
 * FAULT_AT_MS in, prints a summary and expects every GET to end 200.
 */
async function underLoad(
  fleet: Fleet,
  label: string,
  fault: () => Promise<void>,
  durationMs = DURATION_MS,
): Promise<{ summary: LoadSummary; records: RequestRecord[] }> {
  const shieldUrl = fleet.live('shield')[0]?.url ?? '';
  const retriesBefore = await retries(fleet);
  const run = startLoad({ rate: RATE, durationMs, target: mixedTarget(() => shieldUrl) });
  await delay(FAULT_AT_MS);
  await fault();
  const records = await run.done;
  const summary = summarize(records);
  // Retries counted by the processes still alive (a killed scheduler's count is gone with it).
  const retried = retriesBetween(retriesBefore, await retries(fleet));
  console.log(formatSummary(label, summary, `${retried} retries counted by the survivors`));
  expect(summary.total).toBe(Math.floor((RATE * durationMs) / 1000));
  expect(summary.failed, describeFailures(records)).toBe(0);
  return { summary, records };
}

describe('steady load while fleet processes die or drain (1 shield, 2 schedulers, 2 workers)', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 1,
      schedulers: 2,
      workers: 2,
      publish: fixtures(SLOW),
      args: { worker: ['--heartbeat-ms', '200'], scheduler: QUEUE_WAIT },
      warmPath: '/react-shop/p/1',
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('a worker SIGKILLed mid-render: zero failed GETs', async () => {
    await underLoad(fleet, 'steady load, worker SIGKILL', async () => {
      const victim = await findBusy(
        fleet.live('worker'),
        async (w) => (await workerHealth(w)).inFlight,
      );
      expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');
    });
    // The next scenarios want two workers again (started with no load running).
    await fleet.add('worker');
    await fleet.settled();
  }, 30_000);

  it('a scheduler SIGKILLed with requests in flight: zero failed GETs', async () => {
    await underLoad(fleet, 'steady load, scheduler SIGKILL', async () => {
      const victim = await findBusy(
        fleet.live('scheduler'),
        async (s) => (await schedulerHealth(s)).dispatching,
      );
      expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');
    });
    await fleet.add('scheduler');
    await fleet.settled();
  }, 30_000);

  it('a worker SIGTERMed under load drains: zero failed GETs, exit code 0', async () => {
    let exit: { code: number | null; signal: string | null } | undefined;
    await underLoad(fleet, 'steady load, worker SIGTERM', async () => {
      const victim = await findBusy(
        fleet.live('worker'),
        async (w) => (await workerHealth(w)).inFlight,
      );
      exit = await victim.child.kill('SIGTERM');
    });
    expect(exit).toEqual({ code: 0, signal: null });
  }, 30_000);
});

/**
 * A scheduler joins the miss queue group as soon as it starts, before it has
 * heard any worker heartbeat. It must hold the misses it gets meanwhile
 * (bounded queue, woken by the first heartbeat) rather than answer 503
 * FLOTILLA_ERR_NO_WORKERS for a region whose workers are alive: before that
 * fix, 5–17 GETs per join failed at 40 req/s with the default 1 s heartbeat.
 * Two joins, so that one landing just before a heartbeat cannot hide it.
 */
describe('a scheduler joining under load (workers heartbeat at the default 1 s)', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 1,
      schedulers: 1,
      workers: 2,
      publish: fixtures(SLOW),
      args: { scheduler: QUEUE_WAIT },
      warmPath: '/react-shop/p/1',
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('zero failed GETs while the new scheduler learns the workers', async () => {
    await underLoad(
      fleet,
      'steady load, scheduler joins',
      async () => {
        await fleet.add('scheduler');
        await delay(1200);
        await fleet.add('scheduler');
      },
      5000,
    );
  }, 30_000);
});
