/**
 * Cacheability rules of the shield (issue 5): whether a request may be answered from the cache
 * ({@link requestCacheability}) and whether a response may be stored, for how long
 * ({@link decideStorage}). Every refusal carries the `x-flotilla-caching-status` value and a
 * human-readable reason.
 *
 * Rule precedence (the first rule that refuses decides the status):
 *
 * 1. `disabled` — the route declares `edge: false`.
 * 2. `debug` — a debug request is never stored (nor answered from the cache).
 * 3. `deploying` — the caller says the deployment is changing under the request.
 * 4. `method` — only GET and HEAD; POST only on a POST-cacheable route.
 * 5. `body-too-big` — a POST body over `maxPostBodyBytes` (8000) cannot be part of the key.
 * 6. `code` — the status is not a complete 2xx/3xx response (206 and 304 excluded, see below).
 * 7. `private` — `private`, `no-store` or `no-cache` in `cache-control`, unless the route sets
 *    `edge.forcePrivateCaching`.
 * 8. `set-cookie` — a `set-cookie` header, unless the route removes it before storing.
 * 9. `vary` — `Vary: *`, or a Vary on a header the cache key does not hold.
 * 10. `no-max-age` — no positive freshness lifetime: the route's `edge.maxAgeSeconds` when it
 *     declares one (the route wins over the response, as in EdgeJS), else `s-maxage` (wins over
 *     `max-age`), else `max-age`, less the response's `Age`.
 *
 * @module
 */
import type { RouteCacheOptions } from '@flotilla/manifest';
import { HTTP_TOKEN } from '@flotilla/protocol/patterns';
import type { CachingStatus } from './types.ts';

/** Headers as the cache sees them: `[name, value]` pairs (arrays, `Headers`, map entries). */
export type HeaderPairs = Iterable<readonly [string, string]>;

/** A parsed `cache-control`: lower-case directive name → its value, or `true` when it has none. */
export type CacheControl = ReadonlyMap<string, string | true>;

/** How long a stored response may be used, in milliseconds. */
export interface StorageTtl {
  /** Freshness lifetime: served as a plain hit. Always > 0. */
  maxAgeMs: number;
  /** After freshness: served stale while one background revalidation runs. */
  swrMs: number;
  /** After freshness: served only when the render fails or the region is unreachable. */
  staleIfErrorMs: number;
  /** Where `maxAgeMs` came from. */
  source: 'route' | 's-maxage' | 'max-age';
}

/** What {@link decideStorage} answers. */
export type StorageDecision =
  | { store: true; status: 'ok'; ttl: StorageTtl }
  | { store: false; status: Exclude<CachingStatus, 'ok'>; reason: string };

/** What {@link requestCacheability} answers. */
export type RequestCacheability =
  | { cacheable: true }
  | { cacheable: false; status: Exclude<CachingStatus, 'ok'>; reason: string };

/** Extra request-side inputs of {@link requestCacheability}. */
export interface RequestCacheabilityOptions {
  /**
   * The route caches POST requests (a `router.post` route with edge caching). The body must then
   * be part of the cache key.
   * @default true when the route declares a positive `edge.maxAgeSeconds`, else false
   */
  postCacheable?: boolean;
  /** Size of the request body (a POST's), in bytes. @default 0 */
  requestBodyBytes?: number;
  /** Largest POST body that may be cached (it is part of the key). @default 8000 */
  maxPostBodyBytes?: number;
  /** The deployment serving the request is being replaced: store nothing. @default false */
  deploying?: boolean;
}

/** Inputs of {@link decideStorage}. */
export interface StorageInput extends RequestCacheabilityOptions {
  /** Request method (any case). */
  method: string;
  /** Response status code. */
  status: number;
  /** Response headers (names in any case). */
  headers: HeaderPairs;
  /** Cache options of the matched routes (`RouteDecision.cache`), undefined when none. */
  route: RouteCacheOptions | undefined;
  /** A debug request (never stored). */
  debug: boolean;
  /** The route removes `set-cookie` from the upstream response before it is stored. @default false */
  setCookieRemoved?: boolean;
  /**
   * Stale-if-error window when the response gives no `stale-if-error=`: the larger of this and the
   * stale-while-revalidate window, so a failing render can always fall back on the copy at least
   * as long as it would have been served stale anyway. 0 under `must-revalidate`.
   * @default 60000
   */
  defaultStaleIfErrorMs?: number;
}

