/**
 * The live members of the global cache tier, as one shield sees them: from
 * the shields' heartbeats (`tier: 'global'`), less those that stopped
 * heartbeating, said they were leaving, or failed a request since their
 * last beat.
 *
 * @module
 */
import { decodeShieldBeat, isLost, type LogFn, SHIELD_HEARTBEAT_SUBJECT } from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import { rendezvousOrder } from './rendezvous.ts';

/** Intervals of silence after which a member is forgotten, not only skipped. */
const FORGET_AFTER_INTERVALS = 60;

interface Member {
  seen: number;
  intervalMs: number;
  /** A request to it failed (no responders, lost in flight) after its last beat. */
  suspectSince: number | undefined;
}

/** Follows the global members' heartbeats. */
export class TierMembers {
  readonly #transport: Transport;
  readonly #log: LogFn;
  readonly #members = new Map<string, Member>();
  #sub: Subscription | undefined;
  #changedAt = Date.now();
  #lastLive = '';

  readonly #onChange: (live: number) => void;

  /** @param onChange - Told the number of live members when it changes. */
  constructor(transport: Transport, log: LogFn, onChange: (live: number) => void = () => {}) {
    this.#transport = transport;
    this.#log = log;
    this.#onChange = onChange;
  }

  /** Starts following heartbeats. Idempotent. */
  start(): void {
    this.#sub ??= this.#transport.subscribe(SHIELD_HEARTBEAT_SUBJECT, (msg) => {
      try {
        const beat = decodeShieldBeat(msg.body);
        if (beat.tier !== 'global') return;
        if (beat.leaving) {
          this.#members.delete(beat.shieldId);
        } else {
          const t = Date.now();
          const suspectSince = this.#members.get(beat.shieldId)?.suspectSince;
          // A beat sent after the failure clears the suspicion; one that
          // arrives within an interval of it may predate it: wait for the next.
          const stillSuspect = suspectSince !== undefined && t - suspectSince <= beat.intervalMs;
          this.#members.set(beat.shieldId, {
            seen: t,
            intervalMs: beat.intervalMs,
            suspectSince: stillSuspect ? suspectSince : undefined,
          });
        }
        this.live();
      } catch {
        // a malformed heartbeat is ignored
      }
    });
  }

  async close(): Promise<void> {
    await this.#sub?.drain();
    this.#sub = undefined;
  }

  /** The live members' ids, sorted. */
  live(now = Date.now()): string[] {
    const out: string[] = [];
    for (const [id, m] of this.#members) {
      // Long gone (a restarted member comes back under a new id): forgotten.
      if (isLost(m.seen, m.intervalMs, now, FORGET_AFTER_INTERVALS * m.intervalMs)) {
        this.#members.delete(id);
        continue;
      }
      if (m.suspectSince === undefined && !isLost(m.seen, m.intervalMs, now)) out.push(id);
    }
    out.sort();
    const text = out.join(',');
    if (text !== this.#lastLive) {
      this.#log({ msg: 'global cache tier members', members: out });
      this.#lastLive = text;
      this.#changedAt = now;
      this.#onChange(out.length);
    }
    return out;
  }

  /** Whether `id` counts as live now. */
  isLive(id: string, now = Date.now()): boolean {
    const m = this.#members.get(id);
    return m !== undefined && m.suspectSince === undefined && !isLost(m.seen, m.intervalMs, now);
  }

  /** The live members in rendezvous order for `key`: the owner first. */
  order(key: string): string[] {
    return rendezvousOrder(key, this.live());
  }

  /** A request to `id` failed as only a dead member's does: skip it until it beats again. */
  suspect(id: string): void {
    const m = this.#members.get(id);
    if (m && m.suspectSince === undefined) {
      m.suspectSince = Date.now();
      this.live();
    }
  }

  /** When the set of live members last changed (ms since epoch), as far as this shield noticed. */
  get changedAt(): number {
    this.live();
    return this.#changedAt;
  }
}
