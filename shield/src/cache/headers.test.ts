import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  browserHeaders,
  cacheStatus,
  cacheStatusFor,
  surrogateKeysOf,
  variantHeaders,
} from './headers.ts';

/** RFC 9211 / RFC 8941: `name *( ";" key [ "=" bare-item ] )`. */
const CACHE_STATUS_GRAMMAR =
  /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*(?:; [a-z*][a-z0-9_.*-]*(?:=(?:-?\d{1,15}|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"))?)*$/;

describe('cacheStatus (RFC 9211)', () => {
  it('serialises the examples of the issue', () => {
    expect(cacheStatus({ hit: true })).toBe('flotilla; hit');
    expect(cacheStatus({ hit: true, ttl: 376 })).toBe('flotilla; hit; ttl=376');
    expect(cacheStatus({ fwd: 'uri-miss', stored: true })).toBe('flotilla; fwd=uri-miss; stored');
    expect(cacheStatus({ fwd: 'stale', fwdStatus: 304 })).toBe(
      'flotilla; fwd=stale; fwd-status=304',
    );
    expect(cacheStatus({ fwd: 'bypass', detail: 'debug' })).toBe(
      'flotilla; fwd=bypass; detail=debug',
    );
  });

  it('quotes details and keys that are not tokens, escaping quotes and backslashes', () => {
    expect(cacheStatus({ fwd: 'bypass', detail: 'edge: false' })).toBe(
      'flotilla; fwd=bypass; detail="edge: false"',
    );
    expect(cacheStatus({ hit: true, key: 'a"b\\c' })).toBe('flotilla; hit; key="a\\"b\\\\c"');
    expect(cacheStatus({ hit: true, key: 'é' })).toBe('flotilla; hit; key="?"');
  });

  it('floors ttl and rejects bad names and integers', () => {
    expect(cacheStatus({ hit: true, ttl: 1.9 })).toBe('flotilla; hit; ttl=1');
    expect(cacheStatus({ hit: true, ttl: -0.5 })).toBe('flotilla; hit; ttl=-1');
    expect(() => cacheStatus({ hit: true }, 'bad name')).toThrow(TypeError);
    expect(() => cacheStatus({ fwdStatus: 1e16 })).toThrow(/fwd-status/);
    expect(cacheStatus({ hit: true }, 'shield-eu')).toBe('shield-eu; hit');
  });

  it('always follows the structured-field grammar', () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            hit: fc.boolean(),
            fwd: fc.constantFrom(
              'bypass',
              'method',
              'uri-miss',
              'vary-miss',
              'miss',
              'request',
              'stale',
              'partial' as const,
            ),
            fwdStatus: fc.integer({ min: 100, max: 599 }),
            ttl: fc.double({ min: -1e9, max: 1e9, noNaN: true }),
            stored: fc.boolean(),
            collapsed: fc.boolean(),
            key: fc.string(),
            detail: fc.string(),
          },
          { requiredKeys: [] },
        ),
        (params) => CACHE_STATUS_GRAMMAR.test(cacheStatus(params)),
      ),
    );
  });
});

describe('cacheStatusFor', () => {
  it.each([
    [{ kind: 'hit', ttlMs: 59_400 }, 'flotilla; hit; ttl=59'],
    [{ kind: 'hit', ttlMs: 10_000, collapsed: true }, 'flotilla; hit; collapsed; ttl=10'],
    [{ kind: 'stale-hit', ttlMs: -2_000 }, 'flotilla; hit; ttl=-2; detail=stale'],
    [
      { kind: 'stale-if-error', ttlMs: -90_000, fwdStatus: 502 },
      'flotilla; fwd=stale; fwd-status=502; ttl=-90; detail=stale-if-error',
    ],
    [{ kind: 'stale-if-error', ttlMs: -1 }, 'flotilla; fwd=stale; ttl=-1; detail=stale-if-error'],
    [
      { kind: 'miss', fwdStatus: 200, stored: true, ttlMs: 60_000 },
      'flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60',
    ],
    [
      { kind: 'miss', fwdStatus: 200, stored: true, stale: true, ttlMs: 60_000 },
      'flotilla; fwd=stale; fwd-status=200; stored; ttl=60',
    ],
    [
      { kind: 'miss', fwdStatus: 200, stored: false, cachingStatus: 'private' },
      'flotilla; fwd=uri-miss; fwd-status=200; detail=private',
    ],
    [
      { kind: 'miss', fwdStatus: 500, stored: false, cachingStatus: 'code', collapsed: true },
      'flotilla; fwd=uri-miss; fwd-status=500; collapsed; detail=code',
    ],
    [{ kind: 'pass', cachingStatus: 'method' }, 'flotilla; fwd=method'],
    [
      { kind: 'pass', cachingStatus: 'hit-for-pass', fwdStatus: 200 },
      'flotilla; fwd=miss; fwd-status=200; detail=hit-for-pass',
    ],
    [{ kind: 'pass', cachingStatus: 'disabled' }, 'flotilla; fwd=bypass; detail=disabled'],
    [{ kind: 'pass', cachingStatus: 'debug' }, 'flotilla; fwd=bypass; detail=debug'],
    [{ kind: 'pass', cachingStatus: 'body-too-big' }, 'flotilla; fwd=bypass; detail=body-too-big'],
  ] as const)('%o → %s', (outcome, expected) => {
    expect(cacheStatusFor(outcome)).toBe(expected);
    expect(CACHE_STATUS_GRAMMAR.test(expected)).toBe(true);
  });
});

