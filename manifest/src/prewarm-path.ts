/**
 * Which path a pre-warm renders: one the deployment renders itself, never
 * one it proxies to another origin (a legacy site behind a
 * `fallback(({ proxy }) => proxy('legacy'))` would get a request with every
 * publish) or answers without code.
 *
 * @module
 */
import { matchRoutes } from './match.ts';
import { compilePattern } from './pattern.ts';
import type { Manifest } from './types.ts';

/** Paths a pre-warm renders at most (each is a render on every thread of every worker). */
export const MAX_PREWARM_PATHS = 8;

/** Whether a plain `GET path` (no query, headers or cookies) is rendered by the bundle. */
function rendersItself(manifest: Pick<Manifest, 'routes'>, path: string): boolean {
  const { terminal } = matchRoutes(manifest.routes, {
    method: 'GET',
    host: 'prewarm.flotilla.invalid',
    path,
    query: '',
    headers: {},
  });
  // No route at all: the bundle answers its own 404.
  return terminal === undefined || terminal.action.kind === 'render';
}

/**
 * The path of a pre-warm's synthetic `GET`: `/` when the bundle renders it,
 * else the first literal path (no parameters) of a route that renders; `null`
 * when there is none (the pre-warm then only loads the bundle).
 *
 * @example prewarmPath(manifest); // '/', '/home' or null
 */
export function prewarmPath(manifest: Pick<Manifest, 'routes'>): string | null {
  if (rendersItself(manifest, '/')) return '/';
  for (const route of manifest.routes) {
    if (route.fallback || route.action.kind !== 'render') continue;
    let literal: boolean;
    try {
      literal = compilePattern(route.criteria.path).params.length === 0;
    } catch {
      continue;
    }
    if (literal && rendersItself(manifest, route.criteria.path)) return route.criteria.path;
  }
  return null;
}

/**
 * Every path a pre-warm renders, in order, each warming (compiling) the
 * code of its route: {@link prewarmPath} first, then the manifest's
 * `prerender` paths and the literal paths of its render routes that the
 * bundle renders itself (never a proxy, redirect or static file), without
 * repeats, at most {@link MAX_PREWARM_PATHS}. Empty when the bundle renders
 * none of them (a pre-warm then only loads it).
 *
 * @example prewarmPaths(manifest); // ['/', '/products', '/about']
 */
export function prewarmPaths(manifest: Pick<Manifest, 'routes' | 'prerender'>): string[] {
  const first = prewarmPath(manifest);
  const paths = new Set<string>(first === null ? [] : [first]);
  const add = (path: string) => {
    if (paths.size < MAX_PREWARM_PATHS && !paths.has(path) && rendersItself(manifest, path)) {
      paths.add(path);
    }
  };
  // A prerender path may carry a query: the route is matched on its path.
  for (const path of manifest.prerender ?? []) {
    const [pathOnly = path] = path.split('?');
    if (rendersItself(manifest, pathOnly)) add(path);
  }
  for (const route of manifest.routes) {
    if (paths.size >= MAX_PREWARM_PATHS) break;
    if (route.fallback || route.action.kind !== 'render') continue;
    try {
      if (compilePattern(route.criteria.path).params.length === 0) add(route.criteria.path);
    } catch {
      // not a pattern this matcher compiles: skipped, as by prewarmPath
    }
  }
  return [...paths];
}
