/**
 * What route matching read of a request beyond its path: the headers,
 * cookies and query parameters named by the criteria of the routes whose
 * path, method and host match it. A cacheable request must be keyed by them and must carry them to
 * the render, or the shield and the bundle could pick different routes for
 * one cache entry (a page matched by `headers: { 'x-beta': /yes/ }` served
 * to everyone, or rendered by the bundle as the route without the header).
 *
 * @module
 */

import { DEFAULT_CACHE_KEY_SPEC } from './cache-key.ts';
import type { CacheKeySpec } from './cache-options-schema.ts';
import { matchCriteria } from './match.ts';
import type { ManifestRoute } from './route-schema.ts';
import type { MatchRequest } from './types.ts';

/** Header (lower case), cookie and query parameter names route criteria read for a request. */
export interface CriteriaReads {
  headers: string[];
  cookies: string[];
  query: string[];
}

/**
 * The header and cookie names named by the criteria of every route whose
 * path, method and host match `req` (whatever its header and cookie
 * criteria say), in route order, each once.
 *
 * @example
 * criteriaReads(manifest.routes, { method: 'GET', host: 'a', path: '/beta', query: '', headers: {} });
 * // { headers: ['x-beta'], cookies: ['plan'], query: ['v'] }
 */
export function criteriaReads(routes: readonly ManifestRoute[], req: MatchRequest): CriteriaReads {
  const headers = new Set<string>();
  const cookies = new Set<string>();
  const query = new Set<string>();
  for (const route of routes) {
    const { headers: h, cookies: c, query: q } = route.criteria;
    if (!h && !c && !q) continue;
    const { path, method, host } = route.criteria;
    const where = { path, ...(method ? { method } : {}), ...(host ? { host } : {}) };
    if (!matchCriteria(where, req)) continue;
    for (const name of Object.keys(h ?? {})) headers.add(name.toLowerCase());
    for (const name of Object.keys(c ?? {})) cookies.add(name);
    for (const name of Object.keys(q ?? {})) query.add(name);
  }
  return { headers: [...headers], cookies: [...cookies], query: [...query] };
}

/**
 * `spec` (absent: the default key) with the names of `reads` added to its
 * headers and cookies (those it lacks, at the end) and its query parameters
 * kept (added to an `only` list, taken off an `exclude` list), or `spec`
 * itself when it holds them all already.
 */
export function withCriteriaReads(
  spec: CacheKeySpec | undefined,
  reads: CriteriaReads,
): CacheKeySpec | undefined {
  const base = spec ?? DEFAULT_CACHE_KEY_SPEC;
  const headers = reads.headers.filter((name) => !base.headers.includes(name));
  const cookies = reads.cookies.filter((name) => !base.cookies.includes(name));
  const q = base.query;
  const query: CacheKeySpec['query'] =
    q.mode === 'only' && reads.query.some((name) => !q.names.includes(name))
      ? { mode: 'only', names: [...q.names, ...reads.query.filter((n) => !q.names.includes(n))] }
      : q.mode === 'exclude' && reads.query.some((name) => q.names.includes(name))
        ? excludeWithout(q.names, reads.query)
        : q;
  if (headers.length === 0 && cookies.length === 0 && query === q) return spec;
  return {
    ...base,
    query,
    headers: [...base.headers, ...headers],
    cookies: [...base.cookies, ...cookies],
  };
}

function excludeWithout(names: readonly string[], keep: readonly string[]): CacheKeySpec['query'] {
  const rest = names.filter((name) => !keep.includes(name));
  return rest.length === 0 ? { mode: 'all' } : { mode: 'exclude', names: rest };
}
