import { httpGet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProcessFleet, startProcessFleet } from './fleet-setup.ts';

/** A page that takes 800 ms to render: long enough to kill its scheduler mid-request. */
const SLOW = {
  name: 'slow',
  code: `Flotilla.serve(async () => {
    await new Promise((r) => setTimeout(r, 800));
    return new Response('slow page');
  });`,
};

describe('a scheduler process SIGKILLed with a request in flight', () => {
  let fleet: ProcessFleet;

  beforeAll(async () => {
    fleet = await startProcessFleet({ schedulers: 2, workers: 2, bundles: [SLOW] });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('the shield sends the GET again through the other scheduler and it succeeds', async () => {
    const started = Date.now();
    const pending = httpGet(`${fleet.shield.url}/slow/`, { timeoutMs: 10_000 });
    let victimIndex = -1;
    while (victimIndex < 0 && Date.now() - started < 5000) {
      const health = await Promise.all(
        fleet.schedulers.map((s) =>
          httpGet(`${s.url}/healthz`).then((r) => JSON.parse(r.body) as { dispatching: number }),
        ),
      );
      victimIndex = health.findIndex((h) => h.dispatching > 0);
    }
    const victim = fleet.schedulers[victimIndex];
    if (!victim) throw new Error('no scheduler took the request');
    expect((await victim.child.kill('SIGKILL')).signal).toBe('SIGKILL');

    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body).toBe('slow page');
    const { body } = await httpGet(`${fleet.shield.url}/metrics`);
    expect(body).toMatch(
      /flotilla_shield_retries_total\{[^}]*reason="FLOTILLA_ERR_SCHEDULER_LOST"[^}]*\} 1/,
    );
  });
});
