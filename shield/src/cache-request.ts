/**
 * A request to a control-plane site as the cache sees it: the split-test
 * destination, the matched routes, the cache key, and the upstream request
 * a render would get (rebuilt from the allow-list, so nothing unkeyed can
 * shape a stored page).
 *
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import {
  type CacheKeySpec,
  computeCacheKey,
  criteriaReads,
  DEFAULT_CACHE_KEY_SPEC,
  DESTINATION_HEADER,
  type Manifest,
  type MatchRequest,
  matchRoutes,
  normalizeQuery,
  type RouteDecision,
  routesForDestination,
  withCriteriaReads,
} from '@flotilla/manifest';
import { nextTraceparent } from '@flotilla/protocol';
import type { CacheRequest, OriginMode } from './cache/edge-cache.ts';
import { EDGIO_DEBUG_HEADER, type HeaderNames, withEdgioRequestHeaders } from './edgio-headers.ts';
import type { FrontDoor } from './front-door/front-door.ts';
import { headerRecord } from './front-door/upstream-headers.ts';
import { hostOnly, hostPort } from './host.ts';
import type { Destination, Upstream } from './render-request.ts';
import { replayOf } from './replay-headers.ts';
import { type SplitAssigner, splitCookieName } from './split.ts';

/** A site request, ready for the cache. */
export interface SiteRequest {
  /** What the cache decides on. */
  cache: CacheRequest;
  /** Where it goes: the split test's deployment when one was drawn. */
  destination: Destination;
  /** The manifest its routes were matched in. */
  manifest: Manifest;
  /** The matched routes' decision (cache options, header operations). */
  decision: RouteDecision;
  /** The route's cache-key spec. */
  spec: CacheKeySpec | undefined;
  /** The request's headers, lower-case names, first value. */
  headers: Record<string, string>;
  /** The client's query, as sent. */
  query: string;
  /** The query as the key holds it (sorted, excluded parameters left out). */
  keyQuery: string;
  /** The path the app sees, without query. */
  pathname: string;
  /** The split destination drawn, in the key. */
  splitDestination: string | undefined;
  /** The visitor's new split-test cookie, added after the cache. */
  setCookie: string | undefined;
  /** The router destination the split chose (`router.destination(name, …)`), if any. */
  routerDestination: string | undefined;
  /** Request facts the matched routes pass to the render (`passRequestFacts()`), believed values. */
  facts: Array<[string, string]>;
}

/** Options of {@link CacheRequestBuilder}. */
export interface CacheRequestBuilderOptions {
  /** Classifies the client and builds the upstream headers. */
  frontDoor: FrontDoor;
  /** Draws split-test destinations. */
  splits: SplitAssigner;
  /**
   * `x-flotilla-debug` value that makes a request a debug request.
   * @default none: no request is
   */
  debugToken?: string | undefined;
  /**
   * `edgio`: Edgio's `x-0-*` request headers beside Flotilla's own, and
   * `x-0-debug` honoured as `x-flotilla-debug`.
   * @default 'flotilla'
   */
  headerNames?: HeaderNames;
  /**
   * `x-flotilla-revalidate` value that makes a request a revalidation
   * ({@link CacheRequest.refresh}): the shield's own, per process, sent only
   * by its admin API over loopback.
   * @default none: no request is
   */
  revalidateToken?: string | undefined;
}

/** The header of a revalidation request (with the shield's own token). */
export const REVALIDATE_HEADER = 'x-flotilla-revalidate';

/** Builds {@link SiteRequest}s and the upstream requests of their renders. */
export class CacheRequestBuilder {
  readonly #frontDoor: FrontDoor;
  readonly #splits: SplitAssigner;
  readonly #debugToken: string | undefined;
  readonly #edgio: boolean;
  readonly #revalidateToken: Buffer | undefined;

  constructor(options: CacheRequestBuilderOptions) {
    this.#revalidateToken =
      options.revalidateToken === undefined ? undefined : Buffer.from(options.revalidateToken);
    this.#frontDoor = options.frontDoor;
    this.#splits = options.splits;
    this.#debugToken = options.debugToken;
    this.#edgio = options.headerNames === 'edgio';
  }

