/**
 * The shield's client of the regions: sends a render request to a region's
 * schedulers, follows their acknowledgements and heartbeats to notice a
 * scheduler that died holding a request, sends a GET/HEAD once more through
 * another scheduler, and fails over to the secondary region when the primary
 * has none.
 *
 * @module
 */
import {
  decodeRenderResult,
  decodeSchedulerAck,
  decodeSchedulerBeat,
  decodeStreamBatch,
  encodeRenderRequest,
  encodeStreamPull,
  errorKind,
  FlotillaError,
  InvalidOptionError,
  isLost,
  type LogFn,
  positiveInt,
  type RegionSubjects,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  topLevelMs,
  toWireError,
} from '@flotilla/protocol';
import { type Subscription, type Transport, WIRE_HEADROOM_BYTES } from '@flotilla/transport';
import { Admission } from './admission.ts';
import { BodyStream } from './body-stream.ts';
import type { ShieldMetrics } from './metrics.ts';
import { now } from './timing.ts';

/** The regions one request may render in. */
export interface Regions {
  /** Region the request goes to first. */
  primary: string;
  /** Region tried when the primary has no scheduler at all; never the primary. */
  secondary: string | undefined;
}

/** What a region answered, and which one when it was not the shield's own. */
export interface RegionAnswer {
  result: RenderResult;
  /** The region that answered when not the shield's own (a failover, a pinned environment). */
  region: string | undefined;
  /**
   * A streamed body (the result's `body` is then empty): its chunks come as
   * they are rendered, pulled from the worker. See README, "Streaming SSR".
   */
  stream?: BodyStream;
}

/** `answer` with a streamed body collected whole (a broken stream: an error result). */
export async function wholeAnswer(answer: RegionAnswer): Promise<RegionAnswer> {
  const { stream, ...rest } = answer;
  if (!stream || !rest.result.ok) return rest;
  try {
    return { ...rest, result: { ...rest.result, body: await stream.whole() } };
  } catch (err) {
    return {
      ...rest,
      result: { ok: false, error: toWireError(err), timings: rest.result.timings },
    };
  }
}

/** Most bytes one pull of a streamed body asks for (each pull is the shield's credit). */
const MAX_PULL_BYTES = 1024 * 1024;

/** Options of {@link RegionClient}. */
export interface RegionClientOptions {
  /** Transport to the regions' schedulers. */
  transport: Transport;
  /** The shield's own region. */
  region: string;
  /**
   * Region tried when the primary has no scheduler at all.
   * @default none
   */
  secondaryRegion?: string;
  /** Id of the shield, for the subject schedulers acknowledge requests on. */
  shieldId: string;
  /**
   * A request no scheduler acknowledged within this long is taken as lost.
   * @default 2000
   */
  ackTimeoutMs?: number;
  /**
   * The request deadline, in ms, named in the error of a request that ran past it.
   * @default 10000
   */
  requestTimeoutMs?: number;
  /** Where retries and failovers are counted. */
  metrics: Pick<ShieldMetrics, 'retries' | 'failovers' | 'shed' | 'regionRoom' | 'missesInFlight'>;
  /** Structured log sink. @default no logging */
  log?: LogFn;
}

/** Methods a shield may send again after the scheduler holding them died. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS']);

/** How often requests waiting on a scheduler are checked, in ms. */
const SWEEP_MS = 100;

/** A scheduler known only from an ack is assumed to heartbeat every second. */
const ASSUMED_INTERVAL_MS = 1000;

/**
 * For this long after the link to NATS comes back, "no responders" means the
 * schedulers have not resubscribed yet, not that the region has none: the
 * request is sent again every {@link RESEND_PAUSE_MS} instead of failed.
 */
const RECONNECT_GRACE_MS = 5000;
const RESEND_PAUSE_MS = 100;

/**
 * Sends render requests to the regions' schedulers and gives up on those a
 * scheduler dropped: a request no scheduler acknowledged within
 * `ackTimeoutMs`, or whose scheduler stopped heartbeating (`isLost`), fails
 * with `FLOTILLA_ERR_SCHEDULER_LOST`; GET/HEAD are then sent once more.
 *
 * @example
 * const regions = new RegionClient({ transport, region: 'eu', shieldId, metrics });
 * regions.start();
 * const { result } = await regions.forward(target.deploymentId, () => request, regions.regionsFor(target));
 */
