/**
 * An edge shield's client of the global cache tier: sends a cache miss (or
 * a revalidation) to the live global member that owns its key, and when
 * that member does not answer (no responders, or it stopped heartbeating
 * with the request in flight), to the next member in rendezvous order, so
 * that a member's death fails no GET.
 *
 * @module
 */
import {
  decodeTierAnswer,
  encodeTierMiss,
  type LogFn,
  type RenderRequest,
  type TierMiss,
  tierMissSubject,
  topLevelMs,
  toWireError,
} from '@flotilla/protocol';
import type { Transport } from '@flotilla/transport';
import type { OriginAnswer } from '../cache/edge-cache.ts';
import { now } from '../timing.ts';
import type { TierMembers } from './tier-members.ts';

/** How often requests in flight to a member are checked against its heartbeats, ms. */
const SWEEP_MS = 100;

/** Why an attempt to one member ended without its answer. */
class MemberGone extends Error {}

/** Options of {@link TierClient}. */
export interface TierClientOptions {
  transport: Transport;
  /** The global members, from their heartbeats (started by the caller). */
  members: TierMembers;
  /** Counts misses sent on to the next member. */
  onRetry?: () => void;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/** Sends misses to the global tier; see the module. */
export class TierClient {
  readonly #transport: Transport;
  readonly #members: TierMembers;
  readonly #log: LogFn;
  readonly #onRetry: () => void;
  /** Attempts in flight: the member asked and how to give up on it. */
  readonly #pending = new Set<{ member: string; controller: AbortController }>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: TierClientOptions) {
    this.#transport = options.transport;
    this.#members = options.members;
    this.#log = options.log ?? (() => {});
    this.#onRetry = options.onRetry ?? (() => {});
  }

  /** Starts watching the members that requests are waiting on. Idempotent. */
  start(): void {
    if (this.#sweep) return;
    this.#sweep = setInterval(() => {
      for (const p of this.#pending) {
        if (!this.#members.isLive(p.member)) p.controller.abort(new MemberGone(p.member));
      }
    }, SWEEP_MS);
    this.#sweep.unref();
  }

  close(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /** Whether any global member is live (else the edge renders through the regions itself). */
  hasMembers(): boolean {
    return this.#members.live().length > 0;
  }

  /**
   * Asks the owner of `miss.key`, then the next members in turn while the
   * one asked is gone. Never throws: failures are error results. Resolves
   * `undefined` when no member is left to ask.
   */
  async forward(
    miss: TierMiss,
    request: RenderRequest,
    signal: AbortSignal,
  ): Promise<OriginAnswer | undefined> {
    const tried = new Set<string>();
    for (;;) {
      const member = this.#members.order(miss.key).find((m) => !tried.has(m));
      if (member === undefined) return undefined;
      tried.add(member);
      const answer = await this.ask(member, miss, request, signal, request.deadline - Date.now());
      if (answer !== 'gone') return answer;
      this.#onRetry();
      this.#log({ msg: 'global cache member gone, asking the next', member, key: miss.key });
    }
  }

  /**
   * One try at `member`: its answer, or `gone` when it has no subscription
   * or stopped heartbeating meanwhile (it is then skipped until it beats again).
   */
  async ask(
    member: string,
    miss: TierMiss,
    request: RenderRequest,
    signal: AbortSignal,
    timeoutMs: number,
  ): Promise<OriginAnswer | 'gone'> {
    const controller = new AbortController();
    const attempt = { member, controller };
    this.#pending.add(attempt);
    const sent = now();
    try {
      const reply = await this.#transport.request(
        tierMissSubject(member),
        encodeTierMiss(miss, request),
        {
          timeoutMs: Math.max(1, timeoutMs),
          signal: AbortSignal.any([controller.signal, signal]),
        },
      );
      const { answer, result } = decodeTierAnswer(reply);
      // The member's own time: the round trip less what it reported downstream.
      result.timings.global = Math.max(0, now() - sent - topLevelMs(result.timings));
      return { result, region: undefined, tier: answer };
    } catch (err) {
      if (err instanceof MemberGone || toWireError(err).code === 'FLOTILLA_ERR_NO_RESPONDERS') {
        this.#members.suspect(member);
        return 'gone';
      }
      const wire = toWireError(err);
      if (wire.code === 'FLOTILLA_ERR_TIMEOUT') {
        wire.code = 'FLOTILLA_ERR_DEADLINE';
        wire.message = `the global cache member ${member} gave no answer within the request deadline`;
      }
      return { result: { ok: false, error: wire, timings: {} }, region: undefined };
    } finally {
      this.#pending.delete(attempt);
    }
  }
}
