import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RouteCriteria } from './criteria-schema.ts';
import type { HeaderOp } from './header-op-schema.ts';
import { matchRoutes, mergeCacheOptions } from './match.ts';
import type { ManifestRoute, RouteAction } from './route-schema.ts';
import type { MatchRequest } from './types.ts';

function routes(
  ...specs: Array<{
    criteria: RouteCriteria;
    action?: RouteAction;
    fallback?: boolean;
    cache?: ManifestRoute['cache'];
    headerOps?: HeaderOp[];
  }>
): ManifestRoute[] {
  return specs.map((s, id) => ({
    id,
    criteria: s.criteria,
    fallback: s.fallback ?? false,
    action: s.action ?? { kind: 'render' },
    ...(s.cache ? { cache: s.cache } : {}),
    headerOps: s.headerOps ?? [],
  }));
}

function req(path: string, init: Partial<MatchRequest> = {}): MatchRequest {
  const q = path.indexOf('?');
  return {
    method: 'GET',
    host: 'shop.example',
    path: q === -1 ? path : path.slice(0, q),
    query: q === -1 ? '' : path.slice(q + 1),
    headers: {},
    ...init,
  };
}

describe('matchRoutes', () => {
  const table = routes(
    {
      criteria: { path: '/:path*' },
      action: { kind: 'headers' },
      cache: { edge: { maxAgeSeconds: 10, staleWhileRevalidateSeconds: 5 } },
      headerOps: [{ op: 'setResponse', name: 'x-frame-options', value: 'DENY' }],
    },
    {
      criteria: { path: '/p/:productId', method: ['GET'] },
      cache: { edge: { maxAgeSeconds: 60 } },
    },
    {
      criteria: { path: '/api/:path*' },
      action: { kind: 'proxy', backend: 'api', path: '/:path*' },
    },
    {
      criteria: { path: '/p/:productId' },
      action: { kind: 'redirect', to: '/x', statusCode: 302 },
    },
    { criteria: { path: '/:path*' }, fallback: true, cache: { edge: false } },
  );

  it('collects header-only routes and stops at the first terminal route', () => {
    const d = matchRoutes(table, req('/p/42'));
    expect(d.routeIds).toEqual([0, 1]);
    expect(d.terminal?.id).toBe(1);
    expect(d.params).toEqual({ productId: '42' });
    expect(d.cache).toEqual({ edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 5 } });
    expect(d.headerOps).toEqual([{ op: 'setResponse', name: 'x-frame-options', value: 'DENY' }]);
  });

  it('lets a later route answer when an earlier one does not match the method', () => {
    const d = matchRoutes(table, req('/p/42', { method: 'POST' }));
    expect(d.terminal?.action).toEqual({ kind: 'redirect', to: '/x', statusCode: 302 });
    expect(d.routeIds).toEqual([0, 3]);
  });

  it('matches HEAD requests to GET routes', () => {
    expect(matchRoutes(table, req('/p/1', { method: 'head' })).terminal?.id).toBe(1);
  });

  it('runs the fallback only when no other terminal route matched', () => {
    const d = matchRoutes(table, req('/nothing/here'));
    expect(d.terminal?.id).toBe(4);
    expect(d.routeIds).toEqual([0, 4]);
    expect(d.cache).toEqual({ edge: false });
    expect(d.params).toEqual({ path: 'nothing/here' });
    expect(matchRoutes(table, req('/api/v1')).terminal?.id).toBe(2);
  });

  it('answers with no terminal route (a 404 from the bundle) when nothing terminal matches', () => {
    const d = matchRoutes(routes({ criteria: { path: '/a' } }), req('/b'));
    expect(d).toEqual({
      routeIds: [],
      terminal: undefined,
      params: {},
      cache: undefined,
      headerOps: [],
    });
  });

  it('narrows by host, query, headers and cookies', () => {
    const t = routes(
      {
        criteria: { path: '/', host: ['a.example'] },
        action: { kind: 'redirect', to: '/a', statusCode: 301 },
      },
      {
        criteria: { path: '/', query: { preview: true } },
        action: { kind: 'redirect', to: '/q', statusCode: 301 },
      },
      {
        criteria: { path: '/', query: { lang: 'fr' } },
        action: { kind: 'redirect', to: '/fr', statusCode: 301 },
      },
      {
        criteria: { path: '/', headers: { 'x-beta': '1' } },
        action: { kind: 'redirect', to: '/h', statusCode: 301 },
      },
      {
        criteria: { path: '/', cookies: { ab: 'b' } },
        action: { kind: 'redirect', to: '/c', statusCode: 301 },
      },
      { criteria: { path: '/' } },
    );
    const to = (r: MatchRequest) => {
      const action = matchRoutes(t, r).terminal?.action;
      return action?.kind === 'redirect' ? action.to : action?.kind;
    };
    expect(to(req('/', { host: 'A.Example:8080' }))).toBe('/a');
    expect(to(req('/?preview'))).toBe('/q');
    expect(to(req('/?lang=de&lang=fr'))).toBe('/fr');
    expect(to(req('/?lang=de'))).toBe('render');
    expect(to(req('/', { headers: { 'x-beta': '1' } }))).toBe('/h');
    expect(to(req('/', { headers: { 'x-beta': '2' } }))).toBe('render');
    expect(to(req('/', { headers: { cookie: 'x=1; ab=b' } }))).toBe('/c');
    expect(to(req('/', { headers: { cookie: 'ab=a' } }))).toBe('render');
  });

  it('percent-decodes parameters', () => {
    const d = matchRoutes(routes({ criteria: { path: '/s/:q' } }), req('/s/red%20shoes%21'));
    expect(d.params).toEqual({ q: 'red shoes!' });
  });
});

