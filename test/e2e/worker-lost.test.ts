import { httpGet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricTotal, type ProcessFleet, startProcessFleet } from './fleet-setup.ts';

/** A page that takes 800 ms to render: long enough to kill its worker mid-render. */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async (req) => {
    await new Promise((r) => setTimeout(r, 800));
    return new Response('slow page for ' + req.method);
  });`,
};

describe('a worker process SIGKILLed in the middle of a render', () => {
  let fleet: ProcessFleet;

  beforeAll(async () => {
    fleet = await startProcessFleet({
      schedulers: 1,
      workers: 2,
      bundles: [SLOW],
      workerArgs: ['--heartbeat-ms', '200'],
    });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the GET is rendered again by the other worker and succeeds', async () => {
    const started = Date.now();
    const pending = httpGet(`${fleet.shield.url}/slow/`, { timeoutMs: 10_000 });
    // Find the worker rendering it, and kill it mid-render.
    let victimIndex = -1;
    while (victimIndex < 0 && Date.now() - started < 5000) {
      const inFlight = await Promise.all(
        fleet.workers.map((w) => metricTotal(w.url, 'flotilla_worker_in_flight')),
      );
      victimIndex = inFlight.findIndex((n) => n > 0);
    }
    const victim = fleet.workers[victimIndex];
    const survivor = fleet.workers[1 - victimIndex];
    if (!victim || !survivor) throw new Error('no worker took the render');
    expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow page for GET');
    expect(await metricTotal(survivor.url, 'flotilla_worker_renders_total')).toBe(1);
    const scheduler = fleet.schedulers[0];
    if (!scheduler) throw new Error('no scheduler');
    const { body } = await httpGet(`${scheduler.url}/metrics`);
    expect(body).toMatch(
      /flotilla_scheduler_retries_total\{[^}]*reason="FLOTILLA_ERR_WORKER_LOST"[^}]*\} 1/,
    );
  });
});
