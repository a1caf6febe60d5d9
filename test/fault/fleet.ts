/**
 * A fleet of separate OS processes on a real nats-server for the fault
 * suites: like `test/e2e/fleet-setup.ts`, plus several shields, per-role
 * arguments, and replacements started (with the same arguments) after a kill.
 *
 * @module
 */
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

type Role = RoleProcess['role'];

/** Options of {@link startFaultFleet}. */
export interface FaultFleetOptions {
  /** @default 1 */
  shields?: number;
  /** @default 2 */
  schedulers?: number;
  /** @default 2 */
  workers?: number;
  /** Apps published besides the examples. */
  bundles?: TestBundle[];
  /** Extra `flotilla start` arguments, per role. */
  args?: Partial<Record<Role, string[]>>;
  /** Keep the shields' cache on. @default false (`--no-cache`) */
  cache?: boolean;
}

/** A running fault-test fleet. */
export interface FaultFleet {
  nats: NatsServerHandle;
  storeDir: string;
  /** Every process of each role started so far (killed ones included, in start order). */
  started: Record<Role, RoleProcess[]>;
  /** The processes of `role` that have not exited. */
  live(role: Role): RoleProcess[];
  /** Starts one more process of `role` with the fleet's arguments. */
  add(role: Role): Promise<RoleProcess>;
  /** Waits until every live scheduler sees exactly the live workers. */
  settled(timeoutMs?: number): Promise<void>;
  /** SIGTERMs every live process, then stops NATS and removes the store. */
  stop(): Promise<void>;
}

interface SchedulerHealth {
  status: string;
  liveWorkers: number;
  dispatching: number;
}

/** A scheduler's `/healthz` body. */
export async function schedulerHealth(p: RoleProcess): Promise<SchedulerHealth> {
  return JSON.parse((await httpGet(`${p.url}/healthz`, { timeoutMs: 2000 })).body);
}

/** A worker's `/healthz` body. */
export async function workerHealth(p: RoleProcess): Promise<{ status: string; inFlight: number }> {
  return JSON.parse((await httpGet(`${p.url}/healthz`, { timeoutMs: 2000 })).body);
}

/** Reads one metric's total (over all label sets) from a Prometheus text page. */
export async function metricTotal(url: string, name: string): Promise<number> {
  const { body } = await httpGet(`${url}/metrics`, { timeoutMs: 2000 });
  let sum = 0;
  for (const line of body.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

/**
 * Publishes the example apps (and `bundles`) into a temp store, starts a
 * nats-server and the fleet's processes, and waits until every scheduler sees
 * every worker and each shield renders a React page.
 */
export async function startFaultFleet(options: FaultFleetOptions = {}): Promise<FaultFleet> {
  const storeDir = await mkdtemp(join(tmpdir(), 'flotilla-fault-'));
  const started: Record<Role, RoleProcess[]> = { shield: [], scheduler: [], worker: [] };
  let nats: NatsServerHandle | undefined;
  const killAll = (signal: NodeJS.Signals) =>
    Promise.allSettled(
      [...started.shield, ...started.scheduler, ...started.worker].map((p) => p.child.kill(signal)),
    );
  let api: PublishedFixtures | undefined;
  try {
    const server = await startNatsServer({ jetstream: true });
    nats = server;
    api = await publishFixtures(server.url, {
      bundles: options.bundles ?? [],
      dir: join(storeDir, 'src'),
    });
    const fixtures = api;
    const live = (role: Role) => started[role].filter((p) => p.child.exitStatus === undefined);
    const add = async (role: Role) => {
      const p = await startRoleProcess({
        role,
        nats: server.url,
        storeDir,
        // The fault suites test the region: every request must reach it, so the
        // shield's cache is off unless a suite asks for it.
        args: [
          ...(role === 'shield' && !options.cache ? ['--no-cache'] : []),
          ...(options.args?.[role] ?? []),
        ],
      });
      started[role].push(p);
      return p;
    };
    const settled = (timeoutMs = 15_000) =>
      waitFor(
        async () => {
          const workers = live('worker').length;
          const health = await Promise.all(live('scheduler').map(schedulerHealth));
          return health.every((h) => h.liveWorkers === workers);
        },
        { timeoutMs, intervalMs: 50, message: 'schedulers never saw exactly the live workers' },
      );
    await Promise.all([
      ...Array.from({ length: options.schedulers ?? 2 }, () => add('scheduler')),
      ...Array.from({ length: options.workers ?? 2 }, () => add('worker')),
    ]);
    await Promise.all(Array.from({ length: options.shields ?? 1 }, () => add('shield')));
    await settled();
    for (const shield of started.shield) {
      const res = await httpGet(`${shield.url}/react-shop/p/1`, { timeoutMs: 10_000 });
      if (res.status !== 200) throw new Error(`warm-up GET answered ${res.status}: ${res.body}`);
    }
    return {
      nats: server,
      storeDir,
      started,
      live,
      add,
      settled,
      async stop() {
        await killAll('SIGTERM');
        await server.stop();
        await fixtures.close();
        await rm(storeDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await killAll('SIGKILL');
    await nats?.stop();
    await api?.close();
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Polls the processes until one reports at least `min` requests in flight
 * (`busy`), and returns it; throws after `timeoutMs`.
 */
export async function findBusy(
  processes: readonly RoleProcess[],
  busy: (p: RoleProcess) => Promise<number>,
  min = 1,
  timeoutMs = 3000,
): Promise<RoleProcess> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const counts = await Promise.all(processes.map((p) => busy(p).catch(() => 0)));
    const i = counts.findIndex((n) => n >= min);
    const found = processes[i];
    if (found) return found;
  }
  throw new Error(
    `none of ${processes.length} processes had ${min} requests in flight within ${timeoutMs} ms`,
  );
}
