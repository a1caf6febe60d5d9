import { readdir, readFile } from 'node:fs/promises';
import {
  type Fleet,
  httpGet,
  type RoleProcess,
  schedulerHealth,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

/** PIDs of live worker processes started with this store (the supervisor's children). */
async function workerPids(storeDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const role = args.indexOf('--role');
      const store = args.indexOf('--store');
      if (args[role + 1] === 'worker' && args[store + 1] === storeDir) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

describe('flotilla start --role scheduler --autoscale local', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    // No processes yet: each test starts its scheduler, whose supervisor starts the workers.
    fleet = await startFleet({
      schedulers: 0,
      workers: 0,
      shields: 0,
      cache: true,
      publish: fixtures(),
    });
  }, 60_000);

  afterAll(async () => {
    if (fleet) {
      for (const pid of await workerPids(fleet.storeDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await fleet?.stop();
  });

  async function startScheduler(): Promise<RoleProcess> {
    const scheduler = await fleet.add('scheduler', {
      args: ['--autoscale', 'local', '--min-workers', '2', '--max-workers', '3', '--threads', '1'],
    });
    await waitFor(async () => (await schedulerHealth(scheduler)).liveWorkers === 2, {
      timeoutMs: 30_000,
      message: 'the supervisor never brought the region to 2 workers',
    });
    return scheduler;
  }

  it('starts the minimum of worker processes, which serve renders', async () => {
    const scheduler = await startScheduler();
    const shield = await fleet.add('shield');
    try {
      const res = await httpGet(`${shield.url}/react-shop/p/3`);
      expect(res.status).toBe(200);
      expect(await workerPids(fleet.storeDir)).toHaveLength(2);
      const metrics = (await httpGet(`${scheduler.url}/metrics`)).body;
      expect(metrics).toMatch(/flotilla_autoscaler_desired_workers\{region="test"\} 2/);
      expect(metrics).toMatch(/flotilla_autoscaler_leader\{[^}]*\} 1/);
    } finally {
      await shield.child.kill('SIGTERM');
      // SIGTERM: the scheduler drains its workers before it exits.
      expect((await scheduler.child.kill('SIGTERM')).code).toBe(0);
    }
    await waitFor(async () => (await workerPids(fleet.storeDir)).length === 0, {
      timeoutMs: 15_000,
      message: 'worker processes outlived the scheduler that started them',
    });
  });

  it('leaves no orphan workers when the scheduler is SIGKILLed', async () => {
    const scheduler = await startScheduler();
    expect(await workerPids(fleet.storeDir)).toHaveLength(2);
    await scheduler.child.kill('SIGKILL');
    await waitFor(async () => (await workerPids(fleet.storeDir)).length === 0, {
      timeoutMs: 15_000,
      message: 'workers outlived a SIGKILLed supervisor (--exit-with-parent)',
    });
  });
});
