import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { performance as nodePerformance } from 'node:perf_hooks';
import { BroadcastChannel } from 'node:worker_threads';
import type {
  Heartbeat,
  LogFn,
  RegionSubjects,
  RenderResult,
  WireMessage,
} from '@flotilla/protocol';
import {
  decodePrewarmRequest,
  decodeRenderRequest,
  encodeHeartbeat,
  encodePrewarm,
  encodeRenderResult,
  errorKind,
  FlotillaError,
  fromWireError,
  InvalidOptionError,
  isSubjectToken,
  nonNegativeInt,
  positiveInt,
  regionSubjects,
  required,
  toWireError,
} from '@flotilla/protocol';
import {
  DEFAULT_LIMITS,
  guestPreludeSource,
  resolveLimits,
  type SandboxLimits,
} from '@flotilla/runtime';
import { type Subscription, type Transport, WIRE_HEADROOM_BYTES } from '@flotilla/transport';
import { Piscina } from 'piscina';
import { Registry } from 'prom-client';
import type { BundleStore, ResolvedBundle } from './bundle-store.ts';
import { IoLoad } from './io-load.ts';
import { type WorkerMetrics, workerCountersAtZero, workerMetrics } from './metrics.ts';
import { RenderAccounting } from './render-accounting.ts';
import type { RenderWorkerOptions } from './render-worker-options.ts';
import { MAX_NICE } from './thread-priority.ts';
import { ThreadShutdown } from './thread-shutdown.ts';
import { type WorkerStream, WorkerStreams } from './worker-streams.ts';

export type { RenderWorkerOptions };

import type { AppConsoleLine, RenderTask, RenderTaskResult, RenderThreadData } from './task.ts';

/** Forgets `key` of `map` a second from now. */
function forgetLater(map: Map<string, string>, key: string): void {
  setTimeout(() => map.delete(key), 1000).unref();
}

/** The log level of each `console.*` method. */
const CONSOLE_LEVELS: Record<AppConsoleLine['level'], string> = {
  debug: 'debug',
  log: 'info',
  info: 'info',
  warn: 'warn',
  error: 'error',
};

/** The piscina thread's script: `.ts` from source, `.js` in the installed package (dist/). */
const THREAD_FILE = new URL(
  import.meta.url.endsWith('.ts') ? './render-thread.ts' : './render-thread.js',
  import.meta.url,
).href;

/**
 * How long a drain waits for a thread to say its isolates are disposed and
 * their calls answered before it closes the pool anyway: a last resort for
 * a thread whose event loop is wedged. Long, because terminating a thread
 * while a call into an isolate is unanswered aborts the process, and on a
 * busy machine a killed run can take seconds to unwind.
 */
const THREAD_SHUTDOWN_GIVE_UP_MS = 20_000;

/** Deployments whose declared backends a worker remembers (immutable, so never stale). */
const MAX_DECLARED_BACKENDS = 4096;

/**
 * The operator's limits, validated here (naming `limits.cpuMs`, …) rather
 * than on every render. They are the ceiling itself, so they may exceed the
 * defaults.
 */
function operatorLimits(limits: Partial<SandboxLimits> | undefined): SandboxLimits {
  if (limits !== undefined && (typeof limits !== 'object' || limits === null)) {
    return resolveLimits(limits); // throws naming `limits`
  }
  const ceiling = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as Array<keyof SandboxLimits>) {
    ceiling[key] = positiveInt(`limits.${key}`, limits?.[key], DEFAULT_LIMITS[key]);
  }
  return resolveLimits({}, ceiling);
}

function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The worker process's core: answers render requests addressed to it on
 * the transport by running them on a piscina pool of isolate threads, and
 * heartbeats its load and warm deployments to the region's schedulers.
 *
 * @example
 * const worker = new RenderWorker({ transport, region: 'us-east', bundles });
 * await worker.start();
 * process.on('SIGTERM', () => worker.drain());
 */
