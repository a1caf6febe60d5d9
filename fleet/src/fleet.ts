import { join } from 'node:path';
import {
  Autoscaler,
  autoscalerLeaseKey,
  fleetWorkerCommand,
  KubernetesActuator,
  LeaderLease,
  LocalSupervisor,
  openLeaseBucket,
  processLauncher,
} from '@flotilla/autoscaler';
import {
  ControlPlane,
  ControlPlaneBundleStore,
  ControlService,
  JetStreamControlStore,
  MemoryControlStore,
  SecretKeyring,
} from '@flotilla/deploy';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
  positiveInt,
  required,
  wallLimitFor,
} from '@flotilla/protocol';
import { assertIsolateHostProcess, type SandboxLimits } from '@flotilla/runtime';
import { PrewarmRelay, RegionProbe, Scheduler } from '@flotilla/scheduler';
import { Shield, type ShieldOptions, SiteDirectory } from '@flotilla/shield';
import {
  InProcessTransport,
  type NatsSecurity,
  NatsTransport,
  type Transport,
} from '@flotilla/transport';
import { RenderWorker } from '@flotilla/workers';
import type { NatsConnection } from '@nats-io/transport-node';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { startAdminServer } from './admin-server.ts';
import { EventLoopWatch } from './liveness.ts';
import type { LogFn } from './log.ts';
import { connectNats, securityArgs } from './nats-connection.ts';
import { embeddedSecretKeys, workerSecretKeys } from './secret-keys.ts';
import { lowerProcessPriority } from './process-priority.ts';

/** The roles a fleet process can play. */
export type Role = 'shield' | 'scheduler' | 'worker' | 'control';

/**
 * Fills the in-memory control plane of an embedded fleet before it serves
 * (e.g. publishes the example apps) and may start processes the apps need;
 * what it returns is closed once the fleet has drained.
 */
export type EmbeddedSeed = (
  controlPlane: ControlPlane,
  log: LogFn,
) => Promise<{ close(): Promise<void> } | undefined>;

