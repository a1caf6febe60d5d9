import { type Fleet, findBusy, httpGet, metricValue, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/** A page that takes 800 ms to render: long enough to kill its worker mid-render. */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async (req) => {
    await new Promise((r) => setTimeout(r, 800));
    return new Response('slow page for ' + req.method);
  });`,
};

describe('a worker process SIGKILLed in the middle of a render', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({
      schedulers: 1,
      workers: 2,
      publish: fixtures(SLOW),
      args: { worker: ['--heartbeat-ms', '200'] },
    });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the GET is rendered again by the other worker and succeeds', async () => {
    const pending = httpGet(`${fleet.shield.url}/slow/`, { timeoutMs: 10_000 });
    // Find the worker rendering it, and kill it mid-render.
    const workers = fleet.started.worker;
    const victim = await findBusy(
      workers,
      (w) => metricValue(w.url, 'flotilla_worker_in_flight'),
      1,
      5000,
    );
    const survivor = workers.find((w) => w !== victim);
    if (!survivor) throw new Error('no other worker');
    expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow page for GET');
    expect(await metricValue(survivor.url, 'flotilla_worker_renders_total')).toBe(1);
    const scheduler = fleet.started.scheduler[0];
    if (!scheduler) throw new Error('no scheduler');
    const { body } = await httpGet(`${scheduler.url}/metrics`);
    expect(body).toMatch(
      /flotilla_scheduler_retries_total\{[^}]*reason="FLOTILLA_ERR_WORKER_LOST"[^}]*\} 1/,
    );
  });
});
