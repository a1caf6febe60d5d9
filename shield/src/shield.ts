import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type CacheKeySpec,
  computeCacheKey,
  type Manifest,
  type MatchRequest,
  matchRoutes,
  normalizeAcceptEncoding,
  normalizeQuery,
} from '@flotilla/manifest';
import {
  decodeRenderResult,
  decodeSchedulerAck,
  decodeSchedulerBeat,
  encodeRenderRequest,
  errorStatus,
  InvalidOptionError,
  nextTraceparent,
  nonNegativeInt,
  positiveInt,
  type RegionSubjects,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  required,
  type StageTimings,
  topLevelMs,
  toWireError,
} from '@flotilla/protocol';
import { type Subscription, type Transport, WIRE_HEADROOM_BYTES } from '@flotilla/transport';
import { Registry } from 'prom-client';
import {
  type CacheRequest,
  EdgeCache,
  type EdgeCacheOptions,
  type OriginMode,
} from './cache/edge-cache.ts';
import {
  browserHeaders,
  CACHE_STATUS_HEADER,
  CACHING_STATUS_HEADER,
  variantHeaders,
} from './cache/headers.ts';
import { PurgeResponder } from './cache/purge-responder.ts';
import type { CacheEntry } from './cache/types.ts';
import { ShieldError } from './errors.ts';
import { FrontDoor, type FrontDoorOptions } from './front-door/front-door.ts';
import {
  HOP_BY_HOP_HEADERS,
  headerRecord,
  withConnectionNamed,
} from './front-door/upstream-headers.ts';
import { type ShieldMetrics, shieldMetrics } from './metrics.ts';
import { type AppRoute, hostOnly, matchRoute, validateApps } from './routes.ts';
import type { SiteDirectory, SiteTarget } from './site-directory.ts';
import { SplitAssigner } from './split.ts';

/** Options of {@link Shield}. */
export interface ShieldOptions {
  /** Transport to the region's schedulers. */
  transport: Transport;
  /** Region whose schedulers receive the misses. */
  region: string;
  /**
   * Apps served, by host and path prefix, each pinned to one deployment
   * (static routing; tests and single-machine setups).
   * @default []
   */
  apps?: AppRoute[];
  /**
   * Environments, preview hosts and static assets from the control plane
   * (kept current by watch). Consulted when no entry of `apps` matches.
   * @default none
   */
  sites?: SiteDirectory;
  /**
   * The L2 cache in front of the control plane's sites (routes with cache
   * options, keys, coalescing, stale serving); `false` forwards every
   * request. Static `apps` are never cached.
   * @default enabled with the defaults of {@link EdgeCacheOptions}
   */
  cache?: EdgeCacheOptions | false;
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
  liveness?: () => { ok: boolean; [k: string]: unknown };
  /**
   * On drain, how long connections already open may still bring requests
   * (each answered with `Connection: close`) before idle ones are closed. A
   * request already on its way over a kept-alive connection when SIGTERM
   * comes is then served, not reset.
   * @default 1000
   */
  drainGraceMs?: number;
  /** prom-client registry served at `/metrics`. @default a private Registry */
  registry?: Registry;
  /** Structured log sink. @default no logging */
  log?: (line: Record<string, unknown>) => void;
}

// Hop-by-hop headers (RFC 9110 §7.6.1), and the framing and routing headers
// the shield sets itself, never cross the shield.
const HOP_BY_HOP = new Set([...HOP_BY_HOP_HEADERS, 'host', 'content-length', 'x-forwarded-prefix']);

/**
 * Headers of a response's header list that must not be forwarded: the
 * fixed set plus every header its own `Connection` headers name.
 */
function hopByHopOf(list: ReadonlyArray<readonly [string, string]>): ReadonlySet<string> {
  const connection = list
    .filter(([k]) => k.toLowerCase() === 'connection')
    .map(([, v]) => v)
    .join(',');
  return withConnectionNamed(HOP_BY_HOP, connection);
}

/** Where one request goes. */
interface Destination {
  app: string;
  deploymentId: string;
  environment: string | undefined;
  /** Path (with query) the app sees. */
  path: string;
  prefix: string;
  primary: string;
  secondary: string | undefined;
  /** The control-plane site, for static assets; absent for static apps. */
  target: SiteTarget | undefined;
}

/** A hit the hot path may serve again (see `Shield.#hot`). */
interface HotHit {
  /** The site snapshot it was resolved in: any environment change ends it. */
  snapshot: object;
  key: string;
  entry: CacheEntry;
  status: number;
  /** Response headers, flat (name, value, …), without `age` and `cache-status`. */
  head: string[];
  body: Uint8Array;
  app: string;
  /**
   * `head` with `age` and `cache-status` for the second they were made in:
   * both change once a second, so a popular page builds them once a second,
   * not once a request.
   */
  sent?: { age: number; ttl: number; head: string[] };
}

/** `If-None-Match` against an ETag, by weak comparison (RFC 9110 §13.1.2). */
function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const wanted = opaque(etag);
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === wanted);
}

const ENCODINGS = new Map<string, string>();

/** `accept-encoding` as the key holds it, remembered for the few values clients send. */
function encodingOf(header: string | string[] | undefined): string {
  const raw = Array.isArray(header) ? header.join(',') : (header ?? '');
  let encoding = ENCODINGS.get(raw);
  if (encoding === undefined) {
    encoding = normalizeAcceptEncoding(raw);
    if (ENCODINGS.size >= 256) ENCODINGS.clear();
    ENCODINGS.set(raw, encoding);
  }
  return encoding;
}

const DYNAMIC_HIT_HEADERS = new Set(['age', 'cache-status', 'server-timing']);