describe('mergeCacheOptions', () => {
  it('merges field by field, later winning', () => {
    expect(
      mergeCacheOptions(
        {
          edge: { maxAgeSeconds: 1, staleWhileRevalidateSeconds: 2 },
          browser: { maxAgeSeconds: 3 },
        },
        { edge: { maxAgeSeconds: 9 }, browser: { serviceWorkerSeconds: 4 } },
      ),
    ).toEqual({
      edge: { maxAgeSeconds: 9, staleWhileRevalidateSeconds: 2 },
      browser: { maxAgeSeconds: 3, serviceWorkerSeconds: 4 },
    });
    expect(mergeCacheOptions({ edge: { maxAgeSeconds: 1 } }, { edge: false })).toEqual({
      edge: false,
    });
    expect(mergeCacheOptions({ edge: false }, { edge: { maxAgeSeconds: 5 } })).toEqual({
      edge: { maxAgeSeconds: 5 },
    });
  });
});

describe('matchRoutes: properties', () => {
  const paths = ['/a', '/b', '/:x', '/:rest*', '/a/:y?'];
  const kinds: RouteAction[] = [
    { kind: 'render' },
    { kind: 'headers' },
    { kind: 'redirect', to: '/z', statusCode: 302 },
  ];
  const route = fc.record({
    path: fc.constantFrom(...paths),
    action: fc.constantFrom(...kinds),
    fallback: fc.boolean(),
    maxAge: fc.option(fc.nat(100), { nil: undefined }),
  });

  it('answers with the first matching terminal route, fallbacks last, and merges the cache of every route it collected', () => {
    fc.assert(
      fc.property(
        fc.array(route, { maxLength: 8 }),
        fc.constantFrom('/a', '/b', '/c', '/a/q', '/'),
        (specs, path) => {
          const table = routes(
            ...specs.map((s) => ({
              criteria: { path: s.path },
              action: s.action,
              fallback: s.fallback,
              ...(s.maxAge === undefined ? {} : { cache: { edge: { maxAgeSeconds: s.maxAge } } }),
            })),
          );
          const d = matchRoutes(table, req(path));
          // The model: two passes over the matching routes.
          const matching = (fallback: boolean) =>
            table.filter(
              (r) =>
                r.fallback === fallback &&
                matchRoutes([{ ...r, id: r.id }], req(path)).routeIds.length > 0,
            );
          const collected: ManifestRoute[] = [];
          let terminal: ManifestRoute | undefined;
          for (const fallback of [false, true]) {
            for (const r of matching(fallback)) {
              collected.push(r);
              if (r.action.kind !== 'headers') {
                terminal = r;
                break;
              }
            }
            if (terminal) break;
          }
          expect(d.terminal?.id).toBe(terminal?.id);
          expect(d.routeIds).toEqual(collected.map((r) => r.id));
          const ages = collected.flatMap((r) =>
            r.cache?.edge ? [r.cache.edge.maxAgeSeconds] : [],
          );
          const edge = d.cache?.edge;
          expect(edge ? edge.maxAgeSeconds : undefined).toBe(ages.length ? ages.at(-1) : undefined);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('matchRoutes: regular-expression criteria', () => {
  const table = routes(
    { criteria: { path: '/beta', headers: { 'x-beta': { regex: '^(yes|1)$', flags: 'i' } } } },
    { criteria: { path: '/beta', cookies: { plan: { regex: '^pro-' } } } },
    { criteria: { path: '/beta', query: { v: { regex: '^\\d+$' } } } },
    { criteria: { path: '/beta' } },
  );
  const terminal = (r: MatchRequest) => matchRoutes(table, r).terminal?.id;

  it('tests header, cookie and query values with the pattern (anywhere, flags kept)', () => {
    expect(terminal(req('/beta', { headers: { 'x-beta': 'YES' } }))).toBe(0);
    expect(terminal(req('/beta', { headers: { 'x-beta': 'no' } }))).toBe(3);
    expect(terminal(req('/beta', { headers: { cookie: 'plan=pro-annual' } }))).toBe(1);
    expect(terminal(req('/beta', { headers: { cookie: 'plan=free-pro-' } }))).toBe(3);
    expect(terminal(req('/beta?v=12'))).toBe(2);
    expect(terminal(req('/beta?v=12b'))).toBe(3);
    // Any value of a repeated query parameter may match.
    expect(terminal(req('/beta?v=x&v=7'))).toBe(2);
    expect(terminal(req('/beta'))).toBe(3);
  });

  it('never matches an absent value, and unanchored patterns match inside', () => {
    const inside = routes({
      criteria: { path: '/', headers: { 'user-agent': { regex: 'Mobile' } } },
    });
    expect(matchRoutes(inside, req('/', { headers: {} })).terminal).toBeUndefined();
    expect(
      matchRoutes(inside, req('/', { headers: { 'user-agent': 'X (Mobile) Safari' } })).terminal
        ?.id,
    ).toBe(0);
  });
});

describe('mergeCacheOptions: browser false', () => {
  it('lets browser: false replace browser options and be replaced by them', () => {
    expect(mergeCacheOptions({ browser: { maxAgeSeconds: 60 } }, { browser: false })).toEqual({
      browser: false,
    });
    expect(mergeCacheOptions({ browser: false }, { browser: { maxAgeSeconds: 0 } })).toEqual({
      browser: { maxAgeSeconds: 0 },
    });
    expect(
      mergeCacheOptions(
        { browser: { maxAgeSeconds: 60 } },
        { browser: { serviceWorkerSeconds: 5 } },
      ),
    ).toEqual({ browser: { maxAgeSeconds: 60, serviceWorkerSeconds: 5 } });
    expect(mergeCacheOptions({ browser: false }, { edge: false })).toEqual({
      browser: false,
      edge: false,
    });
  });

  it('keeps partitions, isBot and vendor of a key', () => {
    const key = {
      query: { mode: 'all' as const },
      cookies: ['location'],
      headers: [],
      device: false,
      browser: false,
      cookiePartitions: { location: [{ name: 'na', regex: 'us|ca' }] },
      isBot: true,
      vendor: true,
    };
    const merged = mergeCacheOptions(undefined, { key });
    expect(merged).toEqual({ key });
    expect(merged?.key?.cookiePartitions).not.toBe(key.cookiePartitions);
  });
});
