/**
 * What `flotilla build` warns about in the described routes: request facts
 * on cacheable routes (what they do to the cache), and `${req:name}` values
 * that arrive empty on a cacheable route because the cached request is
 * rebuilt from the key's allow-list.
 *
 * @module
 */
import type { ManifestRoute } from '@flotilla/manifest';

/** Headers every cached request keeps (the cache-mode allow-list). */
const ALWAYS_SENT = new Set(['accept-encoding', 'content-type', 'content-length']);

/** `GET /p/:id (route 3)`, as the Router names routes. */
function labelOf(route: ManifestRoute): string {
  const base = route.fallback
    ? `fallback (route ${route.id})`
    : `${route.criteria.method ? route.criteria.method.join(',') : 'ANY'} ${route.criteria.path} (route ${route.id})`;
  return route.destination !== undefined ? `${base} of destination ${route.destination}` : base;
}

function cachesAtEdge(route: ManifestRoute): boolean {
  return route.cache?.edge !== undefined && route.cache.edge !== false;
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
    const facts = route.requestFacts;
    if (facts) {
      const list = facts.names.join(', ');
      warnings.push(
        facts.cacheKey === 'add'
          ? `route ${label}: passRequestFacts([${list}], { cacheKey: 'add' }) keys each value: one cached copy per value${facts.names.includes('client-ip') ? ' (client-ip: one per visitor, so the route is hardly cached)' : ''}`
          : `route ${label}: passRequestFacts([${list}], { cacheKey: 'none' }) passes them unkeyed: a cached response is served to every visitor, so it must not show or depend on them`,
      );
    }
    const cached = cachesAtEdge(route) || (route.action.kind === 'headers' && anyCached);
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
  return warnings;
}
