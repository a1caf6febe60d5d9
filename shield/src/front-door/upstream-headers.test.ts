import { type CacheKeySpec, computeCacheKey, DEFAULT_CACHE_KEY_SPEC } from '@flotilla/manifest';
import { FlotillaError } from '@flotilla/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BROWSER_HEADER,
  CACHE_ALLOW_LIST,
  DEVICE_HEADER,
  headerRecord,
  IS_BOT_HEADER,
  isSpoofableHeader,
  SHIELD_OWNED_HEADERS,
  SPOOFABLE_HEADERS,
  upstreamHeaders,
  VENDOR_HEADER,
} from './upstream-headers.ts';

const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';

/**
 * Headers that can steer an origin (host, scheme, path, method, client
 * address, framework internals) or a page (language, agent, credentials)
 * and that no default key holds.
 */
const UNKEYED_DICTIONARY = [
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Prefix',
  'X-Forwarded-Port',
  'X-Forwarded-For',
  'X-Forwarded-Server',
  'X-Forwarded-Scheme',
  'X-Forwarded-SSL',
  'X-Forwarded-Uri',
  'X-Original-URL',
  'X-Original-URI',
  'X-Original-Host',
  'X-Rewrite-URL',
  'X-Host',
  'X-HTTP-Host',
  'Forwarded',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
  'True-Client-IP',
  'X-Real-IP',
  'X-Client-IP',
  'X-Cluster-Client-IP',
  'CF-Connecting-IP',
  'Fastly-Client-IP',
  'X-Middleware-Subrequest',
  'X-Invoke-Path',
  'X-Matched-Path',
  'X-Now-Route-Matches',
  'X-Flotilla-Device',
  'X-Flotilla-Browser',
  'X-Flotilla-Original-Query',
  'Traceparent',
  'Tracestate',
  'Host',
  'User-Agent',
  'Accept-Language',
  'Authorization',
  'Referer',
  'Origin',
  'If-None-Match',
  'If-Modified-Since',
  'Range',
  'X-Requested-With',
  'X-Api-Version',
  'Sec-CH-UA-Mobile',
  'Sec-Fetch-Dest',
  'DNT',
  'Save-Data',
  'Upgrade',
  'Via',
];

const CANARY = 'canary-7f3a9';

function rawOf(pairs: Array<[string, string]>): string[] {
  return pairs.flat();
}

function spec(overrides: Partial<CacheKeySpec>): CacheKeySpec {
  return { ...DEFAULT_CACHE_KEY_SPEC, cookies: [], headers: [], ...overrides };
}