/** Options shared by {@link startEmbedded} and {@link startRole}. */
export interface FleetOptions {
  /**
   * Region name (lower-case letters, digits, dashes).
   * @default 'local'
   */
  region?: string;
  /**
   * Interface the shield (and admin servers) listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Shield port; 0 picks a free one.
   * @default 3000
   */
  port?: number;
  /**
   * Port of the admin listener of every role, the shield's and the embedded
   * fleet's too: `/healthz`, `/livez`, `/metrics` (and the shield's index of
   * the environments served). The shield's traffic port never serves
   * `/metrics` or the index. 0 picks a free one.
   * @default 0
   */
  adminPort?: number;
  /**
   * Directory where workers keep the bundles they fetched from the control plane.
   * @default '.flotilla/store' under the current directory
   */
  storeDir?: string;
  /**
   * Shield: the L2 cache (`false`: forward every request). `maxBytes` bounds
   * its memory; `followerWaitMs` how long coalesced requests wait for their
   * leader.
   * @default enabled, 256 MiB, 5000 ms
   */
  cache?: false | { maxBytes?: number; followerWaitMs?: number };
  /**
   * Shield: requests with `x-flotilla-debug: <token>` bypass the cache.
   * @default none (no request can bypass it)
   */
  debugToken?: string;
  /**
   * Shield: the front door for third-party CDNs (public host, HTTPS
   * redirect, trusted proxies, client IP and geo headers, limits).
   * @default none of them
   */
  frontDoor?: ShieldOptions['frontDoor'];
  /**
   * Domain of environment hosts: `<app>.<domain>` is production,
   * `<env>.<app>.<domain>` another environment.
   * @default 'localhost'
   */
  domain?: string;
  /**
   * Domain of preview hosts `<deployment-id>.<previewDomain>`.
   * @default 'preview.localhost'
   */
  previewDomain?: string;
  /**
   * Limits every render is held to (operator defaults; a deployment may ask
   * for less, never more). The wall limit is kept below the request deadline
   * (`requestTimeoutMs`; `wallLimitBelow` of `@flotilla/protocol`): one at
   * or above it is clamped, with a warning in the log.
   * @default the runtime's DEFAULT_LIMITS (CPU 1 s, wall 8 s, heap 128 MB, output 10 MB)
   */
  limits?: Partial<SandboxLimits>;
  /**
   * Worker heartbeat interval, ms. Schedulers count a worker lost after 2.5
   * missed intervals and retry its GET/HEAD renders elsewhere.
   * @default 1000
   */
  heartbeatMs?: number;
  /**
   * Scheduler: how long a miss may wait for a worker with room when every
   * worker is at capacity, ms; past it the miss gets `503
   * FLOTILLA_ERR_OVERLOADED` with `Retry-After`.
   * @default 1000
   */
  queueWaitMs?: number;
  /**
   * Scheduler: fraction of the region's render slots an app never borrows
   * beyond its fair share, kept free for another app's first render (see
   * `SchedulerOptions.fairShareReserve`).
   * @default 0.25
   */
  fairShareReserve?: number;
  /**
   * Scheduler: how the region's worker count follows the load.
   * `local` starts and drains worker processes on this machine; `kubernetes`
   * only exports `flotilla_autoscaler_desired_workers` for KEDA/HPA; `off`
   * scales nothing. One replica acts at a time (leader lease in JetStream KV).
   * @default 'off'
   */
  autoscale?: 'off' | 'local' | 'kubernetes';
  /**
   * Autoscaler bounds.
   * @default 2 and 8
   */
  minWorkers?: number;
  maxWorkers?: number;
  /**
   * Worker: drain and exit when standard input closes (the supervising
   * process died), so a killed supervisor leaves no orphans.
   * @default false
   */
  exitWithParent?: boolean;
  /**
   * Shield: region whose schedulers take the requests when this region has none.
   * @default none
   */
  secondaryRegion?: string;
  /**
   * piscina threads per worker.
   * @default 1 in the embedded fleet, os.availableParallelism() for a worker role
   */
  threads?: number;
  /**
   * Renders a worker's thread runs at once, interleaved while they await the
   * host; a worker's capacity is threads × this. 1 gives each render a
   * thread of its own (a CPU-bound render then never delays another).
   * @default 4
   */
  tasksPerThread?: number;
  /**
   * Worker role: nice value added to the worker process (0…19), so that
   * tenants' CPU-bound renders never delay the shields, schedulers and
   * nats-server on a machine they share (see `process-priority.ts`). Not
   * applied to the embedded fleet, whose shield shares the process.
   * @default 5
   */
  workerNice?: number;
  /**
   * Worker instances in the embedded fleet (≥ 2 for duplication).
   * @default 2
   */
  workers?: number;
  /**
   * Request deadline at the shield, ms. Workers hold the wall limit below it
   * (give a worker role the shields' value when it is not the default).
   * @default 10000
   */
  requestTimeoutMs?: number;
  /**
   * Workers: secrets private key files (PEM), newest first (`flotilla secrets-key`).
   * @default none: secrets fail with `FLOTILLA_ERR_SECRET` (embedded: an ephemeral key)
   */
  secretsKeyFiles?: string[];
  /** prom-client registry. @default a new Registry with Node's default metrics */
  registry?: Registry;
  /**
   * Embedded fleet: what fills its in-memory control plane before it serves
   * (`./run start` publishes the example apps). Roles on NATS serve what is
   * published to the fleet (`flotilla publish`).
   * @default nothing: it serves nothing until something is published
   */
  seed?: EmbeddedSeed;
  /**
   * Log sink of every component: `createLogger` (pino) in the CLI. A line
   * is `{ msg, level?, …fields }`; see `log.ts`.
   * @default discard
   */
  log?: LogFn;
}

/** A running fleet process (embedded or one role). */
export interface RunningFleet {
  /** What it is, for the ready line. */
  description: string;
  /** URL of the shield, or of the admin server for other roles. */
  url: string;
  /** URL of the admin listener (`/healthz`, `/livez`, `/metrics`); the shield's index too. */
  adminUrl: string;
  /** Drains every component (in-flight work finishes), then closes. */
  drain(): Promise<void>;
  /** The control plane of an embedded fleet (in memory), for `flotilla dev`. */
  controlPlane?: ControlPlane;
}

function validate(options: FleetOptions) {
  const region = options.region ?? 'local';
  if (!isSubjectToken(region)) {
    throw new InvalidOptionError(
      'region',
      `"${region}" must be lower-case letters, digits and dashes`,
    );
  }
  const workers = positiveInt('workers', options.workers, 2);
  const log = options.log ?? (() => {});
  const deadlineMs = positiveInt(
    'requestTimeoutMs',
    options.requestTimeoutMs,
    DEFAULT_REQUEST_TIMEOUT_MS,
  );
  const wall = wallLimitFor(options.limits?.wallMs, deadlineMs);
  if (wall.warning) log({ msg: wall.warning, level: 'warn' });
  return {
    region,
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 3000,
    adminPort: options.adminPort ?? 0,
    storeDir: options.storeDir ?? join(process.cwd(), '.flotilla', 'store'),
    previewDomain: options.previewDomain ?? 'preview.localhost',
    workers,
    queueWaitMs: positiveInt('queueWaitMs', options.queueWaitMs, 1000),
    fairShareReserve: options.fairShareReserve,
    registry: options.registry ?? defaultRegistry(),
    log,
    /** The operator's limits, the wall limit below the request deadline. */
    limits: { ...options.limits, wallMs: wall.wallMs },
    liveness: new EventLoopWatch(),
  };
}

function defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

async function startShield(
  transport: Transport,
  o: ReturnType<typeof validate>,
  controlPlane: ControlPlane,
  options: FleetOptions,
): Promise<{ shield: Shield; url: string; adminUrl: string; sites: SiteDirectory }> {
  const sites = new SiteDirectory({
    source: controlPlane,
    previewDomain: o.previewDomain,
    ...(options.domain ? { domain: options.domain } : {}),
    log: o.log,
  });
  await sites.start();
  const shield = new Shield({
    transport,
    region: o.region,
    sites,
    host: o.host,
    port: o.port,
    adminPort: o.adminPort,
    registry: o.registry,
    log: o.log,
    ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    ...(options.secondaryRegion ? { secondaryRegion: options.secondaryRegion } : {}),
    liveness: () => o.liveness.check(),
    ...(options.cache !== undefined ? { cache: options.cache } : {}),
    ...(options.debugToken ? { debugToken: options.debugToken } : {}),
    ...(options.frontDoor ? { frontDoor: options.frontDoor } : {}),
  });
  const { url, adminUrl } = await shield.listen();
  return { shield, url, adminUrl, sites };
}

/**
 * A started scheduler, with what it answers for the whole region besides
 * misses: RTT probes (`flotilla region set --near`) and pre-warm on promote.
 * `drain` stops those, then drains the scheduler.
 */
function startScheduler(
  transport: Transport,
  o: ReturnType<typeof validate>,
): { scheduler: Scheduler; drain(): Promise<void> } {
  const scheduler = new Scheduler({
    transport,
    region: o.region,
    registry: o.registry,
    log: o.log,
    maxQueueWaitMs: o.queueWaitMs,
    ...(o.fairShareReserve !== undefined ? { fairShareReserve: o.fairShareReserve } : {}),
  });
  scheduler.start();
  const probe = new RegionProbe({ transport, region: o.region });
  const relay = new PrewarmRelay({
    transport,
    region: o.region,
    workers: () => scheduler.liveWorkerIds(),
    log: o.log,
  });
  probe.start();
  relay.start();
  return {
    scheduler,
    async drain() {
      await Promise.all([probe.close(), relay.close()]);
      await scheduler.drain();
    },
  };
}

function bundleStore(
  controlPlane: ControlPlane,
  o: ReturnType<typeof validate>,
  secretKeys: SecretKeyring,
) {
  return new ControlPlaneBundleStore({
    controlPlane,
    cacheDir: o.storeDir,
    secretKeys,
    log: o.log,
  });
}

/**
 * Starts everything in this process on the in-process transport: the shield
 * on `host:port`, one scheduler, and `workers` render workers, serving what
 * `seed` publishes. For a laptop; production runs one role per process on NATS.
 */
export async function startEmbedded(options: FleetOptions = {}): Promise<RunningFleet> {
  for (const warning of assertIsolateHostProcess()) options.log?.({ msg: warning });
  const o = validate(options);
  const transport = new InProcessTransport();
  const controlPlane = new ControlPlane({
    store: new MemoryControlStore(),
    previewDomain: o.previewDomain,
  });
  const secretKeys = await embeddedSecretKeys(controlPlane, options.secretsKeyFiles);
  const seeded = await options.seed?.(controlPlane, o.log);
  const { scheduler, drain: drainScheduler } = startScheduler(transport, o);
  const bundles = bundleStore(controlPlane, o, secretKeys);
  const workers = Array.from(
    { length: o.workers },
    (_, i) =>
      new RenderWorker({
        transport,
        region: o.region,
        bundles,
        workerId: `embedded-${i + 1}`,
        threads: positiveInt('threads', options.threads, 1),
        ...(options.tasksPerThread ? { tasksPerThread: options.tasksPerThread } : {}),
        limits: o.limits,
        ...(options.heartbeatMs ? { heartbeatIntervalMs: options.heartbeatMs } : {}),
        registry: o.registry,
        log: o.log,
        appLog: o.log,
      }),
  );
  await Promise.all(workers.map((w) => w.start()));
  await scheduler.waitForWorkers(o.workers, 10_000);
  const { shield, url, adminUrl, sites } = await startShield(transport, o, controlPlane, options);
  return {
    description: `embedded fleet (region ${o.region}, ${o.workers} workers, in-process transport, admin ${adminUrl})`,
    url,
    adminUrl,
    controlPlane,
    async drain() {
      await shield.drain();
      sites.stop();
      await drainScheduler();
      await Promise.all(workers.map((w) => w.drain()));
      await transport.drain();
      await seeded?.close();
    },
  };
}

