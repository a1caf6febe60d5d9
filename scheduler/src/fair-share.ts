/**
 * A fair share of the region's render slots per app. Each app has its own
 * wait queue, woken round-robin when a slot frees. A `reserve` of the
 * region's slots is kept for an app that arrives: renders that await a slow
 * backend for seconds cannot be taken back, so borrowing must leave room by
 * design. An app may hold its fair share of the other slots (capacity less
 * the reserve, ÷ the apps in flight or waiting here), and borrow idle slots
 * beyond it only while no other app waits, never the reserve.
 *
 * @module
 */
import { InvalidOptionError } from '@flotilla/protocol';

/** The app a deployment id belongs to: the id without its `-<12 hex>` content hash. */
export function appOf(deploymentId: string): string {
  return deploymentId.replace(/-[0-9a-f]{12}$/, '');
}

/** Options of {@link FairShare}. */
export interface FairShareOptions {
  /**
   * Fraction of the region's slots an app borrowing beyond its fair share
   * leaves free (rounded up), so that another app's first render finds room
   * at once. 0 lets a lone app take every slot.
   * @default 0.25
   */
  reserve?: number;
  /** Called when an app's in-flight or queued count changes (for gauges). */
  onChange?: (app: string, inFlight: number, queued: number) => void;
}

/** A miss waiting in its app's queue; {@link Ticket.wait} resolves when a slot may have freed. */
export interface Ticket {
  readonly app: string;
  /** Resolves `true` when woken, `false` once `ms` passed without a wake. */
  wait(ms: number): Promise<boolean>;
  /** Leaves the queue (the miss starts, or gives up). Idempotent. */
  leave(): void;
}

interface TicketState extends Ticket {
  wake: (() => void) | undefined;
  left: boolean;
}

/** Per-app in-flight counts and wait queues of one scheduler ({@link FairShare}). */
export class FairShare {
  readonly reserve: number;
  readonly #inFlight = new Map<string, number>();
  /** Waiting misses by app, each FIFO; the map's order is the round-robin order. */
  readonly #queues = new Map<string, TicketState[]>();
  readonly #onChange: (app: string, inFlight: number, queued: number) => void;
  #queued = 0;
  /** Wakes so far: which app is served first rotates with it. */
  #turn = 0;

  constructor(options: FairShareOptions = {}) {
    const reserve = options.reserve ?? 0.25;
    if (typeof reserve !== 'number' || !(reserve >= 0 && reserve < 1)) {
      throw new InvalidOptionError(
        'fairShareReserve',
        `must be a number in [0, 1), got ${reserve}`,
      );
    }
    this.reserve = reserve;
    this.#onChange = options.onChange ?? (() => {});
  }

  /** Misses waiting, all apps together. */
  get queued(): number {
    return this.#queued;
  }

  /** Renders of `app` this scheduler sent and has not heard back from. */
  inFlight(app: string): number {
    return this.#inFlight.get(app) ?? 0;
  }

  /** Misses of `app` waiting. */
  queuedOf(app: string): number {
    return this.#queues.get(app)?.length ?? 0;
  }

  /** Apps with renders in flight or misses waiting, `app` included. */
  contenders(app: string): number {
    const present = this.#inFlight.has(app) || this.#queues.has(app);
    return this.#activeApps() + (present ? 0 : 1);
  }

  /** Apps with renders in flight or waiting here (counted, not collected: this runs per miss). */
  #activeApps(): number {
    let n = this.#inFlight.size;
    for (const app of this.#queues.keys()) if (!this.#inFlight.has(app)) n++;
    return n;
  }

  /** `app`'s fair share of `capacity` slots: the slots but the reserve, ÷ the contenders (at least 1). */
  share(app: string, capacity: number): number {
    const shared = capacity - this.reservedSlots(capacity);
    return Math.max(1, Math.floor(shared / this.contenders(app)));
  }

  /** Slots a borrowing app leaves free. */
  reservedSlots(capacity: number): number {
    return Math.ceil(capacity * this.reserve);
  }

