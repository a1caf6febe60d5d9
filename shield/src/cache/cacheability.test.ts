import type { RouteCacheOptions } from '@flotilla/manifest';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decideStorage,
  freshnessWindows,
  parseCacheControl,
  requestCacheability,
  type StorageInput,
} from './cacheability.ts';
import type { CachingStatus } from './types.ts';

type Row = {
  name: string;
  headers?: Array<[string, string]>;
  status?: number;
  method?: string;
  route?: RouteCacheOptions;
  debug?: boolean;
  postCacheable?: boolean;
  requestBodyBytes?: number;
  setCookieRemoved?: boolean;
  deploying?: boolean;
  expect: CachingStatus;
  /** Expected freshness lifetime in seconds when stored. */
  maxAge?: number;
  swr?: number;
  sie?: number;
};

const cc = (value: string): Array<[string, string]> => [['cache-control', value]];
const edge60: RouteCacheOptions = { edge: { maxAgeSeconds: 60 } };

// Response headers × stored? — each row with the caching status a user sees.
const matrix: Row[] = [
  // lifetimes
  { name: 'no cache-control, no route', expect: 'no-max-age' },
  { name: 'max-age', headers: cc('max-age=60'), expect: 'ok', maxAge: 60, sie: 60 },
  { name: 'public, max-age', headers: cc('public, max-age=30'), expect: 'ok', maxAge: 30 },
  { name: 's-maxage only', headers: cc('s-maxage=120'), expect: 'ok', maxAge: 120 },
  {
    name: 's-maxage wins over max-age',
    headers: cc('max-age=10, s-maxage=300'),
    expect: 'ok',
    maxAge: 300,
  },
  { name: 's-maxage=0 beats max-age', headers: cc('s-maxage=0, max-age=60'), expect: 'no-max-age' },
  { name: 'max-age=0', headers: cc('max-age=0'), expect: 'no-max-age' },
  { name: 'negative max-age', headers: cc('max-age=-5'), expect: 'no-max-age' },
  { name: 'fractional max-age', headers: cc('max-age=1.5'), expect: 'no-max-age' },
  { name: 'max-age without value', headers: cc('max-age'), expect: 'no-max-age' },
  { name: 'quoted max-age', headers: cc('max-age="60"'), expect: 'ok', maxAge: 60 },
  { name: 'upper-case directive', headers: cc('Public, MAX-AGE=60'), expect: 'ok', maxAge: 60 },
  {
    name: 'huge max-age capped at 2^31',
    headers: cc('max-age=99999999999'),
    expect: 'ok',
    maxAge: 2 ** 31,
  },
  {
    name: 'Age is subtracted',
    headers: [...cc('max-age=60'), ['age', '20']],
    expect: 'ok',
    maxAge: 40,
  },
  {
    name: 'Age beyond max-age: already stale',
    headers: [...cc('max-age=60'), ['age', '60']],
    expect: 'no-max-age',
  },
  {
    name: 'two cache-control lines are joined',
    headers: [
      ['cache-control', 'public'],
      ['cache-control', 'max-age=45'],
    ],
    expect: 'ok',
    maxAge: 45,
  },
  {
    name: 'Expires alone is not a lifetime',
    headers: [['expires', 'Wed, 21 Oct 2099 07:28:00 GMT']],
    expect: 'no-max-age',
  },
  // route lifetimes (the route wins over the response)
  { name: 'route maxAgeSeconds without headers', route: edge60, expect: 'ok', maxAge: 60 },
  {
    name: 'route wins over response max-age',
    route: edge60,
    headers: cc('max-age=5'),
    expect: 'ok',
    maxAge: 60,
  },
  {
    name: 'route wins over response max-age=0',
    route: edge60,
    headers: cc('max-age=0'),
    expect: 'ok',
    maxAge: 60,
  },
  {
    name: 'route maxAgeSeconds 0 refuses even with s-maxage',
    route: { edge: { maxAgeSeconds: 0 } },
    headers: cc('s-maxage=60'),
    expect: 'no-max-age',
  },
  {
    name: 'route with only browser options: response decides',
    route: { browser: { maxAgeSeconds: 10 } },
    headers: cc('max-age=20'),
    expect: 'ok',
    maxAge: 20,
  },
  {
    name: 'route with only browser options, no headers',
    route: { browser: { maxAgeSeconds: 10 } },
    expect: 'no-max-age',
  },
  {
    name: 'route age is not reduced by Age',
    route: edge60,
    headers: [['age', '30']],
    expect: 'ok',
    maxAge: 60,
  },
  // stale windows
  {
    name: 'route SWR',
    route: { edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 } },
    expect: 'ok',
    maxAge: 60,
    swr: 600,
    sie: 600,
  },
  {
    name: 'response SWR and SIE',
    headers: cc('max-age=60, stale-while-revalidate=30, stale-if-error=300'),
    expect: 'ok',
    maxAge: 60,
    swr: 30,
    sie: 300,
  },
  {
    name: 'route SWR wins over response SWR',
    route: { edge: { staleWhileRevalidateSeconds: 5 } },
    headers: cc('max-age=60, stale-while-revalidate=30'),
    expect: 'ok',
    maxAge: 60,
    swr: 5,
    sie: 60,
  },
  {
    name: 'stale-if-error=0 turns the default off',
    headers: cc('max-age=60, stale-if-error=0'),
    expect: 'ok',
    swr: 0,
    sie: 0,
  },
  {
    name: 'must-revalidate: no stale serving',
    headers: cc('max-age=60, must-revalidate, stale-while-revalidate=30, stale-if-error=60'),
    expect: 'ok',
    maxAge: 60,
    swr: 0,
    sie: 0,
  },
  {
    name: 'proxy-revalidate: no stale serving',
    headers: cc('s-maxage=60, proxy-revalidate'),
    expect: 'ok',
    swr: 0,
    sie: 0,
  },
  {
    name: 'must-revalidate but the route declares SWR',
    route: { edge: { staleWhileRevalidateSeconds: 10 } },
    headers: cc('max-age=60, must-revalidate'),
    expect: 'ok',
    swr: 10,
    sie: 60,
  },
  // status codes
  { name: '200', status: 200, headers: cc('max-age=60'), expect: 'ok' },
  { name: '203', status: 203, headers: cc('max-age=60'), expect: 'ok' },
  { name: '204', status: 204, headers: cc('max-age=60'), expect: 'ok' },
  { name: '206 partial content', status: 206, headers: cc('max-age=60'), expect: 'code' },
  { name: '300', status: 300, headers: cc('max-age=60'), expect: 'ok' },
  { name: '301', status: 301, headers: cc('max-age=60'), expect: 'ok' },
  { name: '302', status: 302, route: edge60, expect: 'ok' },
  { name: '304 not modified', status: 304, headers: cc('max-age=60'), expect: 'code' },
  { name: '307', status: 307, headers: cc('max-age=60'), expect: 'ok' },
  { name: '308', status: 308, headers: cc('max-age=60'), expect: 'ok' },
  { name: '103 interim', status: 103, headers: cc('max-age=60'), expect: 'code' },
  { name: '404', status: 404, headers: cc('max-age=60'), expect: 'code' },
  { name: '410', status: 410, route: edge60, expect: 'code' },
  { name: '500', status: 500, headers: cc('max-age=60'), expect: 'code' },
  { name: '503', status: 503, route: edge60, expect: 'code' },
  { name: 'code wins over private', status: 500, headers: cc('private'), expect: 'code' },
  // private / no-store / no-cache
  { name: 'private', headers: cc('private, max-age=60'), expect: 'private' },
  { name: 'qualified private', headers: cc('private="set-cookie", max-age=60'), expect: 'private' },
  { name: 'no-store', headers: cc('no-store'), expect: 'private' },
  { name: 'no-cache', headers: cc('no-cache, max-age=60'), expect: 'private' },
  { name: 'private with route TTL', route: edge60, headers: cc('private'), expect: 'private' },
  {
    name: 'private forced by the route',
    route: { edge: { maxAgeSeconds: 60, forcePrivateCaching: true } },
    headers: cc('private'),
    expect: 'ok',
    maxAge: 60,
  },
  {
    name: 'Next.js-style private, no-cache, no-store forced',
    route: { edge: { maxAgeSeconds: 30, forcePrivateCaching: true } },
    headers: cc('private, no-cache, no-store, max-age=0, must-revalidate'),
    expect: 'ok',
    maxAge: 30,
  },
  {
    name: 'forced private still needs a lifetime',
    route: { edge: { forcePrivateCaching: true } },
    headers: cc('private'),
    expect: 'no-max-age',
  },
  { name: 'public is fine', headers: cc('public, s-maxage=10'), expect: 'ok', maxAge: 10 },
  // set-cookie
  {
    name: 'set-cookie',
    headers: [...cc('max-age=60'), ['set-cookie', 'a=1']],
    expect: 'set-cookie',
  },
  {
    name: 'Set-Cookie any case',
    headers: [...cc('max-age=60'), ['Set-Cookie', 'a=1']],
    expect: 'set-cookie',
  },
  {
    name: 'set-cookie removed by the route',
    headers: [...cc('max-age=60'), ['set-cookie', 'a=1']],
    setCookieRemoved: true,
    expect: 'ok',
  },
  {
    name: 'set-cookie with route TTL',
    route: edge60,
    headers: [['set-cookie', 'a=1']],
    expect: 'set-cookie',
  },
  {
    name: 'private wins over set-cookie',
    headers: [...cc('private'), ['set-cookie', 'a=1']],
    expect: 'private',
  },
  // vary
  {
    name: 'Vary: accept-encoding',
    headers: [...cc('max-age=60'), ['vary', 'Accept-Encoding']],
    expect: 'ok',
  },
  { name: 'Vary: *', headers: [...cc('max-age=60'), ['vary', '*']], expect: 'vary' },
  { name: 'Vary: cookie', headers: [...cc('max-age=60'), ['vary', 'cookie']], expect: 'vary' },
  {
    name: 'Vary: user-agent',
    route: edge60,
    headers: [['vary', 'accept-encoding, User-Agent']],
    expect: 'vary',
  },
  { name: 'Vary: origin', headers: [...cc('max-age=60'), ['vary', 'Origin']], expect: 'vary' },
  {
    name: 'Vary on a header the key holds',
    route: {
      edge: { maxAgeSeconds: 60 },
      key: {
        query: { mode: 'all' },
        cookies: [],
        headers: ['x-country'],
        device: false,
        browser: false,
      },
    },
    headers: [['vary', 'X-Country, accept-encoding']],
    expect: 'ok',
  },
  { name: 'empty Vary', headers: [...cc('max-age=60'), ['vary', '']], expect: 'ok' },
  {
    name: 'set-cookie wins over vary',
    headers: [...cc('max-age=60'), ['vary', '*'], ['set-cookie', 'a=1']],
    expect: 'set-cookie',
  },
  { name: 'vary wins over no-max-age', headers: [['vary', '*']], expect: 'vary' },
  // methods and bodies
  { name: 'HEAD', method: 'HEAD', headers: cc('max-age=60'), expect: 'ok' },
  { name: 'lower-case get', method: 'get', headers: cc('max-age=60'), expect: 'ok' },
  { name: 'POST on a non-POST route', method: 'POST', headers: cc('max-age=60'), expect: 'method' },
  {
    name: 'POST declared cacheable',
    method: 'POST',
    postCacheable: true,
    requestBodyBytes: 100,
    headers: cc('max-age=60'),
    expect: 'ok',
  },
  { name: 'POST on a route with edge TTL (default)', method: 'POST', route: edge60, expect: 'ok' },
  {
    name: 'POST refused explicitly',
    method: 'POST',
    route: edge60,
    postCacheable: false,
    expect: 'method',
  },
  {
    name: 'POST body of 8000 bytes',
    method: 'POST',
    postCacheable: true,
    requestBodyBytes: 8000,
    route: edge60,
    expect: 'ok',
  },
  {
    name: 'POST body of 8001 bytes',
    method: 'POST',
    postCacheable: true,
    requestBodyBytes: 8001,
    route: edge60,
    expect: 'body-too-big',
  },
  { name: 'PUT', method: 'PUT', route: edge60, expect: 'method' },
  { name: 'DELETE', method: 'DELETE', headers: cc('max-age=60'), expect: 'method' },
  { name: 'OPTIONS', method: 'OPTIONS', route: edge60, expect: 'method' },
  { name: 'method wins over code', method: 'PATCH', status: 500, expect: 'method' },
  // route switches and request flags
  { name: 'edge: false', route: { edge: false }, headers: cc('s-maxage=60'), expect: 'disabled' },
  {
    name: 'edge: false wins over method',
    route: { edge: false },
    method: 'POST',
    expect: 'disabled',
  },
  { name: 'debug', debug: true, route: edge60, expect: 'debug' },
  { name: 'edge: false wins over debug', debug: true, route: { edge: false }, expect: 'disabled' },
  { name: 'debug wins over method', debug: true, method: 'PUT', expect: 'debug' },
  { name: 'deploying', deploying: true, route: edge60, expect: 'deploying' },
  {
    name: 'debug wins over deploying',
    deploying: true,
    debug: true,
    route: edge60,
    expect: 'debug',
  },
];