describe('browserHeaders', () => {
  it('sends max-age from browser.maxAgeSeconds, max-age=0 for 0 (as EdgeJS)', () => {
    expect(browserHeaders({ browser: { maxAgeSeconds: 120 } }, 's-maxage=60')).toEqual({
      cacheControl: 'max-age=120',
      swCacheControl: undefined,
    });
    expect(browserHeaders({ browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 } })).toEqual({
      cacheControl: 'max-age=0',
      swCacheControl: 'max-age=60',
    });
  });

  it('sends private, no-store for browser: false, whatever the upstream said', () => {
    expect(browserHeaders({ browser: false }, 'public, max-age=600')).toEqual({
      cacheControl: 'private, no-store',
      swCacheControl: undefined,
    });
    expect(browserHeaders({ browser: false, edge: { maxAgeSeconds: 60 } })).toEqual({
      cacheControl: 'private, no-store',
      swCacheControl: undefined,
    });
  });

  it('sends x-sw-cache-control even without a browser max-age', () => {
    expect(browserHeaders({ browser: { serviceWorkerSeconds: 3600 } }, 'max-age=5')).toEqual({
      cacheControl: 'max-age=5',
      swCacheControl: 'max-age=3600',
    });
  });

  it.each([
    [undefined, undefined],
    ['', undefined],
    ['public, max-age=10, s-maxage=60', 'public, max-age=10'],
    ['s-maxage=60', 'no-cache'],
    [
      'public, s-maxage=60, stale-while-revalidate=30',
      'public, stale-while-revalidate=30, no-cache',
    ],
    ['s-maxage=60, no-store', 'no-store'],
    ['max-age=60, proxy-revalidate', 'max-age=60'],
    ['private, max-age=0', 'private, max-age=0'],
    ['no-cache="set-cookie"', 'no-cache="set-cookie"'],
  ])('without browser options, upstream %s → %s', (upstream, expected) => {
    expect(browserHeaders({ edge: { maxAgeSeconds: 60 } }, upstream).cacheControl).toBe(expected);
  });
});

describe('surrogateKeysOf', () => {
  it('reads surrogate-key (spaces) and cache-tag (commas), de-duplicated', () => {
    expect(
      surrogateKeysOf([
        ['Surrogate-Key', '  product-1   all '],
        ['cache-tag', 'all, listing,,'],
        ['x-other', 'nope'],
      ]),
    ).toEqual(['product-1', 'all', 'listing']);
    expect(surrogateKeysOf(new Headers({ 'cache-tag': 'a,b' }))).toEqual(['a', 'b']);
    expect(surrogateKeysOf([])).toEqual([]);
  });
});

describe('variantHeaders', () => {
  const stored: Array<[string, string]> = [
    ['content-type', 'text/html'],
    ['content-length', '5000'],
    ['etag', '"abc"'],
  ];
  it('announces the coding, the new length, vary and a weak etag', () => {
    expect(variantHeaders(stored, 'br', 900)).toEqual([
      ['content-type', 'text/html'],
      ['etag', 'W/"abc"'],
      ['vary', 'accept-encoding'],
      ['content-encoding', 'br'],
      ['content-length', '900'],
    ]);
  });
  it('keeps an existing vary and the identity bytes as they are', () => {
    expect(variantHeaders([...stored, ['vary', 'X-Country']], 'identity', 5000)).toEqual([
      ['content-type', 'text/html'],
      ['etag', '"abc"'],
      ['vary', 'X-Country, accept-encoding'],
      ['content-length', '5000'],
    ]);
    expect(
      variantHeaders(
        [
          ['content-encoding', 'gzip'],
          ['vary', 'Accept-Encoding'],
        ],
        'identity',
        10,
        false,
      ),
    ).toEqual([
      ['content-encoding', 'gzip'],
      ['vary', 'Accept-Encoding'],
      ['content-length', '10'],
    ]);
  });
});
