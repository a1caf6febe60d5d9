import { normalizeQuery } from '@flotilla/manifest';
import { type LogFn, positiveInt, type TierWindows, toWireError } from '@flotilla/protocol';
import { Registry } from 'prom-client';
import { decideStorage, freshnessWindows, requestCacheability } from './cacheability.ts';
import { Coalescer, CoalescerError } from './coalescer.ts';
import type {
  CacheOutcomeLabel,
  CacheRequest,
  EdgeAnswer,
  Origin,
  OriginAnswer,
} from './edge-answer.ts';
import { cacheStatusFor, DEFAULT_CACHE_NAME, surrogateKeysOf } from './headers.ts';
import { normalizeUrl } from './purge-index.ts';
import { Revalidator } from './revalidator.ts';
import { CacheStore } from './store.ts';
import type { CacheEntry, CachingStatus, PurgeSelector } from './types.ts';

export type {
  CacheOutcomeLabel,
  CacheRequest,
  EdgeAnswer,
  Origin,
  OriginAnswer,
  OriginMode,
} from './edge-answer.ts';

/** Options of {@link EdgeCache}. */
export interface EdgeCacheOptions {
  /**
   * Bytes of responses (and their compressed variants) kept in memory.
   * @default 256 MiB
   */
  maxBytes?: number;
  /**
   * Keep the cache on local disk too, in `dir` (`--cache-dir`), bounded by `maxBytes` of files
   * (`--cache-disk-mb`, default 1 GiB): a restarted shield with the same directory serves its
   * entries as hits (each file checked when read; a corrupt or truncated one is deleted). One
   * shield per directory.
   * @default none: memory only
   */
  disk?: { dir: string; maxBytes?: number };
  /**
   * How long followers of a coalesced miss wait for its leader before they
   * get a stale copy, elect a new leader, or a 503 with `Retry-After`.
   * @default 5000
   */
  followerWaitMs?: number;
  /**
   * Followers one key may have; past it a request gets 503 at once.
   * @default 10000
   */
  maxFollowers?: number;
  /**
   * How long a key whose response could not be stored is passed straight to
   * the origin, without coalescing (Varnish's hit-for-pass).
   * @default 120000
   */
  hitForPassMs?: number;
  /**
   * Longest a leader's render may take.
   * @default 10000
   */
  leaderTimeoutMs?: number;
  /**
   * The cache's name in `Cache-Status` (an RFC 8941 token): `flotilla-edge`
   * and `flotilla-global` for the tiers.
   * @default 'flotilla'
   */
  cacheName?: string;
  /** prom-client registry for the cache metrics. @default a private Registry */
  registry?: Registry;
  /** Clock, ms. @default Date.now */
  now?: () => number;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/** Why a fetch could not give a shareable stored copy. */
type Fetched =
  | { kind: 'stored'; entry: CacheEntry; answer: OriginAnswer }
  /** Cacheable and still streaming: followers read the same stream; stored once complete. */
  | { kind: 'streaming'; answer: OriginAnswer }
  | { kind: 'uncacheable'; status: CachingStatus; answer: OriginAnswer };

/** A failed render (an error, or a 5xx response): stale-if-error may answer instead. */
class OriginFailure extends Error {
  readonly answer: OriginAnswer;
  constructor(answer: OriginAnswer) {
    super('origin failed');
    this.answer = answer;
  }
}

/** `host/path?query` with the query sorted as cache keys (and stored URLs) hold it. */
function normalizeUrlQuery(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = normalizeQuery(url.slice(q + 1));
  return query === '' ? url.slice(0, q) : `${url.slice(0, q)}?${query}`;
}

const STRIPPED_FROM_STORE = new Set(['set-cookie', 'age', 'connection', 'keep-alive']);

function fwdStatusOf(answer: OriginAnswer): number | undefined {
  return answer.result.ok ? answer.result.status : undefined;
}

/**
 * The shield's L2 cache: lookup, coalesced misses, stale-while-revalidate
 * (one background revalidation per key), stale-if-error, hit-for-pass and
 * storage, for one request at a time. The shield computes the route and the
 * key and turns the {@link EdgeAnswer} into HTTP.
 *
 * @example
 * const cache = new EdgeCache({ registry });
 * const answer = await cache.serve(request, (mode, signal) => forward(mode, signal));
 */
export class EdgeCache {
  readonly store: CacheStore;
  readonly #coalescer: Coalescer<Fetched>;
  readonly #revalidator: Revalidator;
  /** URLs being revalidated at the global tier (an edge's): copies stored there before `since` are not kept. */
  readonly #renewing = new Map<string, { since: number; until: number }>();
  /** Cacheable pages still streaming, by key: a request for one reads the same stream. */
  readonly #streaming = new Map<string, OriginAnswer>();
  readonly #hitForPassMs: number;
  readonly #name: string;
  readonly #now: () => number;
  readonly #log: LogFn;

