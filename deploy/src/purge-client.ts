/**
 * The purger's side of `flotilla purge`: finds the live shields from their
 * heartbeats, broadcasts the purge and waits for every one of them.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import {
  decodePurgeAck,
  decodeShieldBeat,
  encodePurgeRequest,
  InvalidOptionError,
  PURGE_SUBJECT,
  type PurgeAck,
  type PurgeFailure,
  type PurgeFleetResult,
  type PurgeSelector,
  positiveInt,
  purgeSelectorProblem,
  required,
  SHIELD_HEARTBEAT_SUBJECT,
  type ShieldBeat,
} from '@flotilla/protocol';

/**
 * The part of a NATS connection (`NatsConnection` of `@nats-io/transport-node`)
 * that {@link purgeFleet} uses.
 */
export interface PurgeConnection {
  subscribe(
    subject: string,
    options: { callback: (err: Error | null, msg: { data: Uint8Array }) => void },
  ): { unsubscribe(): void };
  requestMany(
    subject: string,
    payload: Uint8Array,
    options: { strategy: 'timer'; maxWait: number },
  ): Promise<AsyncIterable<{ data: Uint8Array }> & { stop?(): void }>;
}

/** Options of {@link purgeFleet}. */
export interface PurgeFleetOptions {
  /**
   * Longest time to listen to shield heartbeats before purging, ms. Listening
   * ends earlier once every shield heartbeating at the intervals heard so far
   * has had time to be heard (1.25 × the longest interval heard + 50 ms).
   * @default 1500
   */
  listenMs?: number;
  /**
   * Longest wait for the acks once the purge is sent, ms. The wait ends as
   * soon as every live shield answered.
   * @default 3000
   */
  timeoutMs?: number;
  /** Id of the purge (echoed in every ack). @default a random UUID */
  purgeId?: string;
  /**
   * The live shields, when the caller already knows them from their
   * heartbeats (a shield keeps a roster): no listening before the purge.
   * @default listen for `listenMs`
   */
  live?: ReadonlyArray<{ shieldId: string; region: string }>;
  /**
   * Revalidate the URL instead of purging it (a `url` selector only): each
   * shield renders it now and replaces its copy when ready; acks count
   * `revalidated` copies.
   * @default false
   */
  revalidate?: boolean;
}

export type { PurgeFailure, PurgeFleetResult };

const NO_LIVE_SHIELD_WAIT_MS = 250;

function byId<T extends { shieldId: string }>(a: T, b: T): number {
  return a.shieldId < b.shieldId ? -1 : a.shieldId > b.shieldId ? 1 : 0;
}

/**
 * Purges `selector` from the cache of every shield of the fleet: listens to
 * shield heartbeats (up to `listenMs`) to learn which shields are live,
 * broadcasts the purge on `flotilla.purge` (NATS `requestMany`) and returns
 * once every live shield answered or `timeoutMs` passed. Shields that did not
 * answer are listed in `missing`; shields that answered with an error in
 * `failed`. When no shield was heard the purge is still sent (for a shield
 * that just started) and answers are awaited only briefly.
 *
 * @example
 * const { acked, missing } = await purgeFleet(nc, { kind: 'surrogate-key', key: 'product-42' });
 * @throws InvalidOptionError for a bad selector or option
 */