/** A header record as the flat list `writeHead` takes, minus the per-hit headers. */
function flatHeaders(headers: Record<string, string | string[]>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (DYNAMIC_HIT_HEADERS.has(name)) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** A key with nothing but host, path, query and encoding (what the hot signature holds). */
function isPlainKey(spec: CacheKeySpec | undefined): boolean {
  return (
    spec === undefined ||
    (spec.cookies.length === 0 && spec.headers.length === 0 && !spec.device && !spec.browser)
  );
}

const READS_HEADERS = new WeakMap<Manifest, boolean>();

/** True when some route of the manifest matches on headers or cookies. */
function routesReadHeaders(manifest: Manifest): boolean {
  let reads = READS_HEADERS.get(manifest);
  if (reads === undefined) {
    reads = manifest.routes.some((r) => r.criteria.headers || r.criteria.cookies);
    READS_HEADERS.set(manifest, reads);
  }
  return reads;
}

/** How a cached request is sent upstream (built from the allow-list). */
interface Upstream {
  method: string;
  /** Path and (normalised) query the app sees. */
  path: string;
  headers: Array<[string, string]>;
  traceparent: string;
  signal: AbortSignal;
}

/** Methods a shield may send again after the scheduler holding them died. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

const EMPTY_BODY = new Uint8Array(0);

/** Response headers that stay inside the fleet: cache tags are for purges, not clients. */
const INTERNAL_RESPONSE_HEADERS = new Set(['surrogate-key', 'cache-tag']);

/** The port of a `Host` header (`''` for none). */
function hostPort(hostHeader: string): string {
  const m = /:(\d+)$/.exec(hostHeader.trim());
  return m?.[1] ?? '';
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

function serverTiming(timings: StageTimings): string {
  return Object.entries(timings)
    .map(([stage, ms]) => `${stage};dur=${ms.toFixed(2)}`)
    .join(', ');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The L2 HTTP gateway. Matches each request to an app by host or path
 * prefix and sends it to the region's schedulers as a render request with a
 * deadline and a trace id. (Caching arrives with the shield issue; today
 * every request is forwarded.) Serves `/healthz` and `/metrics` on hosts
 * that are not an app's.
 *
 * @example
 * const shield = new Shield({ transport, region: 'local', apps, port: 3000 });
 * const { url } = await shield.listen();
 */
export class Shield {
  readonly region: string;
  readonly #transport: Transport;
  readonly #subjects: RegionSubjects;
  readonly #host: string;
  readonly #port: number;
  #boundPort: number;
  readonly #timeoutMs: number;
  readonly #maxBody: number;
  readonly #registry: Registry;
  readonly #metrics: ShieldMetrics;
  readonly #log: (line: Record<string, unknown>) => void;
  readonly #server: Server;
  #apps: AppRoute[];
  readonly #sites: SiteDirectory | undefined;
  readonly #cache: EdgeCache | undefined;
  readonly #debugToken: string | undefined;
  readonly #frontDoor: FrontDoor;
  /**
   * Hits a full pass has already resolved, by request signature (method,
   * Host, URL, normalised accept-encoding), for requests nothing else can
   * change: no keyed cookie, header, device or browser, no split test, no
   * route matching on headers or cookies. Valid only for the site snapshot
   * and the stored entry it was made from.
   */
  readonly #hot = new Map<string, HotHit>();
  /** Per app, the metric children a hot hit counts with. */
  readonly #hotMetrics = new Map<
    string,
    {
      requests: { inc(n?: number): void };
      seconds: { observe(v: number): void };
      /** Hot hits not yet added to `requests` (added when the metrics are read). */
      uncounted: number;
    }
  >();
  readonly #splits: SplitAssigner;
  #purge: PurgeResponder | undefined;
  /** Regions whose scheduler heartbeats and acks this shield follows. */
  readonly #regions = new Map<string, RegionSubjects>();
  readonly #secondary: { region: string; subjects: RegionSubjects } | undefined;
  readonly #shieldId: string;
  readonly #ackTimeoutMs: number;
  /** Last heartbeat of each scheduler seen: its time and interval. */
  readonly #schedulers = new Map<string, { seen: number; intervalMs: number }>();
  /** Requests waiting on a scheduler, by request id. */
  readonly #pending = new Map<
    string,
    { schedulerId?: string; sentAt: number; controller: AbortController }
  >();
  readonly #subs: Subscription[] = [];
  readonly #liveness: () => { ok: boolean; [k: string]: unknown };
  #sweep: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #idle: Array<() => void> = [];
  #draining = false;
  readonly #drainGraceMs: number;
  readonly #sockets = new Set<import('node:net').Socket>();
  /** Sockets accepted after the drain began: they get 503, not service. */
  readonly #lateSockets = new WeakSet<import('node:net').Socket>();
  #drained: Promise<void> | undefined;

  constructor(options: ShieldOptions) {
    this.#transport = required('transport', options?.transport);
    this.region = options.region;
    this.#subjects = regionSubjects(options.region);
    this.#apps = options.apps ?? [];
    validateApps(this.#apps);
    this.#sites = options.sites;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = nonNegativeInt('port', options.port, 3000);
    if (this.#port > 65535) throw new InvalidOptionError('port', 'must be at most 65535');
    this.#boundPort = this.#port;
    this.#timeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs, 10_000);
    this.#maxBody = positiveInt('maxRequestBodyBytes', options.maxRequestBodyBytes, 1024 * 1024);
    this.#registry = options.registry ?? new Registry();
    this.#metrics = shieldMetrics(this.#registry);
    this.#metrics.beforeRead.add(this.#countHotHits);
    this.#cache =
      options.cache === false
        ? undefined
        : new EdgeCache({
            ...(options.cache ?? {}),
            registry: this.#registry,
            ...(options.log ? { log: options.log } : {}),
          });
    this.#debugToken = options.debugToken;
    this.#splits = new SplitAssigner();
    this.#frontDoor = new FrontDoor({
      ...(options.frontDoor ?? {}),
      maxBodyBytes: this.#maxBody,
      isServedHost: (host) => this.#servesHost(host),
    });
    this.#log = options.log ?? (() => {});
    this.#secondary =
      options.secondaryRegion === undefined
        ? undefined
        : { region: options.secondaryRegion, subjects: regionSubjects(options.secondaryRegion) };
    if (this.#secondary?.region === this.region) {
      throw new InvalidOptionError('secondaryRegion', 'must differ from region');
    }
    this.#shieldId = options.shieldId ?? `h-${randomBytes(4).toString('hex')}`;
    this.#subjects.ack(this.#shieldId); // validates the id
    this.#ackTimeoutMs = positiveInt('ackTimeoutMs', options.ackTimeoutMs, 2000);
    this.#liveness = options.liveness ?? (() => ({ ok: true }));
    this.#drainGraceMs = nonNegativeInt('drainGraceMs', options.drainGraceMs, 1000);
    this.#server = createServer(
      { maxHeaderSize: this.#frontDoor.serverMaxHeaderSize },
      (req, res) => {
        const started = now();
        // The front door and the hot hits answer at once, synchronously:
        // nothing of theirs is in flight for a drain to wait for.
        if (this.#answerAtOnce(req, res, started)) return;
        this.#inFlight++;
        res.on('close', () => {
          this.#inFlight--;
          if (this.#inFlight === 0) for (const f of this.#idle.splice(0)) f();
        });
        this.#serve(req, res, started).catch((err) => {
          this.#log({ msg: 'shield failure', error: toWireError(err) });
          if (!res.headersSent) this.#sendError(res, 'FLOTILLA_ERR_INTERNAL', 'internal error', '');
          else res.destroy();
        });
      },
    );
    this.#server.on('clientError', (err, socket) => this.#frontDoor.handleClientError(err, socket));
    this.#server.keepAliveTimeout = 5000;
    this.#server.on('connection', (socket) => {
      if (this.#draining) this.#lateSockets.add(socket);
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  /** Replaces the app list (takes effect for the next request). */
  setApps(apps: AppRoute[]): void {
    validateApps(apps);
    this.#apps = apps;
  }

  #watchSchedulers(): void {
    if (this.#sweep) return;
    this.#follow(this.region);
    if (this.#secondary) this.#follow(this.#secondary.region);
    this.#sweep = setInterval(() => this.#sweepLost(), 100);
    this.#sweep.unref();
  }

  /** Subjects of `region`, following its schedulers' heartbeats and acks from now on. */
  #follow(region: string): RegionSubjects {
    let subjects = this.#regions.get(region);
    if (subjects) return subjects;
    subjects = region === this.region ? this.#subjects : regionSubjects(region);
    this.#regions.set(region, subjects);
    this.#subs.push(
      this.#transport.subscribe(subjects.schedulerHeartbeat, (msg) => {
        try {
          const beat = decodeSchedulerBeat(msg);
          this.#schedulers.set(beat.schedulerId, {
            seen: Date.now(),
            intervalMs: beat.intervalMs,
          });
        } catch {
          // a malformed heartbeat is ignored
        }
      }),
      this.#transport.subscribe(subjects.ack(this.#shieldId), (msg) => {
        try {
          const ack = decodeSchedulerAck(msg);
          const pending = this.#pending.get(ack.requestId);
          if (pending) pending.schedulerId = ack.schedulerId;
          if (!this.#schedulers.has(ack.schedulerId)) {
            this.#schedulers.set(ack.schedulerId, { seen: Date.now(), intervalMs: 1000 });
          }
        } catch {
          // a malformed ack is ignored
        }
      }),
    );
    return subjects;
  }

  /** Fails the requests whose scheduler died (or that no scheduler took). */
  #sweepLost(): void {
    const t = Date.now();
    for (const [requestId, p] of this.#pending) {
      let why: string | undefined;
      if (p.schedulerId === undefined) {
        if (t - p.sentAt > this.#ackTimeoutMs) {
          why = `no scheduler acknowledged request ${requestId} within ${this.#ackTimeoutMs} ms`;
        }
      } else {
        const beat = this.#schedulers.get(p.schedulerId);
        if (beat && t - beat.seen > Math.max(250, 2.5 * beat.intervalMs)) {
          why = `scheduler ${p.schedulerId} stopped heartbeating with request ${requestId} in flight`;
        }
      }
      if (why) {
        this.#pending.delete(requestId);
        p.controller.abort(new ShieldError('FLOTILLA_ERR_SCHEDULER_LOST', why));
      }
    }
  }

  /** Starts listening; resolves with the URL served. */
  listen(): Promise<{ url: string; port: number }> {
    this.#watchSchedulers();
    const cache = this.#cache;
    if (cache && !this.#purge) {
      this.#purge = new PurgeResponder({
        transport: this.#transport,
        shieldId: this.#shieldId,
        region: this.region,
        purge: (selector) => cache.purge(selector),
        registry: this.#registry,
        log: this.#log,
      });
      this.#purge.start();
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.#server.once('error', onError);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', onError);
        const { port } = this.#server.address() as AddressInfo;
        this.#boundPort = port;
        resolve({ url: `http://${this.#host}:${port}`, port });
      });
    });
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Front-door rejections and redirects, and hot hits; true when answered. */
  #answerAtOnce(req: IncomingMessage, res: ServerResponse, started: number): boolean {
    const rejection = this.#frontDoor.check(req);
    if (rejection) {
      this.#sendError(res, rejection.code, rejection.message, '', { connection: 'close' });
      this.#count('none', rejection.status, started, rejection.code);
      req.resume();
      return true;
    }
    const redirect = this.#frontDoor.redirectFor(req);
    if (redirect) {
      res.writeHead(redirect.status, { location: redirect.location, 'content-length': '0' });
      res.end();
      this.#count('none', redirect.status, started);
      return true;
    }
    return this.#hot.size > 0 && !this.#draining && this.#serveHotHit(req, res, started);
  }

  async #serve(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    const rawPath = req.url ?? '/';
    const hostHeader = req.headers.host ?? '';
    let route: Destination | undefined;
    try {
      route = await this.#destination(hostHeader, rawPath);
    } catch (err) {
      const wire = toWireError(err);
      this.#sendError(res, wire.code, wire.message, '');
      this.#count('none', errorStatus(wire.code), started, wire.code);
      return;
    }
    if (!route) {
      this.#serveOwn(req, res, rawPath, hostHeader);
      return;
    }
    const appName = route.app;
    try {
      // Draining: still answer what arrives on connections opened before, and
      // close them after; a connection opened since is turned away.
      if (this.#draining) {
        res.setHeader('connection', 'close');
        if (this.#lateSockets.has(req.socket)) {
          throw new ShieldError('FLOTILLA_ERR_DRAINING', 'shield is shutting down');
        }
      }
      if (route.target && (await this.#serveAsset(req, res, route))) {
        this.#count(appName, res.statusCode, started);
        return;
      }
      const body = await this.#readBody(req);
      if (route.target && this.#cache) {
        await this.#serveCached(req, res, route, route.target, this.#cache, body, started);
        return;
      }
      const { result, region } = await this.#forward(req, route, body, started);
      const timings = { ...result.timings };
      timings.shield = Math.max(0, now() - started - topLevelMs(result.timings));
      // A failover shows in Server-Timing as the region that answered.
      const regionTiming = region ? `, region;desc="${region}"` : '';
      if (result.ok) {
        const headers: Record<string, string | string[]> = {};
        const skip = hopByHopOf(result.headers);
        for (const [k, v] of result.headers) {
          const name = k.toLowerCase();
          if (skip.has(name)) continue;
          const prev = headers[name];
          if (prev === undefined) headers[name] = v;
          else headers[name] = Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        this.#rewriteLocation(headers, req);
        headers['server-timing'] = serverTiming(timings) + regionTiming;
        // 204 and 304 carry no body and must not announce one.
        if (result.status !== 204 && result.status !== 304) {
          headers['content-length'] = String(result.body.byteLength);
        }
        res.writeHead(result.status, headers);
        res.end(req.method === 'HEAD' ? undefined : result.body);
        this.#count(appName, result.status, started);
      } else {
        this.#sendError(
          res,
          result.error.code,
          result.error.message,
          serverTiming(timings) + regionTiming,
        );
        this.#count(appName, errorStatus(result.error.code), started, result.error.code);
      }
    } catch (err) {
      const wire = toWireError(err);
      this.#sendError(res, wire.code, wire.message, '');
      this.#count(appName, errorStatus(wire.code), started, wire.code);
    }
  }

  #count(app: string, status: number, started: number, code?: string, cache = 'none'): void {
    this.#metrics.requests.inc({ app, status: String(status), region: this.region, cache });
    this.#metrics.requestSeconds.observe({ app, region: this.region }, (now() - started) / 1000);
    if (code) this.#metrics.errors.inc({ code, region: this.region });
  }

  /**
   * A request to a control-plane site: route match on its manifest, cache
   * key, then the L2 cache (hit, stale, coalesced miss, pass), and the
   * response with its caching headers.
   */
  async #serveCached(
    req: IncomingMessage,
    res: ServerResponse,
    route: Destination,
    target: SiteTarget,
    cache: EdgeCache,
    body: Uint8Array,
    started: number,
  ): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(route.path, 'http://shield.invalid');
    const query = url.search.slice(1);
    const record = headerRecord(req.rawHeaders);
    // A split test: a sticky (cookie) draw picks the deployment, and the
    // destination is part of the key.
    let manifest = target.manifest;
    let splitDestination: string | undefined;
    let setCookie: string | undefined;
    if (target.split && target.environment) {
      const assigned = this.#splits.assign({
        app: target.app,
        environment: target.environment,
        split: target.split,
        ...(record.cookie !== undefined ? { cookieHeader: record.cookie } : {}),
      });
      const chosen = target.splitManifests.get(assigned.deploymentId);
      if (chosen) {
        manifest = chosen;
        route = { ...route, deploymentId: assigned.deploymentId };
        splitDestination = assigned.destination;
        setCookie = assigned.setCookie;
      }
    }
    const host = hostOnly(req.headers.host ?? '');
    const matchReq: MatchRequest = { method, host, path: url.pathname, query, headers: record };
    const decision = matchRoutes(manifest.routes, matchReq);
    const spec = decision.cache?.key;
    const agent = this.#frontDoor.classify(req);
    const postCacheable =
      method === 'POST' &&
      decision.terminal?.criteria.method?.includes('POST') === true &&
      decision.cache?.edge !== undefined &&
      decision.cache.edge !== false;
    // What the client asked for, prefix included; a cacheable POST's body is part of it.
    let key = computeCacheKey(
      spec,
      { ...matchReq, path: `${route.prefix}${url.pathname}` },
      {
        environment: `${target.cacheNamespace}@${route.deploymentId}`,
        device: agent.device,
        browser: agent.browser,
        ...(splitDestination !== undefined ? { splitDestination } : {}),
      },
    );
    // The Host header's port reaches the render (in request.url): key it too.
    const port = hostPort(req.headers.host ?? '');
    if (port) key += `|port=${port}`;
    if (postCacheable) {
      const type = record['content-type'] ?? '';
      key += `|post=${createHash('sha256').update(type).update('\n').update(body).digest('hex')}`;
    }
    const keyQuery = normalizeQuery(query, spec);
    const cacheReq: CacheRequest = {
      key,
      method,
      route: decision.cache,
      debug: this.#debugToken !== undefined && record['x-flotilla-debug'] === this.#debugToken,
      postCacheable,
      requestBodyBytes: body.byteLength,
      setCookieRemoved: decision.headerOps.some(
        (op) =>
          (op.op === 'removeUpstreamResponse' || op.op === 'removeResponse') &&
          op.name.toLowerCase() === 'set-cookie',
      ),
      app: target.app,
      environment: target.environment ?? '',
      path: url.pathname,
      // As `flotilla purge --url` names it: the client's host and path, and the
      // query as the key holds it (sorted, excluded parameters left out).
      url: `${host}${route.prefix}${url.pathname}${keyQuery === '' ? '' : `?${keyQuery}`}`,
    };
    const upstream = (mode: OriginMode, signal: AbortSignal): Upstream => {
      // A render that may be stored continues the client's trace only when a
      // trusted proxy sent it: the trace id is the client's choice, and the
      // app may write it into the page everyone else then gets.
      const continued =
        mode === 'pass' || this.#frontDoor.clientInfo(req).viaTrustedProxy
          ? record.traceparent
          : undefined;
      const traceparent = nextTraceparent(continued);
      const extra: Array<[string, string]> = [['traceparent', traceparent]];
      if (route.prefix) extra.push(['x-forwarded-prefix', route.prefix]);
      if (mode === 'pass') {
        // Who asked, as the front door believes it: never part of a cached page.
        const client = this.#frontDoor.clientInfo(req);
        extra.push(['x-flotilla-client-ip', client.ip]);
        for (const [name, value] of Object.entries(client.geo)) extra.push([name, value]);
      }
      let path = route.path;
      let upstreamMethod = method;
      if (mode === 'cache') {
        // The app sees the query as the key holds it (sorted, excluded
        // parameters removed), and a HEAD as a GET so the copy has a body.
        path = `${url.pathname}${keyQuery === '' ? '' : `?${keyQuery}`}`;
        if (spec?.query.mode === 'exclude' && query !== '') {
          extra.push(['x-flotilla-original-query', query]);
        }
        if (method === 'HEAD') upstreamMethod = 'GET';
      }
      return {
        method: upstreamMethod,
        path,
        // The front door's list drops the client-IP and geo headers too: only
        // its own (believed) values, in `extra`, reach the app.
        headers: this.#frontDoor.upstreamHeaders(req, {
          mode,
          keySpec: spec,
          withBody: postCacheable,
          extra,
        }),
        traceparent,
        signal,
      };
    };
    const answer = await cache.serve(cacheReq, (mode, signal) =>
      this.#forward(
        req,
        route,
        method === 'HEAD' ? EMPTY_BODY : body,
        started,
        upstream(mode, signal),
      ),
    );

    const cacheLabel = answer.outcome;
    const caching: Record<string, string> = {
      [CACHE_STATUS_HEADER]: answer.cacheStatus,
      [CACHING_STATUS_HEADER]: answer.cachingStatus,
    };
    const timings = answer.timings ? { ...answer.timings } : {};
    timings.shield = Math.max(0, now() - started - topLevelMs(timings));
    const timing =
      serverTiming(timings) + (answer.region ? `, region;desc="${answer.region}"` : '');
    if (answer.kind === 'error') {
      this.#sendError(res, answer.error.code, answer.error.message, timing, {
        ...caching,
        ...(answer.retryAfterSeconds !== undefined
          ? { 'retry-after': String(answer.retryAfterSeconds) }
          : {}),
      });
      this.#count(
        route.app,
        errorStatus(answer.error.code),
        started,
        answer.error.code,
        cacheLabel,
      );
      return;
    }
    let list: ReadonlyArray<readonly [string, string]>;
    let out: Uint8Array;
    if (answer.entry) {
      const encoded = cache.store.body(answer.entry, record['accept-encoding'] ?? '');
      out = encoded.body;
      list = variantHeaders(answer.entry.headers, encoded.encoding, out.byteLength);
    } else {
      out = answer.response.body;
      list = answer.response.headers;
    }
    const skip = hopByHopOf(list);
    const headers: Record<string, string | string[]> = {};
    const upstreamCacheControl: string[] = [];
    for (const [k, v] of list) {
      const name = k.toLowerCase();
      if (skip.has(name) || INTERNAL_RESPONSE_HEADERS.has(name)) continue;
      if (name === 'cache-control') {
        upstreamCacheControl.push(v);
        continue;
      }
      const prev = headers[name];
      if (prev === undefined) headers[name] = v;
      else headers[name] = Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    this.#rewriteLocation(headers, req);
    // A response the app marked private (or that sets a cookie) keeps its own
    // cache-control: the route's browser lifetime must not make a CDN in
    // front store it.
    const personal = answer.cachingStatus === 'private' || answer.cachingStatus === 'set-cookie';
    const browser = browserHeaders(personal ? undefined : decision.cache, upstreamCacheControl);
    if (browser.cacheControl !== undefined) headers['cache-control'] = browser.cacheControl;
    if (browser.swCacheControl !== undefined)
      headers['x-sw-cache-control'] = browser.swCacheControl;
    Object.assign(headers, caching);
    if (answer.ageSeconds !== undefined) headers.age = String(answer.ageSeconds);
    if (setCookie) {
      // The visitor's split assignment: added after the cache, never stored.
      const prev = headers['set-cookie'];
      headers['set-cookie'] =
        prev === undefined ? [setCookie] : [...(Array.isArray(prev) ? prev : [prev]), setCookie];
    }
    headers['server-timing'] = timing;
    const status = answer.response.status;
    if (status !== 204 && status !== 304) headers['content-length'] = String(out.byteLength);
    else delete headers['content-length'];
    if (
      answer.entry &&
      // A preview host checks that its deployment still exists: never memoised.
      target.environment !== undefined &&
      !setCookie &&
      splitDestination === undefined &&
      (method === 'GET' || method === 'HEAD') &&
      isPlainKey(spec) &&
      !routesReadHeaders(manifest) &&
      this.#sites
    ) {
      this.#rememberHot(req, {
        snapshot: this.#sites.version,
        key,
        entry: answer.entry,
        status,
        head: flatHeaders(headers),
        // A Buffer view (no copy): what node:http writes without converting.
        body: Buffer.from(out.buffer, out.byteOffset, out.byteLength),
        app: route.app,
      });
    }
    // A stored copy the client already holds (its ETag): 304, no body.
    const ifNoneMatch = record['if-none-match'];
    if (
      answer.entry &&
      status === 200 &&
      ifNoneMatch !== undefined &&
      typeof headers.etag === 'string' &&
      etagMatches(ifNoneMatch, headers.etag)
    ) {
      delete headers['content-length'];
      res.writeHead(304, headers);
      res.end();
      this.#count(route.app, 304, started, undefined, cacheLabel);
      return;
    }
    res.writeHead(status, headers);
    res.end(method === 'HEAD' ? undefined : out);
    this.#count(route.app, status, started, undefined, cacheLabel);
  }

  /** The signature of a request for `#hot`; undefined when it may not use it. */
  #hotSignature(req: IncomingMessage): string | undefined {
    const method = req.method;
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    if (req.headers['x-flotilla-debug'] !== undefined) return undefined;
    // Conditional requests take the full path (it answers 304).
    if (req.headers['if-none-match'] !== undefined) return undefined;
    return `${method}\n${req.headers.host ?? ''}\n${req.url ?? ''}\n${encodingOf(req.headers['accept-encoding'])}`;
  }

  #rememberHot(req: IncomingMessage, hit: HotHit): void {
    const signature = this.#hotSignature(req);
    if (signature === undefined) return;
    // Bounded: a flood of distinct URLs only costs the memo, never memory.
    if (this.#hot.size >= 10_000) this.#hot.clear();
    this.#hot.set(signature, hit);
  }

  /**
   * Serves a fresh hit a full pass resolved before, without routing, key
   * computation or header building: the hot path of a cache in front of
   * popular pages. Falls back (false) on anything else.
   */
  #serveHotHit(req: IncomingMessage, res: ServerResponse, started: number): boolean {
    const signature = this.#hotSignature(req);
    if (signature === undefined) return false;
    const hot = this.#hot.get(signature);
    if (!hot) return false;
    const cache = this.#cache;
    if (!cache) return false;
    const nowMs = cache.now();
    const found = cache.store.get(hot.key, nowMs);
    if (
      !found ||
      found.entry !== hot.entry ||
      found.freshness !== 'fresh' ||
      hot.snapshot !== this.#sites?.version
    ) {
      this.#hot.delete(signature);
      return false;
    }
    req.resume();
    const entry = hot.entry;
    const age = Math.max(0, Math.floor((nowMs - entry.storedAt) / 1000));
    const ttl = Math.floor((entry.freshUntil - nowMs) / 1000);
    let sent = hot.sent;
    if (sent === undefined || sent.age !== age || sent.ttl !== ttl) {
      const head = hot.head.slice();
      head.push('age', String(age), CACHE_STATUS_HEADER, `flotilla; hit; ttl=${ttl}`);
      sent = { age, ttl, head };
      hot.sent = sent;
    }
    res.writeHead(hot.status, sent.head);
    res.end(req.method === 'HEAD' ? undefined : hot.body);
    let m = this.#hotMetrics.get(hot.app);
    if (!m) {
      m = {
        requests: this.#metrics.requests.labels({
          app: hot.app,
          status: String(hot.status),
          region: this.region,
          cache: 'hit',
        }),
        seconds: this.#metrics.requestSeconds.labels({ app: hot.app, region: this.region }),
        uncounted: 0,
      };
      this.#hotMetrics.set(hot.app, m);
    }
    m.uncounted++;
    m.seconds.observe((now() - started) / 1000);
    return true;
  }

  /** Adds the hot hits counted since the last read to the request counter. */
  #countHotHits = (): void => {
    for (const m of this.#hotMetrics.values()) {
      if (m.uncounted === 0) continue;
      m.requests.inc(m.uncounted);
      m.uncounted = 0;
    }
  };

  /** A `Location` never sends the client to a host the site does not own. */
  #rewriteLocation(headers: Record<string, string | string[]>, req: IncomingMessage): void {
    const location = headers.location;
    if (typeof location !== 'string') {
      if (Array.isArray(location)) delete headers.location;
      return;
    }
    headers.location = this.#frontDoor.rewriteLocation(location, req.headers.host);
  }

  /** True for host names (no port) this shield serves. */
  #servesHost(host: string): boolean {
    const h = host.toLowerCase();
    if (this.#apps.some((a) => a.hosts.some((x) => x.toLowerCase() === h))) return true;
    return this.#sites?.servesHost(h) ?? false;
  }

  /** Which deployment serves a request: static apps first, then the control plane's sites. */
  async #destination(hostHeader: string, rawPath: string): Promise<Destination | undefined> {
    const match = matchRoute(this.#apps, hostHeader, rawPath);
    if (match) {
      return {
        app: match.app.name,
        deploymentId: match.app.deploymentId,
        environment: undefined,
        path: match.path,
        prefix: match.prefix,
        primary: this.region,
        secondary: this.#secondary?.region,
        target: undefined,
      };
    }
    const target = await this.#sites?.resolve(hostHeader, rawPath);
    if (!target) return undefined;
    const primary = target.primaryRegion ?? this.region;
    const secondary =
      target.primaryRegion === undefined ? this.#secondary?.region : target.secondaryRegion;
    return {
      app: target.app,
      deploymentId: target.deploymentId,
      environment: target.environment,
      path: target.path,
      prefix: target.prefix,
      primary,
      secondary: secondary === primary ? undefined : secondary,
      target,
    };
  }

  /**
   * Answers a GET/HEAD for one of the deployment's static assets (or a hashed
   * asset of an earlier deployment of the app) without a render.
   */
  async #serveAsset(
    req: IncomingMessage,
    res: ServerResponse,
    route: Destination,
  ): Promise<boolean> {
    const method = req.method ?? 'GET';
    if ((method !== 'GET' && method !== 'HEAD') || !route.target || !this.#sites) return false;
    const pathname = route.path.split('?')[0] ?? '/';
    const asset = this.#sites.assetFor(route.target, pathname);
    if (!asset) return false;
    const etag = `"${asset.hash}"`;
    const headers: Record<string, string> = {
      'content-type': asset.contentType,
      etag,
      'cache-control': asset.permanent
        ? 'public, max-age=31536000, immutable'
        : 'public, max-age=0, must-revalidate',
      'x-flotilla-deployment': route.deploymentId,
    };
    req.resume();
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, headers);
      res.end();
      return true;
    }
    const bytes = await this.#sites.assetBytes(asset);
    if (!bytes) {
      throw new ShieldError(
        'FLOTILLA_ERR_NOT_FOUND',
        `asset ${pathname} is missing from the store`,
      );
    }
    headers['content-length'] = String(bytes.byteLength);
    res.writeHead(200, headers);
    res.end(method === 'HEAD' ? undefined : bytes);
    return true;
  }

  async #forward(
    req: IncomingMessage,
    route: Destination,
    body: Uint8Array,
    started: number,
    upstream?: Upstream,
  ): Promise<{ result: RenderResult; region: string | undefined }> {
    const traceparent =
      upstream?.traceparent ?? nextTraceparent(req.headers.traceparent as string | undefined);
    let headers: Array<[string, string]>;
    if (upstream) {
      headers = upstream.headers;
    } else {
      // Raw headers keep the client's order and repeats (Node's req.headers merges
      // or drops duplicates). The trace context is this hop's, not the client's.
      const skip = withConnectionNamed(HOP_BY_HOP, req.headers.connection);
      headers = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] as string).toLowerCase();
        if (skip.has(name) || name === 'traceparent') continue;
        headers.push([name, req.rawHeaders[i + 1] as string]);
      }
      headers.push(['traceparent', traceparent]);
      if (route.prefix) headers.push(['x-forwarded-prefix', route.prefix]);
    }
    const hostHeader = (req.headers.host ?? `${this.#host}:${this.#boundPort}`).toLowerCase();
    // Wire deadlines are epoch ms compared against Date.now() downstream: derive
    // this one from the wall clock too (the monotonic `started` drifts from it).
    const deadline = Math.floor(Date.now() - (now() - started)) + this.#timeoutMs;
    const request: RenderRequest = {
      deploymentId: route.deploymentId,
      ...(route.environment ? { environment: route.environment } : {}),
      method: upstream?.method ?? (req.method ?? 'GET').toUpperCase(),
      url: `http://${hostHeader}${upstream?.path ?? route.path}`,
      headers,
      body,
      deadline,
      traceparent,
      requestId: randomUUID(),
      attempt: 1,
    };
    const primary = this.#follow(route.primary);
    const signal = upstream?.signal;
    let result = await this.#send(primary, request, signal);
    if (
      !result.ok &&
      result.error.code === 'FLOTILLA_ERR_SCHEDULER_LOST' &&
      IDEMPOTENT.has(request.method)
    ) {
      // The scheduler died holding it; repeating a GET/HEAD is safe, once.
      this.#metrics.retries.inc({ region: route.primary, reason: result.error.code });
      this.#log({ msg: 'retrying through another scheduler', error: result.error.message });
      result = await this.#send(primary, { ...request, attempt: 2 }, signal);
    }
    if (!result.ok && result.error.code === 'FLOTILLA_ERR_NO_RESPONDERS' && route.secondary) {
      this.#metrics.failovers.inc({ from: route.primary, to: route.secondary });
      const failover = await this.#send(this.#follow(route.secondary), request, signal);
      return { result: failover, region: route.secondary };
    }
    if (!result.ok && result.error.code === 'FLOTILLA_ERR_NO_RESPONDERS') {
      result.error.message = `no scheduler is serving region ${route.primary}`;
    }
    // An environment pinned away from this shield's region shows where it rendered.
    return { result, region: route.primary === this.region ? undefined : route.primary };
  }

  /** One try through a region's schedulers, given up on when its scheduler dies. */
  async #send(
    subjects: RegionSubjects,
    request: RenderRequest,
    signal?: AbortSignal,
  ): Promise<RenderResult> {
    // With the link to NATS down, say so at once rather than hold the client
    // for its whole deadline (the client retries after Retry-After).
    if (!this.#transport.isConnected()) {
      return {
        ok: false,
        error: {
          code: 'FLOTILLA_ERR_TRANSPORT_CLOSED',
          message: 'the shield has lost its connection to NATS and is reconnecting',
        },
        timings: {},
      };
    }
    const controller = new AbortController();
    this.#pending.set(request.requestId, { sentAt: Date.now(), controller });
    const sent = now();
    try {
      const reply = await this.#transport.request(
        subjects.miss,
        encodeRenderRequest({ ...request, ackTo: subjects.ack(this.#shieldId) }),
        {
          timeoutMs: Math.max(1, request.deadline - Date.now()),
          signal: signal ? AbortSignal.any([controller.signal, signal]) : controller.signal,
        },
      );
      const result = decodeRenderResult(reply);
      const downstream = topLevelMs(result.timings);
      result.timings.transport =
        (result.timings.transport ?? 0) + Math.max(0, now() - sent - downstream);
      return result;
    } catch (err) {
      const wire = toWireError(err);
      if (wire.code === 'FLOTILLA_ERR_TIMEOUT') {
        wire.code = 'FLOTILLA_ERR_DEADLINE';
        wire.message = `no answer within the ${this.#timeoutMs} ms request deadline`;
      }
      return { ok: false, error: wire, timings: {} };
    } finally {
      this.#pending.delete(request.requestId);
    }
  }

  #readBody(req: IncomingMessage): Promise<Uint8Array> {
    const method = (req.method ?? 'GET').toUpperCase();
    if (method === 'GET' || method === 'HEAD') {
      req.resume();
      return Promise.resolve(new Uint8Array(0));
    }
    // The body travels in one transport message: never accept more than it carries.
    const max = Math.min(this.#maxBody, this.#transport.maxPayloadBytes() - WIRE_HEADROOM_BYTES);
    const tooLarge = () =>
      new ShieldError('FLOTILLA_ERR_BODY_TOO_LARGE', `request body is over ${max} bytes`);
    // Refuse an announced oversize body before reading any of it.
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      return Promise.reject(tooLarge());
    }
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > max) {
          // Stop buffering but keep the socket: the client must still get its
          // 413 (the error response closes the connection afterwards).
          req.off('data', onData);
          chunks.length = 0;
          reject(tooLarge());
          return;
        }
        chunks.push(chunk);
      };
      req.on('data', onData);
      req.on('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
      req.on('error', reject);
    });
  }

  #serveOwn(req: IncomingMessage, res: ServerResponse, rawPath: string, host: string): void {
    const path = rawPath.split('?')[0];
    if (path === '/healthz') {
      const ok = !this.#draining && this.#transport.isConnected();
      const body = JSON.stringify({
        status: ok ? 'ok' : 'unavailable',
        role: 'shield',
        region: this.region,
        transport: this.#transport.kind,
        draining: this.#draining,
      });
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    if (path === '/livez') {
      const l = this.#liveness();
      res.writeHead(l.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(l));
      return;
    }
    if (path === '/metrics') {
      this.#registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': this.#registry.contentType });
          res.end(text);
        },
        () => this.#sendError(res, 'FLOTILLA_ERR_INTERNAL', 'metrics failed', ''),
      );
      return;
    }
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      const items = this.#apps
        .map((a) => {
          const name = escapeHtml(a.name);
          const hosts = a.hosts
            .map((h) => ` or http://${escapeHtml(h)}:${this.#boundPort}/`)
            .join('');
          return `<li><a href="/${name}/">${name}</a> (/${name}/${hosts}) — deployment ${escapeHtml(a.deploymentId)}</li>`;
        })
        .join('\n');
      const sites = this.#sites;
      const envItems = (sites?.environments() ?? [])
        .map((e) => {
          const host = escapeHtml(sites?.hostOf(e.app, e.env) ?? '');
          const prefix =
            e.env === 'production'
              ? `<a href="/${escapeHtml(e.app)}/">/${escapeHtml(e.app)}/</a> or `
              : '';
          return `<li>${escapeHtml(e.app)} ${escapeHtml(e.env)}: ${prefix}http://${host}:${this.#boundPort}/ — deployment ${escapeHtml(e.deploymentId)}</li>`;
        })
        .join('\n');
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(
        `<!doctype html><title>Flotilla</title><h1>Flotilla shield (${escapeHtml(this.region)})</h1><ul>\n${items}${envItems}\n</ul><p><a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a></p>\n`,
      );
      return;
    }
    this.#sendError(
      res,
      'FLOTILLA_ERR_NOT_FOUND',
      `no app serves ${host.toLowerCase()}${path}`,
      '',
    );
    this.#count('none', 404, now(), 'FLOTILLA_ERR_NOT_FOUND');
  }

  #sendError(
    res: ServerResponse,
    code: string,
    message: string,
    timing: string,
    extra: Record<string, string> = {},
  ): void {
    const status = errorStatus(code);
    const headers: Record<string, string> = {
      ...extra,
      'content-type': 'text/plain; charset=utf-8',
      'x-flotilla-error': code,
      'cache-control': 'no-store',
    };
    if (status === 503) headers['retry-after'] = '1';
    // The rest of an oversize body is not worth reading: end the connection.
    if (code === 'FLOTILLA_ERR_BODY_TOO_LARGE') headers.connection = 'close';
    if (timing) headers['server-timing'] = timing;
    res.writeHead(status, headers);
    res.end(`${code}: ${message}\n`);
  }

  /**
   * Stops accepting connections; for `drainGraceMs` still answers requests
   * arriving on open connections (with `Connection: close`); answers every
   * request in flight; then closes. Idempotent.
   */
  drain(): Promise<void> {
    this.#drained ??= (async () => {
      this.#draining = true;
      // server.close() also drops idle kept-alive connections at once: wait out
      // the grace first, so a request already on its way over one is served.
      const until = Date.now() + this.#drainGraceMs;
      while (this.#sockets.size > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      this.#server.closeIdleConnections();
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      this.#server.closeIdleConnections();
      await closed;
      await this.#cache?.drain();
      await this.#purge?.close();
      clearInterval(this.#sweep);
      await Promise.all(this.#subs.splice(0).map((sub) => sub.drain()));
      this.#countHotHits();
      this.#metrics.beforeRead.delete(this.#countHotHits);
    })();
    return this.#drained;
  }
}
