/**
 * A tiny request-URL parser that runs inside the isolate, where there is no
 * `URL` or `URLSearchParams`. It depends on nothing but ES built-ins (and
 * `TextDecoder`, only for malformed percent-escapes) and the query splitting
 * of `@flotilla/manifest`.
 *
 * Apps import it from `@flotilla/sdk/request-url` so that the bundle does not
 * pull in the build tooling that `@flotilla/sdk` itself exports.
 *
 * @module
 */
import { splitQuery } from '@flotilla/manifest';

/** The parts of a request URL an SSR handler usually needs. */
export interface ParsedRequestUrl {
  /**
   * Path, still percent-encoded as in the URL (like `URL#pathname`), always
   * starting with `/`.
   */
  pathname: string;
  /** `?` plus the query string, or `''` when there is no query (like `URL#search`). */
  search: string;
  /**
   * Decoded query parameters (`+` is a space, `%XX` escapes decoded as
   * UTF-8, as `URLSearchParams` does). When a key repeats, the first value
   * wins (as `URLSearchParams#get`). The object has no prototype, so keys
   * such as `__proto__` are plain keys.
   */
  query: Record<string, string>;
  /**
   * Host with port, lower-cased, without user info and without the scheme's
   * default port (like `URL#host`). `''` when `url` has no authority.
   */
  host: string;
}

const DEFAULT_PORTS: Record<string, string> = {
  'http:': '80',
  'https:': '443',
  'ws:': '80',
  'wss:': '443',
};

/**
 * Parses an absolute request URL such as
 * `http://react-shop.localhost:3000/p/42?x=1` without the `URL` global.
 *
 * It is meant for URLs that came from a `Request` (already normalised by the
 * host); it does not resolve dot segments, normalise backslashes or
 * percent-encode characters the way the WHATWG parser would. A URL without a
 * scheme and authority (`/p/42?x=1`) is read as a path with an empty host.
 * The fragment (`#…`), if any, is dropped.
 *
 * @param url - The absolute URL, typically `request.url`.
 * @returns The pathname, search string, decoded query and host.
 */
export function parseRequestUrl(url: string): ParsedRequestUrl {
  let rest = url;
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);

  let host = '';
  const schemeEnd = rest.indexOf('://');
  // A scheme is letters, digits, '+', '-', '.' before '://', and no '/' or '?' before it.
  if (schemeEnd > 0 && /^[a-zA-Z][a-zA-Z0-9+.-]*$/.test(rest.slice(0, schemeEnd))) {
    const scheme = `${rest.slice(0, schemeEnd).toLowerCase()}:`;
    const authorityStart = schemeEnd + 3;
    let authorityEnd = rest.length;
    for (let i = authorityStart; i < rest.length; i++) {
      const c = rest.charCodeAt(i);
      if (c === 47 /* / */ || c === 63 /* ? */) {
        authorityEnd = i;
        break;
      }
    }
    host = normaliseHost(rest.slice(authorityStart, authorityEnd), scheme);
    rest = rest.slice(authorityEnd);
  }

  const q = rest.indexOf('?');
  let pathname = q === -1 ? rest : rest.slice(0, q);
  const rawQuery = q === -1 ? '' : rest.slice(q + 1);
  if (!pathname.startsWith('/')) pathname = `/${pathname}`;

  return {
    pathname,
    search: rawQuery === '' ? '' : `?${rawQuery}`,
    query: parseQuery(rawQuery),
    host,
  };
}

function normaliseHost(authority: string, scheme: string): string {
  const at = authority.lastIndexOf('@');
  let host = (at === -1 ? authority : authority.slice(at + 1)).toLowerCase();
  const colon = host.lastIndexOf(':');
  // The port colon comes after any IPv6 literal's closing bracket.
  if (colon !== -1 && colon > host.lastIndexOf(']')) {
    const port = host.slice(colon + 1);
    const name = host.slice(0, colon);
    if (port === '' || !/^[0-9]+$/.test(port)) {
      host = name;
    } else {
      const normalisedPort = String(Number(port));
      host = normalisedPort === DEFAULT_PORTS[scheme] ? name : `${name}:${normalisedPort}`;
    }
  }
  return host;
}

/**
 * Parses a query string (without the leading `?`) into a prototype-less
 * record, decoding keys and values like `application/x-www-form-urlencoded`.
 * The first value of a repeated key wins.
 *
 * @param rawQuery - e.g. `a=1&b=two+words`.
 */
export function parseQuery(rawQuery: string): Record<string, string> {
  const query: Record<string, string> = Object.create(null);
  for (const [key, value] of splitQuery(rawQuery, decodeQueryComponent)) {
    if (!(key in query)) query[key] = value;
  }
  return query;
}

/**
 * Decodes one form-urlencoded component: `+` becomes a space and `%XX`
 * escapes are decoded as UTF-8. Malformed escapes are kept as written and
 * invalid UTF-8 becomes U+FFFD, as `URLSearchParams` does.
 */
function decodeQueryComponent(component: string): string {
  const s = component.includes('+') ? component.replaceAll('+', ' ') : component;
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return decodeLoosely(s);
  }
}

const HEX = /^[0-9a-fA-F]{2}$/;

function decodeLoosely(s: string): string {
  // Percent-decode to bytes (non-escapes as their UTF-8), then UTF-8 decode with replacement.
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ && HEX.test(s.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      const cp = s.codePointAt(i) ?? c;
      if (cp > 0xffff) i++;
      pushUtf8(bytes, cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
    }
  }
  return new TextDecoder('utf-8').decode(new Uint8Array(bytes));
}

function pushUtf8(bytes: number[], cp: number): void {
  if (cp < 0x800) {
    bytes.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    bytes.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
  } else {
    bytes.push(
      0xf0 | (cp >> 18),
      0x80 | ((cp >> 12) & 0x3f),
      0x80 | ((cp >> 6) & 0x3f),
      0x80 | (cp & 0x3f),
    );
  }
}
