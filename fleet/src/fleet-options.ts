/**
 * What a fleet process is given: its role, the options shared by the
 * embedded fleet and each role (documented defaults), and their validation.
 *
 * @module
 */
import { join } from 'node:path';
import type { ControlPlane } from '@flotilla/deploy';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  InvalidOptionError,
  isSubjectToken,
  positiveInt,
  wallLimitFor,
} from '@flotilla/protocol';
import type { SandboxLimits } from '@flotilla/runtime';
import type { ShieldOptions } from '@flotilla/shield';
import type { NatsSecurity } from '@flotilla/transport';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { EventLoopWatch } from './liveness.ts';
import type { LogFn } from './log.ts';

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
  cache?:
    | false
    | {
        maxBytes?: number;
        followerWaitMs?: number;
        /** The cache on local disk too (`--cache-dir`, `--cache-disk-mb`); see `EdgeCacheOptions.disk`. */
        disk?: { dir: string; maxBytes?: number };
      };
  /**
   * Shield: requests with `x-flotilla-debug: <token>` bypass the cache.
   * @default none (no request can bypass it)
   */
  debugToken?: string;
  /**
   * Shield: bearer token of the purge API on the admin listener
   * (`POST /purge`, `POST /revalidate`), at least 16 characters.
   * @default none (the API answers 404)
   */
  adminToken?: string;
  /**
   * Shield: `edgio` adds Edgio's `x-0-*` header names beside Flotilla's
   * own (see `ShieldOptions.headerNames`).
   * @default 'flotilla'
   */
  headerNames?: ShieldOptions['headerNames'];
  /**
   * Shield: its cache tier, `both`, `edge` or `global` (see `ShieldOptions.tier`).
   * @default 'both'
   */
  tier?: ShieldOptions['tier'];
  /**
   * Shield: its id (a subject token) in heartbeats, purge acks and, for a
   * global member, the rendezvous order of keys: a stable one (a
   * StatefulSet pod name) keeps a restarted member the owner of the same keys.
   * @default `h-` + 8 random hex characters
   */
  shieldId?: string;
  /**
   * Shield: receives one access line per request (see `ShieldOptions.accessLog`).
   * @default none
   */
  accessLog?: LogFn;
  /** Shield: share of requests below 400 given an access line (0, 1]. @default 1 */
  accessLogSample?: number;
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
   * Scheduler: renders of an app failing by its own fault (limits, render
   * errors) within 10 s, at least half its renders, that put it in the
   * penalty box (its renders paced one at a time; see
   * `SchedulerOptions.penaltyBox`). 0 turns the box off.
   * @default 5
   */
  penaltyBoxFailures?: number;
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
   * Renders a worker holds in flight at once, running or awaiting backend
   * `fetch` calls (which hold no CPU slot); at least threads × tasksPerThread.
   * @default 4 × threads × tasksPerThread
   */
  ioSlots?: number;
  /**
   * Workers: least time in ms between two load updates (the extra heartbeat
   * sent when the count of renders waiting on I/O changes or a render ends,
   * so schedulers see freed CPU slots before the next heartbeat). 0 sends
   * one on every change; higher values send fewer NATS messages under load.
   * @default 50
   */
  loadUpdateMs?: number;
  /**
   * Worker role: nice value added to the worker's render threads (0…19), so
   * that tenants' CPU-bound renders never delay the shields, schedulers and
   * nats-server on a machine they share, nor the worker's own main thread
   * (heartbeats, NATS, answers: see `RenderWorkerOptions.renderNice`). Not
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

/** The options with their defaults, checked. */
export function validate(options: FleetOptions) {
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
    penaltyBoxFailures: options.penaltyBoxFailures,
    registry: options.registry ?? defaultRegistry(),
    log,
    /** The operator's limits, the wall limit below the request deadline. */
    limits: { ...options.limits, wallMs: wall.wallMs },
    liveness: new EventLoopWatch(),
  };
}

export function defaultRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
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