  /** Route match on the site's manifest and the cache key of `req`. */
  build(req: IncomingMessage, destination: Destination, body: Uint8Array): SiteRequest {
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(destination.path, 'http://shield.invalid');
    const query = url.search.slice(1);
    const headers = headerRecord(req.rawHeaders);
    // A split test: a sticky (cookie) draw picks the deployment, and the
    // destination is part of the key.
    let manifest = destination.manifest;
    let splitDestination: string | undefined;
    let setCookie: string | undefined;
    let routerDestination: string | undefined;
    const agent = this.#frontDoor.classify(req);
    if ((destination.split || destination.splitRules) && destination.environment) {
      const assigned = this.#splits.assign({
        app: destination.app,
        environment: destination.environment,
        split: destination.split,
        rules: destination.splitRules,
        deploymentId: destination.deploymentId,
        ...(headers.cookie !== undefined ? { cookieHeader: headers.cookie } : {}),
        headers,
        device: agent.device,
        ...(destination.splitRules?.some((r) => r.when.country) ? this.#country(req) : {}),
      });
      const chosen = destination.splitManifests.get(assigned.deploymentId);
      if (chosen) {
        manifest = chosen;
        destination = { ...destination, deploymentId: assigned.deploymentId };
        splitDestination = assigned.destination;
        setCookie = assigned.setCookie;
        routerDestination = assigned.routerDestination;
      }
    }
    const host = hostOnly(req.headers.host ?? '');
    const matchReq: MatchRequest = { method, host, path: url.pathname, query, headers };
    // Routes of other router destinations than the one chosen never match.
    const routes = routesForDestination(manifest.routes, routerDestination);
    const decision = matchRoutes(routes, matchReq);
    const facts = this.#facts(req, manifest, decision, headers);
    // The headers and cookies the routes' criteria read are keyed and sent to
    // the render too: the bundle then matches the route the shield matched.
    const routeSpec = withCorsOrigin(
      withCriteriaReads(decision.cache?.key, criteriaReads(routes, matchReq)),
      decision,
    );
    // Keyed facts join the key with their believed values (a forged header keys nothing).
    const spec: CacheKeySpec | undefined =
      facts.keyed.length === 0
        ? routeSpec
        : {
            ...(routeSpec ?? DEFAULT_CACHE_KEY_SPEC),
            headers: [
              ...(routeSpec ?? DEFAULT_CACHE_KEY_SPEC).headers,
              ...facts.keyed.map(([name]) => name),
            ],
          };
    const postCacheable =
      method === 'POST' &&
      decision.terminal?.criteria.method?.includes('POST') === true &&
      decision.cache?.edge !== undefined &&
      decision.cache.edge !== false;
    // What the client asked for, prefix included; the Host header's port (the
    // render sees it in request.url) and a cacheable POST's body are keyed too.
    const key = computeCacheKey(
      spec,
      {
        ...matchReq,
        headers:
          facts.keyed.length === 0 ? headers : { ...headers, ...Object.fromEntries(facts.keyed) },
        path: `${destination.prefix}${url.pathname}`,
      },
      {
        environment: `${destination.cacheNamespace}@${destination.deploymentId}`,
        device: agent.device,
        browser: agent.browser,
        isBot: agent.isBot,
        vendor: agent.vendor,
        ...(splitDestination !== undefined ? { splitDestination } : {}),
        port: hostPort(req.headers.host ?? ''),
        ...(postCacheable ? { postDigest: postDigest(headers['content-type'], body) } : {}),
      },
    );
    const keyQuery = normalizeQuery(query, spec);
    const cache: CacheRequest = {
      key,
      method,
      route: decision.cache,
      debug:
        this.#debugToken !== undefined &&
        (headers['x-flotilla-debug'] === this.#debugToken ||
          (this.#edgio && headers[EDGIO_DEBUG_HEADER] === this.#debugToken)),
      postCacheable,
      ...(this.isRevalidation(headers[REVALIDATE_HEADER]) ? { refresh: true } : {}),
      requestBodyBytes: body.byteLength,
      setCookieRemoved: decision.headerOps.some(
        (op) =>
          (op.op === 'removeUpstreamResponse' || op.op === 'removeResponse') &&
          op.name.toLowerCase() === 'set-cookie',
      ),
      app: destination.app,
      environment: destination.environment ?? '',
      path: url.pathname,
      // As `flotilla purge --url` names it: the client's host and path, and the
      // query as the key holds it (sorted, excluded parameters left out).
      url: `${host}${destination.prefix}${url.pathname}${keyQuery === '' ? '' : `?${keyQuery}`}`,
      replay: replayOf(routeSpec, headers, {
        derived: facts.derived,
        keyedFacts: facts.keyed,
        split:
          splitDestination !== undefined && destination.environment
            ? [splitCookieName(destination.app, destination.environment), splitDestination]
            : undefined,
        post: postCacheable,
      }),
    };
    return {
      cache,
      destination,
      manifest,
      decision,
      spec,
      headers,
      query,
      keyQuery,
      pathname: url.pathname,
      splitDestination,
      setCookie,
      routerDestination,
      facts: [...facts.keyed, ...facts.unkeyed],
    };
  }

  /** True when `value` is this shield's revalidation token (compared in constant time). */
  isRevalidation(value: string | string[] | undefined): boolean {
    const token = this.#revalidateToken;
    if (typeof value !== 'string' || token === undefined) return false;
    const given = Buffer.from(value);
    return given.byteLength === token.byteLength && timingSafeEqual(given, token);
  }

  /** The country of a request: the first of the front door's geo headers named `*country*`. */
  #country(req: IncomingMessage): { country?: string } {
    const geo = this.#frontDoor.clientInfo(req).geo;
    const name = Object.keys(geo).find((n) => n.includes('country'));
    return name === undefined ? {} : { country: geo[name] as string };
  }

