import { type Fleet, httpGet, type RoleProcess, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

// The primary region (east) has no scheduler at all: its shield sends the
// misses to the secondary region (west), whose scheduler and worker render them.
describe('a primary region with no schedulers', () => {
  let fleet: Fleet;
  let shield: RoleProcess;

  beforeAll(async () => {
    // Waits until the west scheduler sees its worker.
    fleet = await startFleet({
      region: 'west',
      schedulers: 1,
      workers: 1,
      shields: 0,
      cache: true,
      publish: fixtures(),
    });
    shield = await fleet.add('shield', { region: 'east', args: ['--secondary-region', 'west'] });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('serves from the secondary region, and says so in Server-Timing and the metrics', async () => {
    const res = await httpGet(`${shield.url}/react-shop/p/5`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/No\. 5\b/);
    expect(res.headers.get('server-timing')).toMatch(/region;desc="west"/);
    const metrics = (await httpGet(`${shield.adminUrl}/metrics`)).body;
    expect(metrics).toMatch(/flotilla_shield_failovers_total\{from="east",to="west"\} 1/);
  });
});