export async function purgeFleet(
  nc: PurgeConnection,
  selector: PurgeSelector,
  options: PurgeFleetOptions = {},
): Promise<PurgeFleetResult> {
  required('nc', nc);
  const problem = purgeSelectorProblem(selector);
  if (problem !== undefined) throw new InvalidOptionError('selector', problem);
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('options', 'must be an object');
  }
  const listenMs = positiveInt('listenMs', options.listenMs, 1500);
  const timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 3000);
  const purgeId = options.purgeId ?? randomUUID();
  // Validates purgeId, and that a revalidation names a URL.
  const payload = encodePurgeRequest({
    purgeId,
    selector,
    ...(options.revalidate === true ? { revalidate: true } : {}),
  });
  const started = performance.now();

  // 1. Who is live? Heartbeats until every interval heard has elapsed (at most listenMs).
  const live = new Map<string, ShieldBeat>();
  let longestInterval = 0;
  let wake: (() => void) | undefined;
  // Live shields still to answer (from step 2 on); a shield leaving meanwhile is not waited for.
  let waiting: Set<string> | undefined;
  const sub = nc.subscribe(SHIELD_HEARTBEAT_SUBJECT, {
    callback: (err, msg) => {
      if (err) return;
      let beat: ShieldBeat;
      try {
        beat = decodeShieldBeat(msg.data);
      } catch {
        return; // not a shield
      }
      if (beat.leaving) {
        live.delete(beat.shieldId);
        if (waiting?.delete(beat.shieldId)) wake?.();
        return;
      }
      if (waiting !== undefined) return; // started after the purge was sent: not waited for
      live.set(beat.shieldId, beat);
      if (beat.intervalMs > longestInterval) {
        longestInterval = beat.intervalMs;
        wake?.();
      }
    },
  });
  for (const known of options.live ?? []) {
    live.set(known.shieldId, { ...known, intervalMs: 1 });
  }
  try {
    for (;;) {
      if (options.live !== undefined) break;
      const elapsed = performance.now() - started;
      const until =
        longestInterval === 0 ? listenMs : Math.min(listenMs, longestInterval * 1.25 + 50);
      if (elapsed >= until) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - elapsed);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }

    // 2. Purge; collect answers until every live shield answered (or left).
    const answered = new Map<string, PurgeAck>();
    const expected = new Set(live.keys());
    waiting = new Set(expected);
    const pending = waiting;
    const maxWait = expected.size === 0 ? Math.min(NO_LIVE_SHIELD_WAIT_MS, timeoutMs) : timeoutMs;
    const allIn = (): boolean => expected.size > 0 && pending.size === 0;
    try {
      const replies = await nc.requestMany(PURGE_SUBJECT, payload, { strategy: 'timer', maxWait });
      const iterator = replies[Symbol.asyncIterator]();
      try {
        // One next() at a time: a "left" wake-up keeps the pending one for the next round.
        let nextReply: Promise<IteratorResult<{ data: Uint8Array }>> | undefined;
        while (!allIn()) {
          const left = new Promise<'left'>((resolve) => {
            wake = () => resolve('left');
          });
          nextReply ??= iterator.next();
          const next = await Promise.race([nextReply, left]);
          wake = undefined;
          if (next === 'left') continue;
          nextReply = undefined;
          if (next.done) break;
          let ack: PurgeAck;
          try {
            ack = decodePurgeAck(next.value.data);
          } catch {
            continue; // a malformed answer does not count
          }
          if (ack.purgeId !== purgeId) continue;
          answered.set(ack.shieldId, ack);
          pending.delete(ack.shieldId);
        }
      } finally {
        // Stop listening for answers at once (ends the request even with a next() pending).
        replies.stop?.();
        iterator.return?.().catch(() => {});
      }
    } catch (err) {
      // No subscriber at all (NATS no-responders): nobody purged; everyone heard is missing.
      const e = err as { name?: string; message?: string; cause?: { name?: string } };
      const noResponders = [e?.name, e?.cause?.name, e?.message].some((s) =>
        /no ?responders/i.test(String(s)),
      );
      if (!noResponders) throw err;
    }
    const acks = [...answered.values()];
    return {
      purgeId,
      live: [...live.values()].map((b) => ({ shieldId: b.shieldId, region: b.region })).sort(byId),
      acked: acks
        .filter((a) => a.error === undefined)
        .map((a) => ({
          shieldId: a.shieldId,
          region: a.region,
          removed: a.removed,
          ...(a.revalidated !== undefined ? { revalidated: a.revalidated } : {}),
          ...(a.notRevalidated !== undefined ? { notRevalidated: a.notRevalidated } : {}),
        }))
        .sort(byId),
      failed: acks
        .filter((a) => a.error !== undefined)
        .map((a) => ({ shieldId: a.shieldId, region: a.region, error: a.error as string }))
        .sort(byId),
      missing: [...pending].sort(),
      ms: Math.round(performance.now() - started),
    };
  } finally {
    sub.unsubscribe();
  }
}
