import { randomBytes } from 'node:crypto';
import {
  decodeHeartbeat,
  decodeRenderRequest,
  decodeRenderResult,
  encodeRenderRequest,
  encodeRenderResult,
  encodeSchedulerAck,
  encodeSchedulerBeat,
  errorKind,
  FlotillaError,
  fromWireError,
  type LogFn,
  nonNegativeInt,
  positiveInt,
  type RegionSubjects,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  required,
  toWireError,
  type WireMessage,
} from '@flotilla/protocol';
import type { Subscription, Transport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { appOf, FairShare, type Ticket } from './fair-share.ts';
import { HoldTime } from './hold-time.ts';
import { type SchedulerMetrics, schedulerCountersAtZero, schedulerMetrics } from './metrics.ts';
import { PenaltyBox, type PenaltyBoxOptions } from './penalty-box.ts';
import { WorkerRegistry } from './worker-registry.ts';

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** Transport to the region. */
  transport: Transport;
  /** Region this scheduler serves. */
  region: string;
  /**
   * Id of this scheduler, for metrics and logs.
   * @default `s-` + 8 random hex characters
   */
  schedulerId?: string;
  /**
   * A worker whose last heartbeat is older than this leaves the registry, and
   * the renders it had in flight are retried elsewhere (GET/HEAD) or fail with
   * `FLOTILLA_ERR_WORKER_LOST`.
   * @default 2.5 × the worker's heartbeat interval (2.5 s at the default 1 s)
   */
  workerStaleAfterMs?: number;
  /**
   * Misses that may wait in this scheduler for a worker with room when every
   * worker is at capacity; past it a miss is refused at once with
   * `FLOTILLA_ERR_OVERLOADED` (503 with `Retry-After`).
   * @default 64
   */
  maxQueue?: number;
  /**
   * Longest a miss waits in the queue for a worker with room before it is
   * refused with `FLOTILLA_ERR_OVERLOADED` (never longer than its deadline).
   * @default 1000
   */
  maxQueueWaitMs?: number;
  /**
   * Fair share: an app holds at most its share of the region's slots
   * (capacity ÷ the apps in flight or waiting) while another app waits, and
   * borrows idle slots beyond it only while none does, leaving this fraction
   * of the region's slots (rounded up) free for an app that arrives. Waiting
   * misses queue per app and are served round-robin. 0: a lone app may take
   * every slot.
   * @default 0.25
   */
  fairShareReserve?: number;
  /**
   * The penalty box for apps whose renders keep failing by their own fault
   * (limits, render errors): past `failures` (default 5) such failures
   * within `windowMs` (default 10 s) that are at least `failureShare`
   * (default 0.5) of the app's renders, its renders start one at a time,
   * each after a pause as long as the last held its slot (at least
   * `pauseMs`, default 200 ms), for `boxMs` (default 10 s) after its last
   * such failure; its misses that cannot start within the queue wait get
   * `503 FLOTILLA_ERR_THROTTLED`. `failures: 0` turns it off. See {@link PenaltyBox}.
   * @default the defaults above
   */
  penaltyBox?: Omit<PenaltyBoxOptions, 'onChange' | 'clock'>;
  /**
   * Interval of this scheduler's heartbeats, which shields use to tell that
   * it died with their requests in flight.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /** prom-client registry. @default a private Registry */
  registry?: Registry;
  /** Structured log sink. @default no logging */
  log?: LogFn;
  /** Clock, epoch ms. @default Date.now */
  clock?: () => number;
}

/**
 * System errors after which a render is sent to another worker: the first
 * never started. User errors (limits, render errors) are never retried: the
 * bundle would fail the same way on another worker, at the cost of another
 * slot.
 */
const NOT_STARTED = new Set([
  'FLOTILLA_ERR_NO_RESPONDERS',
  'FLOTILLA_ERR_DRAINING',
  'FLOTILLA_ERR_TRANSPORT_CLOSED',
  'FLOTILLA_ERR_OVERLOADED',
]);
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The region's scheduler: receives misses in a queue group (so several run
 * side by side), picks a worker from heartbeats (warm first, then least
 * loaded), forwards the render with the remaining deadline, and retries on
 * another worker when the first one is gone.
 */
