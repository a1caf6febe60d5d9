import { request } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type Fleet,
  findBusy,
  metricValue,
  type ProcessExit,
  type RoleProcess,
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
  type LoadRun,
  type RequestRecord,
  startLoad,
  summarize,
} from './load.ts';

/** Every page takes 500 ms: SIGTERM always lands with renders in flight. */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async (req) => {
    await new Promise((r) => setTimeout(r, 500));
    return new Response('slow ' + new URL(req.url).pathname);
  });`,
};

const RATE = 10;
const DURATION_MS = 3000;
const TERM_AT_MS = 1000;
/** A drain waits for 500 ms renders, not for the load to stop. */
const DRAIN_WITHIN_MS = 2500;

/** A GET on a fresh connection (no keep-alive pool): how it ended. */
function freshGet(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(`${res.statusCode} ${res.headers['x-flotilla-error'] ?? ''}`));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.end();
  });
}

interface DrainOutcome {
  records: RequestRecord[];
  /** Requests sent before SIGTERM and still pending then. */
  inFlightAtTerm: RequestRecord[];
  exit: ProcessExit;
  /** When SIGTERM was sent, on {@link clock}. */
  term: number;
  drainMs: number;
}

describe('SIGTERM drains each role under in-flight load (2 shields, 2 schedulers, 2 workers)', () => {
  let fleet: Fleet;
  /** Where the load goes: a load balancer stops sending to a shield on its SIGTERM. */
  let shieldUrl: string;

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 2,
      schedulers: 2,
      workers: 2,
      publish: fixtures(SLOW),
      warmPath: '/react-shop/p/1',
      // 2 threads × 4 renders: one worker alone still holds the whole load.
      args: { worker: ['--threads', '2', '--heartbeat-ms', '200'] },
    });
    shieldUrl = fleet.live('shield')[0]?.url ?? '';
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  /**
   * Sends RATE req/s of the slow page for DURATION_MS, SIGTERMs the process
   * `pick` returns TERM_AT_MS in, and waits for everything to end.
   */
  async function drainUnderLoad(
    label: string,
    pick: (run: LoadRun) => Promise<RoleProcess>,
    onTerm: () => void = () => {},
  ): Promise<DrainOutcome> {
    const run = startLoad({
      rate: RATE,
      durationMs: DURATION_MS,
      target: (i) => `${shieldUrl}/slow/${i}`,
    });
    await delay(TERM_AT_MS);
    const victim = await pick(run);
    const term = clock();
    const exited = victim.child.kill('SIGTERM');
    onTerm();
    const exit = await exited;
    const drainMs = clock() - term;
    const records = await run.done;
    const inFlightAtTerm = records.filter(
      (r) => r.sentAt < term && (r.endedAt ?? Number.POSITIVE_INFINITY) > term,
    );
    const summary = summarize(records);
    console.log(
      formatSummary(
        label,
        summary,
        `${inFlightAtTerm.length} in flight at SIGTERM (${summarize(inFlightAtTerm).ok} ok); exit ${exit.signal ?? exit.code} after ${Math.round(drainMs)} ms`,
      ),
    );
    expect(summary.failed, describeFailures(records)).toBe(0);
    expect(inFlightAtTerm.length).toBeGreaterThan(0);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(drainMs).toBeLessThan(DRAIN_WITHIN_MS);
    return { records, inFlightAtTerm, exit, term, drainMs };
  }

  it('a shield finishes its in-flight requests, refuses new connections, exits 0', async () => {
    const [draining, other] = fleet.live('shield');
    if (!draining || !other) throw new Error('two shields expected');
    let afterTerm: Promise<string> | undefined;
    await drainUnderLoad(
      'drain shield',
      async (run) => {
        // The load goes to this shield only; wait until it holds a few requests.
        while (run.records.filter((r) => r.endedAt === undefined).length < 3) await delay(20);
        // SIGTERM between two sends (40 ms after one, 60 ms before the next),
        // so that every request sent before it has reached the shield. A GET
        // written on a reused keep-alive connection in the same millisecond
        // as SIGTERM is reset instead: the shield closes "idle" connections at
        // once, unread request bytes and all (HTTP/1.1's keep-alive close
        // race; in Kubernetes the preStop sleep keeps traffic away by then).
        const sent = run.records.length;
        while (run.records.length === sent) await delay(1);
        await delay(40);
        return draining;
      },
      () => {
        // The load balancer takes it out: new requests go to the other shield.
        shieldUrl = other.url;
        afterTerm = delay(100).then(() => freshGet(`${draining.url}/slow/fresh`));
      },
    );
    // A new connection to the draining (then gone) shield is refused at once, never left hanging.
    console.log(
      `[fault] drain shield: a new connection 100 ms after SIGTERM got ${await afterTerm}`,
    );
    expect(await afterTerm).toMatch(/^(ECONNREFUSED|503 FLOTILLA_ERR_DRAINING)$/);
  }, 20_000);

  it('a scheduler finishes its in-flight requests without shield retries, exits 0', async () => {
    const [shield] = fleet.live('shield');
    if (!shield) throw new Error('no shield');
    const retriesBefore = await metricValue(shield.adminUrl, 'flotilla_shield_retries_total');
    await drainUnderLoad('drain scheduler', () =>
      findBusy(fleet.live('scheduler'), async (s) => (await schedulerHealth(s)).dispatching, 2),
    );
    // Drained, not failed over: the shield never had to send a request again.
    expect(await metricValue(shield.adminUrl, 'flotilla_shield_retries_total')).toBe(retriesBefore);
  }, 20_000);

  it('a worker finishes its in-flight renders, new renders go to the other, exits 0', async () => {
    const [survivorBefore] = fleet.live('worker');
    let survivor: RoleProcess | undefined;
    let survivorRenders = 0;
    const { records, term } = await drainUnderLoad('drain worker', async () => {
      const victim = await findBusy(
        fleet.live('worker'),
        async (w) => (await workerHealth(w)).inFlight,
        2,
      );
      survivor = fleet.live('worker').find((w) => w !== victim);
      if (!survivor || !survivorBefore) throw new Error('two workers expected');
      survivorRenders = await metricValue(survivor.url, 'flotilla_worker_renders_total');
      return victim;
    });
    if (!survivor) throw new Error('no survivor');
    // Requests sent once the draining heartbeat was out were all rendered by the survivor.
    const sentLater = records.filter((r) => r.sentAt > term + 200);
    const rendered =
      (await metricValue(survivor.url, 'flotilla_worker_renders_total')) - survivorRenders;
    expect(sentLater.length).toBeGreaterThan(0);
    expect(rendered).toBeGreaterThanOrEqual(sentLater.length);
  }, 20_000);
});
