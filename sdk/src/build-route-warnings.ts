/**
 * What `flotilla build` warns about in the described routes: request facts
 * on cacheable routes (what they do to the cache), `${req:name}` values
 * that arrive empty on a cacheable route because the cached request is
 * rebuilt from the key's allow-list, and each behaviour of docs/edgejs.md
 * that differs from EdgeJS and shows in the routes (see
 * {@link edgeDifferenceWarnings}).
 *
 * @module
 */
import {
  catchRouteFor,
  type HeaderOp,
  type ManifestRoute,
  routeDestinations,
} from '@flotilla/manifest';

/** Headers every cached request keeps (the cache-mode allow-list). */
const ALWAYS_SENT = new Set(['accept-encoding', 'content-type', 'content-length']);

/** `GET /p/:id (route 3)`, as the Router names routes. */
function labelOf(route: ManifestRoute): string {
  const base = route.fallback
    ? `fallback (route ${route.id})`
    : route.catch
      ? `catch /${route.catch.regex}/ (route ${route.id})`
      : route.action.kind === 'static' && route.action.filesOnly
        ? `static ${route.action.dir} (route ${route.id})`
        : `${route.criteria.method ? route.criteria.method.join(',') : 'ANY'} ${route.criteria.path} (route ${route.id})`;
  return route.destination !== undefined ? `${base} of destination ${route.destination}` : base;
}

function cachesAtEdge(route: ManifestRoute): boolean {
  return route.cache?.edge !== undefined && route.cache.edge !== false;
}

/** A route that caches, or one that only adds headers to routes of which some cache. */
function mayBeCached(route: ManifestRoute, anyCached: boolean): boolean {
  return cachesAtEdge(route) || (route.action.kind === 'headers' && anyCached);
}

/** The EdgeJS call that recorded each header op. */
const HEADER_OP_APIS: Record<HeaderOp['op'], string> = {
  setResponse: 'setResponseHeader',
  removeResponse: 'removeResponseHeader',
  removeUpstreamResponse: 'removeUpstreamResponseHeader',
  setRequest: 'setRequestHeader',
  removeRequest: 'removeRequestHeader',
  updateResponse: 'updateResponseHeader',
  updateUpstreamResponse: 'updateUpstreamResponseHeader',
  updateRequest: 'updateRequestHeader',
  setUpstreamResponse: 'setUpstreamResponseHeader',
  addResponseCookie: 'addResponseCookie',
  cors: 'allowCors',
};

/** The statuses the shield answers with itself: a render that fails, one that times out. */
const SHIELD_ERROR_STATUSES = [502, 504];

/** The call behind a route the shield answers from a file, or undefined for any other route. */
function fileApiOf(route: ManifestRoute): string | undefined {
  const action = route.action;
  if (action.kind === 'asset') {
    if (route.catch) return 'router.catch() with serveStatic(file)';
    return action.serviceWorker ? 'serviceWorker(file)' : 'serveStatic(file)';
  }
  if (action.kind === 'static') return action.filesOnly ? 'router.static(dir)' : 'serveStatic(dir)';
  return undefined;
}

/**
 * The behaviours of docs/edgejs.md that differ from EdgeJS and that a
 * route shows, one warning each (naming the route and the API):
 * - a `router.catch()` handler that runs code, for a status pattern the
 *   shield's own errors match (502, 504): it cannot answer those;
 * - a `router.catch()` that serves a file with a `statusCode`: the original
 *   status is kept;
 * - header rules (and `allowCors`) on a route the shield answers from a
 *   file: not applied;
 * - criteria on headers, cookies or query parameters of a cacheable route:
 *   they join its cache key;
 * - `allowCors()` with an origin list or credentials on a cacheable route:
 *   cached per origin.
 */
