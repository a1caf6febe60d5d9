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
      room = { schedulers: new Map(), inFlight: 0, byApp: new Map() };
      this.#regions.set(region, room);
    }
    return room;
  }

  /** Records what a scheduler of `region` announced. */
  heard(region: string, beat: SchedulerBeat): void {
    if (beat.slots === undefined || beat.queue === undefined) return;
    this.#room(region).schedulers.set(beat.schedulerId, {
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

  /** Misses this shield has in flight to `region` now. */
  inFlight(region: string): number {
    return this.#regions.get(region)?.inFlight ?? 0;
  }

  /** Admits a miss of deployment `app` to `region`, or says why not. */
  admit(region: string, app: string): Release | Refusal {
    const announced = this.#announced(region);
    const room = this.#room(region);
    const mine = room.byApp.get(app) ?? 0;
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
