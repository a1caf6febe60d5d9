/**
 * The request headers the shield sends to the render. In `cache` mode the
 * list is rebuilt from an allow-list, so that every header the handler can
 * see is either part of the cache key or neutral: an unkeyed header (an
 * `X-Forwarded-Host` canary, say) can never shape a page that is then
 * served to everyone from the cache. In `pass` mode (a response that is
 * never stored) the client's end-to-end headers go through, minus the
 * forwarding headers a client could forge.
 *
 * @module
 */
import {
  type CacheKeySpec,
  DEFAULT_CACHE_KEY_SPEC,
  normalizeAcceptEncoding,
  parseCookies,
} from '@flotilla/manifest';
import { InvalidOptionError } from '@flotilla/protocol';
import { HOP_BY_HOP_HEADERS, HTTP_TOKEN, UNSAFE_HEADER_VALUE } from '@flotilla/protocol/patterns';
import {
  type BrowserFamily,
  browserFamily,
  classifyDevice,
  type DeviceClass,
  type DeviceVendor,
  deviceVendor,
  isBotUserAgent,
} from './user-agent.ts';

/** Request header carrying the {@link DeviceClass} to the handler. */
export const DEVICE_HEADER = 'x-flotilla-device';
/** Request header carrying the {@link BrowserFamily} to the handler. */
export const BROWSER_HEADER = 'x-flotilla-browser';
/** Request header telling the handler whether the client is a bot (`1` or `0`). */
export const IS_BOT_HEADER = 'x-flotilla-is-bot';
/** Request header carrying the {@link DeviceVendor} to the handler. */
export const VENDOR_HEADER = 'x-flotilla-vendor';
/** Cookies whose name starts with this pass through untouched (split-test assignment). */
export const SPLIT_COOKIE_PREFIX = 'flotilla_split_';

/**
 * The cache-mode allow-list: headers forwarded even when the route's key
 * does not name them. Everything else reaches the render only when the key
 * names it (`addHeader`, `addCookie`, `addDevice`, `addBrowser`).
 *
 * | header            | forwarded                    | value                                            |
 * | ----------------- | ---------------------------- | ------------------------------------------------ |
 * | `accept-encoding` | always                       | normalised to `br`, `gzip` or `identity`, as in the key |
 * | `content-type`    | with `withBody` (a cached POST, whose body and type are keyed) | as sent (first one) |
 * | `content-length`  | with `withBody`              | as sent (first one)                              |
 *
 * `accept` is not on it: a route that renders differently by `Accept`
 * must key it (`addHeader('accept')`), or an unkeyed `Accept` could shape
 * a cached page.
 */
export const CACHE_ALLOW_LIST: readonly string[] = Object.freeze([
  'accept-encoding',
  'content-type',
  'content-length',
]);

/** The hop-by-hop headers of RFC 9110 §7.6.1: they never cross the shield, either way. */
export { HOP_BY_HOP_HEADERS };

/**
 * Headers the shield writes itself and so never takes from a client, in
 * either mode, even when a key names them: `host` (the shield rebuilds the
 * upstream URL from the host it routed on), the hop-by-hop headers of
 * RFC 9110 §7.6.1, and `traceparent`/`tracestate` (the shield continues the
 * trace and passes its own in `extra`).
 */
export const SHIELD_OWNED_HEADERS: readonly string[] = Object.freeze([
  'host',
  ...HOP_BY_HOP_HEADERS,
  'traceparent',
  'tracestate',
]);

/**
 * `fixed`, plus every header a `Connection` value names (RFC 9110 §7.6.1):
 * what must not be forwarded. `connection` may join several `Connection`
 * headers with commas.
 */
export function withConnectionNamed(
  fixed: ReadonlySet<string>,
  connection: string | undefined,
): ReadonlySet<string> {
  if (!connection) return fixed;
  const names = new Set(fixed);
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) names.add(name);
  }
  return names;
}

/**
 * Forwarding and override headers a client can forge to make an origin
 * believe in another host, scheme, path, method or client address. Dropped
 * in both modes (in `cache` mode they are dropped anyway, as is every header
 * the allow-list and the key do not name). Besides this list, every header
 * starting with `x-forwarded-`, `x-original-`, `x-flotilla-` or `x-0-` is dropped.
 */