export class RenderWorker {
  readonly workerId: string;
  readonly region: string;
  readonly capacity: number;
  /** Renders in flight at once, running or waiting on I/O ({@link RenderWorkerOptions.ioSlots}). */
  readonly ioSlots: number;
  readonly #transport: Transport;
  readonly #bundles: BundleStore;
  readonly #subjects: RegionSubjects;
  readonly #threads: number;
  readonly #tasksPerThread: number;
  readonly #snapshots: boolean;
  /** Added to each render thread's nice value ({@link RenderWorkerOptions.renderNice}). */
  readonly renderNice: number;
  readonly #heartbeatMs: number;
  readonly #loadUpdateMs: number;
  /** Renders only waiting on backend I/O, and the load updates they call for. */
  #io: IoLoad | undefined;
  readonly #limits: SandboxLimits;
  readonly #metrics: WorkerMetrics;
  readonly #log: LogFn;
  readonly #appLogSink: LogFn | undefined;
  /** The threads' warm deployments and isolates, and each render's metrics. */
  readonly #accounting: RenderAccounting;
  /** The manifest's backends per deployment and bundle hash, least recently used first. */
  readonly #declared = new Map<string, Record<string, string>>();
  #eluMark = nodePerformance.eventLoopUtilization();
  #pool: Piscina<RenderTask, RenderTaskResult> | undefined;
  #appLogChannel: BroadcastChannel | undefined;
  /** The environment of each render in flight, by request id, for its console lines. */
  readonly #environments = new Map<string, string>();
  #shutdown: ThreadShutdown | undefined;
  /** Streamed bodies held until the shields pull them. */
  readonly #streams: WorkerStreams;
  #sub: Subscription | undefined;
  #prewarmSub: Subscription | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #draining = false;
  #drained: Promise<void> | undefined;