export class Scheduler {
  readonly schedulerId: string;
  readonly region: string;
  readonly #transport: Transport;
  readonly #subjects: RegionSubjects;
  readonly #workers: WorkerRegistry;
  readonly #metrics: SchedulerMetrics;
  readonly #log: LogFn;
  readonly #clock: () => number;
  #missSub: Subscription | undefined;
  #hbSub: Subscription | undefined;
  #gauge: NodeJS.Timeout | undefined;
  #sweep: NodeJS.Timeout | undefined;
  /** Renders waiting on each worker: aborted when the worker is lost. */
  readonly #waiting = new Map<string, Set<AbortController>>();
  readonly #heartbeatMs: number;
  #beat: NodeJS.Timeout | undefined;
  /**
   * Queued misses this scheduler can still start within its queue wait, at
   * the rate the region's workers finish them (their in-flight bounds over
   * how long a miss holds one, planned with a margin: see `HoldTime`): what
   * it announces to shields, which refuse the misses past it at once. A miss
   * queued past that would only be shed after waiting the whole
   * `maxQueueWaitMs`, so this scheduler refuses it at once too.
   */
  #queueRoom(): number {
    return this.#hold.queueRoom(this.#workers.ioSlots(), this.#maxQueueWaitMs, this.#maxQueue);
  }

  /** Misses this scheduler is handling now. */
  #dispatching = 0;
  readonly #maxQueue: number;
  readonly #maxQueueWaitMs: number;
  /** How long a miss holds a worker's slot (moving average and deviation of recent ones). */
  readonly #hold = new HoldTime();
  /** Per-app in-flight counts and wait queues, served round-robin. */
  readonly #fair: FairShare;
  /** Apps whose renders keep failing by their own fault, paced one at a time. */
  readonly #box: PenaltyBox;
  #drained: Promise<void> | undefined;

  constructor(options: SchedulerOptions) {
    this.#transport = required('transport', options?.transport);
    this.region = options.region;
    this.#subjects = regionSubjects(options.region);
    this.schedulerId = options.schedulerId ?? `s-${randomBytes(4).toString('hex')}`;
    this.#clock = options.clock ?? Date.now;
    this.#workers = new WorkerRegistry(
      options.workerStaleAfterMs === undefined
        ? undefined
        : positiveInt('workerStaleAfterMs', options.workerStaleAfterMs, 2500),
      this.#clock,
    );
    this.#heartbeatMs = positiveInt('heartbeatIntervalMs', options.heartbeatIntervalMs, 1000);
    this.#maxQueue = nonNegativeInt('maxQueue', options.maxQueue, 64);
    this.#maxQueueWaitMs = positiveInt('maxQueueWaitMs', options.maxQueueWaitMs, 1000);
    this.#metrics = schedulerMetrics(options.registry ?? new Registry());
    schedulerCountersAtZero(this.#metrics, this.region);
    this.#log = options.log ?? (() => {});
    this.#fair = new FairShare({
      ...(options.fairShareReserve !== undefined ? { reserve: options.fairShareReserve } : {}),
      onChange: (app, inFlight, queued) => {
        const labels = { region: this.region, scheduler: this.schedulerId, app };
        // Idle apps leave the gauges: the label set stays the apps being served.
        if (inFlight === 0 && queued === 0) {
          this.#metrics.appInFlight.remove(labels);
          this.#metrics.appQueued.remove(labels);
        } else {
          this.#metrics.appInFlight.set(labels, inFlight);
          this.#metrics.appQueued.set(labels, queued);
        }
      },
    });
    this.#box = new PenaltyBox({
      ...options.penaltyBox,
      onChange: (app, boxed) => {
        const labels = { region: this.region, scheduler: this.schedulerId, app };
        if (boxed) this.#metrics.appBoxed.set(labels, 1);
        else this.#metrics.appBoxed.remove(labels);
        this.#log({ msg: boxed ? 'app boxed' : 'app unboxed', app });
      },
    });
  }

  /** Live workers this scheduler would dispatch to. */
  liveWorkers(): number {
    return this.#workers.size;
  }

  /** Ids of the live workers, as their heartbeats say. */
  liveWorkerIds(): string[] {
    return this.#workers.live().map((hb) => hb.workerId);
  }

  /** Subscribes to heartbeats and to the region's miss subject. */
  start(): void {
    if (this.#missSub) return;
    this.#hbSub = this.#transport.subscribe(this.#subjects.heartbeat, (msg) => {
      try {
        this.#workers.update(decodeHeartbeat(msg));
        this.#wakeQueue();
      } catch (err) {
        this.#log({ msg: 'bad heartbeat', error: toWireError(err) });
      }
    });
    this.#missSub = this.#transport.serve(this.#subjects.miss, (msg) => this.#handle(msg), {
      queue: this.#subjects.schedulerQueue,
    });
    this.#gauge = setInterval(() => this.#updateGauge(), 1000);
    this.#gauge.unref();
    this.#sweep = setInterval(() => this.#sweepLost(), 100);
    this.#sweep.unref();
    const beat = () =>
      this.#transport.publish(
        this.#subjects.schedulerHeartbeat,
        encodeSchedulerBeat({
          schedulerId: this.schedulerId,
          intervalMs: this.#heartbeatMs,
          slots: this.#workers.ioSlots(),
          queue: this.#queueRoom(),
        }),
      );
    beat();
    this.#beat = setInterval(beat, this.#heartbeatMs);
    this.#beat.unref();
  }

  /** Misses this scheduler is handling now. */
  get dispatching(): number {
    return this.#dispatching;
  }

  /** Misses waiting in this scheduler's queue for a worker with room (demand the workers do not see yet). */
  get queued(): number {
    return this.#fair.queued;
  }

  /** True once {@link Scheduler.drain} was called. */
  get draining(): boolean {
    return this.#drained !== undefined;
  }

  /** Fails the renders waiting on workers that stopped heartbeating. */
  #sweepLost(): void {
    for (const workerId of this.#waiting.keys()) {
      if (!this.#workers.alive(workerId)) this.#loseWorker(workerId);
    }
  }

  #loseWorker(workerId: string): void {
    this.#workers.remove(workerId);
    const waiting = this.#waiting.get(workerId);
    if (!waiting) return;
    this.#waiting.delete(workerId);
    const reason = new FlotillaError(
      'FLOTILLA_ERR_WORKER_LOST',
      `worker ${workerId} stopped heartbeating before it answered`,
    );
    for (const controller of waiting) controller.abort(reason);
    this.#log({ msg: 'worker lost', worker: workerId, renders: waiting.size });
  }

  #updateGauge(): void {
    const labels = { region: this.region, scheduler: this.schedulerId };
    this.#metrics.liveWorkers.set(labels, this.#workers.size);
    this.#metrics.inFlight.set(labels, this.#workers.inFlight());
    this.#metrics.capacity.set(labels, this.#workers.capacity());
    this.#metrics.queueDepth.set(labels, this.#fair.queued);
    this.#box.prune();
  }

  /** Lets the queued misses look for room again, round-robin by app (a render ended, or a heartbeat came). */
  #wakeQueue(): void {
    this.#fair.wakeAll();
  }

  /**
   * Waits in its app's queue until a worker may have room, at most
   * `maxQueueWaitMs` in all and never past the deadline. Resolves `waited`,
   * or why it could not wait: the app's part of the queue is full, or the
   * time is up. The ticket stays queued (the caller leaves it).
   */
  async #waitForRoom(
    app: string,
    ticket: Ticket | undefined,
    deadline: number,
    waitedSoFar: number,
  ): Promise<{ outcome: 'waited' | 'queue_full' | 'queue_timeout'; ticket?: Ticket }> {
    // Past what can start within the queue wait, a miss is refused now rather than after it.
    if (!ticket && !this.#fair.mayQueue(app, this.#queueRoom())) return { outcome: 'queue_full' };
    const budget = Math.min(this.#maxQueueWaitMs - waitedSoFar, deadline - this.#clock());
    if (budget <= 0)
      return ticket ? { outcome: 'queue_timeout', ticket } : { outcome: 'queue_timeout' };
    if (this.#startsTooLate(app, ticket, budget)) {
      // About to queue: refused at once. Queued (woken as a render ended, the
      // hold time learned meanwhile): given up now rather than at the end of the wait.
      return ticket ? { outcome: 'queue_timeout', ticket } : { outcome: 'queue_full' };
    }
    const queued = ticket ?? this.#fair.enqueue(app);
    this.#metrics.queueDepth.set(
      { region: this.region, scheduler: this.schedulerId },
      this.#fair.queued,
    );
    await queued.wait(budget);
    return { outcome: 'waited', ticket: queued };
  }

  /**
   * Whether a miss of `app` (about to queue, or queued as `ticket`) would,
   * at its place in the queue and the planned hold time, only start after
   * `budget` ms: then it is refused now, not after waiting in vain (what
   * the room announced to shields did not foresee: a burst from several
   * shields, renders slower than the ones the hold time was learned from).
   * Within one turn of the slots it always waits (a worker about to join,
   * an app's fair share).
   */
  #startsTooLate(app: string, ticket: Ticket | undefined, budget: number): boolean {
    const slots = this.#workers.ioSlots();
    const index = ticket ? this.#fair.placeOf(ticket) : this.#fair.queuedOf(app);
    if (index < 0) return false;
    const ahead = this.#fair.ahead(app, index);
    if (slots === 0 || ahead < slots) return false;
    const startsIn = this.#hold.startsInMs(ahead, slots);
    return startsIn !== undefined && startsIn > budget;
  }

  /** Refuses a miss no worker has room for: 503 with Retry-After, counted as shed. */
  #shed(app: string, reason: 'queue_full' | 'queue_timeout', waitedMs: number): FlotillaError {
    this.#metrics.shed.inc({ region: this.region, reason });
    this.#metrics.appShed.inc({ region: this.region, app, reason });
    return new FlotillaError(
      'FLOTILLA_ERR_OVERLOADED',
      reason === 'queue_full'
        ? `region ${this.region} is at capacity and ${this.#fair.queuedOf(app)} misses of app ${app} already wait; retry shortly`
        : `region ${this.region} had no worker with room for app ${app} within ${Math.round(waitedMs)} ms; retry shortly`,
    );
  }

  /**
   * Waits in its app's queue while the app is in the penalty box: until
   * `boxedForMs` passed (its pause ends) or a render ended, at most what is
   * left of `maxQueueWaitMs` and never past the deadline. Never refused at
   * once (but for the app's part of the queue being full): a miss refused at
   * once comes straight back, and a wait costs nothing.
   */
  async #waitInBox(
    app: string,
    ticket: Ticket | undefined,
    deadline: number,
    waitedSoFar: number,
    boxedForMs: number,
  ): Promise<{ waited: boolean; ticket?: Ticket }> {
    const budget = Math.min(this.#maxQueueWaitMs - waitedSoFar, deadline - this.#clock());
    if (budget <= 0) return ticket ? { waited: false, ticket } : { waited: false };
    if (!ticket && !this.#fair.mayQueue(app, this.#queueRoom())) return { waited: false };
    const queued = ticket ?? this.#fair.enqueue(app);
    await queued.wait(Math.min(budget, boxedForMs));
    return { waited: true, ticket: queued };
  }

  /** Refuses a miss of an app in the penalty box: 503 FLOTILLA_ERR_THROTTLED with Retry-After. */
  #throttle(app: string, waitedMs: number): FlotillaError {
    this.#metrics.throttled.inc({ region: this.region, app });
    return new FlotillaError(
      'FLOTILLA_ERR_THROTTLED',
      `app ${app} keeps failing (limits, render errors) and its renders are paced one at a time; this one could not start within ${Math.round(waitedMs)} ms; retry shortly`,
    );
  }

  /** Resolves once at least `count` workers heartbeat, or rejects after `timeoutMs`. */
  async waitForWorkers(count: number, timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.#workers.size < count) {
      if (Date.now() > until) {
        throw new FlotillaError(
          'FLOTILLA_ERR_NO_WORKERS',
          `only ${this.#workers.size} of ${count} workers heartbeat within ${timeoutMs} ms`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async #handle(msg: WireMessage): Promise<WireMessage> {
    const received = now();
    let result: RenderResult;
    this.#dispatching++;
    this.#metrics.dispatching.set(
      { region: this.region, scheduler: this.schedulerId },
      this.#dispatching,
    );
    try {
      const req = decodeRenderRequest(msg);
      // Tell the shield who took it: if this process dies, the shield retries elsewhere.
      if (req.ackTo?.startsWith(`flotilla.${this.region}.ack.`)) {
        this.#transport.publish(
          req.ackTo,
          encodeSchedulerAck({ requestId: req.requestId, schedulerId: this.schedulerId }),
        );
      }
      result = await this.#dispatch(req);
    } catch (err) {
      result = { ok: false, error: toWireError(err), timings: {} };
    } finally {
      this.#dispatching--;
      this.#metrics.dispatching.set(
        { region: this.region, scheduler: this.schedulerId },
        this.#dispatching,
      );
    }
    const total = now() - received;
    const downstream = (result.timings.worker ?? 0) + (result.timings.transport ?? 0);
    result.timings.scheduler = Math.max(0, total - downstream);
    this.#metrics.dispatches.inc({
      region: this.region,
      outcome: result.ok ? 'ok' : result.error.code,
    });
    this.#metrics.dispatchSeconds.observe({ region: this.region }, total / 1000);
    return encodeRenderResult(result);
  }

  async #dispatch(req: RenderRequest): Promise<RenderResult> {
    const app = appOf(req.deploymentId);
    const tried = new Set<string>();
    let idempotentRetryUsed = false;
    let lastError: FlotillaError | undefined;
    let queuedSince: number | undefined;
    let noWorkersSince: number | undefined;
    /** This miss's place in its app's queue, while it waits. */
    let ticket: Ticket | undefined;
    try {
      // Bounded: each pass returns, adds a worker to `tried`, or waits in the bounded queue
      // (at most maxQueueWaitMs in all, never past the deadline).
      for (;;) {
        const remaining = req.deadline - this.#clock();
        if (remaining <= 0) {
          throw new FlotillaError('FLOTILLA_ERR_DEADLINE', 'deadline passed before dispatch');
        }
        // A boxed app's renders start one at a time, after a pause: its misses wait for it.
        const boxedFor = this.#box.readyIn(app, this.#fair.inFlight(app));
        if (boxedFor > 0) {
          queuedSince ??= now();
          const waited = await this.#waitInBox(
            app,
            ticket,
            req.deadline,
            now() - queuedSince,
            boxedFor,
          );
          ticket = waited.ticket ?? ticket;
          if (!waited.waited) throw this.#throttle(app, now() - queuedSince);
          continue;
        }
        const allowed = this.#fair.mayStart(
          app,
          this.#workers.capacity(),
          this.#workers.running(),
          { slots: this.#workers.ioSlots(), inFlight: this.#workers.inFlight() },
        );
        const workerId = allowed ? this.#workers.pick(req.deploymentId, tried, true) : undefined;
        if (workerId === undefined) {
          if (allowed && this.#workers.pick(req.deploymentId, tried) === undefined) {
            if (lastError) throw lastError;
            // No worker known yet (this scheduler just started, or NATS just came
            // back): heartbeats arrive within a second, so wait for one in the
            // queue rather than fail a region that may be healthy.
            // Queue full or out of time: no worker it is.
            noWorkersSince ??= now();
            const waited = await this.#waitForRoom(
              app,
              ticket,
              req.deadline,
              now() - noWorkersSince,
            );
            ticket = waited.ticket ?? ticket;
            if (waited.outcome === 'waited') continue;
            throw new FlotillaError(
              'FLOTILLA_ERR_NO_WORKERS',
              `region ${this.region} has no live worker`,
            );
          }
          // Every worker is at capacity, or the app holds its fair share while
          // others wait: wait in the app's queue, or shed.
          queuedSince ??= now();
          const waited = await this.#waitForRoom(app, ticket, req.deadline, now() - queuedSince);
          ticket = waited.ticket ?? ticket;
          if (waited.outcome !== 'waited')
            throw this.#shed(app, waited.outcome, now() - queuedSince);
          continue;
        }
        ticket?.leave();
        ticket = undefined;
        if (queuedSince !== undefined) {
          this.#metrics.queueSeconds.observe({ region: this.region }, (now() - queuedSince) / 1000);
          queuedSince = undefined;
        }
        tried.add(workerId);
        const outcome = await this.#send(workerId, app, { ...req, attempt: tried.size }, remaining);
        if (outcome.ok) return outcome;
        const code = outcome.error.code;
        // Gone: every other render waiting on it is lost too.
        if (code === 'FLOTILLA_ERR_NO_RESPONDERS') this.#loseWorker(workerId);
        // The bundle's own failure (a limit, a render error) would repeat on any worker.
        if (errorKind(code) === 'user') return outcome;
        // A render that may have run is retried once, and only when repeating it is safe.
        const mayHaveRun = code === 'FLOTILLA_ERR_WORKER_LOST';
        const retryable =
          NOT_STARTED.has(code) ||
          (mayHaveRun && IDEMPOTENT.has(req.method) && !idempotentRetryUsed);
        if (!retryable) return outcome;
        if (mayHaveRun) idempotentRetryUsed = true;
        this.#metrics.retries.inc({ region: this.region, reason: code });
        this.#log({ msg: 'retrying on another worker', worker: workerId, reason: code });
        lastError = fromWireError(outcome.error);
      }
    } finally {
      ticket?.leave();
    }
  }

  /** One try of `req` on `workerId`, counted against its app's share until it answers. */
  async #send(
    workerId: string,
    app: string,
    attempt: RenderRequest,
    remaining: number,
  ): Promise<RenderResult> {
    const sent = now();
    this.#workers.begin(workerId);
    this.#fair.begin(app);
    const controller = new AbortController();
    let waiting = this.#waiting.get(workerId);
    if (!waiting) {
      waiting = new Set();
      this.#waiting.set(workerId, waiting);
    }
    waiting.add(controller);
    let outcome: RenderResult;
    try {
      const reply = await this.#transport.request(
        this.#subjects.workerRender(workerId),
        encodeRenderRequest(attempt),
        { timeoutMs: remaining, signal: controller.signal },
      );
      outcome = decodeRenderResult(reply);
    } catch (err) {
      const wire = toWireError(err);
      outcome = { ok: false, error: wire, timings: {} };
    } finally {
      this.#workers.settle(workerId);
      this.#fair.end(app);
      this.#wakeQueue();
      waiting.delete(controller);
      if (waiting.size === 0 && this.#waiting.get(workerId) === waiting) {
        this.#waiting.delete(workerId);
      }
    }
    const roundTrip = now() - sent;
    this.#hold.observe(roundTrip);
    this.#box.record(app, !outcome.ok && errorKind(outcome.error.code) === 'user', roundTrip);
    outcome.timings.transport = Math.max(0, roundTrip - (outcome.timings.worker ?? 0));
    outcome.worker = workerId;
    return outcome;
  }

  /** Stops taking misses, answers those in flight, then stops listening. Idempotent. */
  drain(): Promise<void> {
    this.#drained ??= (async () => {
      clearInterval(this.#gauge);
      await this.#missSub?.drain();
      clearInterval(this.#beat);
      clearInterval(this.#sweep);
      await this.#hbSub?.drain();
    })();
    return this.#drained;
  }
}
