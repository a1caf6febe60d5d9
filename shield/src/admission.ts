/**
 * Admission control for misses, before any work is done for them: a shield
 * sends a region at most as many misses at once as the region can take (its
 * workers' in-flight bounds plus its schedulers' queues, as the schedulers
 * announce them in their heartbeats). Past that, a miss is refused at once
 * with `FLOTILLA_ERR_OVERLOADED`, without a NATS round trip, so that an
 * overload costs the shield (and the hits it serves) next to nothing, and
 * the scheduler does not spend its time shedding.
 *
 * One app (deployment) may hold every worker slot but only three quarters of
 * the queues' room, so an app flooding the shield cannot turn away the
 * others' misses before the schedulers' fair share sees them.
 *
 * The room a heartbeat announced may be a second old: renders that slowed
 * down since leave the schedulers less queue room than announced. When a
 * scheduler refuses a miss of an app that floods the region (holds more
 * misses in flight from this shield than the region has slots), the shield
 * takes it as that app's room for now: until the next heartbeat it sends no
 * more of the app's misses at once than it had in flight besides the one
 * refused (so never fewer than the region's slots), so the rest of the burst is
 * refused here rather than each sent to be refused there. An app within the
 * region's slots is not capped by a refusal: one miss shed by a queue that
 * was slow for a moment (a neighbour's CPU bomb, a busy machine) must not
 * turn away its next misses too. Per app: the scheduler may have refused it
 * its fair share only, and the other apps' misses still go.
 *
 * @module
 */
import { isLost, type SchedulerBeat } from '@flotilla/protocol';

/** Share of the region's queue room one deployment may hold at once (besides every slot). */
export const APP_QUEUE_SHARE = 0.75;

interface Announced {
  slots: number;
  queue: number;
  seen: number;
  intervalMs: number;
}

interface RegionRoom {
  schedulers: Map<string, Announced>;
  inFlight: number;
  byApp: Map<string, number>;
  /** Most misses of an app at once since a scheduler refused one of its, until the next heartbeat. */
  caps: Map<string, number>;
}

/** A miss admitted: call it once the miss has its answer. */
export type Release = () => void;

/** What {@link Admission.admit} refused, and why. */
export interface Refusal {
  reason: 'region_full' | 'app_full';
  message: string;
}

/** Counts the misses a shield has sent each region and refuses those past its room. */
export class Admission {
  readonly #regions = new Map<string, RegionRoom>();
  readonly #clock: () => number;

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  #room(region: string): RegionRoom {
    let room = this.#regions.get(region);
    if (!room) {
      room = { schedulers: new Map(), inFlight: 0, byApp: new Map(), caps: new Map() };
      this.#regions.set(region, room);
    }
    return room;
  }

  /** Records what a scheduler of `region` announced (and forgets the {@link refused} caps). */
  heard(region: string, beat: SchedulerBeat): void {
    const room = this.#room(region);
    room.caps.clear();
    if (beat.slots === undefined || beat.queue === undefined) return;
    room.schedulers.set(beat.schedulerId, {
      slots: beat.slots,
      queue: beat.queue,
      seen: this.#clock(),
      intervalMs: beat.intervalMs,
    });
  }

  /**
   * Misses `region` takes at once: its workers' in-flight bounds (the
   * largest any live scheduler announced: they all see the same workers)
   * plus every live scheduler's queue. Undefined while no live scheduler
   * announced it: then nothing is refused here.
   */
  limit(region: string): number | undefined {
    const room = this.#announced(region);
    return room === undefined ? undefined : room.slots + room.queue;
  }

  /** The live schedulers' announcements for `region`, combined; undefined when none. */
  #announced(region: string): { slots: number; queue: number } | undefined {
    const room = this.#regions.get(region);
    if (!room) return undefined;
    const t = this.#clock();
    let slots = 0;
    let queue = 0;
    let live = 0;
    for (const [id, s] of room.schedulers) {
      if (isLost(s.seen, s.intervalMs, t)) {
        room.schedulers.delete(id);
        continue;
      }
      live++;
      slots = Math.max(slots, s.slots);
      queue += s.queue;
    }
    return live === 0 ? undefined : { slots, queue };
  }

  /**
   * A scheduler of `region` refused an admitted miss of `app` as overloaded
   * (call it before releasing that miss). When the app floods the region
   * (more misses in flight than the region's slots, the refused one
   * included): until the next heartbeat, no more of the app's misses at
   * once than its others in flight then (so never fewer than the slots).
   * Otherwise nothing changes: a refusal within the slots says the queue was
   * slow for a moment, not that the app floods. Returns whether it capped.
   */
  refused(region: string, app: string): boolean {
    const announced = this.#announced(region);
    const room = this.#room(region);
    const mine = room.byApp.get(app) ?? 1;
    if (announced === undefined || mine <= announced.slots) return false;
    const others = mine - 1;
    room.caps.set(app, Math.min(room.caps.get(app) ?? others, others));
    return true;
  }

  /** Misses this shield has in flight to `region` now. */
  inFlight(region: string): number {
    return this.#regions.get(region)?.inFlight ?? 0;
  }

  /** Admits a miss of deployment `app` to `region`, or says why not. */
  admit(region: string, app: string): Release | Refusal {
    const announced = this.#announced(region);
    const room = this.#room(region);
    const mine = room.byApp.get(app) ?? 0;
    const cap = room.caps.get(app);
    if (cap !== undefined && mine >= cap) {
      return {
        reason: 'app_full',
        message: `region ${region} refused a miss of deployment ${app} with more in flight; at most ${cap} at once until its next heartbeat; retry shortly`,
      };
    }
    if (announced !== undefined) {
      const limit = announced.slots + announced.queue;
      if (room.inFlight >= limit) {
        return {
          reason: 'region_full',
          message: `region ${region} is at capacity (${room.inFlight} misses in flight from this shield, room for ${limit}); retry shortly`,
        };
      }
      const appLimit = Math.max(1, announced.slots + Math.floor(announced.queue * APP_QUEUE_SHARE));
      if (mine >= appLimit) {
        return {
          reason: 'app_full',
          message: `deployment ${app} has ${mine} misses in flight in region ${region}, its most at once (${appLimit}); retry shortly`,
        };
      }
    }
    room.inFlight++;
    room.byApp.set(app, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      room.inFlight--;
      const n = (room.byApp.get(app) ?? 1) - 1;
      if (n <= 0) room.byApp.delete(app);
      else room.byApp.set(app, n);
    };
  }
}