export const SPOOFABLE_HEADERS: readonly string[] = Object.freeze([
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-proto',
  'x-forwarded-protocol',
  'x-forwarded-scheme',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-original-url',
  'x-original-uri',
  'x-original-host',
  'x-original-forwarded-for',
  'x-rewrite-url',
  'x-host',
  'x-http-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-url-scheme',
  'front-end-https',
  'x-arr-ssl',
  'true-client-ip',
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'x-cluster-client-ip',
  'x-originating-ip',
  'x-remote-ip',
  'x-remote-addr',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'fastly-client-ip',
  'x-azure-clientip',
  'x-proxyuser-ip',
  // Framework-internal headers that have been used to bypass middleware or poison caches.
  'x-middleware-subrequest',
  'x-middleware-prefetch',
  'x-invoke-path',
  'x-invoke-query',
  'x-invoke-output',
  'x-matched-path',
  'x-now-route-matches',
]);

// `x-0-`: Edgio's reserved namespace, which the shield writes itself (`--header-names edgio`).
const SPOOFABLE_PREFIXES = ['x-forwarded-', 'x-original-', 'x-flotilla-', 'x-0-'];
const SHIELD_OWNED = new Set(SHIELD_OWNED_HEADERS);
const SPOOFABLE = new Set(SPOOFABLE_HEADERS);

/** True when a client's header `name` (lower case) is never forwarded in `pass` mode. */
export function isSpoofableHeader(name: string): boolean {
  return SPOOFABLE.has(name) || SPOOFABLE_PREFIXES.some((p) => name.startsWith(p));
}

