import { type Fleet, httpGet, metricValue, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

describe('a worker process killed with SIGKILL', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ schedulers: 1, workers: 2, publish: fixtures() });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('leaves the region serving every next request through the other worker', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await httpGet(`${fleet.shield.url}/react-shop/p/${i + 1}`)).status).toBe(200);
    }
    const counts = await Promise.all(
      fleet.started.worker.map((w) => metricValue(w.url, 'flotilla_worker_renders_total')),
    );
    // Warm-first dispatch sent the renders to one worker: kill that one.
    const victimIndex = (counts[0] ?? 0) >= (counts[1] ?? 0) ? 0 : 1;
    const victim = fleet.started.worker[victimIndex];
    const survivor = fleet.started.worker[1 - victimIndex];
    if (!victim || !survivor) throw new Error('fleet has fewer than two workers');
    const survivorBefore = await metricValue(survivor.url, 'flotilla_worker_renders_total');

    const exit = await victim.child.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');

    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await httpGet(`${fleet.shield.url}/react-shop/p/${i + 10}`, { timeoutMs: 5000 });
      statuses.push(res.status);
      expect(res.body).toMatch(new RegExp(`No\\. ${i + 10}\\b`));
    }
    expect(statuses).toEqual(Array(20).fill(200));
    const survivorAfter = await metricValue(survivor.url, 'flotilla_worker_renders_total');
    expect(survivorAfter - survivorBefore).toBe(20);
    // The scheduler noticed the dead worker and retried instead of failing.
    const retries = await metricValue(
      fleet.started.scheduler[0]?.url ?? '',
      'flotilla_scheduler_retries_total',
    );
    expect(retries).toBeGreaterThanOrEqual(1);
  });
});
