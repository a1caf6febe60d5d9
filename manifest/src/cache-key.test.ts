import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { computeCacheKey, DEFAULT_CACHE_KEY_SPEC, normalizeAcceptEncoding } from './cache-key.ts';
import type { CacheKeySpec } from './cache-options-schema.ts';
import { normalizeQuery, parseCookies } from './query.ts';
import type { MatchRequest } from './types.ts';

function req(init: Partial<MatchRequest> = {}): MatchRequest {
  return { method: 'GET', host: 'shop.example', path: '/p/42', query: '', headers: {}, ...init };
}

const PROD = { environment: 'production' };

function spec(patch: Partial<CacheKeySpec>): CacheKeySpec {
  return { ...DEFAULT_CACHE_KEY_SPEC, ...patch };
}

describe('computeCacheKey', () => {
  it('is a readable string of environment, host, path, query and encoding', () => {
    expect(
      computeCacheKey(
        undefined,
        req({ query: 'b=2&a=1', headers: { 'accept-encoding': 'gzip, br' } }),
        PROD,
      ),
    ).toBe('production|shop.example/p/42?a=1&b=2|ae=br');
    expect(computeCacheKey(undefined, req(), PROD)).toBe(
      'production|shop.example/p/42|ae=identity',
    );
  });

  it('adds the split destination, device, browser, cookies and headers the spec names', () => {
    const key = computeCacheKey(
      spec({
        cookies: ['currency', 'missing'],
        headers: ['accept-language'],
        device: true,
        browser: true,
      }),
      req({ headers: { cookie: 'session=s1; currency=EUR', 'accept-language': 'fr-FR' } }),
      { environment: 'production', splitDestination: 'b', device: 'mobile', browser: 'chrome' },
    );
    expect(key).toBe(
      'production|shop.example/p/42|ae=identity|s=b|d=mobile|b=chrome|c:currency=EUR|c:missing|h:accept-language=fr-FR',
    );
  });

  it('ends with the Host port and a cacheable POST body digest, when given', () => {
    const s = spec({ headers: ['accept-language'] });
    const r = req({ headers: { 'accept-language': 'fr' } });
    expect(computeCacheKey(s, r, { ...PROD, port: '8080', postDigest: 'ab12' })).toBe(
      'production|shop.example/p/42|ae=identity|h:accept-language=fr|port=8080|post=ab12',
    );
    expect(computeCacheKey(s, r, { ...PROD, port: '' })).toBe(
      'production|shop.example/p/42|ae=identity|h:accept-language=fr',
    );
    expect(computeCacheKey(undefined, req(), { ...PROD, postDigest: 'ab12' })).toBe(
      'production|shop.example/p/42|ae=identity|post=ab12',
    );
    // A forged value cannot add a part.
    expect(computeCacheKey(undefined, req(), { ...PROD, port: '1|post=x' })).toBe(
      'production|shop.example/p/42|ae=identity|port=1%7Cpost%3Dx',
    );
  });

  it('keeps only the listed query parameters, or drops the excluded ones', () => {
    const r = req({ query: 'color=red&utm_source=x&size=9' });
    expect(computeCacheKey(spec({ query: { mode: 'only', names: ['color'] } }), r, PROD)).toBe(
      'production|shop.example/p/42?color=red|ae=identity',
    );
    expect(
      computeCacheKey(spec({ query: { mode: 'exclude', names: ['utm_source'] } }), r, PROD),
    ).toBe('production|shop.example/p/42?color=red&size=9|ae=identity');
  });

  it('normalises the spelling of the path but not its meaning', () => {
    const k = (path: string) => computeCacheKey(undefined, req({ path }), PROD);
    expect(k('/a%7eb')).toBe(k('/a~b'));
    expect(k('/caf%c3%a9')).toBe(k('/caf%C3%A9'));
    expect(k('/café')).toBe(k('/caf%C3%A9'));
    expect(k('/a%2Fb')).not.toBe(k('/a/b'));
    expect(k('/a|ae=br')).toContain('/a%7Cae=br|ae=identity');
  });
});

describe('normalizeAcceptEncoding', () => {
  it.each([
    [undefined, 'identity'],
    ['', 'identity'],
    ['gzip, deflate, br', 'br'],
    ['gzip;q=1.0, br;q=0', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['x-gzip', 'gzip'],
    ['*', 'br'],
    ['*;q=0, gzip', 'gzip'],
    ['deflate', 'identity'],
    ['BR', 'br'],
  ] as const)('%j → %s', (header, expected) => {
    expect(normalizeAcceptEncoding(header)).toBe(expected);
  });
});

describe('parseCookies', () => {
  it('reads name=value pairs, first wins, quotes stripped', () => {
    const c = parseCookies(' a=1; b="two words" ; a=3; flag; __proto__=x; e=');
    expect(Object.entries(c)).toEqual([
      ['a', '1'],
      ['b', 'two words'],
      ['__proto__', 'x'],
      ['e', ''],
    ]);
    expect(Object.getPrototypeOf(c)).toBeNull();
    expect({ ...parseCookies(undefined) }).toEqual({});
  });
});

// ---------------------------------------------------------------------------
// Properties

const name = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 5 });
const value = fc.string({ unit: 'grapheme', maxLength: 5 });
const pairs = fc.array(fc.tuple(name, value), { maxLength: 6 });