describe('upstreamHeaders, cache mode', () => {
  it.each(UNKEYED_DICTIONARY)('never forwards %s with the default key', (name) => {
    const raw = rawOf([
      ['Host', 'shop.example'],
      ['Accept-Encoding', 'gzip, br'],
      [name, `${CANARY}.evil.example`],
    ]);
    const out = upstreamHeaders(raw, { keySpec: undefined });
    expect(JSON.stringify(out)).not.toContain(CANARY);
    expect(out).toEqual([['accept-encoding', 'br']]);
  });

  it('never forwards a dictionary header when the key holds other things', () => {
    const key = spec({
      cookies: ['currency'],
      headers: ['x-currency'],
      device: true,
      browser: true,
    });
    const raw = rawOf([
      ['Host', 'shop.example'],
      ['User-Agent', IPHONE],
      ['Cookie', `currency=EUR; session=${CANARY}`],
      ['X-Currency', 'EUR'],
      ...UNKEYED_DICTIONARY.filter((n) => n !== 'User-Agent').map((n): [string, string] => [
        n,
        CANARY,
      ]),
    ]);
    const out = upstreamHeaders(raw, { keySpec: key });
    expect(JSON.stringify(out)).not.toContain(CANARY);
    expect(out).toEqual([
      ['accept-encoding', 'identity'],
      ['cookie', 'currency=EUR'],
      ['x-currency', 'EUR'],
      [DEVICE_HEADER, 'smartphone'],
      [BROWSER_HEADER, 'safari'],
    ]);
  });

  it('forwards the normalised accept-encoding, body headers only with a keyed body, accept only keyed', () => {
    const raw = rawOf([
      ['Accept', 'text/html'],
      ['Accept', 'application/xhtml+xml'],
      ['Accept-Encoding', 'gzip;q=1, br;q=0'],
      ['Content-Type', 'application/json'],
      ['Content-Length', '12'],
    ]);
    expect(upstreamHeaders(raw)).toEqual([['accept-encoding', 'gzip']]);
    expect(upstreamHeaders(raw, { withBody: true })).toEqual([
      ['accept-encoding', 'gzip'],
      ['content-type', 'application/json'],
      ['content-length', '12'],
    ]);
    expect(
      upstreamHeaders(raw, { keySpec: { ...DEFAULT_CACHE_KEY_SPEC, headers: ['accept'] } }),
    ).toEqual([
      ['accept-encoding', 'gzip'],
      ['accept', 'text/html, application/xhtml+xml'],
    ]);
  });

  it('forwards accept-language and user-agent only when the key names them', () => {
    const raw = rawOf([
      ['Accept-Language', 'fr-FR'],
      ['User-Agent', IPHONE],
    ]);
    expect(upstreamHeaders(raw).map(([n]) => n)).toEqual(['accept-encoding']);
    expect(
      upstreamHeaders(raw, { keySpec: spec({ headers: ['Accept-Language', 'user-agent'] }) }),
    ).toEqual([
      ['accept-encoding', 'identity'],
      ['accept-language', 'fr-FR'],
      ['user-agent', IPHONE],
    ]);
  });

  it('sends the device and browser only when the key holds them, never the client’s own', () => {
    const raw = rawOf([
      ['User-Agent', IPHONE],
      ['X-Flotilla-Device', 'desktop'],
      ['X-Flotilla-Browser', 'edge'],
    ]);
    expect(upstreamHeaders(raw).map(([n]) => n)).toEqual(['accept-encoding']);
    expect(upstreamHeaders(raw, { keySpec: spec({ device: true }) })).toContainEqual([
      DEVICE_HEADER,
      'smartphone',
    ]);
    expect(upstreamHeaders(raw, { keySpec: spec({ browser: true }) })).toContainEqual([
      BROWSER_HEADER,
      'safari',
    ]);
    expect(
      upstreamHeaders(raw, { keySpec: spec({ device: true }), device: 'tablet' }),
    ).toContainEqual([DEVICE_HEADER, 'tablet']);
    // A key naming an x-flotilla-* header cannot smuggle the client's copy through.
    expect(
      upstreamHeaders(raw, { keySpec: spec({ headers: ['x-flotilla-device'] }) }).map(([n]) => n),
    ).toEqual(['accept-encoding']);
    // Nor one naming Edgio's x-0-* (the shield writes them with --header-names edgio).
    expect(
      upstreamHeaders([...raw, 'X-0-Device', 'forged'], {
        keySpec: spec({ headers: ['x-0-device'] }),
      }).map(([n]) => n),
    ).toEqual(['accept-encoding']);
  });

  it('reduces cookies to the keyed, split-test and kept ones, with the value the key reads', () => {
    const raw = rawOf([
      ['Cookie', 'session=s1; currency="EUR"; flotilla_split_shop=b; theme=dark'],
      ['Cookie', 'currency=USD; consent=yes; flotilla_split_a=x'],
    ]);
    const out = upstreamHeaders(raw, {
      keySpec: spec({ cookies: ['theme', 'currency', 'missing'] }),
      keepCookies: ['consent'],
    });
    expect(out).toContainEqual([
      'cookie',
      'theme=dark; currency=EUR; consent=yes; flotilla_split_a=x; flotilla_split_shop=b',
    ]);
    expect(upstreamHeaders(rawOf([['Cookie', 'session=s1']]))).toEqual([
      ['accept-encoding', 'identity'],
    ]);
  });

  it('forwards the whole cookie header when the key holds all of it', () => {
    const raw = rawOf([['Cookie', 'a=1; b=2']]);
    expect(upstreamHeaders(raw, { keySpec: spec({ headers: ['cookie'] }) })).toContainEqual([
      'cookie',
      'a=1; b=2',
    ]);
  });

  it('forwards repeated keyed headers merged the way the key reads them', () => {
    const raw = rawOf([
      ['X-Tenant', 'a'],
      ['X-Tenant', 'b'],
      ['User-Agent', 'first'],
      ['User-Agent', 'second'],
    ]);
    const key = spec({ headers: ['x-tenant', 'user-agent'] });
    expect(upstreamHeaders(raw, { keySpec: key })).toEqual([
      ['accept-encoding', 'identity'],
      ['x-tenant', 'a, b'],
      ['user-agent', 'first'],
    ]);
  });

  it('never takes host, hop-by-hop or trace headers from the client, even when keyed', () => {
    const raw = rawOf(SHIELD_OWNED_HEADERS.map((n): [string, string] => [n, CANARY]));
    const out = upstreamHeaders(raw, { keySpec: spec({ headers: [...SHIELD_OWNED_HEADERS] }) });
    expect(JSON.stringify(out)).not.toContain(CANARY);
  });

  it('appends extra headers last, replacing same-named ones', () => {
    const raw = rawOf([['Accept', 'text/html']]);
    const out = upstreamHeaders(raw, {
      extra: [
        ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
        ['Accept', 'application/json'],
      ],
    });
    expect(out).toEqual([
      ['accept-encoding', 'identity'],
      ['traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'],
      ['accept', 'application/json'],
    ]);
  });

  it('refuses bad extras and modes, naming them', () => {
    expect(() => upstreamHeaders([], { extra: [['bad name', 'x']] })).toThrow(/extra\[0\]/);
    expect(() =>
      upstreamHeaders([], {
        extra: [
          ['ok', 'x'],
          ['x-a', 'a\r\nb'],
        ],
      }),
    ).toThrow(/extra\[1\]/);
    expect(() => upstreamHeaders([], { mode: 'all' as 'pass' })).toThrow(FlotillaError);
  });
});

