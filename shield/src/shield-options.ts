/**
 * The options of the shield, with their defaults.
 *
 * @module
 */

import type { LogFn, ShieldTier } from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import type { Registry } from 'prom-client';
import type { FleetPurge } from './admin-api.ts';
import type { EdgeCacheOptions } from './cache/edge-cache.ts';
import type { EdgeRoutesOptions } from './edge-routes.ts';
import type { HeaderNames } from './edgio-headers.ts';
import type { FrontDoorOptions } from './front-door/front-door.ts';
import type { Liveness } from './own-pages.ts';
import type { RedirectTables } from './redirect-tables.ts';
import type { SiteDirectory } from './site-directory.ts';

/** Options of {@link Shield}. */
export interface ShieldOptions {
  /** Transport to the region's schedulers. */
  transport: Transport;
  /**
   * Receives one access line per request (`msg: 'access'`: time, request
   * and trace ids, client IP, method, host, path, status, bytes, cache
   * status and tier, app, environment, deployment, region, worker, stage
   * timings). @default none (no access log)
   */
  accessLog?: LogFn;
  /**
   * Receives every access line, unsampled, whether or not `accessLog` is
   * set (the fleet keeps them for `flotilla logs`). @default none
   */
  accessTap?: LogFn;
  /**
   * Share of the requests answered below 400 that get an access line,
   * `0 < accessLogSample ≤ 1` (4xx and 5xx are always logged). @default 1
   */
  accessLogSample?: number;
  /** Region whose schedulers receive the misses. */
  region: string;
  /**
   * Environments, preview hosts and static assets from the control plane
   * (kept current by watch).
   * @default none: the shield serves only its own pages
   */
  sites?: SiteDirectory;
  /**
   * The environments' redirect tables (`flotilla redirects import`): a
   * request whose path is in its environment's table is answered here with
   * the redirect, before routes, assets and the cache. The shield stops
   * its watch when it drains.
   * @default none
   */
  redirects?: RedirectTables;
  /**
   * The L2 cache in front of the control plane's sites (routes with cache
   * options, keys, coalescing, stale serving); `false` forwards every
   * request.
   * @default enabled with the defaults of {@link EdgeCacheOptions}
   */
  cache?: EdgeCacheOptions | false;
  /**
   * Routes answered at the edge, with the cache on: `redirect()` and
   * `proxy()` to a declared backend (without code in its options) are
   * answered here from the manifest, with no render; the backend's pool and
   * timeouts. `false`: the bundle answers them (a render each).
   * @default enabled with the defaults of {@link EdgeRoutesOptions}
   */
  edgeRoutes?: EdgeRoutesOptions | false;
  /**
   * Bearer token of the purge API on the admin listener (`POST /purge`,
   * `POST /revalidate`), at least 16 characters.
   * @default none: the API answers 404
   */
  adminToken?: string;
  /**
   * How the purge API reaches every shield: `purgeFleet` of
   * `@flotilla/deploy` over the fleet's NATS connection.
   * @default this shield only (one process, the embedded fleet)
   */
  fleetPurge?: FleetPurge;
  /**
   * The front door for third-party CDNs: the public host every redirect
   * uses, an optional HTTP→HTTPS redirect, the trusted proxies whose client
   * IP and geo headers are believed, and the request limits (URL 16 KB,
   * headers 32 KB). The body limit is `maxRequestBodyBytes`.
   * @default no public host, no redirect, no trusted proxy, default limits
   */
  frontDoor?: Omit<FrontDoorOptions, 'maxBodyBytes' | 'isServedHost'>;
  /**
   * A request carrying `x-flotilla-debug: <debugToken>` is never served from
   * nor stored in the cache (and says so). Without a token, no request is a
   * debug request: a client cannot make the shield bypass its cache.
   * @default none
   */
  debugToken?: string;
  /**
   * `edgio` adds Edgio's header names beside Flotilla's own, for apps and
   * tools ported from Edgio: `x-0-caching-status` and `x-0-t` on answers;
   * `x-0-device`, `x-0-browser`, `x-0-client-ip`, `x-0-geo-*` and
   * `x-0-original-qs` on the requests renders see; `x-0-debug` works as
   * `x-flotilla-debug`. The hot-hit fast path is off with it (each answer's
   * `x-0-t` is its own).
   * @default 'flotilla'
   */
  headerNames?: HeaderNames;
  /**
   * Interface to listen on.
   * @default '127.0.0.1'
   */
  host?: string;
  /**
   * Port to listen on; 0 picks a free one.
   * @default 3000
   */
  port?: number;
  /**
   * Port of the admin listener (on `host`): `/healthz`, `/livez`,
   * `/metrics` and the index of every environment served, which the traffic
   * port never answers. 0 picks a free one.
   * @default 0
   */
  adminPort?: number;
  /**
   * Deadline of a request, from arrival at the shield, in ms.
   * @default 10000
   */
  requestTimeoutMs?: number;
  /**
   * Largest request body accepted, in bytes (413 past it). Never more than
   * the transport carries in one message (NATS `max_payload` less 64 KiB).
   * @default 1048576
   */
  maxRequestBodyBytes?: number;
  /**
   * Region tried when the primary has no scheduler at all (no responders).
   * Failovers show in `Server-Timing` (`region;desc=…`) and
   * `flotilla_shield_failovers_total`.
   * @default none
   */
  secondaryRegion?: string;
  /**
   * Id of this shield, for the subject schedulers acknowledge requests on.
   * @default `h-` + 8 random hex characters
   */
  shieldId?: string;
  /**
   * A request no scheduler acknowledged within this long is taken as lost
   * with its scheduler: GET/HEAD are sent again once, others fail with
   * `FLOTILLA_ERR_SCHEDULER_LOST`.
   * @default 2000
   */
  ackTimeoutMs?: number;
  /**
   * What `/livez` answers: liveness only (a process that stopped
   * responding), unlike `/healthz` which is readiness.
   * @default always live
   */
  liveness?: Liveness;
  /**
   * On drain, how long connections already open may still bring requests
   * (each answered with `Connection: close`) before idle ones are closed. A
   * request already on its way over a kept-alive connection when SIGTERM
   * comes is then served, not reset.
   * @default 1000
   */
  drainGraceMs?: number;
  /**
   * Requests that are not a hit answered at once (misses, passes, stale or
   * cold hits) run in slices of about this many ms between turns of the
   * event loop (see `miss-queue.ts`): a burst of misses holds the hits read
   * meanwhile for one slice, not for the whole burst.
   * @default 2
   */
  missSliceMs?: number;
  /**
   * The shield's cache tier. `both`: one tier, this shield's cache renders
   * its misses through the regions. `edge` (L1): its misses (and
   * revalidations) go to the live global member that owns the key
   * (rendezvous hashing over the members' heartbeats), the next one when
   * that member is gone; `Cache-Status` names it `flotilla-edge` and
   * carries the global member's entry. `global` (L2): answers the edges'
   * misses of the keys it owns, one coalesced render per key fleet-wide;
   * `Cache-Status` names it `flotilla-global`. Both need the cache on.
   * @default 'both'
   */
  tier?: ShieldTier;
  /**
   * Global members only: for this long after the live members changed, a
   * miss first asks the member that held the key until then for its copy
   * (keys moving back to a member that returned cost no renders).
   * @default 60000
   */
  tierHandBackMs?: number;
  /** prom-client registry served at `/metrics` on the admin listener. @default a private Registry */
  registry?: Registry;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}
