/**
 * What the shield's L2 cache takes and gives: one request as it sees it,
 * what the origin answered, and the cache's answer.
 *
 * @module
 */
import type { RouteCacheOptions } from '@flotilla/manifest';
import type { RenderResult, StageTimings, TierAnswer, WireError } from '@flotilla/protocol';
import type { BodyStream } from '../body-stream.ts';
import type { CachedResponse, CacheEntry, CachingStatus, EntryReplay } from './types.ts';

/** One request as the cache sees it (the shield computed route and key). */
export interface CacheRequest {
  /** Cache key (`computeCacheKey` of `@flotilla/manifest`). */
  key: string;
  /** The client's method, upper case. */
  method: string;
  /** Merged cache options of the matched routes; undefined: none declared. */
  route: RouteCacheOptions | undefined;
  /** A debug request: never served from nor stored in the cache. */
  debug: boolean;
  /** The route is declared with `router.post` caching (POST may be cached). */
  postCacheable: boolean;
  requestBodyBytes: number;
  /** The route removes `set-cookie` from the upstream response, so it may be stored. */
  setCookieRemoved: boolean;
  /**
   * A revalidation (`POST /revalidate` of the admin API): rendered now even
   * when a copy is stored; the stored copy keeps serving other requests
   * until the render replaces it, and stays when the render fails.
   */
  refresh?: boolean;
  /** For purges. */
  app: string;
  environment: string;
  path: string;
  url: string;
  /** Kept with the stored entry: how a revalidation renders this variant again. */
  replay?: EntryReplay;
}

/** What the origin (the region, over NATS) answered. */
export interface OriginAnswer {
  result: RenderResult;
  /** Region that answered when not the primary (failover), for Server-Timing. */
  region: string | undefined;
  /**
   * What the global cache tier did, when the origin is one (an edge's
   * misses): a stored copy's windows then replace this cache's own
   * freshness decision, so the copy expires here when it expires there.
   */
  tier?: TierAnswer;
  /** A streamed body (the result's `body` is empty): stored once it is complete. */
  stream?: BodyStream;
}

/**
 * How the origin should be asked: `cache` builds the upstream request from
 * the allow-list (and a HEAD as a GET, so the stored copy has its body);
 * `pass` forwards the client's request as it is.
 */
export type OriginMode = 'cache' | 'pass';

/** Asks the origin. */
export type Origin = (mode: OriginMode, signal: AbortSignal) => Promise<OriginAnswer>;

/**
 * What the cache did, for metrics: served a copy (`hit`, fresh or within
 * stale-while-revalidate), served a `stale` copy for a failed render, went to
 * the region for a cacheable request (`miss`), or did not cache (`pass`).
 */
export type CacheOutcomeLabel = 'hit' | 'stale' | 'miss' | 'pass';

/** The cache's answer to one request. */
export type EdgeAnswer =
  | {
      kind: 'response';
      outcome: CacheOutcomeLabel;
      response: CachedResponse;
      /** The stored entry it came from or went into: the shield serves its encoded variants. */
      entry: CacheEntry | undefined;
      cacheStatus: string;
      cachingStatus: CachingStatus;
      /** Stage timings of the render, for misses. */
      timings: StageTimings | undefined;
      region: string | undefined;
      /** Seconds since the copy was stored (the `Age` header), for stored copies. */
      ageSeconds: number | undefined;
      /** What the global tier did, when this cache asked it (an edge's miss). */
      upstream: TierAnswer | undefined;
      /**
       * A body still streaming (`response.body` is empty): the client gets
       * it as it comes, and a cacheable one is stored once complete.
       */
      stream?: BodyStream;
    }
  | {
      kind: 'error';
      outcome: CacheOutcomeLabel;
      error: WireError;
      cacheStatus: string;
      cachingStatus: CachingStatus;
      timings: StageTimings | undefined;
      region: string | undefined;
      /** Seconds for `Retry-After`, when the cache itself turned the request away. */
      retryAfterSeconds: number | undefined;
      /** What the global tier did, when this cache asked it (an edge's miss). */
      upstream: TierAnswer | undefined;
    };