  /**
   * True when another app than `app` has a miss waiting and is under its
   * share of `capacity` (it could use a freed slot).
   */
  othersWaiting(app: string, capacity: number): boolean {
    if (this.#queued === 0) return false;
    // Every app with a queue is active, so all share one figure.
    const shared = capacity - this.reservedSlots(capacity);
    const share = Math.max(1, Math.floor(shared / this.#activeApps()));
    for (const [other, queue] of this.#queues) {
      if (other !== app && queue.length > 0 && this.inFlight(other) < share) return true;
    }
    return false;
  }

  /**
   * Whether `app` may start one more render now, given the region's CPU
   * slots (`capacity`) and the renders holding one (`regionRunning`, every
   * scheduler's): within its share always; beyond it only while no other
   * app under its share waits, and the reserve stays free.
   *
   * With `io` (the region's in-flight bound and renders in flight, waiting
   * on backend I/O or not), renders only waiting on I/O hold no CPU slot:
   * an app may borrow past its share while the CPU reserve stays free and
   * the region's in-flight renders, its waiting ones included, leave the
   * same reserve of the in-flight bound free.
   */
  mayStart(
    app: string,
    capacity: number,
    regionRunning: number,
    io?: { slots: number; inFlight: number },
  ): boolean {
    if (this.inFlight(app) < this.share(app, capacity)) return true;
    if (this.othersWaiting(app, capacity)) return false;
    if (regionRunning + 1 > capacity - this.reservedSlots(capacity)) return false;
    return io === undefined || io.inFlight + 1 <= io.slots - this.reservedSlots(io.slots);
  }

  /** Whether `app` may queue one more miss: its share of `maxQueue` (all of it when alone). */
  mayQueue(app: string, maxQueue: number): boolean {
    if (maxQueue === 0) return false;
    return this.queuedOf(app) < Math.max(1, Math.floor(maxQueue / this.contenders(app)));
  }

  /** Counts a render of `app` until {@link FairShare.end}. */
  begin(app: string): void {
    this.#inFlight.set(app, this.inFlight(app) + 1);
    this.#onChange(app, this.inFlight(app), this.queuedOf(app));
  }

  /** Ends what {@link FairShare.begin} counted. */
  end(app: string): void {
    const n = this.inFlight(app) - 1;
    if (n > 0) this.#inFlight.set(app, n);
    else this.#inFlight.delete(app);
    this.#onChange(app, Math.max(0, n), this.queuedOf(app));
  }

  /**
   * Misses that start before the one at `index` of `app`'s queue (the back
   * of it when `index` is its length: a miss about to queue), served
   * round-robin: those before it in its app's queue, and as many of each
   * other app's.
   */
  ahead(app: string, index: number): number {
    let n = index;
    for (const [other, queue] of this.#queues) {
      if (other !== app) n += Math.min(queue.length, index);
    }
    return n;
  }

  /** Where `ticket` is in its app's queue (0: next); -1 once it left. */
  placeOf(ticket: Ticket): number {
    return this.#queues.get(ticket.app)?.indexOf(ticket as TicketState) ?? -1;
  }

  /** Queues a miss of `app` at the back of its app's queue. */
  enqueue(app: string): Ticket {
    let queue = this.#queues.get(app);
    if (!queue) {
      queue = [];
      this.#queues.set(app, queue);
    }
    const ticket: TicketState = {
      app,
      wake: undefined,
      left: false,
      wait: (ms) =>
        new Promise<boolean>((resolve) => {
          if (ticket.left) {
            resolve(false);
            return;
          }
          const timer = setTimeout(() => {
            ticket.wake = undefined;
            resolve(false);
          }, ms);
          ticket.wake = () => {
            clearTimeout(timer);
            ticket.wake = undefined;
            resolve(true);
          };
        }),
      leave: () => {
        if (ticket.left) return;
        ticket.left = true;
        const q = this.#queues.get(app);
        const i = q ? q.indexOf(ticket) : -1;
        if (q && i >= 0) {
          q.splice(i, 1);
          this.#queued--;
          if (q.length === 0) this.#queues.delete(app);
        }
        ticket.wake?.();
        this.#onChange(app, this.inFlight(app), this.queuedOf(app));
      },
    };
    queue.push(ticket);
    this.#queued++;
    this.#onChange(app, this.inFlight(app), this.queuedOf(app));
    return ticket;
  }

  /**
   * Wakes every waiting miss, round-robin across apps (the first of each
   * app, then the second of each…), starting with the app after the one
   * woken first last time, so that no app is always served first. Woken
   * misses stay queued until they start or give up: while they look again,
   * the others still count as waiting.
   */
  wakeAll(): void {
    if (this.#queued === 0) return;
    // Rotate: each wake serves another app first.
    const apps = [...this.#queues.values()];
    const first = this.#turn++ % apps.length;
    const queues = [...apps.slice(first), ...apps.slice(0, first)];
    const longest = Math.max(...queues.map((q) => q.length));
    const order: TicketState[] = [];
    for (let i = 0; i < longest; i++) {
      for (const q of queues) {
        const t = q[i];
        if (t) order.push(t);
      }
    }
    for (const t of order) t.wake?.();
  }
}
