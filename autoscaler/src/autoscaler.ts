import { randomBytes } from 'node:crypto';
import {
  decodeHeartbeat,
  type Heartbeat,
  InvalidOptionError,
  isLost,
  type LogFn,
  nonNegativeInt,
  positiveInt,
  regionSubjects,
  required,
  toWireError,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import type { Actuator, ScrapeTarget } from './actuator.ts';
import {
  type AutoscalerMetrics,
  autoscalerCountersAtZero,
  autoscalerMetrics,
} from './autoscaler-metrics.ts';
import { KpaDecider, type KpaDecision, type KpaObservation, type KpaOptions } from './kpa.ts';
import type { LeaderLease } from './lease.ts';
import { fn } from './options.ts';

/** Options of {@link Autoscaler}. */
export interface AutoscalerOptions {
  /** Transport to the region (heartbeats are read from it). */
  transport: Transport;
  /** Region whose workers are scaled. */
  region: string;
  /** Carries out the decisions while this replica leads. */
  actuator: Actuator;
  /**
   * The region's leader lease; only its holder actuates. The autoscaler
   * starts it and closes (releases) it. Leave it out where only one
   * scheduler can exist (the embedded fleet): this replica then always leads.
   * @default undefined (always the leader)
   */
  lease?: LeaderLease;
  /**
   * Id of this scheduler replica, for the leader metric and logs.
   * @default the lease's holderId, else `s-` + 8 random hex characters
   */
  schedulerId?: string;
  /**
   * The decider's options (target, windows, rates, min and max workers).
   * @default the KPA defaults: 70 % of capacity, stable 60 s, panic 6 s at 2×, min 2, max 10
   */
  kpa?: KpaOptions;
  /**
   * Evaluation interval, ms: each tick feeds one observation to the decider
   * and, when leading, tells the actuator the result.
   * @default 1000
   */
  tickMs?: number;
  /**
   * No decision is actuated until this long after {@link Autoscaler.start},
   * so that the heartbeats of a running region are seen first (a fresh
   * leader must not scale a busy region down to the minimum).
   * @default 2500
   */
  warmupMs?: number;
  /**
   * A worker whose last heartbeat is older than this is gone.
   * @default 2.5 × the worker's heartbeat interval (at least 250 ms)
   */
  workerStaleAfterMs?: number;
  /**
   * Renders waiting at schedulers for a worker (not yet in any worker's
   * in-flight), added to the demand. Pass the scheduler's queue depth when
   * it queues or sheds before dispatch.
   * @default () => 0
   */
  queuedDemand?: () => number;
  /** prom-client registry for the `flotilla_autoscaler_*` metrics. @default a private Registry */
  registry?: Registry;
  /** Structured log sink. @default no logging */
  log?: LogFn;
  /** Monotonic clock, ms. @default performance.now */
  clock?: () => number;
}

/** What the autoscaler sees and decides now. */
export interface AutoscalerStatus {
  region: string;
  schedulerId: string;
  leader: boolean;
  /** Workers heartbeating (draining ones included). */
  liveWorkers: number;
  /** The last decision, or `undefined` before the first tick. */
  decision: KpaDecision | undefined;
  /** The count last told to the actuator while leading. */
  actuated: number | undefined;
}

interface Seen {
  heartbeat: Heartbeat;
  lastSeen: number;
}

/**
 * The region's autoscaler: reads worker heartbeats from the transport, feeds
 * a {@link KpaDecider} every tick (sum of in-flight renders, live
 * non-draining workers, their mean capacity) and, only while holding the
 * leader lease, tells the actuator the desired count.
 *
 * @example
 * const lease = new LeaderLease({
 *   store: await openLeaseBucket(nc), key: autoscalerLeaseKey(region), holderId: scheduler.schedulerId,
 * });
 * const autoscaler = new Autoscaler({
 *   transport, region, lease, registry, log,
 *   actuator: new LocalSupervisor({ fleet: { nats, region, storeDir, bin }, minWorkers: 2, maxWorkers: 8, log }),
 *   kpa: { minWorkers: 2, maxWorkers: 8 },
 * });
 * autoscaler.start();
 * // on SIGTERM:
 * await autoscaler.close();
 */
export class Autoscaler {
  readonly region: string;
  readonly schedulerId: string;
  readonly #transport: Transport;
  readonly #subject: string;
  readonly #actuator: Actuator;
  readonly #lease: LeaderLease | undefined;
  readonly #kpa: KpaDecider;
  readonly #tickMs: number;
  readonly #warmupMs: number;
  readonly #staleAfterMs: number | undefined;
  readonly #queuedDemand: () => number;
  readonly #metrics: AutoscalerMetrics;
  readonly #log: LogFn;
  readonly #clock: () => number;
  readonly #workers = new Map<string, Seen>();
  readonly #unsubscribe: Array<() => void> = [];
  #sub: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #leading = false;
  #actuated: number | undefined;
  #closed: Promise<void> | undefined;

  /** @throws InvalidOptionError naming the bad option */
  constructor(options: AutoscalerOptions) {
    this.#transport = required('transport', options?.transport);
    this.region = options.region;
    this.#subject = regionSubjects(options.region).heartbeat;
    this.#actuator = required('actuator', options.actuator);
    if (
      typeof this.#actuator.scale !== 'function' ||
      typeof this.#actuator.standby !== 'function'
    ) {
      throw new InvalidOptionError('actuator', 'must implement scale(), standby() and close()');
    }
    this.#lease = options.lease;
    this.schedulerId =
      options.schedulerId ?? options.lease?.holderId ?? `s-${randomBytes(4).toString('hex')}`;
    this.#kpa = new KpaDecider(options.kpa ?? {});
    this.#tickMs = positiveInt('tickMs', options.tickMs, 1000);
    this.#warmupMs = nonNegativeInt('warmupMs', options.warmupMs, 2500);
    this.#staleAfterMs =
      options.workerStaleAfterMs === undefined
        ? undefined
        : positiveInt('workerStaleAfterMs', options.workerStaleAfterMs, 2500);
    this.#queuedDemand = fn('queuedDemand', options.queuedDemand, () => 0);
    this.#metrics = autoscalerMetrics(options.registry ?? new Registry());
    autoscalerCountersAtZero(this.#metrics, this.region);
    this.#log = fn('log', options.log, () => {});
    this.#clock = fn('clock', options.clock, () => performance.now());
  }

  /** The decider's validated configuration. */
  get config() {
    return this.#kpa.config;
  }

  /** True while this replica actuates. */
  get isLeader(): boolean {
    return this.#leading && (this.#lease === undefined || this.#lease.isLeader);
  }

  /** What the autoscaler sees and decides now. */
  status(): AutoscalerStatus {
    return {
      region: this.region,
      schedulerId: this.schedulerId,
      leader: this.isLeader,
      liveWorkers: this.#live().length,
      decision: this.#kpa.lastDecision,
      actuated: this.#actuated,
    };
  }

  /**
   * The worker processes this replica's actuator runs, to scrape (a local
   * supervisor's); `[]` for actuators that start none (Kubernetes).
   */
  scrapeTargets(): ScrapeTarget[] {
    try {
      return this.#actuator.scrapeTargets?.() ?? [];
    } catch (err) {
      this.#log({ msg: 'scrapeTargets failed', error: (err as Error).message });
      return [];
    }
  }

  /** Subscribes to heartbeats, starts campaigning for the lease and ticking. Idempotent. */
  start(): void {
    if (this.#sub || this.#closed) return;
    this.#startedAt = this.#clock();
    this.#sub = this.#transport.subscribe(this.#subject, (msg) => {
      try {
        const hb = decodeHeartbeat(msg);
        this.#workers.set(hb.workerId, { heartbeat: hb, lastSeen: this.#clock() });
      } catch (err) {
        this.#log({ msg: 'bad heartbeat', error: toWireError(err) });
      }
    });
    this.#metrics.leader.set({ region: this.region, scheduler: this.schedulerId }, 0);
    if (this.#lease) {
      this.#unsubscribe.push(
        this.#lease.onAcquired(() => this.#lead()),
        this.#lease.onLost((reason) => this.#follow(reason)),
      );
      this.#lease.start();
    } else {
      this.#lead();
    }
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
    this.#timer.unref();
  }

  #lead(): void {
    if (this.#closed || this.#leading) return;
    this.#leading = true;
    this.#actuated = undefined;
    this.#metrics.leader.set({ region: this.region, scheduler: this.schedulerId }, 1);
    this.#log({ msg: 'autoscaler leading', region: this.region, actuator: this.#actuator.kind });
    // Actuate at once rather than a tick later (after the warm-up).
    if (this.#sub) this.tick();
  }

  #follow(reason: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#actuated = undefined;
    this.#metrics.leader.set({ region: this.region, scheduler: this.schedulerId }, 0);
    this.#metrics.desiredWorkers.remove({ region: this.region });
    this.#log({ msg: 'autoscaler standing by', region: this.region, reason });
    this.#actuator.standby();
  }

  #live(): Heartbeat[] {
    const now = this.#clock();
    const out: Heartbeat[] = [];
    for (const [id, seen] of this.#workers) {
      if (isLost(seen.lastSeen, seen.heartbeat.intervalMs, now, this.#staleAfterMs)) {
        this.#workers.delete(id);
      } else out.push(seen.heartbeat);
    }
    return out;
  }

  /** The observation the decider gets now. */
  observe(): KpaObservation {
    const live = this.#live();
    let inFlight = 0;
    let ready = 0;
    let capacity = 0;
    for (const hb of live) {
      // Draining workers still finish their renders: that is load too.
      inFlight += hb.inFlight;
      if (!hb.draining) {
        ready++;
        capacity += hb.capacity;
      }
    }
    let queued = 0;
    try {
      const q = this.#queuedDemand();
      if (Number.isFinite(q) && q > 0) queued = q;
    } catch (err) {
      this.#log({ msg: 'queuedDemand failed', error: (err as Error).message });
    }
    return {
      time: this.#clock(),
      inFlight: inFlight + queued,
      readyWorkers: ready,
      capacityPerWorker: ready > 0 ? capacity / ready : 0,
    };
  }

  /**
   * One evaluation: observe, decide, export, and actuate when leading and
   * past the warm-up. Runs every `tickMs` after {@link Autoscaler.start};
   * callable directly (tests, or right after a lease change).
   */
  tick(): KpaDecision | undefined {
    if (this.#closed) return undefined;
    const decision = this.#kpa.observe(this.observe());
    const region = { region: this.region };
    this.#metrics.readyWorkers.set(region, decision.readyWorkers);
    this.#metrics.panic.set(region, decision.panic ? 1 : 0);
    this.#metrics.inFlightAverage.set({ ...region, window: 'stable' }, decision.stableInFlight);
    this.#metrics.inFlightAverage.set({ ...region, window: 'panic' }, decision.panicInFlight);
    if (!this.isLeader) {
      if (this.#leading) this.#follow('expired'); // the lease lapsed between events
      return decision;
    }
    if (this.#clock() - this.#startedAt < this.#warmupMs) return decision;
    const desired = decision.desired;
    if (this.#actuated !== undefined && desired !== this.#actuated) {
      const direction = desired > this.#actuated ? 'up' : 'down';
      this.#metrics.scaleEvents.inc({ ...region, direction });
      this.#log({
        msg: `scale ${direction}`,
        region: this.region,
        from: this.#actuated,
        to: desired,
        panic: decision.panic,
        ready: decision.readyWorkers,
        stableInFlight: round(decision.stableInFlight),
        panicInFlight: round(decision.panicInFlight),
      });
    }
    this.#actuated = desired;
    this.#metrics.desiredWorkers.set(region, desired);
    try {
      this.#actuator.scale(desired);
    } catch (err) {
      this.#log({ msg: 'actuator failed', actuator: this.#actuator.kind, error: String(err) });
    }
    return decision;
  }

  /**
   * Stops ticking and listening, releases the lease (another replica takes
   * over on its next poll), then closes the actuator (a local supervisor
   * drains the workers it started). Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearInterval(this.#timer);
      for (const u of this.#unsubscribe.splice(0)) u();
      await this.#sub?.drain();
      await this.#lease?.close();
      if (this.#leading) {
        this.#leading = false;
        this.#metrics.leader.set({ region: this.region, scheduler: this.schedulerId }, 0);
        this.#metrics.desiredWorkers.remove({ region: this.region });
      }
      await this.#actuator.close();
    })();
    return this.#closed;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
