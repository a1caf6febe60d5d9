/**
 * Response headers of the shield cache: RFC 9211 `Cache-Status`, the browser-facing
 * `cache-control` / `x-sw-cache-control`, surrogate keys, and the headers of a compressed variant.
 *
 * @module
 */
import type { RouteCacheOptions } from '@flotilla/manifest';
import { formatCacheControl, type HeaderPairs, parseCacheControl } from './cacheability.ts';
import type { CachingStatus } from './types.ts';

/** Name of the RFC 9211 header. */
export const CACHE_STATUS_HEADER = 'cache-status';
/** Name of the header carrying the {@link CachingStatus}. */
export const CACHING_STATUS_HEADER = 'x-flotilla-caching-status';
/** Name of the service-worker cache header. */
export const SW_CACHE_CONTROL_HEADER = 'x-sw-cache-control';
/** The cache name the shield reports in `Cache-Status`. */
export const DEFAULT_CACHE_NAME = 'flotilla';

/** RFC 9211 §2.2 `fwd` values. */
export type CacheStatusFwd =
  | 'bypass'
  | 'method'
  | 'uri-miss'
  | 'vary-miss'
  | 'miss'
  | 'request'
  | 'stale'
  | 'partial';

/** The RFC 9211 parameters of one `Cache-Status` member. Absent / false parameters are omitted. */
export interface CacheStatusParams {
  /** The response came from the cache without going forward. */
  hit?: boolean;
  /** Why the request went forward. */
  fwd?: CacheStatusFwd;
  /** Status the next hop answered (with `fwd`). */
  fwdStatus?: number;
  /** Remaining freshness in seconds, negative when stale (an integer; fractions are floored). */
  ttl?: number;
  /** The forwarded response was stored. */
  stored?: boolean;
  /** The request was collapsed with another one (a coalescing follower). */
  collapsed?: boolean;
  /** The cache key (sent as a string). */
  key?: string;
  /** Implementation detail: a token when it is one, else a string. */
  detail?: string;
}

/**
 * What happened to a request at the shield cache, for {@link cacheStatusFor}.
 *
 * - `hit`: a fresh stored copy answered.
 * - `stale-hit`: a stale copy answered within stale-while-revalidate (a revalidation runs in
 *   the background).
 * - `stale-if-error`: the request went forward because the copy was stale, the render failed (or
 *   the region was unreachable: no `fwdStatus`), and the stale copy answered.
 * - `miss`: the request went forward; `stale` when an expired copy existed; `stored` when the
 *   answer was stored, else `cachingStatus` says why not.
 * - `pass`: the request was not looked up (`method`, `disabled`, `debug`, `hit-for-pass`, …).
 */
export type CacheOutcome =
  | { kind: 'hit'; ttlMs: number; collapsed?: boolean }
  | { kind: 'stale-hit'; ttlMs: number; collapsed?: boolean }
  | { kind: 'stale-if-error'; ttlMs: number; fwdStatus?: number }
  | {
      kind: 'miss';
      /** Status the region answered; absent when it gave no response (an error). */
      fwdStatus?: number;
      stored: boolean;
      ttlMs?: number;
      stale?: boolean;
      collapsed?: boolean;
      cachingStatus?: CachingStatus;
    }
  | { kind: 'pass'; cachingStatus: CachingStatus; fwdStatus?: number };

const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;
const MAX_SF_INTEGER = 999_999_999_999_999;

/**
 * Serialises one RFC 9211 `Cache-Status` member (an RFC 8941 item: the cache name as a token and
 * its parameters).
 *
 * @param name - The cache name, a structured-field token. @default 'flotilla'
 * @throws TypeError when `name` is not a token or an integer parameter is out of range.
 * @example
 * cacheStatus({ hit: true, ttl: 42 });                     // 'flotilla; hit; ttl=42'
 * cacheStatus({ fwd: 'uri-miss', fwdStatus: 200, stored: true });
 * // 'flotilla; fwd=uri-miss; fwd-status=200; stored'
 * cacheStatus({ fwd: 'bypass', detail: 'edge: false' });  // 'flotilla; fwd=bypass; detail="edge: false"'
 */
export function cacheStatus(params: CacheStatusParams, name: string = DEFAULT_CACHE_NAME): string {
  if (!TOKEN.test(name)) throw new TypeError(`cache name ${JSON.stringify(name)} is not a token`);
  let out = name;
  if (params.hit === true) out += '; hit';
  if (params.fwd !== undefined) out += `; fwd=${params.fwd}`;
  if (params.fwdStatus !== undefined)
    out += `; fwd-status=${sfInteger('fwd-status', params.fwdStatus)}`;
  if (params.stored === true) out += '; stored';
  if (params.collapsed === true) out += '; collapsed';
  if (params.ttl !== undefined) out += `; ttl=${sfInteger('ttl', Math.floor(params.ttl))}`;
  if (params.key !== undefined) out += `; key=${sfString(params.key)}`;
  if (params.detail !== undefined) {
    out += `; detail=${TOKEN.test(params.detail) ? params.detail : sfString(params.detail)}`;
  }
  return out;
}