describe('decideStorage: response headers × stored?', () => {
  it.each(matrix)('$name → $expect', (row) => {
    const input: StorageInput = {
      method: row.method ?? 'GET',
      status: row.status ?? 200,
      headers: row.headers ?? [],
      route: row.route,
      debug: row.debug ?? false,
      postCacheable: row.postCacheable,
      requestBodyBytes: row.requestBodyBytes,
      setCookieRemoved: row.setCookieRemoved,
      deploying: row.deploying,
    };
    const decision = decideStorage(input);
    expect(decision.status).toBe(row.expect);
    expect(decision.store).toBe(row.expect === 'ok');
    if (decision.store) {
      if (row.maxAge !== undefined) expect(decision.ttl.maxAgeMs).toBe(row.maxAge * 1000);
      if (row.swr !== undefined) expect(decision.ttl.swrMs).toBe(row.swr * 1000);
      if (row.sie !== undefined) expect(decision.ttl.staleIfErrorMs).toBe(row.sie * 1000);
      expect(decision.ttl.maxAgeMs).toBeGreaterThan(0);
    } else {
      expect(decision.reason.length).toBeGreaterThan(10);
    }
  });

  it('has dozens of rows covering every status', () => {
    expect(matrix.length).toBeGreaterThanOrEqual(60);
    const seen = new Set(matrix.map((r) => r.expect));
    for (const s of [
      'ok',
      'disabled',
      'no-max-age',
      'code',
      'private',
      'method',
      'body-too-big',
      'set-cookie',
      'vary',
      'deploying',
      'debug',
    ]) {
      expect(seen.has(s as CachingStatus), s).toBe(true);
    }
  });

  it('names the directive in its reason', () => {
    const d = decideStorage({
      method: 'GET',
      status: 200,
      headers: cc('no-store'),
      route: undefined,
      debug: false,
    });
    expect(d).toMatchObject({ store: false, status: 'private' });
    expect(!d.store && d.reason).toContain('no-store');
    const v = decideStorage({
      method: 'GET',
      status: 200,
      headers: [['vary', 'cookie']],
      route: edge60,
      debug: false,
    });
    expect(!v.store && v.reason).toContain('cookie');
  });

  it('accepts a Headers object', () => {
    const headers = new Headers({ 'Cache-Control': 'public, s-maxage=90' });
    const d = decideStorage({
      method: 'GET',
      status: 200,
      headers,
      route: undefined,
      debug: false,
    });
    expect(d.store && d.ttl).toMatchObject({ maxAgeMs: 90_000, source: 's-maxage' });
  });

  it('uses a configured default stale-if-error window', () => {
    const d = decideStorage({
      method: 'GET',
      status: 200,
      headers: cc('max-age=10'),
      route: undefined,
      debug: false,
      defaultStaleIfErrorMs: 5_000,
    });
    expect(d.store && d.ttl.staleIfErrorMs).toBe(5_000);
  });

  it('any response with private, no-store or set-cookie is refused without overrides', () => {
    const directive = fc.constantFrom('private', 'no-store', 'no-cache');
    fc.assert(
      fc.property(
        directive,
        fc.integer({ min: 1, max: 100_000 }),
        fc.boolean(),
        fc.constantFrom(200, 301, 404),
        (d, age, useRoute, status) => {
          const decision = decideStorage({
            method: 'GET',
            status,
            headers: cc(`max-age=${age}, ${d}`),
            route: useRoute ? { edge: { maxAgeSeconds: age } } : undefined,
            debug: false,
          });
          return !decision.store;
        },
      ),
    );
  });
});