// Node keeps only the first of these when a request repeats them
// (IncomingMessage#headers; `_http_incoming.js` matchKnownFields).
const FIRST_WINS = new Set([
  'age',
  'authorization',
  'content-length',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * Node's raw header list (`req.rawHeaders`: name, value, name, value…) as
 * one lower-case name → value record, merged exactly as Node merges
 * `req.headers`: the first of a repeated `user-agent`, `content-type`,
 * `authorization`… wins, repeated `cookie` headers join with `; `, others
 * with `, `, values trimmed. Build the cache key's `MatchRequest.headers`
 * with this, so the key and {@link upstreamHeaders} read the same values.
 * (`set-cookie`, which a request never carries, is joined with `, `.)
 */
export function headerRecord(rawHeaders: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    const value = (rawHeaders[i + 1] as string).trim();
    const prev = out[name];
    if (prev === undefined) out[name] = value;
    else if (FIRST_WINS.has(name)) continue;
    else out[name] = `${prev}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

/** Options of {@link upstreamHeaders}. */
export interface UpstreamHeaderOptions {
  /**
   * `cache`: the response may be stored, forward only the allow-list and
   * what the key names. `pass`: never stored (hit-for-pass, a method or
   * route that does not cache, a debug request), forward the client's
   * end-to-end headers minus {@link SPOOFABLE_HEADERS}.
   * @default 'cache'
   */
  mode?: 'cache' | 'pass';
  /** The route's cache key; absent: the default key (no cookies, headers, device or browser). */
  keySpec?: CacheKeySpec | undefined;
  /**
   * More cookie names kept in `cache` mode besides the key's cookies and
   * the `flotilla_split_` ones. Only for cookies whose effect the key holds
   * some other way (as the split destination holds the split cookie).
   * @default []
   */
  keepCookies?: readonly string[];
  /**
   * `cache` mode: the request has a body the key holds (a cacheable POST),
   * so `content-type` and `content-length` go with it.
   * @default false
   */
  withBody?: boolean;
  /** Device class of the request; absent: classified from `user-agent`. */
  device?: DeviceClass;
  /** Browser family of the request; absent: classified from `user-agent`. */
  browser?: BrowserFamily;
  /** Whether the client is a bot; absent: classified from `user-agent`. */
  isBot?: boolean;
  /** Device vendor of the request; absent: classified from `user-agent`. */
  vendor?: DeviceVendor;
  /**
   * More client headers (lower case) dropped in `pass` mode, e.g. the
   * front door's client-IP and geo headers, which only a trusted proxy
   * may set.
   * @default []
   */
  drop?: readonly string[];
  /**
   * Headers the shield adds (`traceparent`, `x-flotilla-original-query`,
   * the client IP in `pass` mode…), appended last; each replaces any
   * header of the same name. The shield vouches for them: in `cache` mode
   * they must be derived from keyed facts only.
   * @default []
   */
  extra?: ReadonlyArray<readonly [string, string]>;
}

// Header values may not hold CR, LF or NUL.

/**
 * The headers to send to the render for one request, lower-case names, in
 * a fixed order.
 *
 * **`cache` mode** (default) — only:
 * - `accept` (when sent), `accept-encoding` (always, normalised to `br`,
 *   `gzip` or `identity` as the key holds it), `content-type` and
 *   `content-length` (when sent);
 * - `cookie`, reduced to the key's cookies (`addCookie`), the split-test
 *   cookies (`flotilla_split_*`) and `keepCookies`, each once with the value
 *   the key reads (the first occurrence, quotes removed);
 * - every header the key names (`addHeader`, including `accept-language`
 *   and `user-agent`), with the value the key reads ({@link headerRecord});
 * - `x-flotilla-device` when the key has `addDevice()`,
 *   `x-flotilla-browser` when it has `addBrowser()`, `x-flotilla-is-bot`
 *   when it has `addIsBot()` and `x-flotilla-vendor` when it has
 *   `addVendor()`;
 * - then `extra`.
 * `user-agent` and `accept-language` are therefore dropped unless keyed, as
 * are `authorization`, `referer`, `origin`, conditional and range headers,
 * and every forwarding header ({@link SPOOFABLE_HEADERS}). Two requests with
 * the same key get the same list (up to `accept`, `content-type` and
 * `content-length`).
 *
 * **`pass` mode** — the client's headers in their order and repeats, minus
 * {@link SHIELD_OWNED_HEADERS}, the headers the client's `Connection`
 * names, {@link SPOOFABLE_HEADERS} (and the `x-forwarded-*`,
 * `x-original-*`, `x-flotilla-*` families) and `drop`, repeated `cookie`
 * headers joined into one with `; `; then
 * `x-flotilla-device`, `x-flotilla-browser`, `x-flotilla-is-bot` and
 * `x-flotilla-vendor`, then `extra`.
 *
 * @param rawHeaders - `req.rawHeaders` (name, value, name, value…).
 * @example
 * upstreamHeaders(req.rawHeaders, { keySpec: decision.cache?.key, extra: [['traceparent', tp]] });
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  options: UpstreamHeaderOptions = {},
): Array<[string, string]> {
  const mode = options.mode ?? 'cache';
  if (mode !== 'cache' && mode !== 'pass') {
    throw new InvalidOptionError('mode', `must be "cache" or "pass", got ${JSON.stringify(mode)}`);
  }
  const extra = validExtra(options.extra ?? []);
  const record = headerRecord(rawHeaders);
  const out = mode === 'cache' ? cacheHeaders(record, options) : passHeaders(rawHeaders, options);
  const extraNames = new Set(extra.map(([name]) => name));
  return [...out.filter(([name]) => !extraNames.has(name)), ...extra];
}

function validExtra(extra: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  return extra.map(([name, value], i) => {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      throw new InvalidOptionError(
        `extra[${i}]`,
        `has an invalid header name: ${JSON.stringify(name)}`,
      );
    }
    if (typeof value !== 'string' || UNSAFE_HEADER_VALUE.test(value)) {
      throw new InvalidOptionError(`extra[${i}]`, `has an invalid value for "${name}"`);
    }
    return [name.toLowerCase(), value];
  });
}

function deviceOf(record: Record<string, string>, options: UpstreamHeaderOptions): DeviceClass {
  return options.device ?? classifyDevice(record['user-agent']);
}

function browserOf(record: Record<string, string>, options: UpstreamHeaderOptions): BrowserFamily {
  return options.browser ?? browserFamily(record['user-agent']);
}

function isBotOf(record: Record<string, string>, options: UpstreamHeaderOptions): boolean {
  return options.isBot ?? isBotUserAgent(record['user-agent']);
}

function vendorOf(record: Record<string, string>, options: UpstreamHeaderOptions): DeviceVendor {
  return options.vendor ?? deviceVendor(record['user-agent']);
}

function cacheHeaders(
  record: Record<string, string>,
  options: UpstreamHeaderOptions,
): Array<[string, string]> {
  const spec = options.keySpec ?? DEFAULT_CACHE_KEY_SPEC;
  const out: Array<[string, string]> = [];
  out.push(['accept-encoding', normalizeAcceptEncoding(record['accept-encoding'])]);
  if (options.withBody) {
    for (const name of ['content-type', 'content-length']) {
      const value = record[name];
      if (value !== undefined) out.push([name, value]);
    }
  }
  const done = new Set(CACHE_ALLOW_LIST);
  const keyedHeaders = spec.headers.map((h) => h.toLowerCase());
  // A keyed `cookie` header keeps the whole header, as the key holds it.
  if (!keyedHeaders.includes('cookie')) {
    const cookie = reducedCookies(record.cookie, spec.cookies, options.keepCookies ?? []);
    if (cookie !== '') out.push(['cookie', cookie]);
  }
  for (const name of keyedHeaders) {
    if (
      done.has(name) ||
      SHIELD_OWNED.has(name) ||
      name.startsWith('x-flotilla-') ||
      name.startsWith('x-0-')
    ) {
      continue;
    }
    done.add(name);
    const value = record[name];
    if (value !== undefined) out.push([name, value]);
  }
  if (spec.device) out.push([DEVICE_HEADER, deviceOf(record, options)]);
  if (spec.browser) out.push([BROWSER_HEADER, browserOf(record, options)]);
  if (spec.isBot) out.push([IS_BOT_HEADER, isBotOf(record, options) ? '1' : '0']);
  if (spec.vendor) out.push([VENDOR_HEADER, vendorOf(record, options)]);
  return out;
}

function reducedCookies(
  header: string | undefined,
  keyed: readonly string[],
  keep: readonly string[],
): string {
  const cookies = parseCookies(header);
  const names: string[] = [];
  const seen = new Set<string>();
  const add = (name: string) => {
    if (!seen.has(name) && name in cookies) {
      seen.add(name);
      names.push(name);
    }
  };
  for (const name of keyed) add(name);
  const rest = Object.keys(cookies)
    .filter((name) => name.startsWith(SPLIT_COOKIE_PREFIX) || keep.includes(name))
    .sort();
  for (const name of rest) add(name);
  return names.map((name) => `${name}=${cookies[name]}`).join('; ');
}

function passHeaders(
  rawHeaders: readonly string[],
  options: UpstreamHeaderOptions,
): Array<[string, string]> {
  const connection: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() === 'connection') {
      connection.push(rawHeaders[i + 1] as string);
    }
  }
  const skip = new Set(withConnectionNamed(SHIELD_OWNED, connection.join(',')));
  for (const name of options.drop ?? []) skip.add(name.toLowerCase());
  const record = headerRecord(rawHeaders);
  const out: Array<[string, string]> = [];
  let cookieSent = false;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as string).toLowerCase();
    if (skip.has(name) || isSpoofableHeader(name)) continue;
    if (name === 'cookie') {
      // One `cookie` header: fetch's Headers would join repeats with `, `.
      if (!cookieSent && record.cookie !== undefined) out.push(['cookie', record.cookie]);
      cookieSent = true;
      continue;
    }
    out.push([name, rawHeaders[i + 1] as string]);
  }
  out.push([DEVICE_HEADER, deviceOf(record, options)]);
  out.push([BROWSER_HEADER, browserOf(record, options)]);
  out.push([IS_BOT_HEADER, isBotOf(record, options) ? '1' : '0']);
  out.push([VENDOR_HEADER, vendorOf(record, options)]);
  return out;
}