/**
 * The `Cache-Status` value for an outcome (see {@link CacheOutcome}).
 *
 * @example
 * cacheStatusFor({ kind: 'hit', ttlMs: 59_400 });            // 'flotilla; hit; ttl=59'
 * cacheStatusFor({ kind: 'stale-hit', ttlMs: -2_000 });      // 'flotilla; hit; ttl=-2; detail=stale'
 * cacheStatusFor({ kind: 'stale-if-error', ttlMs: -90_000, fwdStatus: 502 });
 * // 'flotilla; fwd=stale; fwd-status=502; ttl=-90; detail=stale-if-error'
 * cacheStatusFor({ kind: 'miss', fwdStatus: 200, stored: true, ttlMs: 60_000 });
 * // 'flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60'
 * cacheStatusFor({ kind: 'miss', fwdStatus: 200, stored: false, cachingStatus: 'private' });
 * // 'flotilla; fwd=uri-miss; fwd-status=200; detail=private'
 * cacheStatusFor({ kind: 'pass', cachingStatus: 'method' });       // 'flotilla; fwd=method'
 * cacheStatusFor({ kind: 'pass', cachingStatus: 'hit-for-pass' }); // 'flotilla; fwd=miss; detail=hit-for-pass'
 * cacheStatusFor({ kind: 'pass', cachingStatus: 'disabled' });     // 'flotilla; fwd=bypass; detail=disabled'
 */
export function cacheStatusFor(outcome: CacheOutcome, name: string = DEFAULT_CACHE_NAME): string {
  switch (outcome.kind) {
    case 'hit':
      return cacheStatus(
        { hit: true, collapsed: outcome.collapsed, ttl: seconds(outcome.ttlMs) },
        name,
      );
    case 'stale-hit':
      return cacheStatus(
        { hit: true, collapsed: outcome.collapsed, ttl: seconds(outcome.ttlMs), detail: 'stale' },
        name,
      );
    case 'stale-if-error':
      return cacheStatus(
        {
          fwd: 'stale',
          fwdStatus: outcome.fwdStatus,
          ttl: seconds(outcome.ttlMs),
          detail: 'stale-if-error',
        },
        name,
      );
    case 'miss':
      return cacheStatus(
        {
          fwd: outcome.stale === true ? 'stale' : 'uri-miss',
          fwdStatus: outcome.fwdStatus,
          stored: outcome.stored,
          collapsed: outcome.collapsed,
          ttl: outcome.stored && outcome.ttlMs !== undefined ? seconds(outcome.ttlMs) : undefined,
          detail:
            !outcome.stored && outcome.cachingStatus !== undefined && outcome.cachingStatus !== 'ok'
              ? outcome.cachingStatus
              : undefined,
        },
        name,
      );
    case 'pass': {
      const s = outcome.cachingStatus;
      if (s === 'method') return cacheStatus({ fwd: 'method', fwdStatus: outcome.fwdStatus }, name);
      if (s === 'hit-for-pass') {
        return cacheStatus({ fwd: 'miss', fwdStatus: outcome.fwdStatus, detail: s }, name);
      }
      return cacheStatus({ fwd: 'bypass', fwdStatus: outcome.fwdStatus, detail: s }, name);
    }
  }
}

/** The browser-facing cache headers of a response. `undefined`: send no such header. */
export interface BrowserHeaders {
  /** The `cache-control` to send instead of the upstream's (remove the upstream's when undefined). */
  cacheControl: string | undefined;
  /** The `x-sw-cache-control` to send (none when undefined). */
  swCacheControl: string | undefined;
}

/**
 * The browser-facing `cache-control` and `x-sw-cache-control` of a response.
 *
 * - `browser: false` → `private, no-store`: the browser keeps no copy (EdgeJS's "caching in the
 *   browser is turned off").
 * - `browser.maxAgeSeconds` → `max-age=N` (`max-age=0` for 0, as EdgeJS sends it: the page is
 *   stale at once, so the browser revalidates before reusing it).
 * - No `browser.maxAgeSeconds`: the upstream `cache-control` minus the directives meant for
 *   shared caches only (`s-maxage`, `proxy-revalidate`). When `s-maxage` was the only lifetime
 *   given (no `max-age`, `no-cache`, `no-store`), `no-cache` is added: the origin set a lifetime
 *   for the edge, not for browsers, so a browser must not guess one (heuristic freshness).
 * - `browser.serviceWorkerSeconds` → `x-sw-cache-control: max-age=N`.
 *
 * @param route - Cache options of the matched routes.
 * @param upstreamCacheControl - The upstream response's `cache-control` value(s).
 * @example
 * browserHeaders({ browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 } }, 'public, s-maxage=60');
 * // { cacheControl: 'max-age=0', swCacheControl: 'max-age=60' }
 * browserHeaders({ browser: false }, 'public, max-age=60'); // cacheControl: 'private, no-store'
 * browserHeaders(undefined, 'public, max-age=10, s-maxage=60'); // cacheControl: 'public, max-age=10'
 * browserHeaders(undefined, 's-maxage=60');                      // cacheControl: 'no-cache'
 */
