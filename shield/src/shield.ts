import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  DEFAULT_REQUEST_TIMEOUT_MS,
  errorStatus,
  FlotillaError,
  InvalidOptionError,
  type LogFn,
  nonNegativeInt,
  positiveInt,
  required,
  toWireError,
  traceIdOf,
} from '@flotilla/protocol';
import { type Transport, WIRE_HEADROOM_BYTES } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { AccessLog } from './access-log.ts';
import { AdminApi } from './admin-api.ts';
import { type CacheRequest, EdgeCache, type OriginAnswer } from './cache/edge-cache.ts';
import { CacheRequestBuilder, REVALIDATE_HEADER } from './cache-request.ts';
import { ConnectionDrain } from './connection-drain.ts';
import { EdgeRoutes } from './edge-routes.ts';
import {
  checkHeaderNames,
  EDGIO_TIMING_HEADER,
  edgioCacheHeaders,
  edgioTiming,
  type HeaderNames,
} from './edgio-headers.ts';
import { FrontDoor } from './front-door/front-door.ts';
import { HotHits } from './hot-hits.ts';
import { type ShieldMetrics, shieldCountersAtZero, shieldMetrics } from './metrics.ts';
import { MissQueue } from './miss-queue.ts';
import { OwnPages } from './own-pages.ts';
import { answerFromTable, type RedirectTables } from './redirect-tables.ts';
import { RegionClient, wholeAnswer } from './region-client.ts';
import { type Destination, renderRequestFor, type Upstream } from './render-request.ts';
import { limitUnreadBody, readBody } from './request-body.ts';
import {
  cachedReply,
  forwardedReply,
  sendCacheError,
  sendError,
  withErrorPage,
  writeReply,
  writeStreamed,
} from './response.ts';
import { answerLeftToOwner } from './revalidation.ts';
import { catchPage, serveRouteFile } from './route-files.ts';
import type { ShieldOptions } from './shield-options.ts';
import { ShieldResponders } from './shield-responders.ts';
import type { SiteDirectory } from './site-directory.ts';
import { SplitAssigner } from './split.ts';
import { serveAsset } from './static-assets.ts';
import { ShieldTiers, tieredCacheStatus } from './tiers/shield-tiers.ts';
import { now, serverTimingHeader } from './timing.ts';

/**
 * The L2 HTTP gateway. Matches each request to a control-plane site by host
 * or path prefix, answers it from the L2 cache or sends it to the region's
 * schedulers as a render request with a deadline and a trace id. It serves
 * `/healthz` and `/livez` on hosts that are not an app's; `/metrics` and the
 * fleet index only on its admin listener (`adminPort`), never on the
 * traffic port.
 *
 * @example
 * const shield = new Shield({ transport, region: 'local', sites, port: 3000 });
 * const { url } = await shield.listen();
 */
export class Shield {
  readonly region: string;
  readonly #transport: Transport;
  readonly #host: string;
  readonly #port: number;
  readonly #adminPort: number;
  #boundPort: number;
  #admin: { url: string; close(): Promise<void> } | undefined;
  readonly #timeoutMs: number;
  readonly #maxBody: number;
  readonly #registry: Registry;
  readonly #metrics: ShieldMetrics;
  readonly #log: LogFn;
  readonly #server: Server;
  readonly #sites: SiteDirectory | undefined;
  readonly #redirects: RedirectTables | undefined;
  readonly #cache: EdgeCache | undefined;
  readonly #edgeRoutes: EdgeRoutes | undefined;
  readonly #frontDoor: FrontDoor;
  readonly #regions: RegionClient;
  readonly #requests: CacheRequestBuilder;
  /** Fresh hits served again without a full pass; only with a cache and sites. */
  readonly #hot: HotHits | undefined;
  readonly #access: AccessLog | undefined;
  readonly #pages: OwnPages;
  readonly #shieldId: string;
  readonly #headerNames: HeaderNames;
  readonly #tiers: ShieldTiers;
  /** Marks this shield's own revalidation requests (over loopback); never leaves the process. */
  readonly #revalidateToken = randomBytes(24).toString('hex');
  /** Purges, revalidations, heartbeats and prerenders over NATS. */
  readonly #responders: ShieldResponders;
  readonly #drain: ConnectionDrain;
  /** Work past the hits answered at once, in slices between turns of the event loop. */
  readonly #misses: MissQueue;
  #drained: Promise<void> | undefined;
  #opened: Promise<void> | undefined;