  /**
   * The request facts the matched routes pass on (`passRequestFacts()`),
   * with the values the front door believes: `client-ip` as
   * `x-flotilla-client-ip`; its client-IP header as the believed address;
   * its geo headers only from a trusted proxy; any other header as sent.
   */
  #facts(
    req: IncomingMessage,
    manifest: Manifest,
    decision: RouteDecision,
    headers: Record<string, string>,
  ): {
    keyed: Array<[string, string]>;
    unkeyed: Array<[string, string]>;
    derived: Set<string>;
  } {
    const keyed: Array<[string, string]> = [];
    const derived = new Set<string>();
    const unkeyed: Array<[string, string]> = [];
    const seen = new Set<string>();
    for (const id of decision.routeIds) {
      const facts = manifest.routes[id]?.requestFacts;
      if (!facts) continue;
      const client = this.#frontDoor.clientInfo(req);
      for (const fact of facts.names) {
        const name = fact === 'client-ip' ? 'x-flotilla-client-ip' : fact;
        if (seen.has(name)) continue;
        seen.add(name);
        const fromAddress =
          fact === 'client-ip' ||
          fact === this.#frontDoor.clientIpHeader ||
          this.#frontDoor.geoHeaders.includes(fact);
        const value =
          fact === 'client-ip' || fact === this.#frontDoor.clientIpHeader
            ? client.ip
            : this.#frontDoor.geoHeaders.includes(fact)
              ? (client.geo[fact] ?? '') // never the value an untrusted peer sent
              : headers[fact];
        if (value === undefined) continue;
        if (fromAddress) derived.add(name);
        (facts.cacheKey === 'add' ? keyed : unkeyed).push([name, value]);
      }
    }
    return { keyed, unkeyed, derived };
  }

  /** The upstream request of a render of `site` in `mode`. */
  upstream(
    req: IncomingMessage,
    site: SiteRequest,
    mode: OriginMode,
    signal: AbortSignal,
  ): Upstream {
    const { destination, spec, query, keyQuery } = site;
    // A render that may be stored continues the client's trace only when a
    // trusted proxy sent it: the trace id is the client's choice, and the
    // app may write it into the page everyone else then gets.
    const continued =
      mode === 'pass' || this.#frontDoor.clientInfo(req).viaTrustedProxy
        ? site.headers.traceparent
        : undefined;
    const traceparent = nextTraceparent(continued);
    const extra: Array<[string, string]> = [['traceparent', traceparent]];
    if (destination.prefix) extra.push(['x-forwarded-prefix', destination.prefix]);
    if (site.routerDestination !== undefined) {
      extra.push([DESTINATION_HEADER, site.routerDestination]);
    }
    if (mode === 'pass') {
      // Who asked, as the front door believes it: never part of a cached page.
      const client = this.#frontDoor.clientInfo(req);
      extra.push(['x-flotilla-client-ip', client.ip]);
      for (const [name, value] of Object.entries(client.geo)) extra.push([name, value]);
    }
    let path = destination.path;
    let method = site.cache.method;
    if (mode === 'cache') {
      // The app sees the query as the key holds it (sorted, excluded
      // parameters removed), and a HEAD as a GET so the copy has a body.
      path = `${site.pathname}${keyQuery === '' ? '' : `?${keyQuery}`}`;
      if (spec?.query.mode === 'exclude' && query !== '') {
        extra.push(['x-flotilla-original-query', query]);
      }
      if (method === 'HEAD') method = 'GET';
    }
    // Facts the route passes on, believed values, in both modes (last: they win).
    extra.push(...site.facts);
    // The front door's list drops the client-IP and geo headers too: only
    // its own (believed) values, in `extra`, reach the app.
    const headers = this.#frontDoor.upstreamHeaders(req, {
      mode,
      keySpec: spec,
      withBody: site.cache.postCacheable,
      extra: dedupe(extra),
    });
    return {
      method,
      path,
      headers: this.#edgio ? withEdgioRequestHeaders(headers, this.#frontDoor.geoHeaders) : headers,
      traceparent,
      signal,
    };
  }
}

/** The digest of a cacheable POST's content type and body, for its key. */
function postDigest(contentType: string | undefined, body: Uint8Array): string {
  return createHash('sha256')
    .update(contentType ?? '')
    .update('\n')
    .update(body)
    .digest('hex');
}

/**
 * An `allowCors()` whose answer depends on the request's `origin` (a list
 * of origins, or credentials) keys the route on it, so the render sees it
 * and no visitor gets another origin's copy.
 */
function withCorsOrigin(
  spec: CacheKeySpec | undefined,
  decision: RouteDecision,
): CacheKeySpec | undefined {
  const varies = decision.headerOps.some(
    (op) => op.op === 'cors' && (Array.isArray(op.origin) || op.credentials === true),
  );
  const base = spec ?? DEFAULT_CACHE_KEY_SPEC;
  if (!varies || base.headers.includes('origin')) return spec;
  return { ...base, headers: [...base.headers, 'origin'] };
}

/** `extra` with each name once, the last value winning, in first-seen order. */
function dedupe(extra: Array<[string, string]>): Array<[string, string]> {
  const last = new Map<string, string>();
  for (const [name, value] of extra) last.set(name, value);
  return [...last];
}
