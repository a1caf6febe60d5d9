/**
 * Query strings and cookies as the matcher and the cache key read them.
 *
 * @module
 */

import type { CacheKeySpec } from './cache-options-schema.ts';
import { decodeQueryComponent, encodeStrict } from './encoding.ts';

/**
 * Splits a query string (taken as it is: a leading `?` is part of the first
 * name) into `[name, value]` pairs, in order, like `URLSearchParams`:
 * pieces are separated by `&`, empty pieces (`&&`) are skipped, `a` and `a=`
 * both give `['a', '']`, and `decode` decodes each name and value.
 */
export function splitQuery(
  query: string,
  decode: (component: string) => string,
): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (query === '') return pairs;
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    pairs.push([
      decode(eq === -1 ? piece : piece.slice(0, eq)),
      eq === -1 ? '' : decode(piece.slice(eq + 1)),
    ]);
  }
  return pairs;
}

/**
 * Splits a raw query string (with or without the leading `?`) into decoded
 * `[name, value]` pairs (see {@link splitQuery}): `+` is a space, `%XX` is
 * UTF-8, a malformed component stays as written.
 */
export function parseQueryPairs(query: string): Array<[string, string]> {
  return splitQuery(query.startsWith('?') ? query.slice(1) : query, decodeQueryComponent);
}

/**
 * The query string as it goes into a cache key: the parameters kept by
 * `spec.query` (all, only the listed names, or all but the listed names),
 * sorted by name then value (UTF-16 code units), each name and value
 * percent-encoded the one strict way (every character but `A-Z a-z 0-9 - .
 * _ ~` as upper-case `%XX`), joined by `&`. Order, `+` versus `%20`,
 * escapes of plain characters and `a` versus `a=` never change it. No
 * leading `?`; `''` when nothing is kept.
 *
 * Sorting values means `?a=1&a=2` and `?a=2&a=1` are one key: a shield that
 * caches with it should forward this normalised query to the bundle, so the
 * page rendered for the key is the same whichever spelling came first.
 *
 * @param query - Raw query string, with or without the leading `?`.
 * @param spec - The route's cache-key spec; absent: every parameter is kept.
 * @example
 * normalizeQuery('b=2&a=%41&utm_source=x', {
 *   ...DEFAULT_CACHE_KEY_SPEC,
 *   query: { mode: 'exclude', names: ['utm_source'] },
 * }); // 'a=A&b=2'
 */
export function normalizeQuery(query: string, spec?: Pick<CacheKeySpec, 'query'>): string {
  const mode = spec?.query ?? { mode: 'all' as const };
  let pairs = parseQueryPairs(query);
  if (mode.mode === 'only') {
    const keep = new Set(mode.names);
    pairs = pairs.filter(([name]) => keep.has(name));
  } else if (mode.mode === 'exclude') {
    const drop = new Set(mode.names);
    pairs = pairs.filter(([name]) => !drop.has(name));
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${encodeStrict(name)}=${encodeStrict(value)}`).join('&');
}

/**
 * Parses a `cookie` request header into name → value. Pairs are separated
 * by `;`, whitespace around names and values is trimmed, a value in double
 * quotes loses them, values are not percent-decoded, and the first
 * occurrence of a name wins. Pieces without `=` are skipped. The object has
 * no prototype, so a cookie named `__proto__` is a plain key.
 *
 * @example
 * parseCookies('session=abc; theme="dark"'); // { session: 'abc', theme: 'dark' }
 */
export function parseCookies(header: string | undefined | null): Record<string, string> {
  const cookies: Record<string, string> = Object.create(null);
  if (!header) return cookies;
  for (const piece of header.split(';')) {
    const eq = piece.indexOf('=');
    if (eq === -1) continue;
    const name = piece.slice(0, eq).trim();
    if (name === '' || name in cookies) continue;
    let value = piece.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
      value = value.slice(1, -1);
    }
    cookies[name] = value;
  }
  return cookies;
}
