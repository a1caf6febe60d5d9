import { type Fleet, findBusy, httpGet, schedulerHealth, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/** A page that takes 800 ms to render: long enough to kill its scheduler mid-request. */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async () => {
    await new Promise((r) => setTimeout(r, 800));
    return new Response('slow page');
  });`,
};

describe('a scheduler process SIGKILLed with a request in flight', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ schedulers: 2, workers: 2, publish: fixtures(SLOW) });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the shield sends the GET again through the other scheduler and it succeeds', async () => {
    const pending = httpGet(`${fleet.shield.url}/slow/`, { timeoutMs: 10_000 });
    const victim = await findBusy(
      fleet.started.scheduler,
      async (s) => (await schedulerHealth(s)).dispatching,
      1,
      5000,
    );
    expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow page');
    const { body } = await httpGet(`${fleet.shield.adminUrl}/metrics`);
    expect(body).toMatch(
      /flotilla_shield_retries_total\{[^}]*reason="FLOTILLA_ERR_SCHEDULER_LOST"[^}]*\} 1/,
    );
  });
});
