/**
 * Cache keys: what makes two requests "the same page" at the shield.
 *
 * @module
 */

import type { CacheKeySpec } from './cache-options-schema.ts';
import { encodeStrict, normalizeKeyPath } from './encoding.ts';
import { normalizeHost } from './match.ts';
import { normalizeQuery, parseCookies } from './query.ts';
import { compileRegex, type RegexSpec } from './regex.ts';
import type { MatchRequest } from './types.ts';

/** The spec of the default key: host, path and the whole normalised query. */
export const DEFAULT_CACHE_KEY_SPEC: Readonly<CacheKeySpec> = Object.freeze({
  query: Object.freeze({ mode: 'all' as const }),
  cookies: Object.freeze([]) as unknown as string[],
  headers: Object.freeze([]) as unknown as string[],
  device: false,
  browser: false,
});

/** Request facts a key may hold that the request alone does not give. */
export interface CacheKeyExtras {
  /** Device class (`smartphone`, `tablet`, `mobile`, `desktop`); in the key when the spec says `device`. */
  device?: string;
  /** Browser family (`chrome`, `firefox`, …); in the key when the spec says `browser`. */
  browser?: string;
  /** Whether the client is a bot; in the key when the spec says `isBot`. */
  isBot?: boolean;
  /** Device vendor (`apple`, `android`, `generic`); in the key when the spec says `vendor`. */
  vendor?: string;
  /** App environment (`production`, or the preview deployment id): always in the key. */
  environment: string;
  /** Split-testing destination the request was assigned to; in the key when set. */
  splitDestination?: string;
  /**
   * Port of the request's `Host` header (`''` or absent: none). The render
   * sees it in `request.url`, so it is keyed: `|port=<port>`.
   */
  port?: string;
  /**
   * Digest (hex) of a cacheable POST's content type and body, computed by
   * the caller (this module imports nothing): `|post=<digest>`.
   */
  postDigest?: string;
}

/** The content codings a cached response is stored under. */
export type KeyEncoding = 'br' | 'gzip' | 'identity';

/**
 * Reduces an `accept-encoding` header to the one coding a cached copy is
 * kept in: `br` when brotli is acceptable, else `gzip` (or `x-gzip`), else
 * `identity`. `q=0` refuses a coding; `*` accepts the codings not listed.
 *
 * @example
 * normalizeAcceptEncoding('gzip, deflate, br;q=0.5'); // 'br'
 * normalizeAcceptEncoding('br;q=0, gzip');            // 'gzip'
 * normalizeAcceptEncoding(undefined);                 // 'identity'
 */
export function normalizeAcceptEncoding(header: string | undefined): KeyEncoding {
  if (!header) return 'identity';
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [coding = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (coding === '' || q.has(coding)) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    q.set(coding, Number.isFinite(weight) ? weight : 0);
  }
  const star = q.get('*') ?? 0;
  const accepts = (coding: string): boolean => {
    const w = q.get(coding);
    return w === undefined ? star > 0 : w > 0;
  };
  if (accepts('br')) return 'br';
  if (q.has('gzip') ? accepts('gzip') : q.has('x-gzip') ? accepts('x-gzip') : star > 0) {
    return 'gzip';
  }
  return 'identity';
}

/**
 * Computes the cache key of a request, as a readable string:
 *
 * ```
 * production|shop.example/p/42?color=red|ae=br|s=b|d=mobile|b=chrome|bot=0|v=apple|c:currency=EUR|c:location~na|h:accept-language=fr|port=8080|post=9f86…
 * ```
 *
 * In order: the environment; the lower-cased host (port dropped) and the
 * path (escapes normalised, see `normalizeKeyPath`) with the normalised query
 * ({@link normalizeQuery}, filtered by `spec.query`); the `accept-encoding`
 * reduced to `br`, `gzip` or `identity`; then, when present, the split
 * destination, the device class, browser family, bot flag (`bot=1`/`bot=0`)
 * and vendor (when the spec asks for them; `''` when the extras lack them),
 * and each cookie and header the spec names, in the spec's order (`c:name`
 * alone when the request lacks it; `c:name~<partition>` for a partitioned
 * one, `c:name~` when no partition matches or it is absent);
 * last the `Host` port and a cacheable POST's body digest, when given.
 * Every free-form part is percent-encoded strictly, so no value can forge a
 * `|`: distinct environments, hosts, paths, queries or values never share
 * a key.
 *
 * @param spec - The route's cache-key spec; absent: {@link DEFAULT_CACHE_KEY_SPEC}.
 * @param req - The request (lower-case header names).
 * @param extras - Environment (always), split destination, device, browser, port, POST digest.
 */
export function computeCacheKey(
  spec: CacheKeySpec | undefined,
  req: MatchRequest,
  extras: CacheKeyExtras,
): string {
  const s = spec ?? DEFAULT_CACHE_KEY_SPEC;
  const query = normalizeQuery(req.query, s);
  const parts = [
    encodeStrict(extras.environment),
    `${encodeStrict(normalizeHost(req.host))}${normalizeKeyPath(req.path.startsWith('/') ? req.path : `/${req.path}`)}${query === '' ? '' : `?${query}`}`,
    `ae=${normalizeAcceptEncoding(headerOf(req, 'accept-encoding'))}`,
  ];
  if (extras.splitDestination !== undefined)
    parts.push(`s=${encodeStrict(extras.splitDestination)}`);
  if (s.device) parts.push(`d=${encodeStrict(extras.device ?? '')}`);
  if (s.browser) parts.push(`b=${encodeStrict(extras.browser ?? '')}`);
  if (s.isBot) parts.push(`bot=${extras.isBot ? 1 : 0}`);
  if (s.vendor) parts.push(`v=${encodeStrict(extras.vendor ?? '')}`);
  if (s.cookies.length > 0) {
    const cookies = parseCookies(headerOf(req, 'cookie'));
    for (const name of s.cookies) {
      const value = name in cookies ? cookies[name] : undefined;
      const partitions = s.cookiePartitions?.[name];
      parts.push(
        partitions
          ? `c:${encodeStrict(name)}~${encodeStrict(partitionOf(partitions, value))}`
          : `c:${encodeStrict(name)}${value === undefined ? '' : `=${encodeStrict(value)}`}`,
      );
    }
  }
  for (const name of s.headers) {
    const value = headerOf(req, name.toLowerCase());
    const partitions = s.headerPartitions?.[name];
    parts.push(
      partitions
        ? `h:${encodeStrict(name)}~${encodeStrict(partitionOf(partitions, value?.trim()))}`
        : `h:${encodeStrict(name)}${value === undefined ? '' : `=${encodeStrict(value.trim())}`}`,
    );
  }
  if (extras.port) parts.push(`port=${encodeStrict(extras.port)}`);
  if (extras.postDigest !== undefined) parts.push(`post=${encodeStrict(extras.postDigest)}`);
  return parts.join('|');
}

/**
 * The partition a keyed value falls in: the name of the first partition
 * whose pattern the value matches (anywhere, as `RegExp.test`), else `''`
 * (no partition: absent values and values no pattern matches share it).
 */
export function partitionOf(
  partitions: ReadonlyArray<RegexSpec & { name: string }>,
  value: string | undefined,
): string {
  if (value === undefined) return '';
  for (const p of partitions) if (compileRegex(p).test(value)) return p.name;
  return '';
}

function headerOf(req: MatchRequest, name: string): string | undefined {
  return Object.hasOwn(req.headers, name) ? req.headers[name] : undefined;
}
