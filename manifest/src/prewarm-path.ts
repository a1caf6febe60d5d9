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