/** Encodes a query component in one of the ways clients do. */
const encoders: Array<(s: string) => string> = [
  (s) => encodeURIComponent(s),
  (s) => encodeURIComponent(s).replaceAll('%20', '+'),
  // Every byte escaped, lower-case hex.
  (s) =>
    [...new TextEncoder().encode(s)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  // Only what must be escaped, upper-case hex.
  (s) => s.replace(/[%&=+#\s]|[^\x20-\x7e]/gu, (c) => encodeURIComponent(c)),
];

function queryOf(ps: Array<[string, string]>, styles: number[]): string {
  return ps
    .map(([n, v], i) => {
      const enc = encoders[(styles[i] ?? 0) % encoders.length] ?? encodeURIComponent;
      return v === '' && (styles[i] ?? 0) % 2 === 1 ? enc(n) : `${enc(n)}=${enc(v)}`;
    })
    .join('&');
}

const styles = fc.array(fc.nat(7), { minLength: 6, maxLength: 6 });
const env = fc.stringMatching(/^[a-z0-9-]{1,12}$/);

describe('computeCacheKey: properties', () => {
  it('query order and encoding never change the key', () => {
    fc.assert(
      fc.property(
        pairs.chain((ps) =>
          fc.tuple(
            fc.constant(ps),
            fc.shuffledSubarray(ps, { minLength: ps.length, maxLength: ps.length }),
          ),
        ),
        styles,
        styles,
        ([ps, shuffled], s1, s2) => {
          const a = computeCacheKey(undefined, req({ query: queryOf(ps, s1) }), PROD);
          const b = computeCacheKey(undefined, req({ query: queryOf(shuffled, s2) }), PROD);
          expect(a).toBe(b);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('excluded parameters never change the key', () => {
    fc.assert(
      fc.property(pairs, pairs, pairs, styles, (kept, excludedA, excludedB, s) => {
        const excludedNames = [...excludedA, ...excludedB].map(([n]) => n);
        const keptOnly = kept.filter(([n]) => !excludedNames.includes(n));
        const k = spec({
          query: { mode: 'exclude', names: excludedNames.length ? excludedNames : ['x'] },
        });
        const a = computeCacheKey(k, req({ query: queryOf([...excludedA, ...keptOnly], s) }), PROD);
        const b = computeCacheKey(k, req({ query: queryOf([...keptOnly, ...excludedB], s) }), PROD);
        expect(a).toBe(b);
      }),
      { numRuns: 300 },
    );
  });

  it('parameters outside an include-only list never change the key, included ones always do', () => {
    fc.assert(
      fc.property(pairs, name, value, value, pairs, (others, included, v1, v2, noise) => {
        fc.pre(v1 !== v2);
        const k = spec({ query: { mode: 'only', names: [included] } });
        const rest = others.filter(([n]) => n !== included);
        const noiseOnly = noise.filter(([n]) => n !== included);
        const base = computeCacheKey(
          k,
          req({ query: queryOf([[included, v1], ...rest], []) }),
          PROD,
        );
        const noisy = computeCacheKey(
          k,
          req({ query: queryOf([...noiseOnly, [included, v1]], []) }),
          PROD,
        );
        const changed = computeCacheKey(
          k,
          req({ query: queryOf([[included, v2], ...rest], []) }),
          PROD,
        );
        expect(noisy).toBe(base);
        expect(changed).not.toBe(base);
        // With the default key, every parameter is included.
        const all = (q: Array<[string, string]>) =>
          computeCacheKey(undefined, req({ query: queryOf(q, []) }), PROD);
        expect(all([[included, v2], ...rest])).not.toBe(all([[included, v1], ...rest]));
      }),
      { numRuns: 300 },
    );
  });

  it('host case never matters', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9.-]{1,20}$/),
        fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
        (host, upper) => {
          const mixed = [...host].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
          expect(computeCacheKey(undefined, req({ host: mixed }), PROD)).toBe(
            computeCacheKey(undefined, req({ host }), PROD),
          );
        },
      ),
    );
  });

  it('keys of distinct environments never collide, whatever the requests', () => {
    const anyReq = fc.record({
      host: fc.string({ maxLength: 10 }),
      path: fc.string({ maxLength: 10 }).map((p) => `/${p}`),
      query: fc.string({ maxLength: 10 }),
      cookie: fc.string({ maxLength: 10 }),
    });
    fc.assert(
      fc.property(
        env,
        env,
        anyReq,
        anyReq,
        fc.option(name, { nil: undefined }),
        (e1, e2, r1, r2, split) => {
          fc.pre(e1 !== e2);
          const k = spec({ cookies: ['a'], device: true });
          const a = computeCacheKey(k, req({ ...r1, headers: { cookie: r1.cookie } }), {
            environment: e1,
            ...(split === undefined ? {} : { splitDestination: split }),
          });
          const b = computeCacheKey(k, req({ ...r2, headers: { cookie: r2.cookie } }), {
            environment: e2,
          });
          expect(a).not.toBe(b);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('different cookie, header, device or split values give different keys', () => {
    fc.assert(
      fc.property(
        value,
        value,
        fc.constantFrom('cookie', 'header', 'device', 'split'),
        (v1, v2, what) => {
          fc.pre(v1 !== v2);
          const k = spec({ cookies: ['c'], headers: ['x-h'], device: true });
          const key = (v: string) =>
            computeCacheKey(
              k,
              req({
                headers: {
                  cookie: what === 'cookie' ? `c=${v}` : 'c=1',
                  'x-h': what === 'header' ? `h${v}` : 'h',
                },
              }),
              {
                environment: 'production',
                device: what === 'device' ? v : 'desktop',
                splitDestination: what === 'split' ? v : 'a',
              },
            );
          // Cookie values are trimmed like the header parser does.
          fc.pre(what !== 'cookie' || v1.trim() !== v2.trim());
          fc.pre(what !== 'header' || `h${v1}`.trim() !== `h${v2}`.trim());
          fc.pre(what !== 'cookie' || (!v1.includes(';') && !v2.includes(';')));
          expect(key(v1)).not.toBe(key(v2));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('normalizeQuery is idempotent', () => {
    fc.assert(
      fc.property(pairs, styles, (ps, s) => {
        const once = normalizeQuery(queryOf(ps, s));
        expect(normalizeQuery(once)).toBe(once);
      }),
    );
  });
});

describe('computeCacheKey: partitions, bot and vendor', () => {
  const location = spec({
    cookies: ['location'],
    cookiePartitions: {
      location: [
        { name: 'na', regex: '^(us|ca)$' },
        { name: 'eur', regex: '^(DE|FR)$', flags: 'i' },
      ],
    },
  });
  const keyFor = (cookie?: string) =>
    computeCacheKey(location, req(cookie === undefined ? {} : { headers: { cookie } }), PROD);

  it('keys the partition a cookie value falls in, not the value', () => {
    expect(keyFor('location=us')).toBe('production|shop.example/p/42|ae=identity|c:location~na');
    expect(keyFor('location=ca; other=1')).toBe(keyFor('location=us'));
    expect(keyFor('location=de')).toBe('production|shop.example/p/42|ae=identity|c:location~eur');
    expect(keyFor('location=fr')).toBe(keyFor('location=de'));
    expect(keyFor('location=de')).not.toBe(keyFor('location=us'));
  });

  it('puts unmatched values and a missing cookie in one "no partition" entry', () => {
    expect(keyFor('location=jp')).toBe('production|shop.example/p/42|ae=identity|c:location~');
    expect(keyFor()).toBe(keyFor('location=jp'));
    expect(keyFor('location=russia')).toBe(keyFor('location=jp'));
  });

  it('takes the first partition that matches, in declaration order', () => {
    const overlapping = spec({
      headers: ['x-tier'],
      headerPartitions: {
        'x-tier': [
          { name: 'gold', regex: 'gold' },
          { name: 'any', regex: '.' },
        ],
      },
    });
    const key = (tier: string) =>
      computeCacheKey(overlapping, req({ headers: { 'x-tier': tier } }), PROD);
    expect(key('gold-plus')).toMatch(/\|h:x-tier~gold$/);
    expect(key('silver')).toMatch(/\|h:x-tier~any$/);
  });

  it('keys the bot flag and the vendor when the spec asks, after the browser', () => {
    const s = spec({ browser: true, isBot: true, vendor: true });
    expect(
      computeCacheKey(s, req(), { ...PROD, browser: 'chrome', isBot: true, vendor: 'android' }),
    ).toBe('production|shop.example/p/42|ae=identity|b=chrome|bot=1|v=android');
    expect(computeCacheKey(s, req(), PROD)).toBe(
      'production|shop.example/p/42|ae=identity|b=|bot=0|v=',
    );
    // Not asked: not keyed.
    expect(computeCacheKey(spec({}), req(), { ...PROD, isBot: true, vendor: 'apple' })).toBe(
      'production|shop.example/p/42|ae=identity',
    );
  });

  it('drops every query parameter with an empty "only" list (excludeAllQueryParameters)', () => {
    const none = spec({ query: { mode: 'only', names: [] } });
    expect(computeCacheKey(none, req({ query: 'utm=1&page=2' }), PROD)).toBe(
      computeCacheKey(none, req(), PROD),
    );
  });
});
