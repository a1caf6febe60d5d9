import { describe, expect, it } from 'vitest';
import { MAX_PREWARM_PATHS, prewarmPath, prewarmPaths } from './prewarm-path.ts';
import type { ManifestRoute } from './route-schema.ts';

const route = (
  id: number,
  path: string,
  action: ManifestRoute['action'],
  extra: Partial<ManifestRoute> = {},
): ManifestRoute => ({
  id,
  criteria: { path, method: ['GET'] },
  fallback: false,
  action,
  headerOps: [],
  ...extra,
});
const fallbackProxy = (id: number): ManifestRoute => ({
  id,
  criteria: { path: '/:path*' },
  fallback: true,
  action: { kind: 'proxy', backend: 'legacy' },
  headerOps: [],
});

describe('prewarmPath', () => {
  it('is / when the bundle renders it (or nothing matches: the bundle answers 404 itself)', () => {
    expect(prewarmPath({ routes: [route(0, '/', { kind: 'render' })] })).toBe('/');
    expect(prewarmPath({ routes: [route(0, '/p/:id', { kind: 'render' })] })).toBe('/');
  });

  it('never / when it is the legacy proxy fallback: the first literal render route instead', () => {
    const routes = [
      route(0, '/p/:id', { kind: 'render' }),
      route(
        1,
        '/search',
        { kind: 'render' },
        { criteria: { path: '/search', query: { q: true } } },
      ),
      route(2, '/home', { kind: 'render' }),
      fallbackProxy(3),
    ];
    expect(prewarmPath({ routes })).toBe('/home');
  });

  it('is null when the deployment renders no literal path itself', () => {
    const routes = [
      route(0, '/', { kind: 'redirect', to: '/home', statusCode: 301 }),
      route(1, '/p/:id', { kind: 'render' }),
      fallbackProxy(2),
    ];
    expect(prewarmPath({ routes })).toBeNull();
  });
});

describe('prewarmPaths', () => {
  it('lists the pre-warm path, then the prerender list, then literal render routes, once each', () => {
    const routes = [
      route(0, '/', { kind: 'render' }),
      route(1, '/p/:id', { kind: 'render' }),
      route(2, '/about', { kind: 'render' }),
      route(3, '/old', { kind: 'redirect', to: '/about', statusCode: 301 }),
      route(4, '/legacy/:path*', { kind: 'proxy', backend: 'legacy' }),
      route(5, '/cart', { kind: 'render' }),
    ];
    expect(
      prewarmPaths({ routes, prerender: ['/p/1', '/about', '/p/2?tab=spec', '/old', '/legacy/x'] }),
    ).toEqual(['/', '/p/1', '/about', '/p/2?tab=spec', '/cart']);
  });

  it('never lists a path the bundle does not render itself', () => {
    const routes = [
      route(0, '/', { kind: 'redirect', to: '/home', statusCode: 301 }),
      route(1, '/p/:id', { kind: 'render' }),
      fallbackProxy(2),
    ];
    expect(prewarmPaths({ routes, prerender: ['/', '/anything'] })).toEqual([]);
  });

  it('stops at MAX_PREWARM_PATHS', () => {
    const prerender = Array.from({ length: 20 }, (_, i) => `/p/${i}`);
    const routes = [route(0, '/p/:id', { kind: 'render' })];
    const paths = prewarmPaths({ routes, prerender });
    expect(paths).toHaveLength(MAX_PREWARM_PATHS);
    expect(paths.slice(0, 2)).toEqual(['/', '/p/0']);
  });
});