export class RegionClient {
  readonly region: string;
  readonly secondaryRegion: string | undefined;
  readonly #transport: Transport;
  readonly #subjects: RegionSubjects;
  readonly #shieldId: string;
  readonly #ackTimeoutMs: number;
  readonly #timeoutMs: number;
  readonly #metrics: Pick<
    ShieldMetrics,
    'retries' | 'failovers' | 'shed' | 'regionRoom' | 'missesInFlight'
  >;
  readonly #log: LogFn;
  /** Regions whose scheduler heartbeats and acks this shield follows. */
  readonly #regions = new Map<string, RegionSubjects>();
  /** Last heartbeat of each scheduler seen: its time and interval. */
  readonly #schedulers = new Map<string, { seen: number; intervalMs: number }>();
  /** Requests waiting on a scheduler, by request id. */
  readonly #pending = new Map<
    string,
    { schedulerId?: string; sentAt: number; controller: AbortController }
  >();
  readonly #subs: Subscription[] = [];
  readonly #admission = new Admission();
  /** The streamed body of each result that has one. */
  readonly #streams = new WeakMap<RenderResult, BodyStream>();
  #sweep: NodeJS.Timeout | undefined;
  /** The link to NATS was down at the last sweep. */
  #wasDown = false;
  /** When the sweep last saw the link come back (ms since epoch). */
  #reconnectedAt = Number.NEGATIVE_INFINITY;

  constructor(options: RegionClientOptions) {
    this.#transport = options.transport;
    this.region = options.region;
    this.#subjects = regionSubjects(options.region);
    if (options.secondaryRegion !== undefined) {
      regionSubjects(options.secondaryRegion); // validates the name
      if (options.secondaryRegion === options.region) {
        throw new InvalidOptionError('secondaryRegion', 'must differ from region');
      }
    }
    this.secondaryRegion = options.secondaryRegion;
    this.#shieldId = options.shieldId;
    this.#subjects.ack(this.#shieldId); // validates the id
    this.#ackTimeoutMs = positiveInt('ackTimeoutMs', options.ackTimeoutMs, 2000);
    this.#timeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs, 10_000);
    this.#metrics = options.metrics;
    this.#log = options.log ?? (() => {});
  }

  /**
   * The regions of a target: its environment's own when it has a primary,
   * else this shield's region with its secondary.
   */
  regionsFor(target: {
    primaryRegion: string | undefined;
    secondaryRegion: string | undefined;
  }): Regions {
    const primary = target.primaryRegion ?? this.region;
    const secondary =
      target.primaryRegion === undefined ? this.secondaryRegion : target.secondaryRegion;
    return { primary, secondary: secondary === primary ? undefined : secondary };
  }