/** Options of {@link startRole}. */
export interface RoleOptions extends FleetOptions {
  role: Role;
  /** NATS server URL(s), comma-separated. */
  nats: string;
  /** The NKey credential file and TLS CA to connect with. @default none (an unsecured NATS) */
  security?: NatsSecurity;
  /** Scheduler with `autoscale: 'local'`: the workers' credential. @default none */
  workerSecurity?: NatsSecurity;
  /**
   * Milliseconds to wait for the first NATS connection.
   * @default 5000
   */
  connectTimeoutMs?: number;
  /**
   * Scheduler with `autoscale: 'local'`: the `flotilla` CLI script the worker
   * processes it starts run (`flotilla start --role worker …`).
   * @default required with `autoscale: 'local'`
   */
  cliBin?: string;
}

/** Starts one role of the fleet in this process, on a real NATS connection. */
export async function startRole(options: RoleOptions): Promise<RunningFleet> {
  const role = options.role;
  if (role !== 'shield' && role !== 'scheduler' && role !== 'worker' && role !== 'control') {
    throw new InvalidOptionError(
      'role',
      `must be shield, scheduler, worker or control, got "${String(role)}"`,
    );
  }
  if (role === 'worker') {
    for (const warning of assertIsolateHostProcess()) options.log?.({ msg: warning });
  }
  const o = validate(options);
  // Read before connecting: a bad key file fails the start, not the first render.
  const secretKeys =
    role === 'worker' ? await workerSecretKeys(options.secretsKeyFiles, o.log) : undefined;
  const nc = await connectNats(
    options.nats,
    `flotilla-${role}-${process.pid}`,
    options.connectTimeoutMs ?? 5000,
    options.security,
  );
  const transport: Transport = new NatsTransport({
    connection: nc,
    onHandlerError: (err, subject) =>
      o.log({ msg: 'handler failed', subject, error: (err as Error).message }),
  });
  try {
    const controlPlane = new ControlPlane({
      store: await JetStreamControlStore.open(nc),
      previewDomain: o.previewDomain,
    });
    if (role === 'control') {
      const service = new ControlService({ connection: nc, controlPlane, log: o.log });
      service.start();
      return withAdmin(o, transport, {
        role,
        description: `control service (nats ${options.nats})`,
        draining: () => false,
        health: () => ({}),
        drain: () => service.drain(),
      });
    }
    if (role === 'shield') {
      const { shield, url, adminUrl, sites } = await startShield(
        transport,
        o,
        controlPlane,
        options,
      );
      return {
        description: `shield (region ${o.region}, nats ${options.nats}, admin ${adminUrl})`,
        url,
        adminUrl,
        async drain() {
          await shield.drain();
          sites.stop();
          await transport.drain();
        },
      };
    }
    if (role === 'scheduler') {
      const { scheduler, drain: drainScheduler } = startScheduler(transport, o);
      const autoscaler = await startAutoscaler(nc, transport, scheduler, o, options);
      return withAdmin(o, transport, {
        role,
        description: `scheduler ${scheduler.schedulerId} (region ${o.region}${autoscaler ? `, autoscale ${options.autoscale}` : ''})`,
        draining: () => scheduler.draining,
        health: () => ({
          liveWorkers: scheduler.liveWorkers(),
          dispatching: scheduler.dispatching,
          ...(autoscaler ? { autoscaler: autoscaler.status() } : {}),
        }),
        drain: async () => {
          await drainScheduler();
          await autoscaler?.close();
        },
      });
    }
    const nice = lowerProcessPriority(options.workerNice ?? 5);
    const worker = new RenderWorker({
      transport,
      region: o.region,
      bundles: bundleStore(controlPlane, o, secretKeys ?? new SecretKeyring([])),
      registry: o.registry,
      log: o.log,
      appLog: o.log,
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.tasksPerThread ? { tasksPerThread: options.tasksPerThread } : {}),
      limits: o.limits,
      ...(options.heartbeatMs ? { heartbeatIntervalMs: options.heartbeatMs } : {}),
    });
    await worker.start();
    return withAdmin(o, transport, {
      role,
      description: `worker ${worker.workerId} (region ${o.region}, nice ${nice})`,
      draining: () => worker.draining,
      health: () => ({
        inFlight: worker.inFlight,
        capacity: worker.capacity,
        warm: worker.warm(),
      }),
      drain: () => worker.drain(),
    });
  } catch (err) {
    await transport.drain().catch(() => {});
    throw err;
  }
}

