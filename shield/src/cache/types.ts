/**
 * Shared types of the shield's L2 cache (issue 5). Other cache modules and the shield import from
 * here; keep this file free of runtime code.
 *
 * @module
 */
import type { EntryReplay } from '@flotilla/protocol';

/** A response as the cache keeps it: status, headers and an identity-encoded body. */
export interface CachedResponse {
  /** HTTP status code as the upstream answered. */
  status: number;
  /** Lower-case names, as the upstream answered (hop-by-hop removed). */
  headers: Array<[string, string]>;
  /** Identity encoding (see {@link CachedResponse.headers} `content-encoding` for upstream-encoded bodies). */
  body: Uint8Array;
}

/** One stored response with its key, timing windows and purge indexes. */
export interface CacheEntry extends CachedResponse {
  /** The cache key (from `computeCacheKey` of `@flotilla/manifest`). */
  key: string;
  /** ms, from the injected clock. */
  storedAt: number;
  /** storedAt + maxAge. */
  freshUntil: number;
  /** freshUntil + swr (== freshUntil when none). */
  staleWhileRevalidateUntil: number;
  /** How long a stale copy may answer when the render fails. */
  staleIfErrorUntil: number;
  /** For purge by environment. */
  app: string;
  /** For purge by environment (`''` for preview hosts). */
  environment: string;
  /** Path without query, for purge by pattern. */
  path: string;
  /** host + path + query, for purge by exact URL. */
  url: string;
  /** From `surrogate-key` (space-separated) / `cache-tag` (comma-separated). */
  surrogateKeys: string[];
  /**
   * How a revalidation renders this variant again from loopback; absent
   * (entries stored before it existed, global-tier copies): none, only the
   * plain visitor's encodings are rendered.
   */
  replay?: EntryReplay | undefined;
}

/** How a revalidation renders an entry's variant again (`EntryReplaySchema` of `@flotilla/protocol`). */
export type { EntryReplay };

/**
 * How usable a stored entry is at a given instant: `fresh` (serve), `stale` (serve and revalidate
 * once in the background), `stale-if-error-only` (serve only when the render fails).
 */
export type Freshness = 'fresh' | 'stale' | 'stale-if-error-only';

/** Value of `x-flotilla-caching-status`: why a response was (`ok`) or was not stored. */
export type CachingStatus =
  | 'ok'
  | 'disabled'
  | 'no-max-age'
  | 'code'
  | 'private'
  | 'method'
  | 'body-too-big'
  | 'set-cookie'
  | 'vary'
  | 'deploying'
  | 'debug'
  | 'hit-for-pass';

/** What a purge removes. */
export type PurgeSelector =
  /** host + path (+ query), host lower-case. */
  | { kind: 'url'; url: string }
  /** Route pattern syntax of `@flotilla/manifest` `compilePattern`, e.g. `/p/:id*`. */
  | { kind: 'path'; pattern: string; app?: string; environment?: string }
  | { kind: 'surrogate-key'; key: string; app?: string }
  | { kind: 'environment'; app: string; environment: string };