describe('upstreamHeaders, pass mode', () => {
  it('forwards end-to-end headers, dropping every spoofable and shield-owned one', () => {
    const raw = rawOf([
      ['Host', 'shop.example'],
      ['Authorization', 'Bearer t'],
      ['Accept-Language', 'fr'],
      ['User-Agent', IPHONE],
      ['Cookie', 'a=1'],
      ['Cookie', 'b=2'],
      ['Connection', 'keep-alive, X-Secret'],
      ['X-Secret', CANARY],
      ['CF-IPCountry', CANARY],
      ...UNKEYED_DICTIONARY.filter((n) => isSpoofableHeader(n.toLowerCase())).map(
        (n): [string, string] => [n, CANARY],
      ),
      ['Traceparent', CANARY],
      ['Referer', 'https://www.example.com/'],
    ]);
    const out = upstreamHeaders(raw, { mode: 'pass', drop: ['CF-IPCountry'] });
    expect(JSON.stringify(out)).not.toContain(CANARY);
    expect(out).toEqual([
      ['authorization', 'Bearer t'],
      ['accept-language', 'fr'],
      ['user-agent', IPHONE],
      ['cookie', 'a=1; b=2'],
      ['referer', 'https://www.example.com/'],
      [DEVICE_HEADER, 'smartphone'],
      [BROWSER_HEADER, 'safari'],
      [IS_BOT_HEADER, '0'],
      [VENDOR_HEADER, 'apple'],
    ]);
  });

  it('covers the whole spoofable list and its families', () => {
    for (const name of SPOOFABLE_HEADERS) expect(isSpoofableHeader(name)).toBe(true);
    for (const name of [
      'x-forwarded-anything',
      'x-original-whatever',
      'x-flotilla-environment',
      'x-0-client-ip',
    ]) {
      expect(isSpoofableHeader(name)).toBe(true);
    }
    for (const name of ['accept', 'cookie', 'authorization', 'x-requested-with']) {
      expect(isSpoofableHeader(name)).toBe(false);
    }
  });
});