/** The default largest cacheable POST body (part of the key), in bytes. */
export const DEFAULT_MAX_POST_BODY_BYTES = 8000;
/** The default stale-if-error window, in milliseconds (see {@link StorageInput.defaultStaleIfErrorMs}). */
export const DEFAULT_STALE_IF_ERROR_MS = 60_000;

/** Directives whose argument is sent in the quoted-string form (RFC 9111 §5.2.2.4, §5.2.2.7). */
const QUOTED_FORM = new Set(['private', 'no-cache']);

/** RFC 9111 §1.2.2: delta-seconds past 2^31 are taken as 2^31. */
const MAX_DELTA_SECONDS = 2 ** 31;

/**
 * The request-side pre-check: whether this request may be looked up in, coalesced on and stored
 * into the cache. A request that is not cacheable is forwarded as is (no coalescing: a POST to a
 * non-cacheable route never waits behind another one).
 *
 * @param method - Request method, any case.
 * @param route - Cache options of the matched routes, undefined when none.
 * @param debug - A debug request.
 * @example
 * requestCacheability('GET', { edge: { maxAgeSeconds: 60 } }, false); // { cacheable: true }
 * requestCacheability('POST', undefined, false);
 * // { cacheable: false, status: 'method', reason: 'POST is not cached on this route …' }
 */
export function requestCacheability(
  method: string,
  route: RouteCacheOptions | undefined,
  debug: boolean,
  options: RequestCacheabilityOptions = {},
): RequestCacheability {
  if (route?.edge === false) {
    return refuse('disabled', 'the route declares edge: false');
  }
  if (debug) return refuse('debug', 'debug requests are never cached');
  if (options.deploying === true) {
    return refuse('deploying', 'the deployment is being replaced');
  }
  const m = method.toUpperCase();
  if (m === 'GET' || m === 'HEAD') return { cacheable: true };
  if (m !== 'POST') return refuse('method', `${m} requests are never cached`);
  const postCacheable = options.postCacheable ?? declaresEdgeTtl(route);
  if (!postCacheable) {
    return refuse('method', 'POST is not cached on this route (no edge caching declared for it)');
  }
  const max = options.maxPostBodyBytes ?? DEFAULT_MAX_POST_BODY_BYTES;
  const bytes = options.requestBodyBytes ?? 0;
  if (bytes > max) {
    return refuse('body-too-big', `the POST body (${bytes} bytes) is over ${max} bytes`);
  }
  return { cacheable: true };
}

/**
 * Decides whether a response may be stored and for how long, by the rules listed in this module's
 * documentation (first refusal wins).
 *
 * Status codes: complete 2xx and 3xx responses are stored. Excluded: 1xx (interim responses, never
 * a complete answer to store), 206 (a part of a representation: storing it as the whole response
 * would answer later full requests with a fragment) and 304 (a validation answer without a body:
 * it only refreshes a copy the client or the cache already holds).
 *
 * Time windows: `swrMs` is the route's `edge.staleWhileRevalidateSeconds` when declared, else the
 * response's `stale-while-revalidate=`; `staleIfErrorMs` is the response's `stale-if-error=`, else
 * the larger of {@link StorageInput.defaultStaleIfErrorMs} and `swrMs`. `must-revalidate` /
 * `proxy-revalidate` forbid serving stale: they zero both windows unless the route declares its
 * own stale-while-revalidate.
 *
 * Qualified `private="…"` / `no-cache="…"` are treated like their plain forms (refused), as
 * stripping the named fields is not supported. `Expires` is not read: a lifetime comes from
 * `s-maxage` / `max-age` or the route.
 *
 * HEAD: a HEAD answer has no body. Store it only when the shield forwarded the HEAD as a GET (the
 * usual CDN practice) or keeps HEAD under its own key; otherwise a later GET for the same key
 * would be answered with an empty body.
 *
 * @example
 * decideStorage({ method: 'GET', status: 200, debug: false, route: undefined,
 *   headers: [['cache-control', 'public, s-maxage=60, stale-while-revalidate=30']] });
 * // { store: true, status: 'ok',
 * //   ttl: { maxAgeMs: 60000, swrMs: 30000, staleIfErrorMs: 60000, source: 's-maxage' } }
 */