  /** Follows the schedulers of this region and the secondary from now on. Idempotent. */
  start(): void {
    if (this.#sweep) return;
    this.#follow(this.region);
    if (this.secondaryRegion) this.#follow(this.secondaryRegion);
    this.#sweep = setInterval(() => this.#sweepLost(), SWEEP_MS);
    this.#sweep.unref();
  }

  /** Stops following the schedulers. */
  async close(): Promise<void> {
    clearInterval(this.#sweep);
    await Promise.all(this.#subs.splice(0).map((sub) => sub.drain()));
  }

  /**
   * Sends the request `build` makes to the primary region: once more
   * through another scheduler when a GET/HEAD's scheduler died, then to the
   * secondary when the primary has no scheduler. Failures are error
   * results; it throws only what `build` throws.
   *
   * Admission comes first: past the region's room (see {@link Admission})
   * the miss is refused at once with `FLOTILLA_ERR_OVERLOADED`, and `build`
   * is never called: a shed costs neither the request's headers and trace
   * nor a NATS round trip nor the scheduler's time.
   *
   * @param deploymentId - The deployment the request renders (its share of the room).
   */
  async forward(
    deploymentId: string,
    build: () => RenderRequest,
    regions: Regions,
    signal?: AbortSignal,
  ): Promise<RegionAnswer> {
    const admitted = this.#admission.admit(regions.primary, deploymentId);
    if (typeof admitted !== 'function') {
      this.#metrics.shed.inc({ region: regions.primary, reason: admitted.reason });
      return {
        result: {
          ok: false,
          error: { code: 'FLOTILLA_ERR_OVERLOADED', message: admitted.message },
          timings: {},
        },
        region: regions.primary === this.region ? undefined : regions.primary,
      };
    }
    const primary = this.#follow(regions.primary);
    let request: RenderRequest;
    try {
      request = build();
    } catch (err) {
      admitted();
      throw err;
    }
    const inFlight = () =>
      this.#metrics.missesInFlight.set(
        { region: regions.primary },
        this.#admission.inFlight(regions.primary),
      );
    inFlight();
    try {
      const answer = await this.#forwardAdmitted(primary, request, regions, signal);
      const stream = this.#streams.get(answer.result);
      if (stream) answer.stream = stream;
      // Refused there all the same: the region has less room for it than announced.
      const fromPrimary = answer.region === undefined || answer.region === regions.primary;
      if (
        fromPrimary &&
        !answer.result.ok &&
        answer.result.error.code === 'FLOTILLA_ERR_OVERLOADED'
      ) {
        this.#admission.refused(regions.primary, deploymentId);
      }
      return answer;
    } finally {
      admitted();
      inFlight();
    }
  }

  async #forwardAdmitted(
    primary: RegionSubjects,
    request: RenderRequest,
    regions: Regions,
    signal?: AbortSignal,
  ): Promise<RegionAnswer> {
    let result = await this.#send(primary, request, signal);
    // Only a system failure is sent again, never the bundle's own (a limit,
    // a render error): it would fail the same way and cost another slot.
    if (
      !result.ok &&
      errorKind(result.error.code) === 'system' &&
      result.error.code === 'FLOTILLA_ERR_SCHEDULER_LOST' &&
      IDEMPOTENT.has(request.method)
    ) {
      // The scheduler died holding it; repeating a GET/HEAD is safe, once.
      this.#metrics.retries.inc({ region: regions.primary, reason: result.error.code });
      this.#log({ msg: 'retrying through another scheduler', error: result.error.message });
      result = await this.#send(primary, { ...request, attempt: 2 }, signal);
    }
    // Just after the link came back, the schedulers may not have resubscribed yet.
    while (
      !result.ok &&
      result.error.code === 'FLOTILLA_ERR_NO_RESPONDERS' &&
      Date.now() - this.#reconnectedAt < RECONNECT_GRACE_MS &&
      request.deadline - Date.now() > 2 * RESEND_PAUSE_MS &&
      !signal?.aborted
    ) {
      await new Promise((resolve) => setTimeout(resolve, RESEND_PAUSE_MS));
      result = await this.#send(primary, request, signal);
    }
    if (!result.ok && result.error.code === 'FLOTILLA_ERR_NO_RESPONDERS' && regions.secondary) {
      this.#metrics.failovers.inc({ from: regions.primary, to: regions.secondary });
      const failover = await this.#send(this.#follow(regions.secondary), request, signal);
      return { result: failover, region: regions.secondary };
    }
    if (!result.ok && result.error.code === 'FLOTILLA_ERR_NO_RESPONDERS') {
      result.error.message = `no scheduler is serving region ${regions.primary}`;
    }
    // An environment pinned away from this shield's region shows where it rendered.
    return { result, region: regions.primary === this.region ? undefined : regions.primary };
  }

  /** Subjects of `region`, following its schedulers' heartbeats and acks from now on. */
  #follow(region: string): RegionSubjects {
    let subjects = this.#regions.get(region);
    if (subjects) return subjects;
    subjects = region === this.region ? this.#subjects : regionSubjects(region);
    this.#regions.set(region, subjects);
    this.#subs.push(
      this.#transport.subscribe(subjects.schedulerHeartbeat, (msg) => {
        try {
          const beat = decodeSchedulerBeat(msg);
          this.#admission.heard(region, beat);
          const room = this.#admission.limit(region);
          if (room !== undefined) this.#metrics.regionRoom.set({ region }, room);
          this.#schedulers.set(beat.schedulerId, {
            seen: Date.now(),
            intervalMs: beat.intervalMs,
          });
        } catch {
          // a malformed heartbeat is ignored
        }
      }),
      this.#transport.subscribe(subjects.ack(this.#shieldId), (msg) => {
        try {
          const ack = decodeSchedulerAck(msg);
          const pending = this.#pending.get(ack.requestId);
          if (pending) pending.schedulerId = ack.schedulerId;
          // An ack is a sign of life as good as a heartbeat.
          const known = this.#schedulers.get(ack.schedulerId);
          if (known) known.seen = Math.max(known.seen, Date.now());
          else {
            this.#schedulers.set(ack.schedulerId, {
              seen: Date.now(),
              intervalMs: ASSUMED_INTERVAL_MS,
            });
          }
        } catch {
          // a malformed ack is ignored
        }
      }),
    );
    return subjects;
  }

  /**
   * Whether the link to NATS is up at `t`. The first time it is up again
   * after being seen down, every scheduler counts as heard from at `t`:
   * heartbeats could not arrive meanwhile, so their silence says nothing.
   */
  #linkUp(t: number): boolean {
    if (!this.#transport.isConnected()) {
      this.#wasDown = true;
      return false;
    }
    if (this.#wasDown) {
      this.#wasDown = false;
      this.#reconnectedAt = t;
      for (const beat of this.#schedulers.values()) beat.seen = Math.max(beat.seen, t);
    }
    return true;
  }

  /** Fails the requests whose scheduler died (or that no scheduler took). */
  #sweepLost(): void {
    const t = Date.now();
    if (!this.#linkUp(t)) return;
    for (const [requestId, p] of this.#pending) {
      let why: string | undefined;
      if (p.schedulerId === undefined) {
        if (t - p.sentAt > this.#ackTimeoutMs) {
          why = `no scheduler acknowledged request ${requestId} within ${this.#ackTimeoutMs} ms`;
        }
      } else {
        const beat = this.#schedulers.get(p.schedulerId);
        if (beat && isLost(beat.seen, beat.intervalMs, t)) {
          why = `scheduler ${p.schedulerId} stopped heartbeating with request ${requestId} in flight`;
        }
      }
      if (why) {
        this.#pending.delete(requestId);
        p.controller.abort(new FlotillaError('FLOTILLA_ERR_SCHEDULER_LOST', why));
      }
    }
  }

  /**
   * The streamed body `stream` whose first chunks are `first`: the rest
   * pulled from the worker rendering it (its id begins the stream's), each
   * pull under what is left of the request's deadline. A worker that died
   * has no responder: the stream breaks at once.
   */
  #streamOf(
    subjects: RegionSubjects,
    stream: string,
    first: Uint8Array,
    request: RenderRequest,
  ): BodyStream {
    const workerId = stream.slice(0, stream.lastIndexOf('.'));
    const subject = subjects.workerStream(workerId);
    const maxBytes = Math.min(
      MAX_PULL_BYTES,
      this.#transport.maxPayloadBytes() - WIRE_HEADROOM_BYTES,
    );
    return new BodyStream(first, async (seq, cancel) =>
      decodeStreamBatch(
        await this.#transport.request(
          subject,
          encodeStreamPull({ stream, seq, maxBytes, ...(cancel ? { cancel } : {}) }),
          { timeoutMs: Math.max(1, request.deadline - Date.now()) },
        ),
      ),
    );
  }

  /** One try through a region's schedulers, given up on when its scheduler dies. */
  async #send(
    subjects: RegionSubjects,
    request: RenderRequest,
    signal?: AbortSignal,
  ): Promise<RenderResult> {
    // With the link to NATS down, say so at once rather than hold the client
    // for its whole deadline (the client retries after Retry-After).
    if (!this.#linkUp(Date.now())) {
      return {
        ok: false,
        error: {
          code: 'FLOTILLA_ERR_TRANSPORT_CLOSED',
          message: 'the shield has lost its connection to NATS and is reconnecting',
        },
        timings: {},
      };
    }
    const controller = new AbortController();
    this.#pending.set(request.requestId, { sentAt: Date.now(), controller });
    const sent = now();
    try {
      const reply = await this.#transport.request(
        subjects.miss,
        encodeRenderRequest({ ...request, ackTo: subjects.ack(this.#shieldId) }),
        {
          timeoutMs: Math.max(1, request.deadline - Date.now()),
          signal: signal ? AbortSignal.any([controller.signal, signal]) : controller.signal,
        },
      );
      const result = decodeRenderResult(reply);
      if (result.ok && result.stream !== undefined) {
        this.#streams.set(result, this.#streamOf(subjects, result.stream, result.body, request));
        result.body = new Uint8Array(0);
      }
      const downstream = topLevelMs(result.timings);
      result.timings.transport =
        (result.timings.transport ?? 0) + Math.max(0, now() - sent - downstream);
      return result;
    } catch (err) {
      const wire = toWireError(err);
      if (wire.code === 'FLOTILLA_ERR_TIMEOUT') {
        wire.code = 'FLOTILLA_ERR_DEADLINE';
        wire.message = `no answer within the ${this.#timeoutMs} ms request deadline`;
      }
      return { ok: false, error: wire, timings: {} };
    } finally {
      this.#pending.delete(request.requestId);
    }
  }
}
