import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  httpGet,
  type NatsServerHandle,
  type RoleProcess,
  startNatsServer,
  startRoleProcess,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishedFixtures, publishFixtures } from '../support/control-plane.ts';

// The primary region (east) has no scheduler at all: its shield sends the
// misses to the secondary region (west), whose scheduler and worker render them.
describe('a primary region with no schedulers', () => {
  let nats: NatsServerHandle;
  let storeDir: string;
  const started: RoleProcess[] = [];
  let shield: RoleProcess;
  let fixtures: PublishedFixtures | undefined;

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
    storeDir = await mkdtemp(join(tmpdir(), 'flotilla-secondary-'));
    fixtures = await publishFixtures(nats.url, { dir: storeDir });
    const launch = async (role: RoleProcess['role'], region: string, args: string[] = []) => {
      const p = await startRoleProcess({ role, nats: nats.url, storeDir, region, args });
      started.push(p);
      return p;
    };
    const scheduler = await launch('scheduler', 'west');
    await launch('worker', 'west');
    shield = await launch('shield', 'east', ['--secondary-region', 'west']);
    await waitFor(
      async () => JSON.parse((await httpGet(`${scheduler.url}/healthz`)).body).liveWorkers === 1,
      { timeoutMs: 15_000, message: 'the west scheduler never saw its worker' },
    );
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled(started.map((p) => p.child.kill('SIGTERM')));
    await nats?.stop();
    await fixtures?.close();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('serves from the secondary region, and says so in Server-Timing and the metrics', async () => {
    const res = await httpGet(`${shield.url}/react-shop/p/5`);
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/No\. 5\b/);
    expect(res.headers.get('server-timing')).toMatch(/region;desc="west"/);
    const metrics = (await httpGet(`${shield.url}/metrics`)).body;
    expect(metrics).toMatch(/flotilla_shield_failovers_total\{from="east",to="west"\} 1/);
  });
});