  constructor(options: RenderWorkerOptions) {
    this.#transport = required('transport', options?.transport);
    this.#bundles = required('bundles', options.bundles);
    this.region = options.region;
    this.#subjects = regionSubjects(options.region);
    this.workerId = options.workerId ?? `w-${randomBytes(4).toString('hex')}`;
    this.#subjects.workerRender(this.workerId); // validates the id
    this.#threads = positiveInt('threads', options.threads, availableParallelism());
    this.#tasksPerThread = positiveInt('tasksPerThread', options.tasksPerThread, 4);
    this.renderNice = nonNegativeInt('renderNice', options.renderNice, 0);
    if (this.renderNice > MAX_NICE) {
      throw new InvalidOptionError(
        'renderNice',
        `must be at most ${MAX_NICE}, got ${this.renderNice}`,
      );
    }
    this.#heartbeatMs = positiveInt('heartbeatIntervalMs', options.heartbeatIntervalMs, 1000);
    this.#limits = operatorLimits(options.limits);
    this.capacity = this.#threads * this.#tasksPerThread;
    this.ioSlots = positiveInt('ioSlots', options.ioSlots, 4 * this.capacity);
    if (this.ioSlots < this.capacity) {
      throw new InvalidOptionError(
        'ioSlots',
        `must be at least threads × tasksPerThread (${this.capacity}), got ${this.ioSlots}`,
      );
    }
    this.#loadUpdateMs = nonNegativeInt('loadUpdateMs', options.loadUpdateMs, 50);
    this.#metrics = workerMetrics(options.registry ?? new Registry());
    workerCountersAtZero(this.#metrics);
    this.#log = options.log ?? (() => {});
    this.#appLogSink = options.appLog;
    this.#snapshots = options.snapshots ?? true;
    this.#streams = new WorkerStreams(this.workerId, this.#log);
    this.#accounting = new RenderAccounting(this.workerId, this.#metrics, this.#log);
  }

  /** Renders running or queued now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Of {@link inFlight}, the renders that only wait on backend I/O now (they hold no CPU slot). */
  get ioWaiting(): number {
    return this.#io?.waiting ?? 0;
  }

  /** True once {@link RenderWorker.drain} was called. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Deployments warm on at least one thread. */
  warm(): string[] {
    return this.#accounting.warm();
  }

  /** Starts the thread pool, the render subscription and heartbeats. */
  async start(): Promise<void> {
    if (this.#pool) return;
    // A reply larger than one transport message travels in chunks (see
    // transport/README.md), so the output cap is the operator's, whatever
    // NATS's max_payload.
    const limits = this.#limits;
    // Threads post the bundles' console lines here (none are posted without a sink).
    const appLogChannel = this.#appLogSink
      ? `flotilla-app-log-${this.workerId}-${randomBytes(4).toString('hex')}`
      : undefined;
    if (appLogChannel) {
      this.#appLogChannel = new BroadcastChannel(appLogChannel);
      this.#appLogChannel.onmessage = (event) => this.#logAppLine(event.data as AppConsoleLine);
      this.#appLogChannel.unref();
    }
    // Threads report their renders waiting on I/O to it.
    this.#io = new IoLoad(
      this.workerId,
      this.#loadUpdateMs,
      (waiting) => this.#metrics.ioWaiting.set({ worker: this.workerId }, waiting),
      () => this.#sendHeartbeat(),
    );
    this.#shutdown = new ThreadShutdown(this.workerId);
    this.#pool = new Piscina<RenderTask, RenderTaskResult>({
      filename: THREAD_FILE,
      minThreads: this.#threads,
      maxThreads: this.#threads,
      // A thread takes its share of the renders in flight; its CPU slots
      // (tasksPerThread) bound those running guest code (see cpu-slots.ts).
      concurrentTasksPerWorker: Math.ceil(this.ioSlots / this.#threads),
      workerData: {
        limits,
        prelude: guestPreludeSource(),
        cpuSlots: this.#tasksPerThread,
        ioChannel: this.#io.channel,
        controlChannel: this.#shutdown.channel,
        snapshots: this.#snapshots,
        ...(this.renderNice > 0 ? { nice: this.renderNice } : {}),
        ...(appLogChannel ? { appLogChannel } : {}),
      } satisfies RenderThreadData,
      idleTimeout: Number.POSITIVE_INFINITY,
      // An idle thread must keep its event loop running: host timers of the
      // isolates (guest setTimeout, wall limits, fetch deadlines) fire there.
      atomics: 'async',
    });
    this.#metrics.capacity.set({ worker: this.workerId }, this.capacity);
    this.#metrics.ioSlots.set({ worker: this.workerId }, this.ioSlots);
    this.#metrics.ioWaiting.set({ worker: this.workerId }, 0);
    this.#metrics.inFlight.set({ worker: this.workerId }, 0);
    this.#streams.serve(this.#transport, this.#subjects.workerStream(this.workerId));
    this.#sub = this.#transport.serve(this.#subjects.workerRender(this.workerId), (msg) =>
      this.#handle(msg),
    );
    this.#prewarmSub = this.#transport.serve(
      this.#subjects.workerPrewarm(this.workerId),
      async (msg) => {
        const started = now();
        try {
          const req = decodePrewarmRequest(msg.body);
          const { warm } = await this.prewarm(req.deploymentId, req.timeoutMs, req.environment);
          return {
            headers: {},
            body: encodePrewarm({
              workerId: this.workerId,
              ok: true,
              warmThreads: warm,
              ms: Math.round(now() - started),
            }),
          };
        } catch (err) {
          return {
            headers: {},
            body: encodePrewarm({
              workerId: this.workerId,
              ok: false,
              ms: Math.round(now() - started),
              error: toWireError(err),
            }),
          };
        }
      },
    );
    this.#sendHeartbeat();
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#heartbeatMs);
    this.#heartbeat.unref();
    this.#log({ msg: 'worker started', worker: this.workerId, threads: this.#threads });
  }

  #logAppLine(line: AppConsoleLine): void {
    const environment =
      line.requestId === undefined ? undefined : this.#environments.get(line.requestId);
    this.#appLogSink?.({
      level: CONSOLE_LEVELS[line.level] ?? 'info',
      source: 'app',
      msg: line.message,
      worker: this.workerId,
      deployment: line.deploymentId,
      ...(line.requestId === undefined ? {} : { requestId: line.requestId }),
      ...(environment === undefined ? {} : { environment }),
      ...(line.traceId === undefined ? {} : { traceId: line.traceId }),
    });
  }

  /**
   * The bundle of `deploymentId` for `environment`, and the backends its
   * manifest declares: the names an isolate of it knows, whatever the
   * environment re-points. Those come from resolving the deployment without
   * an environment (as for a preview host), once per deployment.
   */
  async #resolve(
    deploymentId: string,
    environment: string | undefined,
  ): Promise<{ bundle: ResolvedBundle; declared: Record<string, string> }> {
    const bundle = await this.#bundles.resolve(deploymentId, environment);
    const key = `${deploymentId}\n${bundle.bundleHash}`;
    let declared = this.#declared.get(key);
    if (declared === undefined) {
      declared =
        environment === undefined
          ? (bundle.backends ?? {})
          : ((await this.#bundles.resolve(deploymentId)).backends ?? {});
    } else this.#declared.delete(key);
    this.#declared.set(key, declared);
    if (this.#declared.size > MAX_DECLARED_BACKENDS) {
      const oldest = this.#declared.keys().next().value;
      if (oldest !== undefined) this.#declared.delete(oldest);
    }
    return { bundle, declared };
  }

  /** The heartbeat this worker would send now. */
  heartbeat(): Heartbeat {
    const elu = nodePerformance.eventLoopUtilization(this.#eluMark);
    this.#eluMark = nodePerformance.eventLoopUtilization();
    const heapBytes = this.#accounting.heapBytes();
    return {
      workerId: this.workerId,
      inFlight: this.#inFlight,
      capacity: this.capacity,
      ioWaiting: Math.min(this.ioWaiting, this.#inFlight),
      ioSlots: this.ioSlots,
      warm: this.warm(),
      draining: this.#draining,
      intervalMs: this.#heartbeatMs,
      elu: Math.min(1, Math.max(0, Number(elu.utilization.toFixed(3)) || 0)),
      heapBytes,
    };
  }

  #sendHeartbeat(): void {
    this.#io?.sent();
    this.#transport.publish(this.#subjects.heartbeat, encodeHeartbeat(this.heartbeat()));
  }

  async #handle(msg: WireMessage): Promise<WireMessage> {
    const received = now();
    let result: RenderResult;
    this.#inFlight++;
    this.#metrics.inFlight.set({ worker: this.workerId }, this.#inFlight);
    let deploymentId = 'unknown';
    let renderOf: string | undefined;
    /** A render whose body streams on after this answer: its bookkeeping ends with the stream. */
    let streaming = false;
    let stream: WorkerStream | undefined;
    try {
      if (this.#draining) {
        throw new FlotillaError('FLOTILLA_ERR_DRAINING', `worker ${this.workerId} is draining`);
      }
      // Schedulers keep within ioSlots; several at once may overshoot a little,
      // never this much: refuse rather than queue without bound.
      if (this.#inFlight > 2 * this.ioSlots) {
        throw new FlotillaError(
          'FLOTILLA_ERR_OVERLOADED',
          `worker ${this.workerId} has ${this.#inFlight - 1} renders in flight for ${this.ioSlots} slots`,
        );
      }
      const req = decodeRenderRequest(msg);
      if (Date.now() >= req.deadline) {
        throw new FlotillaError(
          'FLOTILLA_ERR_DEADLINE',
          'deadline passed before the worker got it',
        );
      }
      const { bundle, declared } = await this.#resolve(req.deploymentId, req.environment);
      // Only ids of real deployments become metric labels (bounded cardinality).
      deploymentId = req.deploymentId;
      const pool = this.#pool;
      if (!pool) throw new FlotillaError('FLOTILLA_ERR_DRAINING', 'worker is not started');
      if (req.environment !== undefined && this.#appLogSink) {
        this.#environments.set(req.requestId, req.environment);
        renderOf = req.requestId;
      }
      const open = this.#streams.open(req.deadline);
      stream = open;
      const done = pool
        .run(
          {
            deploymentId: req.deploymentId,
            bundleHash: bundle.bundleHash,
            bundlePath: bundle.bundlePath,
            request: {
              method: req.method,
              url: req.url,
              headers: req.headers,
              // A view (e.g. into a socket buffer) would be cloned with its whole
              // buffer, other messages included: send the body's bytes only.
              body: req.body.length > 0 ? ownBytes(req.body) : null,
            },
            deadline: req.deadline,
            requestId: req.requestId,
            queuedAt: now(),
            declaredBackends: declared,
            ...(bundle.backends ? { backends: bundle.backends } : {}),
            ...(bundle.env ? { env: bundle.env } : {}),
            ...(bundle.limits !== undefined ? { limits: bundle.limits } : {}),
            ...(req.traceparent ? { traceparent: req.traceparent } : {}),
            stream: open.port,
          },
          { transferList: [open.port] as never },
        )
        .then(
          (out) => {
            open.finish(out);
            return out;
          },
          (err: unknown) => {
            open.fail(toWireError(err));
            throw err;
          },
        );
      // A streamed body answers with its head and first chunks at once; the
      // rest is pulled from this worker (see worker-streams.ts).
      // The thread's answer may come before the chunks it posted: a body that
      // streamed waits for them (`started`) either way.
      const head = await Promise.race([
        open.started,
        done.then((out) => (out.ok && out.streamedChunks !== undefined ? open.started : undefined)),
      ]);
      const first = head
        ? open.first(this.#transport.maxPayloadBytes() - WIRE_HEADROOM_BYTES)
        : undefined;
      if (head && first && !first.end) {
        streaming = true;
        const id = deploymentId;
        void done
          .then(
            (out) => this.#accounting.render(req, declared, out, received),
            (err) => ({ ok: false, error: toWireError(err), timings: {} }) as RenderResult,
          )
          .then((final) => {
            this.#outcome(id, final);
            this.#ended();
          });
        return encodeRenderResult({
          ok: true,
          status: head.status,
          headers: head.headers,
          body: first.body,
          stream: open.id,
          timings: { worker: now() - received },
        });
      }
      const out = await done;
      // It streamed, and had ended by the time its head went out: one whole body.
      if (first && out.ok) out.body = first.body;
      result = this.#accounting.render(req, declared, out, received);
    } catch (err) {
      result = { ok: false, error: toWireError(err), timings: { worker: now() - received } };
    } finally {
      if (!streaming) stream?.close();
      // Console lines come on another channel and may arrive after the result.
      if (renderOf !== undefined) forgetLater(this.#environments, renderOf);
      if (!streaming) this.#ended();
    }
    return this.#outcome(deploymentId, result);
  }

  /** A render ended (a streamed one: its whole body was rendered): one fewer in flight. */
  #ended(): void {
    this.#inFlight--;
    this.#metrics.inFlight.set({ worker: this.workerId }, this.#inFlight);
    // With renders waiting on I/O, the schedulers cannot tell whether the
    // render that ended held a CPU slot: tell them (otherwise one that ended
    // after its continuation counted as running until the next heartbeat).
    if (this.ioWaiting > 0 && !this.#draining) this.#io?.update();
  }

  /** Counts and logs a render's outcome; its answer on the wire. */
  #outcome(deploymentId: string, result: RenderResult): WireMessage {
    const outcome = result.ok ? 'ok' : result.error.code;
    this.#metrics.renders.inc({ deployment: deploymentId, outcome });
    if (!result.ok) {
      this.#metrics.errors.inc({ code: result.error.code, kind: errorKind(result.error.code) });
      this.#log({
        msg: 'render failed',
        worker: this.workerId,
        deployment: deploymentId,
        ...result.error,
      });
    }
    return encodeRenderResult(result);
  }

  /**
   * Loads `deploymentId` on every thread and runs a synthetic render there,
   * so that the first real requests after a deploy find it warm. Resolves
   * with how many threads hold it warm.
   *
   * @param timeoutMs how long the loads and synthetic renders may take. @default 10000
   * @param environment render the synthetic request with this environment's
   * variables and backends (as the bundle store resolves them), for a bundle
   * that needs its `env`. @default none (the manifest's backends, an empty env)
   * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` for an unknown deployment;
   * the bundle's own error code when it cannot load.
   * @throws InvalidOptionError for an `environment` that is not a subject token.
   * @example await worker.prewarm('shop-3f2a9c1b7d4e', 10_000, 'production');
   */
  async prewarm(
    deploymentId: string,
    timeoutMs = 10_000,
    environment?: string,
  ): Promise<{ threads: number; warm: number }> {
    const pool = this.#pool;
    if (!pool || this.#draining) {
      throw new FlotillaError('FLOTILLA_ERR_DRAINING', `worker ${this.workerId} takes no work`);
    }
    if (environment !== undefined && !isSubjectToken(environment)) {
      throw new InvalidOptionError(
        'environment',
        `must be lower-case letters, digits and dashes, got ${JSON.stringify(environment).slice(0, 100)}`,
      );
    }
    const { bundle, declared } = await this.#resolve(deploymentId, environment);
    const deadline = Date.now() + timeoutMs;
    const path = bundle.prewarmPath === undefined ? '/' : bundle.prewarmPath;
    // Every path the deployment renders itself (its home page first), else that one.
    const paths = bundle.prewarmPaths?.length ? bundle.prewarmPaths : path === null ? [] : [path];
    const warmThreads = () => this.#accounting.warmThreads(deploymentId);
    // piscina cannot address a thread: send one task per thread at once (the
    // pool hands each to an idle thread) and repeat for the threads missed.
    for (let round = 0; round < 3 && warmThreads() < this.#threads; round++) {
      const missing = this.#threads - warmThreads();
      const results = await Promise.all(
        Array.from({ length: missing }, () =>
          pool.run({
            deploymentId,
            bundleHash: bundle.bundleHash,
            bundlePath: bundle.bundlePath,
            request: {
              method: 'GET',
              url: `http://prewarm.flotilla.invalid${paths[0] ?? '/'}`,
              headers: [],
              body: null,
            },
            deadline,
            requestId: 'prewarm',
            queuedAt: now(),
            prewarm: paths.length === 0 ? 'load' : true,
            prewarmPaths: paths,
            declaredBackends: declared,
            ...(bundle.backends ? { backends: bundle.backends } : {}),
            ...(bundle.env ? { env: bundle.env } : {}),
            ...(bundle.limits !== undefined ? { limits: bundle.limits } : {}),
          }),
        ),
      );
      for (const out of results) {
        this.#accounting.thread(deploymentId, out);
        if (!out.ok) throw fromWireError(out.error);
      }
    }
    this.#sendHeartbeat();
    return { threads: this.#threads, warm: warmThreads() };
  }

  /**
   * Stops taking new renders, tells the schedulers (a draining heartbeat),
   * finishes every render in flight, then closes the thread pool. Idempotent.
   */
  drain(): Promise<void> {
    this.#drained ??= (async () => {
      this.#draining = true;
      this.#sendHeartbeat();
      await Promise.all([this.#sub?.drain(), this.#prewarmSub?.drain()]);
      // Streamed bodies still rendering or not yet pulled: to their end (or deadline).
      await this.#streams.drain();
      clearInterval(this.#heartbeat);
      this.#io?.stop();
      // Every render has answered: the threads dispose their isolates and
      // wait for every call into them to answer, then the pool closes.
      await this.#shutdown?.disposeIsolates(THREAD_SHUTDOWN_GIVE_UP_MS);
      this.#shutdown?.close();
      await this.#pool?.close();
      this.#appLogChannel?.close();
      this.#io?.close();
      this.#log({ msg: 'worker drained', worker: this.workerId });
    })();
    return this.#drained;
  }
}
