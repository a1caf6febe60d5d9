import { type Heartbeat, isLost } from '@flotilla/protocol';

/**
 * Warm workers are preferred while one of them is less busy than this
 * (share of its slots in use); past it, cold workers with room are picked
 * too, by load.
 */
const SPREAD_WHEN_BUSY = 0.5;

/** A worker's in-flight bound: its CPU slots when it heartbeats none (an older worker). */
function ioSlotsOf(w: Heartbeat): number {
  return Math.max(w.capacity, w.ioSlots ?? w.capacity);
}

interface Entry {
  heartbeat: Heartbeat;
  lastSeen: number;
  /** Requests this scheduler sent to the worker that have not answered yet. */
  pending: number;
  /** Requests of this scheduler the worker answered since its last heartbeat. */
  settledSinceBeat: number;
}

/**
 * The region's live workers as this scheduler knows them from heartbeats.
 * A worker that misses 2.5 of its heartbeat intervals (or `staleAfterMs`, when
 * given), or that the transport reports gone, leaves the registry.
 */
export class WorkerRegistry {
  readonly #workers = new Map<string, Entry>();
  readonly #staleAfterMs: number | undefined;
  readonly #clock: () => number;
  readonly #random: () => number;

  constructor(
    staleAfterMs?: number,
    clock: () => number = Date.now,
    random: () => number = Math.random,
  ) {
    this.#staleAfterMs = staleAfterMs;
    this.#clock = clock;
    this.#random = random;
  }

  #stale(e: Entry, t: number): boolean {
    return isLost(e.lastSeen, e.heartbeat.intervalMs, t, this.#staleAfterMs);
  }

  /**
   * True while `workerId` heartbeats on time (draining or not): a render sent
   * to it may still be answered. Forgets the worker once it is stale.
   */
  alive(workerId: string): boolean {
    const e = this.#workers.get(workerId);
    if (!e) return false;
    if (this.#stale(e, this.#clock())) {
      this.#workers.delete(workerId);
      return false;
    }
    return true;
  }

