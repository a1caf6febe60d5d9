/**
 * A whole fleet for one suite: a real nats-server with JetStream and
 * shields, schedulers and workers, each a `flotilla start --role …` process
 * of its own against it.
 *
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackTempDir, untrackTempDir } from './child-reaper.ts';
import { type FleetRole, type RoleProcess, startRoleProcess } from './fleet-processes.ts';
import { httpGet } from './http.ts';
import { type NatsServerHandle, startNatsServer } from './nats-server.ts';
import { waitFor } from './wait-for.ts';

/** What a {@link FleetOptions.publish} step leaves running until the fleet stops. */
export interface FleetFixtures {
  close(): Promise<void>;
}

/**
 * Publishes what the fleet serves to the control plane of `natsUrl`, before
 * any fleet process starts; `dir` is an empty scratch directory for builds.
 */
export type FleetPublisher = (natsUrl: string, dir: string) => Promise<FleetFixtures | undefined>;

/** Per-process changes to the fleet's settings, for {@link Fleet.add}. */
export interface RoleOverrides {
  /** @default the fleet's region */
  region?: string;
  /** `flotilla start` arguments after the fleet's ones for the role. */
  args?: string[];
  /** Environment over the fleet's. */
  env?: NodeJS.ProcessEnv;
}

/** Options of {@link startFleet}. */
export interface FleetOptions {
  /** @default 1 */
  shields?: number;
  /** @default 1 */
  schedulers?: number;
  /** @default 2 */
  workers?: number;
  /** `--region` of every process. @default 'test' */
  region?: string;
  /** Extra `flotilla start` arguments, per role. */
  args?: Partial<Record<FleetRole, string[]>>;
  /**
   * Keep the shields' cache on. Off by default (`--no-cache`): most suites
   * test the region, where every request must reach a worker.
   * @default false
   */
  cache?: boolean;
  /** Extra environment of every process. */
  env?: NodeJS.ProcessEnv;
  /** Publishes the apps the fleet serves. @default nothing is published */
  publish?: FleetPublisher;
  /**
   * A secured fleet: the nats-server includes this file (the `auth.conf` of
   * `flotilla auth init`) and each role connects with its seed file; a
   * control service (`--role control`) starts first.
   * @default an unsecured NATS, no control service
   */
  auth?: { include: string; creds: Record<FleetRole, string> };
  /**
   * Once every scheduler sees every worker, GET this path on each shield and
   * expect 200 (a render through the whole fleet).
   * @default no warm-up request
   */
  warmPath?: string;
}

/** A running fleet from {@link startFleet}. */
export interface Fleet {
  nats: NatsServerHandle;
  /** The workers' deployment store (`--store`) of every process. */
  storeDir: string;
  /** Every process of each role started so far (killed ones included, in start order). */
  started: Record<FleetRole, RoleProcess[]>;
  /** The first shield started (throws when there is none). */
  readonly shield: RoleProcess;
  /** The processes of `role` that have not exited. */
  live(role: FleetRole): RoleProcess[];
  /** Starts one more process of `role` with the fleet's settings and `overrides`. */
  add(role: FleetRole, overrides?: RoleOverrides): Promise<RoleProcess>;
  /** Waits until every live scheduler sees exactly the live workers. @param timeoutMs - default 15000 */
  settled(timeoutMs?: number): Promise<void>;
  /** SIGTERMs every live process, then stops NATS, closes the fixtures and removes the store. */
  stop(): Promise<void>;
}

/** A scheduler's `/healthz` body. */
export interface SchedulerHealth {
  status: string;
  liveWorkers: number;
  dispatching: number;
}

/** A worker's `/healthz` body. */
export interface WorkerHealth {
  status: string;
  inFlight: number;
}

async function health<T>(p: RoleProcess): Promise<T> {
  return JSON.parse((await httpGet(`${p.url}/healthz`, { timeoutMs: 2000 })).body) as T;
}

/** A scheduler's `/healthz` body. */
export function schedulerHealth(p: RoleProcess): Promise<SchedulerHealth> {
  return health<SchedulerHealth>(p);
}

/** A worker's `/healthz` body. */
export function workerHealth(p: RoleProcess): Promise<WorkerHealth> {
  return health<WorkerHealth>(p);
}

