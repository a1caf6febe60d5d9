/**
 * The shields this shield hears heartbeating (`flotilla.shields-heartbeat`),
 * so the purge API knows at once which shields must acknowledge, without
 * listening for a second first as `flotilla purge` does.
 *
 * @module
 */
import { decodeShieldBeat, SHIELD_HEARTBEAT_SUBJECT } from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';

interface Heard {
  region: string;
  intervalMs: number;
  at: number;
}

/** Live shields by their heartbeats; see the module comment. */
export class ShieldRoster {
  readonly #transport: Transport;
  readonly #now: () => number;
  readonly #heard = new Map<string, Heard>();
  #sub: Subscription | undefined;
  #since = 0;

  /** @param now - clock, ms (@default `performance.now`) */
  constructor(transport: Transport, now: () => number = () => performance.now()) {
    this.#transport = transport;
    this.#now = now;
  }

  /** Starts listening (idempotent). */
  start(): void {
    if (this.#sub) return;
    this.#since = this.#now();
    this.#sub = this.#transport.subscribe(SHIELD_HEARTBEAT_SUBJECT, (msg) => {
      try {
        const beat = decodeShieldBeat(msg.body);
        if (beat.leaving) this.#heard.delete(beat.shieldId);
        else {
          this.#heard.set(beat.shieldId, {
            region: beat.region,
            intervalMs: beat.intervalMs,
            at: this.#now(),
          });
        }
      } catch {
        // not a shield's heartbeat
      }
    });
  }

  /**
   * The shields heard within 1.5 of their intervals (+100 ms), sorted by
   * id; undefined while the roster has not listened for as long as a
   * purger would (1.25 × the longest interval heard + 50 ms, at least 1300 ms).
   */
  live(): Array<{ shieldId: string; region: string }> | undefined {
    if (!this.#sub) return undefined;
    const now = this.#now();
    let longest = 1000;
    for (const h of this.#heard.values()) longest = Math.max(longest, h.intervalMs);
    if (now - this.#since < longest * 1.25 + 50) return undefined;
    const live: Array<{ shieldId: string; region: string }> = [];
    for (const [shieldId, h] of this.#heard) {
      if (now - h.at <= h.intervalMs * 1.5 + 100) live.push({ shieldId, region: h.region });
      else this.#heard.delete(shieldId);
    }
    return live.sort((a, b) => (a.shieldId < b.shieldId ? -1 : a.shieldId > b.shieldId ? 1 : 0));
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const sub = this.#sub;
    this.#sub = undefined;
    await sub?.drain();
  }
}
