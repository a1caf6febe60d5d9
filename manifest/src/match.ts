/**
 * Route matching, EdgeJS style: the same function decides at the shield
 * (before any code runs) and inside the bundle (`Router.fetch`), so the two
 * always agree.
 *
 * @module
 */

import type { RouteCacheOptions } from './cache-options-schema.ts';
import type { RouteCriteria } from './criteria-schema.ts';
import type { HeaderOp } from './header-op-schema.ts';
import { type CompiledPattern, compilePattern } from './pattern.ts';
import { parseCookies, parseQueryPairs } from './query.ts';
import { compileRegex, type RegexSpec } from './regex.ts';
import type { ManifestRoute } from './route-schema.ts';
import type { MatchRequest, RouteDecision } from './types.ts';

const MAX_CACHED_PATTERNS = 2048;
const patterns = new Map<string, CompiledPattern>();

function compiled(path: string): CompiledPattern {
  let p = patterns.get(path);
  if (!p) {
    p = compilePattern(path);
    if (patterns.size >= MAX_CACHED_PATTERNS) patterns.clear();
    patterns.set(path, p);
  }
  return p;
}

/** The request, parsed once for all routes. */
class RequestView {
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly #query: string;
  #queryPairs: Array<[string, string]> | undefined;
  #cookies: Record<string, string> | undefined;

  constructor(req: MatchRequest) {
    this.method = req.method.toUpperCase();
    this.host = normalizeHost(req.host);
    this.path = req.path;
    this.headers = req.headers;
    this.#query = req.query;
  }

  get queryPairs(): Array<[string, string]> {
    this.#queryPairs ??= parseQueryPairs(this.#query);
    return this.#queryPairs;
  }

  get cookies(): Record<string, string> {
    this.#cookies ??= parseCookies(header(this.headers, 'cookie'));
    return this.#cookies;
  }
}

function header(headers: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(headers, name) ? headers[name] : undefined;
}

/** Lower-cases a host and drops a `:port` (not inside an IPv6 literal). */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  const colon = lower.lastIndexOf(':');
  if (colon !== -1 && colon > lower.lastIndexOf(']') && /^[0-9]*$/.test(lower.slice(colon + 1))) {
    // `a:b` with several colons and no brackets is a bare IPv6 address, not host:port.
    if (lower.indexOf(':') === colon) return lower.slice(0, colon);
  }
  return lower;
}

function expected(
  want: Record<string, string | true | RegexSpec>,
  has: (name: string) => string[] | undefined,
): boolean {
  for (const [name, value] of Object.entries(want)) {
    const got = has(name);
    if (!got || got.length === 0) return false;
    if (value === true) continue;
    if (typeof value === 'string') {
      if (!got.includes(value)) return false;
    } else {
      // A regular expression matches anywhere in the value (RegExp.test), as in EdgeJS.
      const re = compileRegex(value);
      if (!got.some((v) => re.test(v))) return false;
    }
  }
  return true;
}

/**
 * Whether `req` meets a route's criteria; the path parameters when it does.
 * Methods: a route listing `GET` also matches `HEAD`.
 */
export function matchCriteria(
  criteria: RouteCriteria,
  req: MatchRequest,
): Record<string, string> | undefined {
  return matchView(criteria, new RequestView(req));
}

function matchView(criteria: RouteCriteria, req: RequestView): Record<string, string> | undefined {
  if (criteria.method && !methodMatches(criteria.method, req.method)) return undefined;
  if (criteria.host && !criteria.host.includes(req.host)) return undefined;
  if (criteria.query) {
    const pairs = req.queryPairs;
    const ok = expected(criteria.query, (name) =>
      pairs.filter(([n]) => n === name).map(([, v]) => v),
    );
    if (!ok) return undefined;
  }
  if (criteria.headers) {
    const ok = expected(criteria.headers, (name) => {
      const v = header(req.headers, name.toLowerCase());
      return v === undefined ? undefined : [v];
    });
    if (!ok) return undefined;
  }
  if (criteria.cookies) {
    const cookies = req.cookies;
    const ok = expected(criteria.cookies, (name) =>
      name in cookies ? [cookies[name] as string] : undefined,
    );
    if (!ok) return undefined;
  }
  return compiled(criteria.path).match(req.path);
}

function methodMatches(methods: readonly string[], method: string): boolean {
  return methods.includes(method) || (method === 'HEAD' && methods.includes('GET'));
}

/**
 * Merges cache options, field by field: `b` wins where it sets a field.
 * `edge: false` replaces any edge options and edge options replace `false`
 * (`browser` likewise);
 * two edge (or browser) objects merge key by key; `key` is replaced whole.
 */