/**
 * Starts a nats-server (JetStream on), runs `publish`, then the schedulers
 * and workers (at once) and the shields, and waits until every scheduler
 * sees every worker (and the warm-up page, if any, renders). On failure
 * everything started is killed again.
 *
 * @example
 * const fleet = await startFleet({ schedulers: 2, workers: 2, publish: fixtures(SLOW) });
 * await httpGet(`${fleet.shield.url}/slow/`);
 * await fleet.stop();
 */
export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const storeDir = await mkdtemp(join(tmpdir(), 'flotilla-fleet-'));
  trackTempDir(storeDir);
  const started: Record<FleetRole, RoleProcess[]> = {
    shield: [],
    scheduler: [],
    worker: [],
    control: [],
  };
  const all = () => [
    ...started.shield,
    ...started.scheduler,
    ...started.worker,
    ...started.control,
  ];
  let nats: NatsServerHandle | undefined;
  let fixtures: FleetFixtures | undefined;
  const cleanUp = async (signal: NodeJS.Signals) => {
    await Promise.allSettled(all().map((p) => p.child.kill(signal)));
    await nats?.stop();
    await fixtures?.close();
    await rm(storeDir, { recursive: true, force: true });
    untrackTempDir(storeDir);
  };
  try {
    const server = await startNatsServer({
      jetstream: true,
      ...(options.auth ? { include: options.auth.include } : {}),
    });
    nats = server;
    fixtures = await options.publish?.(server.url, join(storeDir, 'src'));
    const live = (role: FleetRole) => started[role].filter((p) => p.child.exitStatus === undefined);
    const add = async (role: FleetRole, overrides: RoleOverrides = {}) => {
      const env = options.env || overrides.env ? { ...options.env, ...overrides.env } : undefined;
      const p = await startRoleProcess({
        role,
        nats: server.url,
        storeDir,
        region: overrides.region ?? options.region ?? 'test',
        args: [
          ...(role === 'shield' && !options.cache ? ['--no-cache'] : []),
          ...(options.args?.[role] ?? []),
          ...(overrides.args ?? []),
        ],
        ...(env ? { env } : {}),
        ...(options.auth ? { creds: options.auth.creds[role] } : {}),
      });
      started[role].push(p);
      return p;
    };
    const settled = async (timeoutMs = 15_000) => {
      await waitFor(
        async () => {
          const workers = live('worker').length;
          const seen = await Promise.all(live('scheduler').map(schedulerHealth));
          return seen.every((h) => h.liveWorkers === workers);
        },
        { timeoutMs, message: 'schedulers never saw exactly the live workers' },
      );
    };
    const times = (n: number, role: FleetRole) => Array.from({ length: n }, () => add(role));
    // The control service creates the control plane's buckets: no other role may.
    if (options.auth) await add('control');
    await Promise.all([
      ...times(options.schedulers ?? 1, 'scheduler'),
      ...times(options.workers ?? 2, 'worker'),
    ]);
    await Promise.all(times(options.shields ?? 1, 'shield'));
    await settled();
    if (options.warmPath !== undefined) {
      for (const shield of started.shield) {
        const res = await httpGet(`${shield.url}${options.warmPath}`, { timeoutMs: 10_000 });
        if (res.status !== 200) throw new Error(`warm-up GET answered ${res.status}: ${res.body}`);
      }
    }
    return {
      nats: server,
      storeDir,
      started,
      get shield() {
        const first = started.shield[0];
        if (!first) throw new Error('the fleet started no shield');
        return first;
      },
      live,
      add,
      settled,
      stop: () => cleanUp('SIGTERM'),
    };
  } catch (err) {
    await cleanUp('SIGKILL');
    throw err;
  }
}

/**
 * Polls the processes until one reports at least `min` requests in flight
 * (`busy`; a process that does not answer counts 0), and returns it.
 *
 * @throws Error when none does within `timeoutMs`.
 */
export async function findBusy(
  processes: readonly RoleProcess[],
  busy: (p: RoleProcess) => Promise<number>,
  min = 1,
  timeoutMs = 3000,
): Promise<RoleProcess> {
  const found: { process?: RoleProcess } = {};
  await waitFor(
    async () => {
      const counts = await Promise.all(processes.map((p) => busy(p).catch(() => 0)));
      found.process = processes[counts.findIndex((n) => n >= min)];
      return found.process !== undefined;
    },
    {
      timeoutMs,
      intervalMs: 0,
      message: `none of ${processes.length} processes had ${min} requests in flight within ${timeoutMs} ms`,
    },
  );
  if (!found.process) throw new Error('findBusy: waitFor resolved without a busy process');
  return found.process;
}
