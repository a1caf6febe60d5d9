/**
 * A global cache member's side of the tiers: answers the tier misses of the
 * keys it owns on its own subject, from its cache (one coalesced render per
 * key, stale-while-revalidate, stale-if-error, hit-for-pass as with one
 * tier), rendering through the regions. For a while after the members
 * changed, a miss first asks the member that held the key until now
 * (a peek: never a render there), so that keys moving back to a member
 * that returned cost no burst of renders.
 *
 * @module
 */
import { validateCacheOptions } from '@flotilla/manifest';
import {
  decodeTierMiss,
  encodeTierAnswer,
  type LogFn,
  type RenderRequest,
  type RenderResult,
  type TierAnswer,
  type TierMiss,
  tierMissSubject,
  toWireError,
  type WireMessage,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import type { CacheRequest, EdgeAnswer, EdgeCache, OriginAnswer } from '../cache/edge-cache.ts';
import type { CacheEntry } from '../cache/types.ts';
import type { Regions } from '../region-client.ts';
import type { TierClient } from './tier-client.ts';
import type { TierMembers } from './tier-members.ts';

/** Options of {@link TierServer}. */
export interface TierServerOptions {
  transport: Transport;
  /** This member's id (its subject). */
  shieldId: string;
  cache: EdgeCache;
  /** The global members (this one included), started by the caller. */
  members: TierMembers;
  /** Asks another member (peeks). */
  client: TierClient;
  /** Renders through the regions (the shield's region client). */
  forward: (request: RenderRequest, regions: Regions, signal: AbortSignal) => Promise<OriginAnswer>;
  /**
   * For this long after the live members changed, a miss first asks the
   * member that held the key before (a peek).
   * @default 60000
   */
  handBackMs?: number;
  /** Longest wait for a peek's answer, ms. @default 500 */
  peekTimeoutMs?: number;
  /** Counts answers by outcome (`flotilla_shield_tier_misses_total`). */
  count?: (outcome: string) => void;
  log?: LogFn;
}

const EMPTY = new Uint8Array(0);

/** Answers tier misses; see the module. */
export class TierServer {
  readonly #o: TierServerOptions;
  readonly #handBackMs: number;
  readonly #peekTimeoutMs: number;
  readonly #log: LogFn;
  #sub: Subscription | undefined;

  constructor(options: TierServerOptions) {
    this.#o = options;
    this.#handBackMs = options.handBackMs ?? 60_000;
    this.#peekTimeoutMs = options.peekTimeoutMs ?? 500;
    this.#log = options.log ?? (() => {});
  }

  /** Starts answering on this member's subject. Idempotent. */
  start(): void {
    this.#sub ??= this.#o.transport.serve(tierMissSubject(this.#o.shieldId), (msg) =>
      this.#handle(msg),
    );
  }

  /** Stops taking misses; answers those already taken. */
  async close(): Promise<void> {
    await this.#sub?.drain();
    this.#sub = undefined;
  }

  async #handle(msg: WireMessage): Promise<WireMessage> {
    let decoded: { miss: TierMiss; request: RenderRequest; route: CacheRequest['route'] };
    try {
      const { miss, request } = decodeTierMiss(msg);
      const route = miss.route === undefined ? undefined : validateCacheOptions(miss.route);
      decoded = { miss, request, route };
    } catch (err) {
      const error = toWireError(err);
      return this.#reply(
        { cacheStatus: '', cachingStatus: 'code', outcome: 'pass' },
        { ok: false, error: { ...error, code: 'FLOTILLA_ERR_PROTOCOL' }, timings: {} },
      );
    }
    const { miss, request, route } = decoded;
    if (miss.peek) return this.#peek(miss.key);
    const req: CacheRequest = {
      key: miss.key,
      method: miss.method,
      route,
      debug: miss.debug,
      postCacheable: miss.postCacheable,
      requestBodyBytes: miss.requestBodyBytes,
      setCookieRemoved: miss.setCookieRemoved,
      app: miss.app,
      environment: miss.environment,
      path: miss.path,
      url: miss.url,
      ...(miss.replay === undefined ? {} : { replay: miss.replay }),
    };
    const regions: Regions = { primary: miss.primaryRegion, secondary: miss.secondaryRegion };
    const answer = await this.#o.cache.serve(req, async (mode, signal) => {
      if (mode === 'cache') {
        const handed = await this.#handBack(miss, request, signal);
        if (handed) return handed;
      }
      return this.#o.forward(request, regions, signal);
    });
    return this.#answer(answer);
  }

  /** The previous holder's copy of a key this member took over lately, if it has one. */
  async #handBack(
    miss: TierMiss,
    request: RenderRequest,
    signal: AbortSignal,
  ): Promise<OriginAnswer | undefined> {
    if (Date.now() - this.#o.members.changedAt > this.#handBackMs) return undefined;
    const previous = this.#o.members.order(miss.key).find((m) => m !== this.#o.shieldId);
    if (previous === undefined) return undefined;
    const got = await this.#o.client.ask(
      previous,
      { ...miss, peek: true },
      { ...request, body: EMPTY },
      signal,
      this.#peekTimeoutMs,
    );
    if (got === 'gone' || !got.result.ok || !got.tier?.windows) return undefined;
    this.#log({ msg: 'key handed back', key: miss.key, from: previous });
    return { result: got.result, region: undefined, tier: got.tier };
  }

  #peek(key: string): WireMessage {
    const entry = this.#o.cache.peek(key);
    this.#o.count?.(entry ? 'peek-hit' : 'peek-none');
    if (!entry) {
      return this.#reply(
        { cacheStatus: '', cachingStatus: 'ok', outcome: 'miss', none: true },
        { ok: false, error: { code: 'FLOTILLA_ERR_NOT_FOUND', message: 'not held' }, timings: {} },
      );
    }
    return this.#reply(
      {
        cacheStatus: '',
        cachingStatus: 'ok',
        outcome: 'hit',
        windows: windowsOf(entry, this.#o.cache.now()),
      },
      { ok: true, status: entry.status, headers: entry.headers, body: entry.body, timings: {} },
    );
  }

  #answer(answer: EdgeAnswer): WireMessage {
    this.#o.count?.(answer.outcome);
    const tier = {
      cacheStatus: answer.cacheStatus,
      cachingStatus: answer.cachingStatus,
      outcome: answer.outcome,
    };
    if (answer.kind === 'error') {
      return this.#reply(tier, { ok: false, error: answer.error, timings: answer.timings ?? {} });
    }
    const r = answer.response;
    const result: RenderResult = {
      ok: true,
      status: r.status,
      headers: r.headers,
      body: r.body,
      timings: answer.timings ?? {},
    };
    return this.#reply(
      answer.entry ? { ...tier, windows: windowsOf(answer.entry, this.#o.cache.now()) } : tier,
      result,
    );
  }

  #reply(tier: Omit<TierAnswer, 'shieldId'>, result: RenderResult): WireMessage {
    return encodeTierAnswer({ ...tier, shieldId: this.#o.shieldId }, result);
  }
}

/** A stored entry's age (whole seconds) and windows, now. */
function windowsOf(entry: CacheEntry, now: number): NonNullable<TierAnswer['windows']> {
  return {
    // Whole seconds, as HTTP's Age: a copy stored by this very request is 0 s old.
    ageMs: Math.max(0, Math.floor((now - entry.storedAt) / 1000) * 1000),
    maxAgeMs: entry.freshUntil - entry.storedAt,
    swrMs: entry.staleWhileRevalidateUntil - entry.freshUntil,
    staleIfErrorMs: entry.staleIfErrorUntil - entry.freshUntil,
  };
}
