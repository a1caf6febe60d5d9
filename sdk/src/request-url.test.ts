import { describe, expect, it } from 'vitest';
import { parseQuery, parseRequestUrl } from './request-url.ts';

/** What Node's WHATWG parser says, in the shape parseRequestUrl returns. */
function viaUrl(input: string) {
  const url = new URL(input);
  const query = new Map<string, string>();
  for (const key of url.searchParams.keys()) {
    if (!query.has(key)) query.set(key, url.searchParams.get(key) ?? '');
  }
  return { pathname: url.pathname, search: url.search, query: [...query], host: url.host };
}

const CASES = [
  'http://react-shop.localhost:3000/p/42?x=1',
  'http://react-shop.localhost:3000/',
  'http://localhost:3000',
  'http://localhost:3000?x=1',
  'https://example.com/a/b/c',
  'https://example.com/a/b/c/',
  'https://example.com/search?q=hello+world&page=2',
  'https://example.com/search?q=caf%C3%A9&emoji=%F0%9F%9A%80',
  'https://example.com/search?q=%E2%82%AC%20100',
  'https://example.com/x?a=1&a=2&b',
  'https://example.com/x?a=&=b&&c=3&',
  'https://example.com/x?',
  'https://example.com/x#frag',
  'https://example.com/x?y=1#frag?z=2',
  'https://example.com/x#',
  'https://example.com/x?y=a%3Db%26c',
  'https://example.com/x?bad=%ZZ&pct=100%&half=%E2%82',
  'https://example.com/x?lone=%C3',
  'https://example.com/x?enc=%2B+plus',
  'https://example.com/p/%E2%82%AC?k=v',
  'http://example.com:80/default-port',
  'https://example.com:443/default-port',
  'https://example.com:8443/other-port',
  'http://user:secret@example.com:8080/with-userinfo',
  'http://EXAMPLE.com/Case/Kept',
  'http://[::1]:3000/ipv6?x=1',
  'http://[::1]/ipv6-default',
  'http://127.0.0.1:9/ip',
  'http://x/?__proto__=polluted&constructor=c',
];

describe('parseRequestUrl', () => {
  for (const input of CASES) {
    it(`matches new URL for ${input}`, () => {
      const parsed = parseRequestUrl(input);
      expect({ ...parsed, query: Object.entries(parsed.query) }).toEqual(viaUrl(input));
    });
  }

  it('does not let __proto__ in the query touch the prototype', () => {
    const { query } = parseRequestUrl('http://x/?__proto__=polluted');
    expect(Object.getPrototypeOf(query)).toBe(null);
    expect(Object.entries(query)).toEqual([['__proto__', 'polluted']]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('reads a path-only URL with an empty host', () => {
    expect(parseRequestUrl('/p/1?x=%20y')).toEqual({
      pathname: '/p/1',
      search: '?x=%20y',
      query: Object.assign(Object.create(null), { x: ' y' }),
      host: '',
    });
  });

  it('keeps the pathname percent-encoded', () => {
    expect(parseRequestUrl('http://x/a%20b/%2F').pathname).toBe('/a%20b/%2F');
  });
});

describe('parseQuery', () => {
  it('returns an empty record for an empty string', () => {
    expect(Object.keys(parseQuery(''))).toEqual([]);
  });

  it('keeps the first of repeated keys', () => {
    expect(parseQuery('a=1&a=2').a).toBe('1');
  });
});
