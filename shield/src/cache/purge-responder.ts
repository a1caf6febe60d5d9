/**
 * The shield's side of `flotilla purge`: answers every purge broadcast on
 * `flotilla.purge` after purging the local cache, and heartbeats so purgers
 * know this shield must answer.
 *
 * @module
 */

import { combinations, sharedCounter, startAtZero } from '@flotilla/metrics';
import {
  decodePurgeRequest,
  encodePurgeAck,
  encodeShieldBeat,
  InvalidOptionError,
  type LogFn,
  PURGE_SUBJECT,
  type PurgeAck,
  type PurgeRequest,
  type PurgeSelector,
  positiveInt,
  required,
  SHIELD_HEARTBEAT_SUBJECT,
  type ShieldTier,
  subjectTokenOption,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import type { Counter, Registry } from 'prom-client';

/** Options of {@link PurgeResponder}. */
export interface PurgeResponderOptions {
  /** The shield's transport (NATS in a fleet; in-process in `flotilla start`). */
  transport: Transport;
  /** This shield's id (a subject token), as in its acks and heartbeats. */
  shieldId: string;
  /** The shield's region (a subject token). */
  region: string;
  /**
   * Removes what `selector` selects from the cache and returns how many
   * entries went (the store's `purge`). A throw or rejection is reported to
   * the purger as this shield's failure.
   */
  purge: (selector: PurgeSelector) => number | Promise<number>;
  /**
   * Renders a URL now and replaces its stored copies when ready (a purge
   * request with `revalidate`); resolves with the copies stored again, or
   * with those and the copies removed instead (a shield that leaves the
   * render to another: an edge drops its copies).
   * @default none: such a request is answered with an error
   */
  revalidate?: (
    selector: Extract<PurgeSelector, { kind: 'url' }>,
  ) => Promise<number | { revalidated: number; removed: number; notRevalidated?: string[] }>;
  /**
   * Interval of the heartbeats on `flotilla.shields-heartbeat`, ms.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /**
   * The shield's cache tier, in its heartbeats (edges find the global members by it).
   * @default 'both'
   */
  tier?: ShieldTier;
  /** Metrics `flotilla_shield_cache_purges_total` and `…_purged_entries_total` go here. */
  registry?: Registry;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/**
 * Answers purges for one shield. Every shield subscribes to `flotilla.purge`
 * without a queue group, so each one purges its own store and answers
 * `{ purgeId, shieldId, region, removed }` (with `error` when the purge
 * failed). A heartbeat `{ shieldId, region, intervalMs }` goes out at
 * {@link PurgeResponder.start} and every `heartbeatIntervalMs`; a last one
 * with `leaving: true` at {@link PurgeResponder.close}, so a purger does not
 * wait for a shield that stopped (its in-memory cache is gone with it).
 *
 * @example
 * const responder = new PurgeResponder({
 *   transport, shieldId: 'shield-1', region: 'eu-west',
 *   purge: (selector) => store.purge(selector),
 * });
 * responder.start();
 * // on shutdown
 * await responder.close();
 */
export class PurgeResponder {
  readonly shieldId: string;
  readonly region: string;
  readonly heartbeatIntervalMs: number;
  readonly tier: ShieldTier;
  readonly #transport: Transport;
  readonly #purge: (selector: PurgeSelector) => number | Promise<number>;
  readonly #revalidate: PurgeResponderOptions['revalidate'];
  readonly #log: LogFn;
  readonly #purges: Counter | undefined;
  readonly #purged: Counter | undefined;
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: PurgeResponderOptions) {
    required('options', options);
    this.#transport = required('transport', options.transport);
    this.shieldId = subjectTokenOption('shieldId', options.shieldId);
    this.region = subjectTokenOption('region', options.region);
    if (typeof options.purge !== 'function') {
      throw new InvalidOptionError('purge', 'must be a function (selector) => removed count');
    }
    this.#purge = options.purge;
    this.tier = options.tier ?? 'both';
    if (options.revalidate !== undefined && typeof options.revalidate !== 'function') {
      throw new InvalidOptionError('revalidate', 'must be a function (selector) => stored count');
    }
    this.#revalidate = options.revalidate;
    this.heartbeatIntervalMs = positiveInt(
      'heartbeatIntervalMs',
      options.heartbeatIntervalMs,
      1000,
    );
    if (options.log !== undefined && typeof options.log !== 'function') {
      throw new InvalidOptionError('log', 'must be a function');
    }
    this.#log = options.log ?? (() => {});
    if (options.registry !== undefined) {
      if (typeof options.registry.getSingleMetric !== 'function') {
        throw new InvalidOptionError('registry', 'must be a prom-client Registry');
      }
      this.#purges = sharedCounter(options.registry, {
        name: 'flotilla_shield_cache_purges_total',
        help: 'Purges this shield answered, by selector kind and outcome (ok, error).',
        labelNames: ['kind', 'outcome'],
      });
      this.#purged = sharedCounter(options.registry, {
        name: 'flotilla_shield_cache_purged_entries_total',
        help: 'Cache entries removed by purges, by selector kind.',
        labelNames: ['kind'],
      });
      const kinds = ['url', 'path', 'surrogate-key', 'environment'];
      startAtZero(this.#purges, combinations({ kind: kinds, outcome: ['ok', 'error'] }));
      startAtZero(this.#purged, combinations({ kind: kinds }));
    }
  }

  /** Starts answering purges and heartbeating (the first heartbeat goes out at once). */
  start(): void {
    if (this.#closed || this.#sub !== undefined) return;
    this.#sub = this.#transport.serve(PURGE_SUBJECT, async (msg) => ({
      headers: {},
      body: encodePurgeAck(await this.handle(msg.body)),
    }));
    this.#beat(false);
    this.#timer = setInterval(() => this.#beat(false), this.heartbeatIntervalMs);
    this.#timer.unref();
  }

  /**
   * Decodes a purge, runs it on the store and returns the ack (never
   * throws: a malformed purge or a failing store becomes `error`).
   */
  async handle(body: Uint8Array): Promise<PurgeAck> {
    const base = { shieldId: this.shieldId, region: this.region };
    let purgeId = '';
    let kind = 'malformed';
    try {
      const request = decodePurgeRequest(body);
      purgeId = request.purgeId;
      kind = request.selector.kind;
      if (request.revalidate) return { purgeId, ...base, ...(await this.#revalidated(request)) };
      const removed = await this.#purge(request.selector);
      if (typeof removed !== 'number' || !Number.isInteger(removed) || removed < 0) {
        throw new TypeError(`purge() returned ${String(removed)}, not a count of entries`);
      }
      this.#purges?.inc({ kind, outcome: 'ok' });
      this.#purged?.inc({ kind }, removed);
      this.#log({ msg: 'cache purged', purgeId, selector: request.selector, removed });
      return { purgeId, ...base, removed };
    } catch (err) {
      const error = (err as Error)?.message ?? String(err);
      this.#purges?.inc({ kind, outcome: 'error' });
      this.#log({ msg: 'cache purge failed', purgeId, error });
      return { purgeId, ...base, removed: 0, error };
    }
  }

  /** A revalidation's ack fields (it throws for a selector that is not a URL). */
  async #revalidated(
    request: PurgeRequest,
  ): Promise<{ removed: number; revalidated: number; notRevalidated?: string[] }> {
    const selector = request.selector;
    if (selector.kind !== 'url') throw new TypeError('revalidate takes a url selector');
    if (!this.#revalidate) throw new TypeError('this shield cannot revalidate');
    const got = await this.#revalidate(selector);
    const { revalidated, removed, notRevalidated } =
      typeof got === 'number' ? { revalidated: got, removed: 0, notRevalidated: undefined } : got;
    this.#log({
      msg: 'cache revalidated',
      purgeId: request.purgeId,
      selector,
      revalidated,
      removed,
      ...(notRevalidated ? { notRevalidated } : {}),
    });
    return { removed, revalidated, ...(notRevalidated ? { notRevalidated } : {}) };
  }

  #beat(leaving: boolean): void {
    try {
      this.#transport.publish(SHIELD_HEARTBEAT_SUBJECT, {
        headers: {},
        body: encodeShieldBeat({
          shieldId: this.shieldId,
          region: this.region,
          intervalMs: this.heartbeatIntervalMs,
          ...(this.tier === 'both' ? {} : { tier: this.tier }),
          ...(leaving ? { leaving: true } : {}),
        }),
      });
    } catch (err) {
      this.#log({ msg: 'shield heartbeat failed', error: (err as Error).message });
    }
  }

  /**
   * Stops heartbeating (sending a last `leaving` beat) and answering purges;
   * a purge being handled still gets its answer. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const sub = this.#sub;
    this.#sub = undefined;
    if (sub === undefined) return;
    this.#beat(true);
    await sub.drain();
  }
}