export function mergeCacheOptions(
  a: RouteCacheOptions | undefined,
  b: RouteCacheOptions | undefined,
): RouteCacheOptions | undefined {
  if (!a) return b ? cloneCache(b) : undefined;
  if (!b) return cloneCache(a);
  const out: RouteCacheOptions = cloneCache(a);
  if (b.edge !== undefined) {
    out.edge =
      b.edge === false || out.edge === undefined || out.edge === false
        ? b.edge === false
          ? false
          : { ...b.edge }
        : { ...out.edge, ...b.edge };
  }
  if (b.browser !== undefined) {
    out.browser =
      b.browser === false || out.browser === undefined || out.browser === false
        ? b.browser === false
          ? false
          : { ...b.browser }
        : { ...out.browser, ...b.browser };
  }
  if (b.key !== undefined) out.key = cloneKey(b.key);
  return out;
}

function cloneCache(c: RouteCacheOptions): RouteCacheOptions {
  const out: RouteCacheOptions = {};
  if (c.edge !== undefined) out.edge = c.edge === false ? false : { ...c.edge };
  if (c.browser !== undefined) out.browser = c.browser === false ? false : { ...c.browser };
  if (c.key !== undefined) out.key = cloneKey(c.key);
  return out;
}

function cloneKey(k: NonNullable<RouteCacheOptions['key']>): NonNullable<RouteCacheOptions['key']> {
  return {
    query:
      k.query.mode === 'all' ? { mode: 'all' } : { mode: k.query.mode, names: [...k.query.names] },
    cookies: [...k.cookies],
    headers: [...k.headers],
    device: k.device,
    browser: k.browser,
    ...(k.cookiePartitions ? { cookiePartitions: clonePartitions(k.cookiePartitions) } : {}),
    ...(k.headerPartitions ? { headerPartitions: clonePartitions(k.headerPartitions) } : {}),
    ...(k.isBot !== undefined ? { isBot: k.isBot } : {}),
    ...(k.vendor !== undefined ? { vendor: k.vendor } : {}),
  };
}

function clonePartitions<P extends object>(table: Record<string, P[]>): Record<string, P[]> {
  const out: Record<string, P[]> = {};
  for (const [name, list] of Object.entries(table)) out[name] = list.map((p) => ({ ...p }));
  return out;
}

/**
 * Matches a request against a manifest's routes, EdgeJS style:
 *
 * - Routes are tried in order. Every matching route whose action is
 *   `headers` (it only declares cache options or header changes) is
 *   collected and matching goes on.
 * - The first matching route with a terminal action (`render`, `proxy`,
 *   `redirect`, `static`) answers; routes after it are not looked at.
 * - Fallback routes are skipped in that pass. When no non-fallback route
 *   with a terminal action matched, the fallback routes are tried the same
 *   way (their header-only routes collected, the first terminal answers).
 * - Cache options of the collected routes merge in order, later ones
 *   winning field by field ({@link mergeCacheOptions}); header changes
 *   concatenate in order.
 *
 * A route listing `GET` also matches `HEAD`. Path parameters are those of
 * the terminal route, percent-decoded.
 *
 * @param routes - The manifest's routes, in declaration order.
 * @param req - The request; `host` is lower-cased and a port dropped here too.
 * @example
 * const d = matchRoutes(manifest.routes, {
 *   method: 'GET', host: 'shop.example', path: '/p/42', query: 'color=red', headers: {},
 * });
 * d.terminal?.action.kind; // 'render'
 * d.params;                // { productId: '42' }
 */
export function matchRoutes(routes: readonly ManifestRoute[], req: MatchRequest): RouteDecision {
  const view = new RequestView(req);
  const routeIds: number[] = [];
  const headerOps: HeaderOp[] = [];
  let cache: RouteCacheOptions | undefined;

  const pass = (
    fallback: boolean,
  ): { route: ManifestRoute; params: Record<string, string> } | undefined => {
    for (const route of routes) {
      if (route.fallback !== fallback) continue;
      // Catch routes answer statuses, not requests; router.static() only the
      // build's files, which the shield answers before any route.
      if (route.catch || (route.action.kind === 'static' && route.action.filesOnly)) continue;
      const params = matchView(route.criteria, view);
      if (!params) continue;
      routeIds.push(route.id);
      if (route.cache) cache = mergeCacheOptions(cache, route.cache);
      headerOps.push(...route.headerOps);
      if (route.action.kind !== 'headers') return { route, params };
    }
    return undefined;
  };

  const found = pass(false) ?? pass(true);
  return {
    routeIds,
    terminal: found?.route,
    params: found?.params ?? {},
    cache,
    headerOps,
  };
}
