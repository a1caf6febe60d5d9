/**
 * Nuxt route rules (as Nitro normalises them) → the manifest's routes: the
 * edge cache each kind of rule gives, Nitro's patterns as manifest patterns,
 * and the order that lets the most specific rule win, checked with the
 * shield's own matcher.
 */
import { matchRoutes, validateRoute } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { edgeCacheOf, nitroPattern, nuxtRoutes, UNBOUNDED_SECONDS } from './nuxt-routes.ts';

describe('edgeCacheOf', () => {
  it.each([
    [
      'swr: 60',
      { swr: 60, cache: { swr: true, maxAge: 60 } },
      { maxAgeSeconds: 60, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    [
      'swr: true',
      { swr: true, cache: { swr: true } },
      { maxAgeSeconds: 1, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    [
      'isr: 120',
      { isr: 120 },
      { maxAgeSeconds: 120, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    [
      'isr: true',
      { isr: true },
      { maxAgeSeconds: UNBOUNDED_SECONDS, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    [
      'isr: { expiration: 30 }',
      { isr: { expiration: 30 } },
      { maxAgeSeconds: 30, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    [
      'cache with staleMaxAge',
      { cache: { swr: true, maxAge: 300, staleMaxAge: 3600 } },
      { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 3600 },
    ],
    [
      'cache with staleMaxAge -1',
      { cache: { maxAge: 10, staleMaxAge: -1 } },
      { maxAgeSeconds: 10, staleWhileRevalidateSeconds: UNBOUNDED_SECONDS },
    ],
    ['cache without swr', { cache: { swr: false, maxAge: 45 } }, { maxAgeSeconds: 45 }],
    ['cache: false', { cache: false as const }, false],
    ['isr: false', { isr: false }, false],
    ['prerender only', { prerender: true }, undefined],
    ['headers only', { headers: { 'x-a': 'b' } }, undefined],
  ])('%s', (_name, rule, edge) => {
    expect(edgeCacheOf(rule)).toEqual(edge);
  });
});

describe('nitroPattern', () => {
  it.each([
    ['/', '/'],
    ['/about', '/about'],
    ['/p/**', '/p/:path*'],
    ['/**', '/:path*'],
    ['/p/*', '/p/:_1'],
    ['/p/*/reviews/*', '/p/:_1/reviews/:_2'],
    ['/p/:id', '/p/:id'],
    ['/docs/**:slug', '/docs/:slug*'],
    ['/p/7/_payload.json', '/p/7/_payload.json'],
  ])('%s → %s', (nitro, manifest) => {
    expect(nitroPattern(nitro)).toBe(manifest);
  });
});

describe('nuxtRoutes', () => {
  const routes = nuxtRoutes(
    {
      '/**': { headers: { 'x-frame-options': 'DENY' } },
      '/blog/**': { swr: 600, cache: { swr: true, maxAge: 600 } },
      '/blog/draft/**': { cache: false },
      '/blog/hello': { isr: 60 },
      '/about': { prerender: true },
    },
    ['/about/_payload.json'],
  );
  const edge = (path: string) =>
    matchRoutes(routes, { method: 'GET', host: 'shop.test', path, query: '', headers: {} });

  it('is valid manifest routes: header-only cache routes, then one catch-all render route', () => {
    routes.forEach((route, i) => {
      expect(validateRoute(route, i)).toEqual(route);
    });
    expect(routes.at(-1)).toEqual({
      id: routes.length - 1,
      criteria: { path: '/:path*' },
      fallback: false,
      action: { kind: 'render' },
      headerOps: [],
    });
    expect(routes.slice(0, -1).every((r) => r.action.kind === 'headers')).toBe(true);
    // Rules that say nothing about caching make no route.
    expect(routes.map((r) => r.criteria.path)).not.toContain('/about');
  });

  it('lets the most specific rule win, as Nitro does', () => {
    expect(edge('/blog/other').cache?.edge).toEqual({
      maxAgeSeconds: 600,
      staleWhileRevalidateSeconds: UNBOUNDED_SECONDS,
    });
    expect(edge('/blog/hello').cache?.edge).toEqual({
      maxAgeSeconds: 60,
      staleWhileRevalidateSeconds: UNBOUNDED_SECONDS,
    });
    expect(edge('/blog/draft/x').cache?.edge).toBe(false);
    expect(edge('/elsewhere').cache).toBeUndefined();
    expect(edge('/elsewhere').terminal?.action.kind).toBe('render');
  });

  it("caches a prerendered page's rendered payload for the deployment's life", () => {
    expect(edge('/about/_payload.json').cache?.edge).toEqual({ maxAgeSeconds: UNBOUNDED_SECONDS });
  });
});
