/**
 * Hosts and `Location` headers: a response from the render may only send a
 * browser to the site's public host (or, with none configured, to a host the
 * shield serves), however the request's `Host` was spelled and whatever the
 * handler put in `Location`.
 *
 * @module
 */

/** A `Host` header split into its parts. */
export interface HostParts {
  /** Lower-case host name, IPv6 in brackets, no port: what routing and `isServedHost` see. */
  hostname: string;
  /** Lower-case host with the port as sent (`shop.example:8080`): what absolute URLs use. */
  host: string;
}

// reg-name limited to letters, digits, `.`, `_`, `-` (no userinfo, no
// sub-delims, no percent escapes), or a bracketed IPv6 literal; optional port.
const HOST_SYNTAX = /^(?:[a-z0-9._-]+|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

/**
 * Parses a `Host` header (or a configured host), or `undefined` when it is
 * not a plain `name[:port]` / `[v6][:port]`: anything with a `/`, `\`, `@`,
 * `%`, space or other punctuation is refused.
 *
 * @example
 * parseHost('Shop.Example:8080'); // { hostname: 'shop.example', host: 'shop.example:8080' }
 * parseHost('evil.example/x');    // undefined
 */
export function parseHost(value: string | undefined): HostParts | undefined {
  if (value === undefined) return undefined;
  const host = value.trim().toLowerCase();
  if (host === '' || !HOST_SYNTAX.test(host)) return undefined;
  const portAt = host.startsWith('[') ? host.indexOf(']:') + 1 : host.lastIndexOf(':');
  const hostname = portAt > 0 ? host.slice(0, portAt) : host;
  const port = portAt > 0 ? Number(host.slice(portAt + 1)) : 0;
  if (port > 65535) return undefined;
  if (hostname.startsWith('[')) {
    try {
      new URL(`http://${hostname}/`);
    } catch {
      return undefined;
    }
  }
  return { hostname, host };
}

/** What {@link rewriteLocation} needs to know about the site and the request. */
export interface LocationContext {
  /** The site's public host (`www.example.com`, lower case, optional port). */
  publicHost?: string | undefined;
  /** Scheme of URLs on the public host. @default 'https' */
  publicProtocol?: 'https' | 'http';
  /** The request's `Host` header, as received. */
  requestHost?: string | undefined;
  /** True for hosts (lower case, no port) the shield serves. @default () => false */
  isServedHost?: ((hostname: string) => boolean) | undefined;
  /** Other hosts (lower case) a `Location` may point at unchanged, e.g. an OAuth provider. @default [] */
  allowedHosts?: ReadonlySet<string> | undefined;
}

const SCHEME = /^[a-z][a-z0-9+.-]*:/i;
// Two slashes or backslashes in any mix: a browser reads `//host`.
const NETWORK_PATH = /^[\\/]{2}/;

/**
 * The value as a browser reads it (WHATWG URL): every tab and newline
 * removed, then leading and trailing C0 controls and spaces trimmed.
 */
function browserClean(value: string): string {
  const s = value.replaceAll('\t', '').replaceAll('\n', '').replaceAll('\r', '');
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) <= 0x20) start++;
  while (end > start && s.charCodeAt(end - 1) <= 0x20) end--;
  return s.slice(start, end);
}

/** Percent-encodes what Node refuses in a header value: controls, DEL, non-Latin-1. */
function sendable(value: string): string {
  let out = '';
  for (const ch of value.toWellFormed()) {
    const c = ch.codePointAt(0) ?? 0;
    out += c < 0x20 || c === 0x7f || c > 0xff ? encodeURIComponent(ch) : ch;
  }
  return out;
}

/**
 * Makes a `Location` header value safe to send: it never sends the browser
 * to a host other than the public host (or, with no public host configured,
 * a served host), whatever form it takes.
 *
 * - The value is first cleaned the way a browser cleans it (tabs and
 *   newlines removed, leading/trailing controls and spaces trimmed), so
 *   `/\t/evil.example` is judged as the `//evil.example` a browser would
 *   follow.
 * - A relative reference (`/p/1`, `p/1`, `?page=2`, `#top`, and
 *   percent-encoded forms such as `/%2F%2Fevil.example` or `/%5Cevil`,
 *   which a browser resolves on the same host) stays relative.
 * - Anything else (`https://evil.example/x`, `//evil.example`,
 *   `/\evil.example`, `\\evil.example`, `https:evil.example`,
 *   `javascript:…`) is parsed the way that could leave the site, and:
 *   - pointing at an `allowedHosts` host over http(s): kept;
 *   - with a public host: rewritten to `<publicProtocol>://<publicHost>`
 *     + its path, query and fragment (`/` for a non-http(s) scheme);
 *   - with none: kept when it points at a served host; else rewritten to
 *     the request's own host when that is served; else to the bare path
 *     (leading slashes collapsed to one), which the browser resolves on the
 *     host it asked for.
 * Characters Node cannot send in a header are percent-encoded.
 *
 * @example
 * const ctx = { publicHost: 'www.example.com', requestHost: 'origin.internal:8080' };
 * rewriteLocation('http://origin.internal:8080/cart', ctx); // 'https://www.example.com/cart'
 * rewriteLocation('//evil.example/x', ctx);                   // 'https://www.example.com/x'
 * rewriteLocation('/cart?x=1', ctx);                          // '/cart?x=1'
 */
export function rewriteLocation(location: string, ctx: LocationContext): string {
  const cleaned = browserClean(location);
  const hasScheme = SCHEME.test(cleaned);
  if (!hasScheme && !NETWORK_PATH.test(cleaned)) return sendable(cleaned);
  let url: URL | undefined;
  try {
    // Without a base, `https:evil.example` parses to host evil.example: the
    // reading a browser on an http page would follow.
    url = hasScheme ? new URL(cleaned) : new URL(cleaned, 'http://placeholder.invalid/');
  } catch {
    url = undefined;
  }
  const web = url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:');
  if (url && web && (ctx.allowedHosts?.has(url.hostname) || ctx.allowedHosts?.has(url.host))) {
    return url.href;
  }
  const path = url && web ? `${url.pathname}${url.search}${url.hash}` : '/';
  if (ctx.publicHost) {
    return sendable(`${ctx.publicProtocol ?? 'https'}://${ctx.publicHost}${path}`);
  }
  const served = ctx.isServedHost ?? (() => false);
  if (url && web && served(url.hostname)) return url.href;
  const request = parseHost(ctx.requestHost);
  if (request && served(request.hostname)) {
    const scheme = url?.protocol === 'https:' ? 'https' : 'http';
    return sendable(`${scheme}://${request.host}${path}`);
  }
  return sendable(path.replace(/^\/+/, '/'));
}