export function decideStorage(input: StorageInput): StorageDecision {
  const { route } = input;
  const request = requestCacheability(input.method, route, input.debug, input);
  if (!request.cacheable) return { store: false, status: request.status, reason: request.reason };

  const code = input.status;
  if (!Number.isInteger(code) || code < 200 || code > 399) {
    return refuseStore('code', `status ${code} is not a complete 2xx or 3xx response`);
  }
  if (code === 206) {
    return refuseStore('code', 'status 206 is partial content, not the whole response');
  }
  if (code === 304) {
    return refuseStore('code', 'status 304 has no body to store');
  }

  const cc = parseCacheControl(headerValues(input.headers, 'cache-control'));
  const edge = route?.edge === false ? undefined : route?.edge;
  if (edge?.forcePrivateCaching !== true) {
    for (const directive of ['private', 'no-store', 'no-cache'] as const) {
      if (cc.has(directive)) {
        return refuseStore(
          'private',
          `the response says cache-control: ${directive} (the route can set edge.forcePrivateCaching)`,
        );
      }
    }
  }

  if (headerValues(input.headers, 'set-cookie').length > 0 && input.setCookieRemoved !== true) {
    return refuseStore('set-cookie', 'the response sets a cookie');
  }

  const varyProblem = unsupportedVary(headerValues(input.headers, 'vary'), route);
  if (varyProblem !== undefined) return refuseStore('vary', varyProblem);

  // Freshness lifetime: the route's declaration wins over the response (EdgeJS).
  let maxAgeSeconds: number;
  let source: StorageTtl['source'];
  if (edge?.maxAgeSeconds !== undefined) {
    maxAgeSeconds = edge.maxAgeSeconds;
    source = 'route';
    if (!(maxAgeSeconds > 0)) {
      return refuseStore('no-max-age', `the route declares edge.maxAgeSeconds: ${maxAgeSeconds}`);
    }
  } else {
    const directive = cc.has('s-maxage') ? 's-maxage' : cc.has('max-age') ? 'max-age' : undefined;
    if (directive === undefined) {
      return refuseStore(
        'no-max-age',
        'neither the response (s-maxage / max-age) nor the route (edge.maxAgeSeconds) gives a lifetime',
      );
    }
    source = directive;
    const lifetime = deltaSeconds(cc.get(directive));
    const age = deltaSeconds(firstValue(headerValues(input.headers, 'age'))) ?? 0;
    maxAgeSeconds = (lifetime ?? 0) - age;
    if (lifetime === undefined || lifetime <= 0) {
      return refuseStore('no-max-age', `the response's ${directive} is not positive`);
    }
    if (maxAgeSeconds <= 0) {
      return refuseStore(
        'no-max-age',
        `the response is already stale (age ${age} ≥ ${directive} ${lifetime})`,
      );
    }
  }

  const mustRevalidate = cc.has('must-revalidate') || cc.has('proxy-revalidate');
  let swrSeconds = 0;
  if (edge?.staleWhileRevalidateSeconds !== undefined) {
    swrSeconds = Math.max(0, edge.staleWhileRevalidateSeconds);
  } else if (!mustRevalidate) {
    swrSeconds = deltaSeconds(cc.get('stale-while-revalidate')) ?? 0;
  }
  const swrMs = swrSeconds * 1000;
  let staleIfErrorMs = 0;
  if (!mustRevalidate || edge?.staleWhileRevalidateSeconds !== undefined) {
    const sie = mustRevalidate ? undefined : deltaSeconds(cc.get('stale-if-error'));
    staleIfErrorMs =
      sie !== undefined
        ? sie * 1000
        : Math.max(input.defaultStaleIfErrorMs ?? DEFAULT_STALE_IF_ERROR_MS, swrMs);
  }
  return {
    store: true,
    status: 'ok',
    ttl: { maxAgeMs: maxAgeSeconds * 1000, swrMs, staleIfErrorMs, source },
  };
}

/**
 * The entry time stamps for a response stored at `storedAt` with `ttl`.
 *
 * @example
 * freshnessWindows(0, { maxAgeMs: 60000, swrMs: 30000, staleIfErrorMs: 60000, source: 'route' });
 * // { storedAt: 0, freshUntil: 60000, staleWhileRevalidateUntil: 90000, staleIfErrorUntil: 120000 }
 */
export function freshnessWindows(
  storedAt: number,
  ttl: Pick<StorageTtl, 'maxAgeMs' | 'swrMs' | 'staleIfErrorMs'>,
): {
  storedAt: number;
  freshUntil: number;
  staleWhileRevalidateUntil: number;
  staleIfErrorUntil: number;
} {
  const freshUntil = storedAt + ttl.maxAgeMs;
  return {
    storedAt,
    freshUntil,
    staleWhileRevalidateUntil: freshUntil + ttl.swrMs,
    staleIfErrorUntil: freshUntil + ttl.staleIfErrorMs,
  };
}

