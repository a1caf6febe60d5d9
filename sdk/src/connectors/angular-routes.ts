/**
 * Angular's server routes (`routes` of `angular-app-manifest.mjs`) as
 * Flotilla manifest routes, so that the shield decides caching before any
 * code runs:
 *
 * - every route renders (Angular matches routes itself; a prerendered page
 *   is an asset, which the shield answers before any route);
 * - a route whose `headers` carry `Cache-Control` with `s-maxage` gets edge
 *   caching of that many seconds, with its `stale-while-revalidate`;
 *   `no-store` or `private` never caches at the edge; any other route lets
 *   the response's own `Cache-Control` decide (Angular sends the route's
 *   headers with every page it renders);
 * - Angular's `*` (one segment) becomes a `:seg1` parameter and `**` (any
 *   rest) a `:rest*` parameter; routes without wildcards come first, then
 *   those with `*`, then the `**` ones as fallbacks, and a catch-all
 *   fallback ends the list when the app has none.
 *
 * Pure; no Node APIs.
 *
 * @module
 */
import { type ManifestRoute, type RouteCacheOptions, validateRoute } from '@flotilla/manifest';

/** One route of Angular's app manifest, the fields read here. */
export interface AngularServerRoute {
  /** `/`, `/p/*`, `/docs/**` */
  route: string;
  /** `RenderMode`: 0 server, 1 client, 2 prerender. */
  renderMode: number;
  headers?: Record<string, string>;
  status?: number;
  redirectTo?: string;
}

/** The edge cache options a `Cache-Control` value asks for, or undefined to let the response decide. */
export function cacheFromCacheControl(value: string | undefined): RouteCacheOptions | undefined {
  if (value === undefined) return undefined;
  const directives = new Map<string, string | undefined>();
  for (const part of value.split(',')) {
    const [rawName, rawValue] = part.split('=', 2);
    const name = rawName?.trim().toLowerCase();
    if (name) directives.set(name, rawValue?.trim().replace(/^"(.*)"$/, '$1'));
  }
  if (directives.has('no-store') || directives.has('private')) return { edge: false };
  const seconds = (name: string): number | undefined => {
    const raw = directives.get(name);
    return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  };
  const maxAge = seconds('s-maxage');
  if (maxAge === undefined) return undefined;
  const stale = seconds('stale-while-revalidate');
  return {
    edge: {
      maxAgeSeconds: maxAge,
      ...(stale === undefined ? {} : { staleWhileRevalidateSeconds: stale }),
    },
  };
}

/** `/p/*` → `/p/:seg1`, `/docs/**` → `/docs/:rest*`. */
export function angularPathPattern(route: string): string {
  let n = 0;
  const segments = route
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => {
      if (segment === '**') return ':rest*';
      if (segment === '*') return `:seg${++n}`;
      return segment;
    });
  return `/${segments.join('/')}`;
}

/** Sort rank: static routes, then routes with `*`, then `**` (fallbacks). */
function rank(route: string): number {
  if (route.split('/').includes('**')) return 2;
  return route.split('/').includes('*') ? 1 : 0;
}

/**
 * The manifest routes for Angular's server routes (see the module
 * documentation). A route whose path Flotilla's patterns cannot say is left
 * out (the catch-all renders it, and its response headers still decide
 * caching).
 */
export function angularManifestRoutes(routes: readonly AngularServerRoute[]): ManifestRoute[] {
  const ordered = routes
    .map((route, index) => ({ route, index }))
    .sort((a, b) => rank(a.route.route) - rank(b.route.route) || a.index - b.index)
    .map(({ route }) => route);
  const out: ManifestRoute[] = [];
  const add = (path: string, fallback: boolean, cache: RouteCacheOptions | undefined): void => {
    const candidate: ManifestRoute = {
      id: out.length,
      criteria: { path },
      fallback,
      action: { kind: 'render' },
      ...(cache ? { cache } : {}),
      headerOps: [],
    };
    try {
      out.push(validateRoute(candidate, candidate.id));
    } catch {
      // A path Flotilla's patterns cannot say: the catch-all renders it.
    }
  };
  for (const route of ordered) {
    const cacheControl = Object.entries(route.headers ?? {}).find(
      ([name]) => name.toLowerCase() === 'cache-control',
    )?.[1];
    add(
      angularPathPattern(route.route),
      rank(route.route) === 2,
      cacheFromCacheControl(cacheControl),
    );
  }
  if (!out.some((route) => route.fallback && route.criteria.path === '/:rest*')) {
    add('/:rest*', true, undefined);
  }
  return out;
}