  constructor(options: EdgeCacheOptions = {}) {
    const registry = options.registry ?? new Registry();
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => {});
    this.#hitForPassMs = positiveInt('hitForPassMs', options.hitForPassMs, 120_000);
    this.#name = options.cacheName ?? DEFAULT_CACHE_NAME;
    cacheStatusFor({ kind: 'hit', ttlMs: 0 }, this.#name); // validates the name
    this.store = new CacheStore({
      ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
      ...(options.disk !== undefined ? { disk: { ...options.disk, log: this.#log } } : {}),
      registry,
      now: this.#now,
    });
    this.#coalescer = new Coalescer<Fetched>({
      ...(options.followerWaitMs !== undefined ? { followerWaitMs: options.followerWaitMs } : {}),
      ...(options.maxFollowers !== undefined ? { maxFollowers: options.maxFollowers } : {}),
      ...(options.leaderTimeoutMs !== undefined
        ? { leaderTimeoutMs: options.leaderTimeoutMs }
        : {}),
      registry,
      now: this.#now,
    });
    this.#revalidator = new Revalidator({ registry, log: this.#log });
  }

  /** Answers one request from the cache or the origin. Never throws. */
  async serve(req: CacheRequest, origin: Origin): Promise<EdgeAnswer> {
    const pre = requestCacheability(req.method, req.route, req.debug, {
      postCacheable: req.postCacheable,
      requestBodyBytes: req.requestBodyBytes,
    });
    if (!pre.cacheable) return this.#pass(pre.status, origin);
    if (this.store.isHitForPass(req.key, this.#now())) return this.#pass('hit-for-pass', origin);

    const found = this.store.onDiskOnly(req.key)
      ? await this.store.restore(req.key, this.#now())
      : this.store.get(req.key, this.#now());
    if (found?.freshness === 'fresh' && !req.refresh) {
      return this.#fromEntry(found.entry, {
        kind: 'hit',
        ttlMs: found.entry.freshUntil - this.#now(),
      });
    }
    if (found?.freshness === 'stale' && !req.refresh) {
      // Served at once; one revalidation per key runs behind it.
      // Nobody reads a revalidation's body but the store.
      this.#revalidator.revalidate(req.key, (signal) =>
        this.#fetch(req, origin, signal).then((fetched) => {
          if (fetched.kind === 'uncacheable') fetched.answer.stream?.cancel();
          return fetched;
        }),
      );
      return this.#fromEntry(found.entry, {
        kind: 'stale-hit',
        ttlMs: found.entry.freshUntil - this.#now(),
      });
    }
    const stale = found?.entry;
    // Rendering now and streaming: read along rather than render it again.
    const streaming = req.refresh ? undefined : this.#streaming.get(req.key);
    if (streaming) {
      return this.#fromAnswer(
        streaming,
        cacheStatusFor(
          {
            kind: 'miss',
            fwdStatus: fwdStatusOf(streaming),
            stored: true,
            stale: stale !== undefined,
            collapsed: true,
          },
          this.#name,
        ),
        'ok',
      );
    }

    try {
      const outcome = await this.#coalescer.run(
        req.key,
        (signal) => this.#fetch(req, origin, signal),
        {
          // A copy the global tier holds is a shared page even when this
          // edge does not store it (no longer fresh there).
          shareable: (r) =>
            r.kind === 'stored' || r.kind === 'streaming' || r.answer.tier?.windows !== undefined,
          onFollowerTimeout: () => (stale ? 'stale' : 'new-leader'),
        },
      );
      if (outcome.role === 'stale') return this.#staleIfError(stale, undefined);
      const fetched = outcome.value;
      const collapsed = outcome.role === 'follower';
      if (fetched.kind === 'stored') {
        return this.#fromEntry(
          fetched.entry,
          {
            kind: 'miss',
            fwdStatus: fetched.entry.status,
            stored: true,
            // A copy of the global tier's has aged there: what is left of it.
            ttlMs:
              fetched.entry.freshUntil -
              (fetched.answer.tier?.windows ? this.#now() : fetched.entry.storedAt),
            stale: stale !== undefined,
            collapsed,
          },
          fetched.answer,
        );
      }
      const cachingStatus = fetched.kind === 'streaming' ? 'ok' : fetched.status;
      return this.#fromAnswer(
        fetched.answer,
        cacheStatusFor(
          {
            kind: 'miss',
            fwdStatus: fwdStatusOf(fetched.answer),
            // A streamed page is stored once complete, after its headers went out.
            stored: fetched.kind === 'streaming',
            stale: stale !== undefined,
            cachingStatus,
            ...(collapsed ? { collapsed } : {}),
          },
          this.#name,
        ),
        cachingStatus,
      );
    } catch (err) {
      if (err instanceof OriginFailure) {
        if (stale && stale.staleIfErrorUntil > this.#now()) {
          err.answer.stream?.cancel();
          return this.#staleIfError(stale, fwdStatusOf(err.answer));
        }
        return this.#fromAnswer(
          err.answer,
          cacheStatusFor(
            {
              kind: 'miss',
              fwdStatus: fwdStatusOf(err.answer),
              stored: false,
              stale: stale !== undefined,
              cachingStatus: 'code',
            },
            this.#name,
          ),
          'code',
        );
      }
      if (stale && stale.staleIfErrorUntil > this.#now())
        return this.#staleIfError(stale, undefined);
      const wire = toWireError(err);
      return {
        kind: 'error',
        outcome: 'miss',
        error: wire,
        cacheStatus: cacheStatusFor(
          { kind: 'miss', stored: false, cachingStatus: 'code' },
          this.#name,
        ),
        cachingStatus: 'code',
        timings: undefined,
        region: undefined,
        retryAfterSeconds: err instanceof CoalescerError ? err.retryAfterSeconds : undefined,
        upstream: undefined,
      };
    }
  }

  /** Forwards (as a leader, or a revalidation), then stores or marks hit-for-pass. */
  async #fetch(req: CacheRequest, origin: Origin, signal: AbortSignal): Promise<Fetched> {
    const answer = await origin('cache', signal);
    const r = answer.result;
    // Errors and 5xx answers are failures: stale-if-error may answer, and they
    // never make the key hit-for-pass (a brief outage must not disable caching).
    if (!r.ok || r.status >= 500) throw new OriginFailure(answer);
    const windows = answer.tier?.windows;
    if (windows) return this.#storeTierCopy(req, answer, windows);
    const decision = decideStorage({
      method: req.method === 'HEAD' ? 'GET' : req.method,
      status: r.status,
      headers: r.headers,
      route: req.route,
      debug: req.debug,
      postCacheable: req.postCacheable,
      requestBodyBytes: req.requestBodyBytes,
      setCookieRemoved: req.setCookieRemoved,
    });
    if (!decision.store) {
      this.store.markHitForPass(req.key, this.#now() + this.#hitForPassMs);
      return { kind: 'uncacheable', status: decision.status, answer };
    }
    const now = this.#now();
    const entry: CacheEntry = {
      key: req.key,
      status: r.status,
      headers: r.headers.filter(([name]) => !STRIPPED_FROM_STORE.has(name.toLowerCase())),
      body: r.body,
      ...freshnessWindows(now, decision.ttl),
      app: req.app,
      environment: req.environment,
      path: req.path,
      url: req.url,
      surrogateKeys: surrogateKeysOf(r.headers),
      ...(req.replay ? { replay: req.replay } : {}),
    };
    const stream = answer.stream;
    if (stream) {
      // Stored once the whole body came; a stream that breaks is never stored.
      this.#streaming.set(req.key, answer);
      const done = () => {
        if (this.#streaming.get(req.key) === answer) this.#streaming.delete(req.key);
      };
      void stream.whole().then((body) => {
        done();
        if (!this.store.set({ ...entry, body })) {
          this.#log({ msg: 'streamed page too big to store', key: req.key });
        }
      }, done);
      return { kind: 'streaming', answer };
    }
    if (!this.store.set(entry)) {
      return { kind: 'uncacheable', status: 'body-too-big', answer };
    }
    return { kind: 'stored', entry, answer };
  }

  /**
   * A copy the global tier holds, stored here with its windows as they run
   * there (to the second, as HTTP's Age). A copy no
   * longer fresh there is not stored here: the next request asks again.
   */
  #storeTierCopy(req: CacheRequest, answer: OriginAnswer, windows: TierWindows): Fetched {
    const r = answer.result;
    if (!r.ok || answer.stream) return { kind: 'uncacheable', status: 'code', answer };
    const storedAt = this.#now() - windows.ageMs;
    // The copy a revalidation under way at its owner replaces: served, not kept.
    const renewing = this.#renewing.get(req.url);
    if (renewing && renewing.until > this.#now() && storedAt < renewing.since) {
      return { kind: 'uncacheable', status: 'ok', answer };
    }
    const times = freshnessWindows(storedAt, windows);
    if (times.freshUntil <= this.#now()) return { kind: 'uncacheable', status: 'ok', answer };
    const entry: CacheEntry = {
      key: req.key,
      status: r.status,
      headers: r.headers.filter(([name]) => !STRIPPED_FROM_STORE.has(name.toLowerCase())),
      body: r.body,
      ...times,
      app: req.app,
      environment: req.environment,
      path: req.path,
      url: req.url,
      surrogateKeys: surrogateKeysOf(r.headers),
    };
    if (!this.store.set(entry)) return { kind: 'uncacheable', status: 'body-too-big', answer };
    return { kind: 'stored', entry, answer };
  }

  /**
   * The copy held for `key` while it is fresh, else undefined (a stale one
   * is for its owner to revalidate). Counts no hit or miss.
   */
  peek(key: string): CacheEntry | undefined {
    const found = this.store.get(key, this.#now());
    return found?.freshness === 'fresh' ? found.entry : undefined;
  }

  async #pass(status: CachingStatus, origin: Origin): Promise<EdgeAnswer> {
    const answer = await origin('pass', new AbortController().signal);
    return this.#fromAnswer(
      answer,
      cacheStatusFor(
        { kind: 'pass', cachingStatus: status, fwdStatus: fwdStatusOf(answer) },
        this.#name,
      ),
      status,
      'pass',
    );
  }

  #fromEntry(
    entry: CacheEntry,
    outcome: Parameters<typeof cacheStatusFor>[0],
    answer?: OriginAnswer,
  ): EdgeAnswer {
    return {
      kind: 'response',
      outcome:
        outcome.kind === 'stale-if-error' ? 'stale' : outcome.kind === 'miss' ? 'miss' : 'hit',
      response: entry,
      entry,
      cacheStatus: cacheStatusFor(outcome, this.#name),
      cachingStatus: 'ok',
      timings: answer?.result.ok ? answer.result.timings : undefined,
      region: answer?.region,
      ageSeconds: Math.max(0, Math.floor((this.#now() - entry.storedAt) / 1000)),
      upstream: answer?.tier,
    };
  }

  #staleIfError(entry: CacheEntry | undefined, fwdStatus: number | undefined): EdgeAnswer {
    if (!entry) throw new Error('stale-if-error without a stale copy');
    return this.#fromEntry(entry, {
      kind: 'stale-if-error',
      ttlMs: entry.freshUntil - this.#now(),
      ...(fwdStatus !== undefined ? { fwdStatus } : {}),
    });
  }

  #fromAnswer(
    answer: OriginAnswer,
    cacheStatus: string,
    cachingStatus: CachingStatus,
    outcome: CacheOutcomeLabel = 'miss',
  ): EdgeAnswer {
    const r = answer.result;
    if (!r.ok) {
      return {
        kind: 'error',
        outcome,
        error: r.error,
        cacheStatus,
        cachingStatus,
        timings: r.timings,
        region: answer.region,
        retryAfterSeconds: undefined,
        upstream: answer.tier,
      };
    }
    return {
      kind: 'response',
      outcome,
      response: { status: r.status, headers: r.headers, body: r.body },
      entry: undefined,
      cacheStatus,
      cachingStatus,
      timings: r.timings,
      region: answer.region,
      ageSeconds: undefined,
      upstream: answer.tier,
      ...(answer.stream ? { stream: answer.stream } : {}),
    };
  }

  /** The cache's clock, ms. */
  now(): number {
    return this.#now();
  }

  /**
   * Removes the entries `selector` names and, with a store on disk, waits until their files are
   * gone; returns how many. (The entries are gone from lookups at once.)
   */
  async purgeDurably(selector: PurgeSelector): Promise<number> {
    const removed = this.purge(selector);
    await this.store.removalsDone();
    return removed;
  }

  /**
   * An edge's part of a revalidation of `url` (its owner renders it): for `forMs`, a copy of the
   * global tier's stored there before now (the one being replaced) is served but not stored
   * here, so requests keep asking the owner until its new copy comes. Ages travel in whole
   * seconds: a copy less than a second old now may still be kept.
   */
  expectNewTierCopy(url: string, forMs: number): void {
    const t = this.#now();
    for (const [u, w] of this.#renewing) if (w.until <= t) this.#renewing.delete(u);
    this.#renewing.set(normalizeUrl(normalizeUrlQuery(url)), { since: t, until: t + forMs });
  }

  /** Removes the entry under `key` and waits until its file (if any) is gone; true when there was one. */
  async dropDurably(key: string): Promise<boolean> {
    const had = this.store.delete(key);
    await this.store.removalsDone();
    return had;
  }

  /** The entries stored under `url` (every variant: device, cookies, split, encodings). */
  entriesOf(url: string): Promise<CacheEntry[]> {
    return this.store.entriesOf(normalizeUrlQuery(url));
  }

  /** Removes the entries `selector` names; returns how many. */
  purge(selector: PurgeSelector): number {
    const removed = this.store.purge(
      selector.kind === 'url' ? { ...selector, url: normalizeUrlQuery(selector.url) } : selector,
    );
    if (selector.kind === 'environment') this.store.clearHitForPass();
    this.#log({ msg: 'purged', selector, removed });
    return removed;
  }

  /**
   * Loads the store on disk, when there is one (checking every file), and logs what it found.
   * Call before serving.
   */
  async open(): Promise<void> {
    const load = await this.store.open();
    if (load) this.#log({ msg: 'cache loaded from disk', dir: this.store.disk?.dir, ...load });
  }

  /** Waits for background revalidations, then for the writes to disk (on shutdown). */
  async drain(): Promise<void> {
    await this.#revalidator.drain();
    await this.store.flush();
  }
}
