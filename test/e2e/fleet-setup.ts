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
import type { TestBundle } from '../support/bundles.ts';
import { type PublishedFixtures, publishFixtures } from '../support/control-plane.ts';

/** A fleet of separate OS processes on a real nats-server, for one suite. */
export interface ProcessFleet {
  nats: NatsServerHandle;
  shield: RoleProcess;
  schedulers: RoleProcess[];
  workers: RoleProcess[];
  storeDir: string;
  stop(): Promise<void>;
}

/**
 * Publishes the example apps into a temp store, starts a nats-server, then
 * `schedulers` schedulers, `workers` workers and one shield as separate
 * processes, and waits until a React page renders through them.
 */
export async function startProcessFleet(
  options: {
    schedulers?: number;
    workers?: number;
    /** Apps published besides the examples. */
    bundles?: TestBundle[];
    /** Extra `flotilla start` arguments of the workers. */
    workerArgs?: string[];
    /** Keep the shield's cache on. @default false (`--no-cache`) */
    cache?: boolean;
  } = {},
): Promise<ProcessFleet> {
  const storeDir = await mkdtemp(join(tmpdir(), 'flotilla-e2e-'));
  const started: RoleProcess[] = [];
  let nats: NatsServerHandle | undefined;
  let api: PublishedFixtures | undefined;
  try {
    nats = await startNatsServer({ jetstream: true });
    const url = nats.url;
    api = await publishFixtures(url, {
      bundles: options.bundles ?? [],
      dir: join(storeDir, 'src'),
    });
    const fixtures = api;
    const launch = (role: RoleProcess['role']) =>
      startRoleProcess({
        role,
        nats: url,
        storeDir,
        ...(role === 'worker' && options.workerArgs ? { args: options.workerArgs } : {}),
        // These suites test the region (every request reaches a worker):
        // the shield's cache is tested on its own.
        ...(role === 'shield' && !options.cache ? { args: ['--no-cache'] } : {}),
      }).then((p) => {
        started.push(p);
        return p;
      });
    const [schedulers, workers] = await Promise.all([
      Promise.all(Array.from({ length: options.schedulers ?? 1 }, () => launch('scheduler'))),
      Promise.all(Array.from({ length: options.workers ?? 2 }, () => launch('worker'))),
    ]);
    const shield = await launch('shield');
    // Schedulers learn of workers from heartbeats (≈1 s): wait until each sees all.
    await waitFor(
      async () => {
        const health = await Promise.all(
          schedulers.map((s) => httpGet(`${s.url}/healthz`).then((r) => JSON.parse(r.body))),
        );
        return health.every((h: { liveWorkers: number }) => h.liveWorkers === workers.length);
      },
      { timeoutMs: 15_000, message: 'schedulers never saw every worker heartbeat' },
    );
    const handle = nats;
    return {
      nats: handle,
      shield,
      schedulers,
      workers,
      storeDir,
      async stop() {
        await Promise.allSettled(started.map((p) => p.child.kill('SIGTERM')));
        await handle.stop();
        await fixtures.close();
        await rm(storeDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await Promise.allSettled(started.map((p) => p.child.kill('SIGKILL')));
    await nats?.stop();
    await api?.close();
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
}

/** Reads one counter's total (over all label sets) from a Prometheus text page. */
export async function metricTotal(url: string, name: string): Promise<number> {
  const { body } = await httpGet(`${url}/metrics`);
  let sum = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}