describe('headerRecord', () => {
  it('merges like IncomingMessage#headers', () => {
    expect(
      headerRecord(
        rawOf([
          ['User-Agent', 'a'],
          ['user-agent', 'b'],
          ['Accept', 'x'],
          ['ACCEPT', 'y'],
          ['Cookie', 'a=1'],
          ['Cookie', 'b=2'],
          ['X-Pad', '  v  '],
        ]),
      ),
    ).toEqual({ 'user-agent': 'a', accept: 'x, y', cookie: 'a=1; b=2', 'x-pad': 'v' });
  });
});

// ---- properties ----------------------------------------------------------------

const NAMES = [
  ...UNKEYED_DICTIONARY,
  ...CACHE_ALLOW_LIST,
  'Cookie',
  'X-Tenant',
  'x-currency',
  'Accept-Encoding',
];
const COOKIE_NAMES = ['session', 'currency', 'theme', 'flotilla_split_shop', 'consent'];
const value = fc.stringMatching(/^[ -~]{0,24}$/).map((v) => v.trim());
const cookieHeader = fc
  .array(fc.tuple(fc.constantFrom(...COOKIE_NAMES), fc.stringMatching(/^[a-zA-Z0-9"]{0,6}$/)), {
    maxLength: 5,
  })
  .map((pairs) => pairs.map(([n, v]) => `${n}=${v}`).join('; '));
const headerPair = fc.oneof(
  fc.tuple(fc.constantFrom(...NAMES), value),
  fc.tuple(fc.constant('Cookie'), cookieHeader),
  fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), value),
);
const keySpecArb: fc.Arbitrary<CacheKeySpec> = fc.record({
  query: fc.constant({ mode: 'all' as const }),
  cookies: fc.subarray(COOKIE_NAMES),
  headers: fc.subarray(['accept-language', 'x-tenant', 'user-agent', 'x-forwarded-host', 'cookie']),
  device: fc.boolean(),
  browser: fc.boolean(),
  isBot: fc.boolean(),
  vendor: fc.boolean(),
});

function keyOf(keySpec: CacheKeySpec, raw: string[]): string {
  const headers = headerRecord(raw);
  return computeCacheKey(
    keySpec,
    { method: 'GET', host: 'shop.example', path: '/p/1', query: '', headers },
    {
      environment: 'production',
      device: 'desktop',
      browser: 'other',
      isBot: false,
      vendor: 'generic',
    },
  );
}