export function browserHeaders(
  route: RouteCacheOptions | undefined,
  upstreamCacheControl?: string | readonly string[],
): BrowserHeaders {
  const browser = route?.browser;
  if (browser === false) return { cacheControl: 'private, no-store', swCacheControl: undefined };
  const sw = browser?.serviceWorkerSeconds;
  const swCacheControl = sw === undefined ? undefined : `max-age=${Math.max(0, Math.floor(sw))}`;
  const maxAge = browser?.maxAgeSeconds;
  if (maxAge !== undefined) {
    return { cacheControl: `max-age=${Math.max(0, Math.floor(maxAge))}`, swCacheControl };
  }
  const upstream =
    typeof upstreamCacheControl === 'string'
      ? [upstreamCacheControl]
      : (upstreamCacheControl ?? []);
  if (upstream.every((v) => v.trim() === '')) return { cacheControl: undefined, swCacheControl };
  const cc = new Map(parseCacheControl(upstream));
  const hadSharedLifetime = cc.delete('s-maxage');
  cc.delete('proxy-revalidate');
  if (hadSharedLifetime && !cc.has('max-age') && !cc.has('no-cache') && !cc.has('no-store')) {
    cc.set('no-cache', true);
  }
  const cacheControl = formatCacheControl(cc);
  return { cacheControl: cacheControl === '' ? undefined : cacheControl, swCacheControl };
}

/**
 * The surrogate keys of a response: `surrogate-key` (space-separated) and `cache-tag`
 * (comma-separated) values, trimmed, de-duplicated, in order of appearance.
 *
 * @example
 * surrogateKeysOf([['surrogate-key', 'product-1 all'], ['cache-tag', 'all, listing']]);
 * // ['product-1', 'all', 'listing']
 */
export function surrogateKeysOf(headers: HeaderPairs): string[] {
  const out = new Set<string>();
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    const parts =
      name === 'surrogate-key' ? value.split(/\s+/) : name === 'cache-tag' ? value.split(',') : [];
    for (const part of parts) {
      const key = part.trim();
      if (key !== '') out.add(key);
    }
  }
  return [...out];
}

/**
 * The headers of a stored response served with `encoding` applied by the cache (see
 * `CacheStore.body`): `content-encoding` and `content-length` set, `accept-encoding` added to
 * `vary`, and a strong `etag` weakened (the bytes differ from the identity ones). With
 * `identity`, only `content-length` is set (when `bodyBytes` is given) and `vary` gains
 * `accept-encoding` when the response could have been compressed (`negotiated`).
 *
 * @param headers - The stored headers (lower-case names).
 * @param encoding - The coding the cache applied.
 * @param bodyBytes - Length of the body sent.
 * @param negotiated - The cache chose between codings for this response. @default true
 */
export function variantHeaders(
  headers: ReadonlyArray<readonly [string, string]>,
  encoding: 'br' | 'gzip' | 'identity',
  bodyBytes: number,
  negotiated = true,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let varyDone = false;
  for (const [name, value] of headers) {
    if (name === 'content-length') continue;
    if (name === 'content-encoding' && encoding !== 'identity') continue;
    if (name === 'etag' && encoding !== 'identity' && !value.startsWith('W/')) {
      out.push([name, `W/${value}`]);
      continue;
    }
    if (name === 'vary' && negotiated && !varyDone) {
      const names = value
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter((s) => s !== '');
      out.push([
        name,
        names.includes('accept-encoding')
          ? value
          : [value, 'accept-encoding'].filter((s) => s.trim() !== '').join(', '),
      ]);
      varyDone = true;
      continue;
    }
    out.push([name, value]);
  }
  if (negotiated && !varyDone) {
    out.push(['vary', 'accept-encoding']);
  }
  if (encoding !== 'identity') out.push(['content-encoding', encoding]);
  out.push(['content-length', String(bodyBytes)]);
  return out;
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

function sfInteger(param: string, n: number): string {
  if (!Number.isInteger(n) || Math.abs(n) > MAX_SF_INTEGER) {
    throw new TypeError(`Cache-Status ${param} must be an integer, got ${n}`);
  }
  return String(n);
}

/** RFC 8941 sf-string: printable ASCII, `"` and `\` escaped; other characters become `?`. */
function sfString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}