/** The autoscaler of a scheduler role, when `autoscale` asks for one. */
async function startAutoscaler(
  nc: NatsConnection,
  transport: Transport,
  scheduler: Scheduler,
  o: ReturnType<typeof validate>,
  options: RoleOptions,
): Promise<Autoscaler | undefined> {
  const mode = options.autoscale ?? 'off';
  if (mode === 'off') return undefined;
  if (mode !== 'local' && mode !== 'kubernetes') {
    throw new InvalidOptionError(
      'autoscale',
      `must be off, local or kubernetes, got "${String(mode)}"`,
    );
  }
  const minWorkers = positiveInt('minWorkers', options.minWorkers, 2);
  const maxWorkers = positiveInt('maxWorkers', options.maxWorkers, Math.max(8, minWorkers));
  if (maxWorkers < minWorkers) {
    throw new InvalidOptionError('maxWorkers', `must be at least minWorkers (${minWorkers})`);
  }
  const actuator =
    mode === 'kubernetes'
      ? new KubernetesActuator({ log: o.log })
      : new LocalSupervisor({
          launcher: processLauncher({
            command: fleetWorkerCommand({
              nats: options.nats,
              bin: required('cliBin', options.cliBin),
              region: o.region,
              storeDir: o.storeDir,
              ...(options.threads ? { threads: options.threads } : {}),
              extraArgs: [
                '--exit-with-parent',
                '--host',
                o.host,
                ...securityArgs(options.workerSecurity),
                ...(options.heartbeatMs ? ['--heartbeat-ms', String(options.heartbeatMs)] : []),
                ...(options.tasksPerThread
                  ? ['--tasks-per-thread', String(options.tasksPerThread)]
                  : []),
                ...(options.workerNice !== undefined ? ['--nice', String(options.workerNice)] : []),
                ...limitArgs(o.limits),
              ],
            }),
          }),
          minWorkers,
          maxWorkers,
          log: o.log,
        });
  const lease = new LeaderLease({
    store: await openLeaseBucket(nc),
    key: autoscalerLeaseKey(o.region),
    holderId: scheduler.schedulerId,
    log: o.log,
  });
  const autoscaler = new Autoscaler({
    transport,
    region: o.region,
    lease,
    actuator,
    registry: o.registry,
    log: o.log,
    schedulerId: scheduler.schedulerId,
    kpa: { minWorkers, maxWorkers },
    queuedDemand: () => scheduler.queued,
  });
  autoscaler.start();
  return autoscaler;
}

function limitArgs(limits: Partial<SandboxLimits> | undefined): string[] {
  if (!limits) return [];
  return [
    ...(limits.cpuMs ? ['--cpu-ms', String(limits.cpuMs)] : []),
    ...(limits.wallMs ? ['--wall-ms', String(limits.wallMs)] : []),
    ...(limits.heapMb ? ['--heap-mb', String(limits.heapMb)] : []),
  ];
}

/**
 * A scheduler or worker role with its admin server (`/healthz`, `/livez`,
 * `/metrics`): ready while the transport is connected and the role is not
 * draining, `/healthz` adding the role's `health()` fields; draining it
 * drains the role, then the transport, then stops the server.
 */
async function withAdmin(
  o: ReturnType<typeof validate>,
  transport: Transport,
  served: {
    role: Role;
    description: string;
    draining: () => boolean;
    health: () => Record<string, unknown>;
    drain: () => Promise<void>;
  },
): Promise<RunningFleet> {
  const admin = await startAdminServer({
    registry: o.registry,
    host: o.host,
    port: o.adminPort,
    liveness: () => o.liveness.check(),
    health: () => ({
      ok: transport.isConnected() && !served.draining(),
      role: served.role,
      region: o.region,
      ...served.health(),
    }),
  });
  return {
    description: served.description,
    url: admin.url,
    adminUrl: admin.url,
    async drain() {
      await served.drain();
      await transport.drain();
      await admin.close();
    },
  };
}