  /** Records a heartbeat. */
  update(hb: Heartbeat): void {
    const prev = this.#workers.get(hb.workerId);
    this.#workers.set(hb.workerId, {
      heartbeat: hb,
      lastSeen: this.#clock(),
      pending: prev?.pending ?? 0,
      settledSinceBeat: 0,
    });
  }

  /** Forgets a worker (it died or left). */
  remove(workerId: string): void {
    this.#workers.delete(workerId);
  }

  /** Live workers that take work. Stale ones are dropped as a side effect. */
  live(): Heartbeat[] {
    const t = this.#clock();
    const out: Heartbeat[] = [];
    for (const [id, e] of this.#workers) {
      if (this.#stale(e, t)) this.#workers.delete(id);
      else if (!e.heartbeat.draining) out.push(e.heartbeat);
    }
    return out;
  }

  /**
   * Load of `w` once one more render is sent to it (≤ 1: has room): the
   * greater of its renders running (holding a CPU slot) relative to its CPU
   * slots, and its renders in flight relative to its in-flight bound. A
   * render only waiting on backend I/O holds no CPU slot, so a worker whose
   * renders wait on a slow backend has CPU room for others.
   */
  #load(w: Heartbeat): number {
    const inFlight = this.#inFlightOf(w);
    const running = Math.max(0, inFlight - this.#ioWaitingOf(w));
    return Math.max(
      (running + 1) / Math.max(1, w.capacity),
      (inFlight + 1) / Math.max(1, ioSlotsOf(w)),
    );
  }

  /** Load of `w` now, before one more render (see {@link #load}). */
  #busy(w: Heartbeat): number {
    const inFlight = this.#inFlightOf(w);
    const running = Math.max(0, inFlight - this.#ioWaitingOf(w));
    return Math.max(running / Math.max(1, w.capacity), inFlight / Math.max(1, ioSlotsOf(w)));
  }

  /**
   * Renders on `w` waiting on I/O now, as its last heartbeat or load update
   * said (at most those in flight). A render that answered since most
   * likely ran its continuation first (not waiting); the worker's next load
   * update, within `loadUpdateMs` of a render ending, corrects the rest.
   */
  #ioWaitingOf(w: Heartbeat): number {
    return Math.min(w.ioWaiting ?? 0, this.#inFlightOf(w));
  }

  /**
   * Renders on `w` now: its heartbeat's count less what this scheduler saw
   * it answer since (a "full" heartbeat must not keep an idle worker looking
   * full for a whole interval), and never less than what this scheduler has
   * sent it and not yet heard back.
   */
  #inFlightOf(w: Heartbeat): number {
    const e = this.#workers.get(w.workerId);
    if (!e) return w.inFlight;
    return Math.max(e.pending, w.inFlight - e.settledSinceBeat);
  }

  /**
   * Picks a worker for `deploymentId` among those holding it warm and with
   * room for one more render, while one of them is less than half busy;
   * once every warm worker is at least half busy, among every worker with
   * room, so that a worker that joined or restarted (cold) takes its share
   * instead of idling until the warm ones are full (it warms up on its
   * first render); when every warm worker is full, among all (a cold start
   * beats queueing behind a full worker). Within that pool, the
   * less loaded of two picked at random (power of two choices: near-least
   * loaded without every scheduler piling onto the same worker). With
   * `requireRoom`, only workers with room qualify. `exclude` lists workers
   * already tried.
   */
  pick(
    deploymentId: string,
    exclude: ReadonlySet<string>,
    requireRoom = false,
  ): string | undefined {
    const candidates = this.live().filter((w) => !exclude.has(w.workerId));
    const warmWithRoom = candidates.filter(
      (w) => w.warm.includes(deploymentId) && this.#load(w) <= 1,
    );
    const warmBusy = warmWithRoom.every((w) => this.#busy(w) >= SPREAD_WHEN_BUSY);
    let pool =
      warmWithRoom.length === 0
        ? candidates
        : warmBusy
          ? candidates.filter((w) => this.#load(w) <= 1)
          : warmWithRoom;
    if (requireRoom) pool = pool.filter((w) => this.#load(w) <= 1);
    if (pool.length > 2) {
      const i = Math.floor(this.#random() * pool.length);
      let j = Math.floor(this.#random() * (pool.length - 1));
      if (j >= i) j++;
      pool = [pool[i] as Heartbeat, pool[j] as Heartbeat];
    }
    let best: string | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const w of pool) {
      const l = this.#load(w);
      if (l < bestLoad) {
        bestLoad = l;
        best = w.workerId;
      }
    }
    return best;
  }

  /** CPU slots of the live workers, summed. */
  capacity(): number {
    return this.live().reduce((sum, w) => sum + w.capacity, 0);
  }

  /** Renders the live workers hold in flight at once (running or waiting on I/O), summed. */
  ioSlots(): number {
    return this.live().reduce((sum, w) => sum + ioSlotsOf(w), 0);
  }

  /** Renders in flight on the live workers (as heartbeated, or as sent by this scheduler). */
  inFlight(): number {
    return this.live().reduce((sum, w) => sum + this.#inFlightOf(w), 0);
  }

  /** Renders holding a CPU slot on the live workers: in flight less those only waiting on I/O. */
  running(): number {
    return this.live().reduce(
      (sum, w) => sum + Math.max(0, this.#inFlightOf(w) - this.#ioWaitingOf(w)),
      0,
    );
  }

  /** Counts a request sent to `workerId` until {@link WorkerRegistry.settle}. */
  begin(workerId: string): void {
    const e = this.#workers.get(workerId);
    if (e) e.pending++;
  }

  /** Ends what {@link WorkerRegistry.begin} counted. */
  settle(workerId: string): void {
    const e = this.#workers.get(workerId);
    if (e && e.pending > 0) {
      e.pending--;
      e.settledSinceBeat++;
    }
  }

  /** Number of workers known, live or not yet stale. */
  get size(): number {
    return this.live().length;
  }
}
