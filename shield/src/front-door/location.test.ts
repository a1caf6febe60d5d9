import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type LocationContext, parseHost, rewriteLocation } from './location.ts';

const PUBLIC = 'www.example.com';
const withPublic: LocationContext = { publicHost: PUBLIC, requestHost: 'origin.internal:8080' };

// Hosts a browser would land on after following `location` from `page`.
function landing(location: string, page: string): string {
  return new URL(location, page).host;
}

// Ways of writing "another host" a browser would follow.
const ESCAPES = [
  'https://evil.example/x',
  'http://evil.example/x',
  'HTTPS://EVIL.EXAMPLE/x',
  '//evil.example/x',
  '/\\evil.example/x',
  '\\\\evil.example/x',
  '\\/evil.example/x',
  '///evil.example/x',
  ' //evil.example/x',
  '/\t/evil.example/x',
  '\n//evil.example/x',
  '/\r\n/evil.example/x',
  'https:evil.example/x',
  'http:/\\evil.example/x',
  'https://www.example.com@evil.example/x',
  'https://evil.example\\@www.example.com/x',
  'https://evil.example%2f@www.example.com/x',
  'https://evil.example:443/x',
  'https://xn--exmple-cua.com/x',
  'https://exämple.com/x',
  'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'ftp://evil.example/x',
  'https://[::1]/x',
  'https://127.0.0.1/x',
  'https://evil.example',
];

describe('parseHost', () => {
  it('splits name and port, lower case', () => {
    expect(parseHost('Shop.Example:8080')).toEqual({
      hostname: 'shop.example',
      host: 'shop.example:8080',
    });
    expect(parseHost('[::1]:3000')).toEqual({ hostname: '[::1]', host: '[::1]:3000' });
    expect(parseHost('localhost')).toEqual({ hostname: 'localhost', host: 'localhost' });
  });

  it.each([
    '',
    'evil.example/x',
    'a@b',
    'a b',
    'evil.example\\x',
    'a:99999',
    'a:b',
    '[zz]',
    'x%2f',
  ])('refuses %j', (host) => {
    expect(parseHost(host)).toBeUndefined();
  });
});

describe('rewriteLocation with a public host', () => {
  it('keeps relative Locations relative', () => {
    for (const loc of ['/cart', '/cart?x=1#top', 'cart', '../up', '?page=2', '#frag', './a//b']) {
      expect(rewriteLocation(loc, withPublic), loc).toBe(loc);
    }
  });

  it('keeps percent-encoded slash and backslash variants relative: the browser stays on the host', () => {
    for (const loc of [
      '/%2F%2Fevil.example',
      '/%5C%5Cevil.example',
      '/%2fevil.example',
      '%2F%2Fevil.example',
    ]) {
      const out = rewriteLocation(loc, withPublic);
      expect(out).toBe(loc);
      expect(landing(out, `https://${PUBLIC}/a/b`)).toBe(PUBLIC);
    }
  });

  it('points the origin host and a CDN Host header at the public host, keeping path, query, fragment', () => {
    expect(rewriteLocation('http://origin.internal:8080/cart?x=1#f', withPublic)).toBe(
      'https://www.example.com/cart?x=1#f',
    );
    expect(rewriteLocation('https://www.example.com/a', withPublic)).toBe(
      'https://www.example.com/a',
    );
    expect(
      rewriteLocation('http://www.example.com/a', { ...withPublic, publicProtocol: 'http' }),
    ).toBe('http://www.example.com/a');
  });

  it.each(ESCAPES)('never leaves the public host: %j', (loc) => {
    const out = rewriteLocation(loc, withPublic);
    expect(out.startsWith(`https://${PUBLIC}/`), out).toBe(true);
    for (const page of [`https://${PUBLIC}/a/b`, `http://${PUBLIC}/a/b`]) {
      expect(landing(out, page)).toBe(PUBLIC);
    }
    expect(out).not.toMatch(/evil/i);
  });

  it('keeps hosts allowed on purpose (an OAuth provider)', () => {
    const ctx = { ...withPublic, allowedHosts: new Set(['accounts.example.net']) };
    expect(rewriteLocation('https://accounts.example.net/o/auth?x=1', ctx)).toBe(
      'https://accounts.example.net/o/auth?x=1',
    );
    expect(rewriteLocation('https://evil.example/x', ctx)).toBe('https://www.example.com/x');
  });

  it('percent-encodes what Node cannot send in a header', () => {
    const out = rewriteLocation('/caf\u00e9/\u2603/\u0001x', withPublic);
    expect(out).toBe('/caf\u00e9/%E2%98%83/%01x');
    expect(rewriteLocation('/a\ud800', withPublic)).toBe('/a%EF%BF%BD');
  });

  it('property: whatever the handler writes, a browser on the public site stays on it', () => {
    const piece = fc.constantFrom(
      '/',
      '\\',
      '//',
      '\\\\',
      ':',
      '@',
      'evil.example',
      'https:',
      'http:',
      '%2f',
      '%5c',
      '\t',
      '\n',
      ' ',
      '?',
      '#',
      '.',
      '..',
      'a',
      'www.example.com',
      '[::1]',
      ':443',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(piece, { maxLength: 8 }).map((p) => p.join('')),
          fc.string(),
        ),
        (loc) => {
          const out = rewriteLocation(loc, withPublic);
          for (const page of [`https://${PUBLIC}/a/b?q`, `http://${PUBLIC}/a/b?q`]) {
            let host: string;
            try {
              host = landing(out, page);
            } catch {
              continue; // a Location no browser can follow sends it nowhere
            }
            expect(host, JSON.stringify([loc, out])).toBe(PUBLIC);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('rewriteLocation without a public host', () => {
  const served = (h: string) => h === 'shop.example' || h === 'www.shop.example';

  it('keeps Locations on served hosts', () => {
    const ctx = { requestHost: 'shop.example', isServedHost: served };
    expect(rewriteLocation('https://www.shop.example/x', ctx)).toBe('https://www.shop.example/x');
  });

  it("sends other hosts to the request's own host when the shield serves it", () => {
    const ctx = { requestHost: 'Shop.Example:8443', isServedHost: served };
    expect(rewriteLocation('https://evil.example/x?y#z', ctx)).toBe(
      'https://shop.example:8443/x?y#z',
    );
    expect(rewriteLocation('//evil.example/x', ctx)).toBe('http://shop.example:8443/x');
    expect(rewriteLocation('/\\evil.example', ctx)).toBe('http://shop.example:8443/');
  });

  it('falls back to a bare path when the request host is not one the shield serves', () => {
    const ctx = { requestHost: 'evil.example', isServedHost: served };
    expect(rewriteLocation('https://evil.example/x', ctx)).toBe('/x');
    expect(rewriteLocation('https://evil.example//evil2.example/x', ctx)).toBe('/evil2.example/x');
    expect(rewriteLocation('javascript:alert(1)', { requestHost: 'evil.example' })).toBe('/');
    for (const loc of ESCAPES) {
      expect(landing(rewriteLocation(loc, ctx), 'https://shop.example/a'), loc).toBe(
        'shop.example',
      );
    }
  });
});