describe('upstreamHeaders properties', () => {
  it('cache mode sends only allow-listed, keyed and shield-added headers', () => {
    fc.assert(
      fc.property(fc.array(headerPair, { maxLength: 12 }), keySpecArb, (pairs, keySpec) => {
        const out = upstreamHeaders(rawOf(pairs), {
          keySpec,
          extra: [['traceparent', '00-x']],
        });
        const allowed = new Set<string>([...CACHE_ALLOW_LIST, ...keySpec.headers, 'traceparent']);
        if (keySpec.device) allowed.add(DEVICE_HEADER);
        if (keySpec.browser) allowed.add(BROWSER_HEADER);
        if (keySpec.isBot) allowed.add(IS_BOT_HEADER);
        if (keySpec.vendor) allowed.add(VENDOR_HEADER);
        for (const [name] of out) {
          if (name === 'cookie') {
            // Only when the key holds cookies, or a split-test cookie came in.
            const kept = out.find(([n]) => n === 'cookie')?.[1] ?? '';
            expect(
              keySpec.headers.includes('cookie') ||
                kept.split('; ').every((c) => {
                  const n = c.slice(0, c.indexOf('='));
                  return keySpec.cookies.includes(n) || n.startsWith('flotilla_split_');
                }),
            ).toBe(true);
            continue;
          }
          expect(allowed.has(name), name).toBe(true);
        }
        expect(new Set(out.map(([n]) => n)).size).toBe(out.length);
      }),
      { numRuns: 500 },
    );
  });

  it('cache mode: two requests with the same key send the same headers (junk and order aside)', () => {
    const junk = fc.array(
      fc.oneof(
        fc.tuple(
          fc.constantFrom(...UNKEYED_DICTIONARY, 'X-Junk', 'Accept-Language', 'Authorization'),
          value,
        ),
        fc.tuple(fc.constant('Cookie'), fc.stringMatching(/^junk_[a-z]{1,4}=[a-z0-9]{0,4}$/)),
      ),
      { maxLength: 8 },
    );
    fc.assert(
      fc.property(
        fc.array(headerPair, { maxLength: 10 }),
        junk,
        fc.array(fc.nat(), { minLength: 20, maxLength: 20 }),
        keySpecArb,
        (pairs, junkPairs, ranks, keySpec) => {
          const keyed = new Set(keySpec.headers.map((h) => h.toLowerCase()));
          // Junk only in headers neither the key nor the allow-list reads.
          const extraJunk = junkPairs.filter(([n]) => {
            const lower = n.toLowerCase();
            if (lower === 'cookie') return !keyed.has('cookie');
            if (lower === 'user-agent' && (keySpec.device || keySpec.browser)) return false;
            return !keyed.has(lower) && !CACHE_ALLOW_LIST.includes(lower);
          });
          // Reorder by header name (each name keeps its own order), then interleave the junk.
          const rank = (n: string) =>
            ranks[[...n.toLowerCase()].reduce((a, c) => a + c.charCodeAt(0), 0) % 20] ?? 0;
          const shuffled = [...pairs].sort(([a], [b]) => rank(a) - rank(b));
          const b = [...shuffled];
          extraJunk.forEach((j, i) => {
            b.splice((ranks[i] ?? 0) % (b.length + 1), 0, j);
          });
          const rawA = rawOf(pairs);
          const rawB = rawOf(b);
          // Cookies: junk cookies join an existing header or come alone; the key must agree.
          fc.pre(keyOf(keySpec, rawA) === keyOf(keySpec, rawB));
          const opts = {
            keySpec,
            device: 'desktop' as const,
            browser: 'other' as const,
            isBot: false,
            vendor: 'generic' as const,
          };
          const strip = (h: Array<[string, string]>) =>
            h.filter(([n]) => n !== 'accept' && n !== 'content-type' && n !== 'content-length');
          expect(strip(upstreamHeaders(rawB, opts))).toEqual(strip(upstreamHeaders(rawA, opts)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('pass mode never sends a spoofable or shield-owned header', () => {
    fc.assert(
      fc.property(fc.array(headerPair, { maxLength: 12 }), (pairs) => {
        const out = upstreamHeaders(rawOf(pairs), { mode: 'pass' });
        for (const [name] of out) {
          if ([DEVICE_HEADER, BROWSER_HEADER, IS_BOT_HEADER, VENDOR_HEADER].includes(name))
            continue;
          expect(isSpoofableHeader(name), name).toBe(false);
          expect(SHIELD_OWNED_HEADERS.includes(name), name).toBe(false);
        }
        expect(out.filter(([n]) => n === 'cookie').length).toBeLessThanOrEqual(1);
      }),
      { numRuns: 500 },
    );
  });
});
