/**
 * A shield's part in the cache tiers (`ShieldOptions.tier`): the members it
 * follows, its client of the global tier (edges; globals peek with it) and
 * its server of tier misses (globals).
 *
 * @module
 */
import {
  InvalidOptionError,
  type LogFn,
  nonNegativeInt,
  type RenderRequest,
  SHIELD_TIERS,
  type ShieldTier,
  type TierMiss,
} from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import type { CacheRequest, EdgeAnswer, EdgeCache, OriginAnswer } from '../cache/edge-cache.ts';
import { DEFAULT_CACHE_NAME } from '../cache/headers.ts';
import type { ShieldMetrics } from '../metrics.ts';
import type { Regions } from '../region-client.ts';
import { TierClient } from './tier-client.ts';
import { TierMembers } from './tier-members.ts';
import { TierServer } from './tier-server.ts';

/** Renders through the regions (the shield's region client). */
type RegionsForward = (
  request: RenderRequest,
  regions: Regions,
  signal: AbortSignal,
) => Promise<OriginAnswer>;

/** `value` as a {@link ShieldTier}, `both` when absent. */
export function checkTier(value: unknown): ShieldTier {
  if (value === undefined) return 'both';
  if (!SHIELD_TIERS.includes(value as ShieldTier)) {
    throw new InvalidOptionError(
      'tier',
      `must be ${SHIELD_TIERS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as ShieldTier;
}

/** Options of {@link ShieldTiers}. */
export interface ShieldTiersOptions {
  /** Checked ({@link checkTier}). @default 'both' */
  tier: unknown;
  /** The shield has its cache: a tier needs it. */
  cacheOn: boolean;
  transport: Transport;
  shieldId: string;
  /** @default 60000 */
  handBackMs?: number | undefined;
  metrics: Pick<ShieldMetrics, 'tierMembers' | 'tierMisses' | 'tierRetries'>;
  log: LogFn;
}

/** See the module. */
export class ShieldTiers {
  readonly tier: ShieldTier;
  /** The cache's name in `Cache-Status`. */
  readonly cacheName: string;
  /** The shield's own stage in `Server-Timing`. */
  readonly stage: 'shield' | 'edge' | 'global';
  readonly #options: ShieldTiersOptions;
  readonly #handBackMs: number;
  readonly #members: TierMembers | undefined;
  readonly #client: TierClient | undefined;
  #server: TierServer | undefined;
  #regions: RegionsForward | undefined;
  #warnedAlone = false;

  constructor(options: ShieldTiersOptions) {
    this.#options = options;
    this.tier = checkTier(options.tier);
    if (this.tier !== 'both' && !options.cacheOn) {
      throw new InvalidOptionError(
        'tier',
        `a ${this.tier} shield needs its cache (cache: false given)`,
      );
    }
    this.#handBackMs = nonNegativeInt('tierHandBackMs', options.handBackMs, 60_000);
    this.cacheName =
      this.tier === 'both' ? DEFAULT_CACHE_NAME : `${DEFAULT_CACHE_NAME}-${this.tier}`;
    this.stage = this.tier === 'both' ? 'shield' : this.tier;
    if (this.tier !== 'both') {
      const m = options.metrics;
      this.#members = new TierMembers(options.transport, options.log, (n) => m.tierMembers.set(n));
      this.#client = new TierClient({
        transport: options.transport,
        members: this.#members,
        onRetry: () => m.tierRetries.inc(),
        log: options.log,
      });
      m.tierRetries.inc(0);
      m.tierMembers.set(0);
      for (const outcome of ['hit', 'stale', 'miss', 'pass', 'peek-hit', 'peek-none']) {
        m.tierMisses.inc({ outcome }, 0);
      }
    }
  }

  /**
   * A global member that does not own `key` (another live member does): a
   * revalidation of the key is its owner's to render.
   */
  leavesToOwner(key: string): boolean {
    if (this.tier !== 'global' || !this.#members) return false;
    const owner = this.#members.order(key)[0];
    return owner !== undefined && owner !== this.#options.shieldId;
  }

  /** An edge: its cacheable misses go to the global tier. */
  get isEdge(): boolean {
    return this.tier === 'edge';
  }

  /**
   * Starts following the members; a global member starts answering tier
   * misses from `cache`, rendering with `forward`. Idempotent.
   */
  start(cache: EdgeCache, forward: RegionsForward): void {
    this.#regions = forward;
    if (!this.#members || !this.#client) return;
    this.#members.start();
    this.#client.start();
    if (this.tier === 'global' && !this.#server) {
      this.#server = new TierServer({
        transport: this.#options.transport,
        shieldId: this.#options.shieldId,
        cache,
        members: this.#members,
        client: this.#client,
        forward,
        handBackMs: this.#handBackMs,
        count: (outcome) => this.#options.metrics.tierMisses.inc({ outcome }),
        log: this.#options.log,
      });
      this.#server.start();
    }
  }

  /**
   * An edge's cacheable miss, sent to the owner of its key (the next member
   * while one is gone); when no global member is live, the edge renders
   * through the regions itself (logged once per outage).
   */
  async forward(
    cache: CacheRequest,
    regions: Regions,
    request: RenderRequest,
    signal: AbortSignal,
  ): Promise<OriginAnswer> {
    const answer = await this.#client?.forward(tierMissOf(cache, regions), request, signal);
    if (answer !== undefined) {
      this.#warnedAlone = false;
      return answer;
    }
    if (!this.#warnedAlone) {
      this.#options.log({ msg: 'no global cache member is live: rendering through the regions' });
      this.#warnedAlone = true;
    }
    if (!this.#regions) throw new Error('ShieldTiers.forward before start');
    return this.#regions(request, regions, signal);
  }

  /** Stops answering tier misses (those taken are answered) and following members. */
  async close(): Promise<void> {
    await this.#server?.close();
    this.#client?.close();
    await this.#members?.close();
  }
}

/** The tier miss of a cache request bound for `regions`. */
export function tierMissOf(cache: CacheRequest, regions: Regions): TierMiss {
  return {
    key: cache.key,
    method: cache.method,
    ...(cache.route === undefined ? {} : { route: cache.route }),
    debug: cache.debug,
    postCacheable: cache.postCacheable,
    requestBodyBytes: cache.requestBodyBytes,
    setCookieRemoved: cache.setCookieRemoved,
    app: cache.app,
    environment: cache.environment,
    path: cache.path,
    url: cache.url,
    primaryRegion: regions.primary,
    ...(regions.secondary === undefined ? {} : { secondaryRegion: regions.secondary }),
    ...(cache.replay === undefined ? {} : { replay: cache.replay }),
  };
}

/**
 * The `Cache-Status` of an answer: with tiers, the global member's entry
 * first and this cache's last (RFC 9211 §2: the first member is the cache
 * closest to the origin, each cache appends its own).
 */
export function tieredCacheStatus(answer: EdgeAnswer): string {
  const upstream = answer.upstream?.cacheStatus;
  return upstream ? `${upstream}, ${answer.cacheStatus}` : answer.cacheStatus;
}
