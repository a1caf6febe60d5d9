/**
 * Nuxt's route rules (`routeRules` in `nuxt.config`, as Nitro normalises
 * them) → the manifest's routes, so that the shield caches by the app's own
 * rules before any code runs:
 *
 * | route rule                                      | edge (shield) caching                          |
 * | ----------------------------------------------- | ---------------------------------------------- |
 * | `swr: 60`                                       | fresh 60 s, then stale while revalidating (1 y) |
 * | `swr: true`                                     | fresh 1 s (Nitro's default), then as above      |
 * | `isr: 60`                                       | fresh 60 s, then stale while revalidating (1 y) |
 * | `isr: true`                                     | fresh until the next deployment (1 y)           |
 * | `cache: { maxAge, staleMaxAge, swr }`           | fresh `maxAge`; stale `staleMaxAge` (-1: 1 y)   |
 * | `cache: false`, `isr: false`                    | never cached                                    |
 *
 * Each rule becomes a header-only route (`action: headers`) with those
 * cache options, ordered from the least to the most specific pattern (the
 * manifest merges later over earlier, as Nitro lets the most specific rule
 * win), then one catch-all render route: Nuxt matches pages itself.
 * No Node built-ins.
 *
 * @module
 */
import type { EdgeCacheOptions, ManifestRoute, RouteCacheOptions } from '@flotilla/manifest';
import { CATCH_ALL_ROUTE } from '../build-routes.ts';
import type { NuxtRouteRule } from './nuxt-build.ts';

/** Seconds standing for "no limit" (Nitro's bare `stale-while-revalidate`, `isr: true`): a year. */
export const UNBOUNDED_SECONDS = 31_536_000;

/** Nitro's default `maxAge` of a cached handler, in seconds. */
const NITRO_DEFAULT_MAX_AGE = 1;

/** A Nitro route pattern (`/p/**`, `/p/*`, `/p/:id`, `/docs/**:slug`) as a manifest path pattern. */
export function nitroPattern(pattern: string): string {
  let n = 0;
  const segments = pattern
    .split('/')
    .filter((s, i) => i === 0 || s !== '')
    .map((segment) => {
      if (segment === '**') return ':path*';
      const named = /^\*\*:([A-Za-z_]\w*)$/.exec(segment);
      if (named) return `:${named[1]}*`;
      if (segment === '*') return `:_${++n}`;
      return segment;
    });
  const path = segments.join('/');
  return path.startsWith('/') ? path : `/${path}`;
}

/** Higher for a more specific pattern: literal segments count most, a `**` least. */
function specificity(pattern: string): number {
  let score = pattern.includes('**') ? 0 : 1;
  for (const segment of pattern.split('/').filter(Boolean)) {
    if (segment.startsWith('**')) continue;
    score += segment === '*' || segment.startsWith(':') ? 2 : 4;
  }
  return score;
}

/** The edge caching a rule asks for, or undefined when it says nothing about caching. */
export function edgeCacheOf(rule: NuxtRouteRule): EdgeCacheOptions | false | undefined {
  if (rule.cache === false || rule.isr === false) return false;
  if (rule.isr !== undefined && rule.isr !== null) {
    const isr = rule.isr;
    const expiration =
      typeof isr === 'number'
        ? isr
        : typeof isr === 'object' && typeof isr.expiration === 'number'
          ? isr.expiration
          : UNBOUNDED_SECONDS;
    return { maxAgeSeconds: expiration, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS };
  }
  const cache = rule.cache;
  if (cache === undefined) return undefined;
  const maxAge = typeof cache.maxAge === 'number' ? cache.maxAge : NITRO_DEFAULT_MAX_AGE;
  if (cache.swr === false) return { maxAgeSeconds: Math.max(0, Math.floor(maxAge)) };
  const stale =
    typeof cache.staleMaxAge === 'number' && cache.staleMaxAge >= 0
      ? cache.staleMaxAge
      : UNBOUNDED_SECONDS;
  return {
    maxAgeSeconds: Math.max(0, Math.floor(maxAge)),
    staleWhileRevalidateSeconds: Math.floor(stale),
  };
}

/**
 * The manifest routes of a Nuxt app: a header-only route per route rule
 * that caches (or refuses caching) and per prerendered path the shield
 * cannot serve as a file (`prerendered`: cached for the deployment's life,
 * as the page cannot change before the next one), then the catch-all
 * render route.
 */
export function nuxtRoutes(
  routeRules: Record<string, NuxtRouteRule>,
  prerendered: readonly string[] = [],
): ManifestRoute[] {
  const cached = [
    ...Object.entries(routeRules).map(([pattern, rule]) => ({ pattern, edge: edgeCacheOf(rule) })),
    ...prerendered.map((path) => ({
      pattern: path,
      edge: { maxAgeSeconds: UNBOUNDED_SECONDS } as EdgeCacheOptions | false | undefined,
    })),
  ]
    .filter((r) => r.edge !== undefined)
    .sort((a, b) => specificity(a.pattern) - specificity(b.pattern));
  const routes: ManifestRoute[] = cached.map(({ pattern, edge }, id) => ({
    id,
    criteria: { path: nitroPattern(pattern) },
    fallback: false,
    action: { kind: 'headers' },
    cache: { edge } as RouteCacheOptions,
    headerOps: [],
  }));
  routes.push({ ...structuredClone(CATCH_ALL_ROUTE), id: routes.length });
  return routes;
}