  constructor(options: ShieldOptions) {
    this.#transport = required('transport', options?.transport);
    this.region = options.region;
    this.#sites = options.sites;
    this.#redirects = options.redirects;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = nonNegativeInt('port', options.port, 3000);
    if (this.#port > 65535) throw new InvalidOptionError('port', 'must be at most 65535');
    this.#boundPort = this.#port;
    this.#adminPort = nonNegativeInt('adminPort', options.adminPort, 0);
    if (this.#adminPort > 65535) throw new InvalidOptionError('adminPort', 'must be at most 65535');
    this.#timeoutMs = positiveInt(
      'requestTimeoutMs',
      options.requestTimeoutMs,
      DEFAULT_REQUEST_TIMEOUT_MS,
    );
    this.#maxBody = positiveInt('maxRequestBodyBytes', options.maxRequestBodyBytes, 1024 * 1024);
    this.#registry = options.registry ?? new Registry();
    this.#metrics = shieldMetrics(this.#registry);
    shieldCountersAtZero(this.#metrics, this.region, options.secondaryRegion);
    this.#log = options.log ?? (() => {});
    this.#shieldId = options.shieldId ?? `h-${randomBytes(4).toString('hex')}`;
    this.#tiers = new ShieldTiers({
      tier: options.tier,
      cacheOn: options.cache !== false,
      transport: this.#transport,
      shieldId: this.#shieldId,
      handBackMs: options.tierHandBackMs,
      metrics: this.#metrics,
      log: this.#log,
    });
    this.#regions = new RegionClient({
      transport: this.#transport,
      region: options.region,
      ...(options.secondaryRegion !== undefined
        ? { secondaryRegion: options.secondaryRegion }
        : {}),
      shieldId: this.#shieldId,
      ...(options.ackTimeoutMs !== undefined ? { ackTimeoutMs: options.ackTimeoutMs } : {}),
      requestTimeoutMs: this.#timeoutMs,
      metrics: this.#metrics,
      log: this.#log,
    });
    this.#cache =
      options.cache === false
        ? undefined
        : new EdgeCache({
            ...(options.cache ?? {}),
            cacheName: this.#tiers.cacheName,
            registry: this.#registry,
            ...(options.log ? { log: options.log } : {}),
          });
    this.#edgeRoutes =
      this.#cache && options.edgeRoutes !== false
        ? new EdgeRoutes(options.edgeRoutes ?? {})
        : undefined;
    this.#frontDoor = new FrontDoor({
      ...(options.frontDoor ?? {}),
      maxBodyBytes: this.#maxBody,
      isServedHost: (host) => this.#sites?.servesHost(host.toLowerCase()) ?? false,
    });
    this.#headerNames = checkHeaderNames(options.headerNames);
    this.#requests = new CacheRequestBuilder({
      frontDoor: this.#frontDoor,
      splits: new SplitAssigner(),
      debugToken: options.debugToken,
      headerNames: this.#headerNames,
      revalidateToken: this.#revalidateToken,
    });
    this.#responders = new ShieldResponders({
      transport: this.#transport,
      shieldId: this.#shieldId,
      region: this.region,
      host: this.#host,
      port: () => this.#boundPort,
      timeoutMs: this.#timeoutMs,
      revalidateToken: this.#revalidateToken,
      fleetPurge: options.fleetPurge,
      cache: this.#cache,
      sites: this.#sites,
      tiers: this.#tiers,
      registry: this.#registry,
      log: this.#log,
    });
    const api = new AdminApi({ token: options.adminToken, purge: this.#responders.fleetPurge });
    const drainGraceMs = nonNegativeInt('drainGraceMs', options.drainGraceMs, 1000);
    this.#misses = new MissQueue(
      options.missSliceMs !== undefined ? { sliceMs: options.missSliceMs } : {},
    );
    this.#access =
      options.accessLog || options.accessTap
        ? new AccessLog({
            ...(options.accessLog ? { log: options.accessLog } : {}),
            ...(options.accessTap ? { tap: options.accessTap } : {}),
            ...(options.accessLogSample !== undefined ? { sample: options.accessLogSample } : {}),
            clientIp: (req) => this.#frontDoor.clientInfo(req).ip,
            region: this.region,
          })
        : undefined;
    // Edgio's x-0-t is each answer's own: no replayed hot hits.
    this.#hot =
      this.#cache && this.#sites && this.#headerNames === 'flotilla'
        ? new HotHits({
            cache: this.#cache,
            sites: this.#sites,
            metrics: this.#metrics,
            region: this.region,
            ...(this.#access ? { access: this.#access } : {}),
            cacheName: this.#tiers.cacheName,
            stage: this.#tiers.stage,
          })
        : undefined;
    // A path a new table redirects is never answered from a memoised hit.
    this.#redirects?.changed.add(() => this.#hot?.clear());
    this.#pages = new OwnPages({
      region: this.region,
      transport: this.#transport,
      registry: this.#registry,
      ...(options.liveness ? { liveness: options.liveness } : {}),
      sites: this.#sites,
      draining: () => this.#drain.draining,
      port: () => this.#boundPort,
      api: (req, res, path) => api.handle(req, res, path),
    });
    this.#server = createServer(
      // No Host on HTTP/1.1 gets the front door's 400, not Node's bare one.
      { maxHeaderSize: this.#frontDoor.serverMaxHeaderSize, requireHostHeader: false },
      (req, res) => {
        const started = now();
        this.#access?.begin(req, res, started);
        // A body of unknown length (chunked) that nobody reads is read only so far.
        if (req.headers['transfer-encoding'] !== undefined) {
          limitUnreadBody(req, res, this.#maxBody);
        }
        // The front door and the hot hits answer at once, synchronously:
        // nothing of theirs is in flight for a drain to wait for.
        if (this.#answerAtOnce(req, res, started)) return;
        this.#drain.track(res);
        // The rest (a miss, a pass, a stale or cold hit) runs in a slice after
        // this turn of the event loop: the hits read meanwhile are answered
        // first, however many misses arrive with them.
        this.#misses.push(() => {
          this.#serve(req, res, started).catch((err) => {
            this.#log({ msg: 'shield failure', error: toWireError(err) });
            if (!res.headersSent) sendError(res, 'FLOTILLA_ERR_INTERNAL', 'internal error', '');
            else res.destroy();
          });
        });
      },
    );
    this.#server.on('clientError', (err, socket) => this.#frontDoor.handleClientError(err, socket));
    this.#server.on('connect', (req: IncomingMessage, socket: Duplex) => {
      const rejection = this.#frontDoor.handleConnect(req, socket);
      this.#count(req, 'none', rejection.status, now(), rejection.code);
    });
    // Counted by the front door (maxHeaderCount), which must see them all:
    // Node would drop those past its limit (2000) without a word.
    this.#server.maxHeadersCount = 0;
    this.#server.keepAliveTimeout = 5000;
    this.#drain = new ConnectionDrain(this.#server, drainGraceMs);
  }

  /**
   * Starts listening on the traffic port and on the admin listener; resolves
   * with the URL served and the admin URL (`/metrics`, the index).
   */
  async listen(): Promise<{ url: string; port: number; adminUrl: string }> {
    this.#admin ??= await this.#pages.listenAdmin(this.#host, this.#adminPort);
    const admin = this.#admin;
    try {
      // The cache on disk is loaded before the traffic port opens (the admin listener answers
      // meanwhile): a restarted shield serves its warm keys as hits.
      this.#opened ??= this.#cache?.open();
      await this.#opened;
      return { ...(await this.#listenTraffic()), adminUrl: admin.url };
    } catch (err) {
      this.#admin = undefined;
      await admin.close();
      throw err;
    }
  }

  #listenTraffic(): Promise<{ url: string; port: number }> {
    this.#regions.start();
    const cache = this.#cache;
    // Before the purge responder's first heartbeat: a global member hears its own.
    if (cache) {
      // The global tier answers an edge in one message: a streamed body is collected whole.
      this.#tiers.start(cache, async (request, regions, signal) =>
        wholeAnswer(
          await this.#regions.forward(request.deploymentId, () => request, regions, signal),
        ),
      );
    }
    this.#responders.start();
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
    return this.#drain.inFlight;
  }

  /** Front-door rejections and redirects, and hot hits; true when answered. */
  #answerAtOnce(req: IncomingMessage, res: ServerResponse, started: number): boolean {
    const rejection = this.#frontDoor.check(req);
    if (rejection) {
      sendError(res, rejection.code, rejection.message, '', {
        ...rejection.headers,
        connection: 'close',
      });
      this.#count(req, 'none', rejection.status, started, rejection.code);
      req.resume();
      return true;
    }
    // The shield's own revalidation (over loopback) is never sent to HTTPS.
    const revalidation = this.#requests.isRevalidation(req.headers[REVALIDATE_HEADER]);
    const redirect = revalidation ? undefined : this.#frontDoor.redirectFor(req);
    if (redirect) {
      res.writeHead(redirect.status, { location: redirect.location, 'content-length': '0' });
      res.end();
      this.#count(req, 'none', redirect.status, started);
      return true;
    }
    // A revalidation must reach the cache, never a memoised hit.
    if (revalidation) return false;
    return !this.#drain.draining && this.#hot !== undefined && this.#hot.serve(req, res, started);
  }

  async #serve(req: IncomingMessage, res: ServerResponse, started: number): Promise<void> {
    const rawPath = req.url ?? '/';
    const hostHeader = req.headers.host ?? '';
    let destination: Destination | undefined;
    try {
      const target = await this.#sites?.resolve(hostHeader, rawPath);
      if (target) destination = { ...target, ...this.#regions.regionsFor(target) };
    } catch (err) {
      const wire = toWireError(err);
      sendError(res, wire.code, wire.message, '');
      this.#count(req, 'none', errorStatus(wire.code), started, wire.code);
      return;
    }
    if (!destination) {
      const path = rawPath.split('?')[0] ?? '/';
      if (this.#pages.serve(res, path)) return;
      const message = `no app serves ${hostHeader.toLowerCase()}${path}`;
      sendError(res, 'FLOTILLA_ERR_NOT_FOUND', message, '');
      this.#count(req, 'none', 404, now(), 'FLOTILLA_ERR_NOT_FOUND');
      return;
    }
    const app = destination.app;
    this.#access?.note(req, {
      app,
      deployment: destination.deploymentId,
      ...(destination.environment ? { environment: destination.environment } : {}),
    });
    try {
      // Draining: still answer what arrives on connections opened before, and
      // close them after; a connection opened since is turned away.
      if (this.#drain.draining) {
        res.setHeader('connection', 'close');
        if (this.#drain.isLate(req)) {
          throw new FlotillaError('FLOTILLA_ERR_DRAINING', 'shield is shutting down');
        }
      }
      if (this.#redirects && answerFromTable(this.#redirects, res, destination)) {
        this.#count(req, app, res.statusCode, started);
        return;
      }
      if (this.#sites && (await serveAsset(req, res, destination, this.#sites))) {
        this.#count(req, app, res.statusCode, started);
        return;
      }
      if (this.#sites && (await serveRouteFile(req, res, destination, this.#sites))) {
        this.#count(req, app, res.statusCode, started);
        return;
      }
      // The body travels in one transport message: never accept more than it carries.
      const max = Math.min(this.#maxBody, this.#transport.maxPayloadBytes() - WIRE_HEADROOM_BYTES);
      const body = await readBody(req, max);
      if (this.#cache) {
        await this.#serveCached(req, res, destination, this.#cache, body, started);
        return;
      }
      const { result, region, stream } = await this.#forward(
        req,
        destination,
        body,
        started,
        undefined,
      );
      const timing = serverTimingHeader(result.timings, started, region);
      const status = result.ok ? result.status : errorStatus(result.error.code);
      const page = await catchPage(destination.manifest, status, destination, this.#sites);
      if (result.ok) {
        const reply = forwardedReply(result, req, this.#frontDoor, timing);
        if (this.#headerNames === 'edgio') {
          reply.headers[EDGIO_TIMING_HEADER] = edgioTiming(
            now() - started,
            undefined,
            result.timings,
          );
        }
        if (stream && !page) await writeStreamed(res, req, reply, stream);
        else {
          stream?.cancel();
          writeReply(res, req, page ? withErrorPage(reply, page) : reply, undefined);
        }
        this.#count(req, app, result.status, started);
      } else {
        sendError(res, result.error.code, result.error.message, timing, {}, page);
        this.#count(req, app, errorStatus(result.error.code), started, result.error.code);
      }
    } catch (err) {
      const wire = toWireError(err);
      sendError(res, wire.code, wire.message, '');
      this.#count(req, app, errorStatus(wire.code), started, wire.code);
    }
  }

  /**
   * A request to a site with the cache on: route match and key, then the L2
   * cache (hit, stale, coalesced miss, pass), and the response with its
   * caching headers.
   */
  async #serveCached(
    req: IncomingMessage,
    res: ServerResponse,
    destination: Destination,
    cache: EdgeCache,
    body: Uint8Array,
    started: number,
  ): Promise<void> {
    const site = this.#requests.build(req, destination, body);
    // A revalidation of a key another global member owns is the owner's: one render fleet-wide.
    if (site.cache.refresh && this.#tiers.leavesToOwner(site.cache.key)) {
      await answerLeftToOwner(res, cache, site.cache.key);
      return;
    }
    const renderBody = site.cache.method === 'HEAD' ? new Uint8Array(0) : body;
    // A redirect or a proxy without code is answered here: no render.
    const edgeAction = this.#edgeRoutes?.actionFor(site);
    const edgeOrigin =
      edgeAction &&
      this.#edgeRoutes?.origin(site, edgeAction, renderBody, (mode, signal) =>
        this.#requests.upstream(req, site, mode, signal),
      );
    const served = await cache.serve(
      site.cache,
      edgeOrigin && edgeAction
        ? (mode, signal) => {
            this.#metrics.edgeAnswers.inc({ app: destination.app, action: edgeAction.kind });
            return edgeOrigin(mode, signal);
          }
        : (mode, signal) =>
            this.#forward(
              req,
              site.destination,
              renderBody,
              started,
              signal,
              () => this.#requests.upstream(req, site, mode, signal),
              // An edge's cacheable misses go to the global tier.
              mode === 'cache' && this.#tiers.isEdge ? site.cache : undefined,
            ),
    );
    // With tiers, the global member's Cache-Status entry comes first.
    const answer = served.upstream ? { ...served, cacheStatus: tieredCacheStatus(served) } : served;
    const timing = serverTimingHeader(answer.timings, started, answer.region, this.#tiers.stage);
    // router.catch()'s static error pages, for the render's statuses and the shield's own.
    const pageTarget = { ...site.destination, manifest: site.manifest };
    const edgio = this.#headerNames === 'edgio' ? edgioCacheHeaders(answer, started) : undefined;
    if (answer.kind === 'error') {
      const page = await catchPage(
        site.manifest,
        errorStatus(answer.error.code),
        pageTarget,
        this.#sites,
      );
      const status = sendCacheError(res, answer, timing, edgio, page);
      this.#count(req, destination.app, status, started, answer.error.code, answer.outcome);
      return;
    }
    let reply = cachedReply(answer, cache, this.#frontDoor, {
      req,
      acceptEncoding: site.headers['accept-encoding'],
      route: site.decision.cache,
      setCookie: site.setCookie,
      timing,
    });
    const page = await catchPage(site.manifest, reply.status, pageTarget, this.#sites);
    if (page) reply = withErrorPage(reply, page);
    if (edgio) Object.assign(reply.headers, edgio);
    if (answer.entry && !answer.stream) {
      this.#hot?.remember(req, {
        key: site.cache.key,
        entry: answer.entry,
        status: reply.status,
        headers: reply.headers,
        body: reply.body,
        app: destination.app,
        ...(destination.environment ? { environment: destination.environment } : {}),
        deployment: destination.deploymentId,
        manifest: site.manifest,
        spec: site.spec,
        // A preview host checks that its deployment still exists: never memoised.
        plainSite:
          destination.environment !== undefined &&
          !site.setCookie &&
          site.splitDestination === undefined,
      });
    }
    // A stored copy the client already holds (its ETag): 304, no body.
    const stored = answer.entry ? { ifNoneMatch: site.headers['if-none-match'] } : undefined;
    if (answer.stream && page) answer.stream.cancel();
    const status =
      answer.stream && !page
        ? (await writeStreamed(res, req, reply, answer.stream)).status
        : writeReply(res, req, reply, stored);
    this.#count(req, destination.app, status, started, undefined, answer.outcome);
  }

  /**
   * Sends a render request for `req` to its regions, or with `tierMiss` (an
   * edge's cacheable miss) to the global member that owns its key. It is
   * built (with the cache's `upstream`, when given) only once the region
   * admitted the miss: a shed costs no header or trace work.
   */
  #forward(
    req: IncomingMessage,
    destination: Destination,
    body: Uint8Array,
    started: number,
    signal: AbortSignal | undefined,
    upstream?: () => Upstream,
    tierMiss?: CacheRequest,
  ): Promise<OriginAnswer> {
    let traceId: string | undefined;
    const build = () => {
      const request = renderRequestFor(req, destination, body, started, upstream?.(), {
        timeoutMs: this.#timeoutMs,
        fallbackHost: `${this.#host}:${this.#boundPort}`,
      });
      traceId = traceIdOf(request.traceparent);
      return request;
    };
    const answer: Promise<OriginAnswer> =
      tierMiss && signal
        ? this.#tiers.forward(tierMiss, destination, build(), signal)
        : this.#regions.forward(destination.deploymentId, build, destination, signal);
    const access = this.#access;
    if (!access) return answer;
    return answer.then((a) => {
      access.note(req, {
        ...(traceId !== undefined ? { traceId } : {}),
        stages: a.result.timings,
        ...(a.region ? { region: a.region } : {}),
        ...(a.result.worker ? { worker: a.result.worker } : {}),
      });
      return a;
    });
  }

  #count(
    req: IncomingMessage,
    app: string,
    status: number,
    started: number,
    code?: string,
    cache = 'none',
  ): void {
    this.#access?.note(req, { cache, ...(code ? { error: code } : {}) });
    this.#metrics.requests.inc({ app, status: String(status), region: this.region, cache });
    this.#metrics.requestSeconds.observe({ app, region: this.region }, (now() - started) / 1000);
    if (code) this.#metrics.errors.inc({ code, region: this.region });
  }

  /**
   * Stops accepting connections; for `drainGraceMs` still answers requests
   * arriving on open connections (with `Connection: close`); answers every
   * request in flight; then closes. Idempotent.
   */
  drain(): Promise<void> {
    this.#drained ??= (async () => {
      await this.#responders.closePrerender();
      await this.#drain.close();
      await this.#cache?.drain();
      await this.#edgeRoutes?.close();
      await this.#responders.close();
      await this.#tiers.close();
      await this.#regions.close();
      this.#hot?.close();
      this.#redirects?.stop();
      await this.#admin?.close();
    })();
    return this.#drained;
  }
}
