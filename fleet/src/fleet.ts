import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
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
  purgeFleet,
  SecretKeyring,
} from '@flotilla/deploy';
import { InvalidOptionError, positiveInt, required } from '@flotilla/protocol';
import { assertIsolateHostProcess, type SandboxLimits } from '@flotilla/runtime';
import { PrewarmRelay, RegionProbe, Scheduler } from '@flotilla/scheduler';
import { type FleetPurge, RedirectTables, Shield, SiteDirectory } from '@flotilla/shield';
import { InProcessTransport, NatsTransport, type Transport } from '@flotilla/transport';
import { RenderWorker } from '@flotilla/workers';
import type { NatsConnection } from '@nats-io/transport-node';
import { startAdminServer } from './admin-server.ts';
import {
  type FleetOptions,
  type Role,
  type RoleOptions,
  type RunningFleet,
  validate,
} from './fleet-options.ts';
import { httpSdGroups } from './http-sd.ts';
import { LogTail } from './log-tail.ts';
import { connectNats, securityArgs } from './nats-connection.ts';
import { exportNatsConnected } from './nats-metrics.ts';
import { embeddedSecretKeys, workerSecretKeys } from './secret-keys.ts';

/**
 * The purge API's fleet-wide purge over `nc`. In a secured fleet the shield
 * credential may send purges (the admin token guards the API) and hears the
 * acks in its own inbox.
 */
function fleetPurgeOver(nc: NatsConnection): FleetPurge {
  return (selector, p) => purgeFleet(nc, selector, p);
}

async function startShield(
  transport: Transport,
  o: ReturnType<typeof validate>,
  controlPlane: ControlPlane,
  options: FleetOptions,
  tail?: { shieldId: string; accessTap: (line: Record<string, unknown>) => void },
  purgeVia?: FleetPurge,
): Promise<{ shield: Shield; url: string; adminUrl: string; sites: SiteDirectory }> {
  const sites = new SiteDirectory({
    source: controlPlane,
    previewDomain: o.previewDomain,
    ...(options.domain ? { domain: options.domain } : {}),
    log: o.log,
  });
  await sites.start();
  const redirects = new RedirectTables({ source: controlPlane, log: o.log });
  await redirects.start();
  const shield = new Shield({
    transport,
    region: o.region,
    sites,
    redirects,
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
    ...(options.adminToken ? { adminToken: options.adminToken } : {}),
    // The purge API reaches every shield as `flotilla purge` does.
    ...(purgeVia ? { fleetPurge: purgeVia } : {}),
    ...(options.headerNames ? { headerNames: options.headerNames } : {}),
    ...(options.tier ? { tier: options.tier } : {}),
    ...(options.accessLog ? { accessLog: options.accessLog } : {}),
    ...(tail ? { shieldId: tail.shieldId, accessTap: tail.accessTap } : {}),
    ...(options.accessLogSample !== undefined ? { accessLogSample: options.accessLogSample } : {}),
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
    ...(o.penaltyBoxFailures !== undefined
      ? { penaltyBox: { failures: o.penaltyBoxFailures } }
      : {}),
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
        ...(options.ioSlots ? { ioSlots: options.ioSlots } : {}),
        ...(options.loadUpdateMs !== undefined ? { loadUpdateMs: options.loadUpdateMs } : {}),
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
  exportNatsConnected(o.registry, role, () => transport.isConnected());
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
      // `flotilla logs`: the shield's access lines, kept and tailed over NATS.
      // A stable id (`--shield-id`) keeps a global member's keys across restarts.
      const shieldId = options.shieldId ?? `h-${randomBytes(4).toString('hex')}`;
      const tail = new LogTail({
        connection: nc,
        role,
        id: shieldId,
        region: o.region,
        log: o.log,
      });
      const { shield, url, adminUrl, sites } = await startShield(
        transport,
        o,
        controlPlane,
        options,
        { shieldId, accessTap: (line) => tail.record('access', line) },
        fleetPurgeOver(nc),
      );
      tail.start();
      return {
        description: `shield ${shieldId} (region ${o.region}${options.tier && options.tier !== 'both' ? `, tier ${options.tier}` : ''}, nats ${options.nats}, admin ${adminUrl})`,
        url,
        adminUrl,
        async drain() {
          await shield.drain();
          sites.stop();
          tail.close();
          await transport.drain();
        },
      };
    }
    if (role === 'scheduler') {
      const { scheduler, drain: drainScheduler } = startScheduler(transport, o);
      const autoscaler = await startAutoscaler(nc, transport, scheduler, o, options);
      return withAdmin(o, transport, {
        role,
        // Prometheus http_sd: the worker processes a local autoscaler runs (random admin ports).
        json: {
          '/http-sd': (request) =>
            httpSdGroups(autoscaler?.scrapeTargets() ?? [], {
              region: o.region,
              schedulerId: scheduler.schedulerId,
              request,
            }),
        },
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
    // Only the render threads: this process's main thread heartbeats and answers (routing).
    const nice = options.workerNice ?? 5;
    // `flotilla logs`: the bundles' console lines, kept and tailed over NATS.
    let tail: LogTail | undefined;
    const worker = new RenderWorker({
      transport,
      region: o.region,
      bundles: bundleStore(controlPlane, o, secretKeys ?? new SecretKeyring([])),
      registry: o.registry,
      log: o.log,
      appLog: (line) => {
        o.log(line);
        tail?.record('app', line);
      },
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.tasksPerThread ? { tasksPerThread: options.tasksPerThread } : {}),
      ...(options.ioSlots ? { ioSlots: options.ioSlots } : {}),
      renderNice: nice,
      ...(options.loadUpdateMs !== undefined ? { loadUpdateMs: options.loadUpdateMs } : {}),
      limits: o.limits,
      ...(options.heartbeatMs ? { heartbeatIntervalMs: options.heartbeatMs } : {}),
    });
    await worker.start();
    tail = new LogTail({ connection: nc, role, id: worker.workerId, region: o.region, log: o.log });
    tail.start();
    const workerTail = tail;
    return withAdmin(o, transport, {
      role,
      description: `worker ${worker.workerId} (region ${o.region}, render threads at nice +${nice})`,
      draining: () => worker.draining,
      health: () => ({
        inFlight: worker.inFlight,
        capacity: worker.capacity,
        warm: worker.warm(),
      }),
      drain: async () => {
        await worker.drain();
        workerTail.close();
      },
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
                ...(options.ioSlots ? ['--io-slots', String(options.ioSlots)] : []),
                ...(options.loadUpdateMs !== undefined
                  ? ['--load-update-ms', String(options.loadUpdateMs)]
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
    json?: Record<string, (req: IncomingMessage) => unknown>;
  },
): Promise<RunningFleet> {
  const admin = await startAdminServer({
    registry: o.registry,
    host: o.host,
    port: o.adminPort,
    ...(served.json ? { json: served.json } : {}),
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