describe('requestCacheability', () => {
  it('lets GET and HEAD through, refuses other methods', () => {
    expect(requestCacheability('GET', undefined, false)).toEqual({ cacheable: true });
    expect(requestCacheability('head', edge60, false)).toEqual({ cacheable: true });
    expect(requestCacheability('PUT', edge60, false)).toMatchObject({
      cacheable: false,
      status: 'method',
    });
  });

  it('never coalesces a POST to a route without edge caching', () => {
    expect(requestCacheability('POST', undefined, false)).toMatchObject({ status: 'method' });
    expect(requestCacheability('POST', { browser: { maxAgeSeconds: 5 } }, false)).toMatchObject({
      status: 'method',
    });
    expect(requestCacheability('POST', edge60, false)).toEqual({ cacheable: true });
    expect(requestCacheability('POST', edge60, false, { requestBodyBytes: 9000 })).toMatchObject({
      status: 'body-too-big',
    });
    expect(
      requestCacheability('POST', edge60, false, {
        requestBodyBytes: 9000,
        maxPostBodyBytes: 10_000,
      }),
    ).toEqual({ cacheable: true });
  });

  it('refuses disabled routes and debug requests first', () => {
    expect(requestCacheability('GET', { edge: false }, true)).toMatchObject({ status: 'disabled' });
    expect(requestCacheability('GET', edge60, true)).toMatchObject({ status: 'debug' });
  });

  it('agrees with decideStorage on every request-side refusal', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'post'),
        fc.constantFrom<RouteCacheOptions | undefined>(undefined, edge60, { edge: false }, {}),
        fc.boolean(),
        fc.integer({ min: 0, max: 20_000 }),
        (method, route, debug, bytes) => {
          const pre = requestCacheability(method, route, debug, { requestBodyBytes: bytes });
          const full = decideStorage({
            method,
            route,
            debug,
            requestBodyBytes: bytes,
            status: 200,
            headers: cc('max-age=60'),
          });
          if (!pre.cacheable) return !full.store && full.status === pre.status;
          return full.store;
        },
      ),
    );
  });
});

describe('parseCacheControl', () => {
  it('parses tokens, values, quoted strings and keeps the first duplicate', () => {
    const parsed = parseCacheControl('Public , max-age=60, private="set-cookie, x-a", max-age=5,,');
    expect([...parsed]).toEqual([
      ['public', true],
      ['max-age', '60'],
      ['private', 'set-cookie, x-a'],
    ]);
  });
  it('joins several header lines', () => {
    expect([...parseCacheControl(['no-cache', 's-maxage=1'])]).toEqual([
      ['no-cache', true],
      ['s-maxage', '1'],
    ]);
  });
  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string(), (s) => parseCacheControl(s) instanceof Map));
  });
});

describe('freshnessWindows', () => {
  it('places the stale windows after freshness', () => {
    expect(
      freshnessWindows(1000, { maxAgeMs: 60_000, swrMs: 30_000, staleIfErrorMs: 90_000 }),
    ).toEqual({
      storedAt: 1000,
      freshUntil: 61_000,
      staleWhileRevalidateUntil: 91_000,
      staleIfErrorUntil: 151_000,
    });
  });
});