/**
 * Parses `cache-control` values (several header lines are joined). Directive names are
 * lower-cased; quoted values are unquoted; the first occurrence of a directive wins.
 *
 * @example
 * parseCacheControl('public, max-age=60, private="set-cookie"');
 * // Map { 'public' => true, 'max-age' => '60', 'private' => 'set-cookie' }
 */
export function parseCacheControl(value: string | readonly string[] | undefined): CacheControl {
  const out = new Map<string, string | true>();
  const text = typeof value === 'string' ? value : (value ?? []).join(',');
  let i = 0;
  const n = text.length;
  while (i < n) {
    // name
    while (i < n && (text[i] === ',' || text[i] === ' ' || text[i] === '\t')) i++;
    const start = i;
    while (i < n && text[i] !== '=' && text[i] !== ',') i++;
    const name = text.slice(start, i).trim().toLowerCase();
    let directiveValue: string | true = true;
    if (i < n && text[i] === '=') {
      i++;
      while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
      if (text[i] === '"') {
        i++;
        let v = '';
        while (i < n && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < n) i++;
          v += text[i];
          i++;
        }
        i++; // closing quote
        while (i < n && text[i] !== ',') i++;
        directiveValue = v;
      } else {
        const vs = i;
        while (i < n && text[i] !== ',') i++;
        directiveValue = text.slice(vs, i).trim();
      }
    }
    if (name !== '' && !out.has(name)) out.set(name, directiveValue);
  }
  return out;
}

/**
 * Serialises a parsed `cache-control` back (directives in insertion order; values quoted when
 * they are not tokens, and always for the field-name lists of `private` and `no-cache`, as RFC 9111
 * §5.2.2 asks).
 */
export function formatCacheControl(cc: CacheControl): string {
  const parts: string[] = [];
  for (const [name, value] of cc) {
    if (value === true) parts.push(name);
    else if (!QUOTED_FORM.has(name) && HTTP_TOKEN.test(value)) {
      parts.push(`${name}=${value}`);
    } else parts.push(`${name}="${value.replace(/["\\]/g, '\\$&')}"`);
  }
  return parts.join(', ');
}

/** Every value of header `name` (compared case-insensitively), in order. */
export function headerValues(headers: HeaderPairs, name: string): string[] {
  const wanted = name.toLowerCase();
  const out: string[] = [];
  for (const [n, v] of headers) if (n.toLowerCase() === wanted) out.push(v);
  return out;
}

/**
 * Parses delta-seconds (RFC 9111 §1.2.2): digits only; larger values are capped at 2^31.
 * Anything else (missing value, sign, fraction) is undefined.
 */
function deltaSeconds(value: string | true | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return Math.min(n, MAX_DELTA_SECONDS);
}

function firstValue(values: string[]): string | undefined {
  const v = values[0];
  return v === undefined ? undefined : (v.split(',')[0] ?? '').trim();
}

/**
 * Vary is accepted on `accept-encoding` (always in the key) and on the request headers the route's
 * custom key holds (`addHeader`). Anything else, `*` included, would let one stored copy answer
 * requests the origin meant to distinguish.
 */
function unsupportedVary(
  values: string[],
  route: RouteCacheOptions | undefined,
): string | undefined {
  const keyed = new Set(['accept-encoding', ...(route?.key?.headers ?? [])].map(lower));
  for (const value of values) {
    for (const raw of value.split(',')) {
      const name = raw.trim().toLowerCase();
      if (name === '') continue;
      if (name === '*') return 'the response says Vary: *';
      if (!keyed.has(name)) {
        return `the response varies on ${name}, which is not in the cache key`;
      }
    }
  }
  return undefined;
}

function declaresEdgeTtl(route: RouteCacheOptions | undefined): boolean {
  const edge = route?.edge;
  return typeof edge === 'object' && (edge.maxAgeSeconds ?? 0) > 0;
}

function lower(s: string): string {
  return s.toLowerCase();
}

function refuse(
  status: Exclude<CachingStatus, 'ok'>,
  reason: string,
): { cacheable: false; status: Exclude<CachingStatus, 'ok'>; reason: string } {
  return { cacheable: false, status, reason };
}

function refuseStore(
  status: Exclude<CachingStatus, 'ok'>,
  reason: string,
): { store: false; status: Exclude<CachingStatus, 'ok'>; reason: string } {
  return { store: false, status, reason };
}