export function edgeDifferenceWarnings(
  route: ManifestRoute,
  label: string,
  anyCached: boolean,
): string[] {
  const warnings: string[] = [];
  const action = route.action;
  if (route.catch && action.kind !== 'asset') {
    const own = SHIELD_ERROR_STATUSES.filter((status) => catchRouteFor([route], status));
    if (own.length > 0) {
      warnings.push(
        `route ${label}: router.catch() with a handler that runs code (${action.kind}) answers only the statuses a render or backend answers with, not the shield's own ${own.join(' and ')} (a render that fails or times out); for those, serve a file: serveStatic('errors/5xx.html')`,
      );
    }
  }
  if (route.catch && action.kind === 'asset' && action.status !== undefined) {
    warnings.push(
      `route ${label}: router.catch() answers with the original status, so serveStatic(…, { statusCode: ${action.status} }) is not used`,
    );
  }
  const fileApi = fileApiOf(route);
  if (fileApi && route.headerOps.length > 0) {
    const apis = [...new Set(route.headerOps.map((op) => `${HEADER_OP_APIS[op.op]}()`))];
    warnings.push(
      `route ${label}: ${apis.join(', ')} on a route the shield answers from a file (${fileApi}): the shield sends the file without the route's header rules, so they are not applied`,
    );
  }
  if (fileApi === undefined && mayBeCached(route, anyCached)) {
    const { headers, cookies, query } = route.criteria;
    const read = [
      ...Object.keys(headers ?? {}).map((n) => `header ${n}`),
      ...Object.keys(cookies ?? {}).map((n) => `cookie ${n}`),
      ...Object.keys(query ?? {}).map((n) => `query ${n}`),
    ];
    if (read.length > 0) {
      warnings.push(
        `route ${label}: its criteria read ${read.join(', ')}: on a cacheable route they join the cache key (one cached copy per value) and reach the render, so a page matched by them is never served to a request without them`,
      );
    }
    const cors = route.headerOps.find(
      (op): op is Extract<HeaderOp, { op: 'cors' }> =>
        op.op === 'cors' && (Array.isArray(op.origin) || op.credentials === true),
    );
    if (cors) {
      warnings.push(
        `route ${label}: allowCors() with ${Array.isArray(cors.origin) ? 'a list of origins' : 'credentials'} answers depending on the request's origin: on a cacheable route the shield keeps one cached copy per origin (vary: origin)`,
      );
    }
  }
  return warnings;
}

/**
 * Warnings for `routes`, one line each, naming the route and the API:
 * - every `passRequestFacts()`: keyed, what it costs; unkeyed, that a
 *   cached response must not depend on the facts;
 * - every `setRequestHeader()`/`setResponseHeader()` value reading
 *   `${req:name}` on a route that may be cached, where `name` is neither
 *   in the route's key, nor a passed fact, nor always sent: it is empty there.
 */
export function routeWarnings(routes: readonly ManifestRoute[]): string[] {
  const warnings: string[] = [];
  const anyCached = routes.some(cachesAtEdge);
  for (const route of routes) {
    const label = labelOf(route);
    warnings.push(...edgeDifferenceWarnings(route, label, anyCached));
    const facts = route.requestFacts;
    if (facts) {
      const list = facts.names.join(', ');
      warnings.push(
        facts.cacheKey === 'add'
          ? `route ${label}: passRequestFacts([${list}], { cacheKey: 'add' }) keys each value: one cached copy per value${facts.names.includes('client-ip') ? ' (client-ip: one per visitor, so the route is hardly cached)' : ''}`
          : `route ${label}: passRequestFacts([${list}], { cacheKey: 'none' }) passes them unkeyed: a cached response is served to every visitor, so it must not show or depend on them`,
      );
    }
    const cached = mayBeCached(route, anyCached);
    if (!cached) continue;
    const keyed = new Set((route.cache?.key?.headers ?? []).map((h) => h.toLowerCase()));
    const passed = new Set(
      (facts?.names ?? []).map((n) => (n === 'client-ip' ? 'x-flotilla-client-ip' : n)),
    );
    for (const op of route.headerOps) {
      if (op.op !== 'setRequest' && op.op !== 'setResponse') continue;
      for (const m of op.value.matchAll(/\$\{req:([^}]+)\}/g)) {
        const name = (m[1] as string).trim().toLowerCase();
        if (ALWAYS_SENT.has(name) || keyed.has(name) || passed.has(name)) continue;
        const api = op.op === 'setRequest' ? 'setRequestHeader' : 'setResponseHeader';
        warnings.push(
          `route ${label}: ${api}(${JSON.stringify(op.name)}, ${JSON.stringify(op.value)}) on a cacheable route: "${name}" is not in the cache key, so it arrives empty ` +
            `(a cached request is rebuilt from the key's allow-list); pass it with passRequestFacts([${JSON.stringify(name)}], { cacheKey: 'none' | 'add' }) or key it with CustomCacheKey.addHeader`,
        );
      }
    }
  }
  const destinations = routeDestinations(routes);
  if (destinations.length > 0) {
    warnings.push(
      `router.destination(${JSON.stringify(destinations[0])}, …): a request no split test sends anywhere gets this destination, the first declared (EdgeJS: the console's default); declare the default destination first, or set a split (flotilla split set)`,
    );
  }
  return warnings;
}
