/**
 * One deployment's isolate: loads it ({@link loadIsolate}), runs its
 * renders, and keeps it within its limits ({@link LimitGuard}) until it is
 * retired or disposed. See `runtime/README.md`, "How a render runs".
 */
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import { validateBackends } from '@flotilla/protocol/schema';
import type ivm from 'isolated-vm';
import { BackendFetcher } from './backend-fetch.ts';
import type { BackendFetchInit } from './backend-request.ts';
import { type LoadedIsolate, loadIsolate } from './bundle-loader.ts';
import type { GuestLogEntry } from './console-capture.ts';
import { raceDeadline } from './deadline-race.ts';
import type { FetchScope } from './fetch-scope.ts';
import type { GuestRequestInit, GuestResult } from './guest/host.ts';
import { GuestCalls } from './guest-calls.ts';
import { HeapReading } from './heap-reading.ts';
import type { GuestEntries } from './host-bridge.ts';
import { HostTimers } from './host-timers.ts';
import { IsolateProfiler } from './isolate-profiler.ts';
import { type FailRender, type KillReason, LimitGuard, processCpuMs, used } from './limit-guard.ts';
import { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from './limits.ts';
import { LooseEnds } from './loose-ends.ts';
import {
  envPairs,
  ownBytes,
  type SandboxRequest,
  type SandboxResponse,
  toResponse,
} from './marshal.ts';
import { RejectionLog } from './rejection-log.ts';
import { RenderStreams, type StreamHandle } from './render-streams.ts';
import type { LoadOptions, RenderOptions } from './sandbox-options.ts';
import { SyncPolicy } from './sync-policy.ts';

export type { LoadOptions, RenderOptions, RenderStreamSink } from './sandbox-options.ts';

/** Builds the error of a bad per-render option (`env.<name>`, `backends.<name>`). */
const invalidOption = (option: string, problem: string) => new InvalidOptionError(option, problem);

/**
 * One isolate holding one deployment's bundle, ready to render requests.
 * Never shared across deployments. Renders of the deployment may run
 * concurrently in it (they interleave while awaiting the host).
 *
 * @example
 * const iso = await DeploymentIsolate.load({ deploymentId, code, bundleHash });
 * const res = await iso.render({ method: 'GET', url: 'http://shop/', headers: [], body: null });
 */
export class DeploymentIsolate {
  readonly deploymentId: string;
  readonly bundleHash: string;
  readonly limits: SandboxLimits;
  /** True when the isolate started from the deployment's snapshot (no compile, no evaluation). */
  readonly fromSnapshot: boolean;
  readonly #isolate: ivm.Isolate;
  readonly #refs: Array<{ release(): void }>;
  readonly #guest: GuestEntries;
  readonly #backend: BackendFetcher;
  readonly #timers: HostTimers;
  readonly #guard: LimitGuard;
  readonly #sync: SyncPolicy;
  readonly #log: ((entry: GuestLogEntry) => void) | undefined;
  /** Streamed bodies of the renders running (see {@link RenderOptions.stream}). */
  readonly #streams: RenderStreams;
  #nextRequest = 0;
  /** Numbers the renders for the guest (`start(init, id)`). */
  #renderSeq = 0;
  /** Renders whose results the host has: the next `start` tells the guest to forget them. */
  #forget: number[] = [];
  /** Each render's pending timers and unanswered `fetch` calls (see loose-ends.ts). */
  readonly #looseEnds = new LooseEnds();
  #renders = 0;
  /** CPU (ms) of the last render that completed synchronously, this thread's. */
  #lastSyncCpuMs = 0;
  #syncRenders = 0;
  /** Asynchronous calls into the isolate not answered yet (see {@link busy}, {@link settled}). */
  readonly #calls: GuestCalls;
  /** Heap readings that never wait for a busy isolate. */
  readonly #heap: HeapReading;
  #disposed = false;
  #retired = false;
  /**
   * V8's CPU profiler over this isolate's inspector (where renders spend
   * their time inside it): only with {@link LoadOptions.profiling}, for
   * benchmarks and diagnosis.
   */
  readonly profiler: IsolateProfiler | undefined;

  private constructor(
    options: LoadOptions,
    limits: SandboxLimits,
    loaded: LoadedIsolate,
    backend: BackendFetcher,
  ) {
    this.deploymentId = options.deploymentId;
    this.bundleHash = options.bundleHash;
    this.limits = limits;
    this.fromSnapshot = loaded.fromSnapshot;
    this.#isolate = loaded.isolate;
    this.#guest = loaded.bridge.guest;
    this.#refs = loaded.refs;
    this.#backend = backend;
    this.#log = options.log;
    this.profiler = options.profiling === true ? new IsolateProfiler(loaded.isolate) : undefined;
    this.#heap = new HeapReading(
      loaded.isolate,
      () => this.busy,
      () => this.disposed,
    );
    this.#guard = new LimitGuard({
      isolate: loaded.isolate,
      deploymentId: options.deploymentId,
      limits,
      disposed: () => this.#disposed,
      dispose: () => this.#dispose(),
    });
    this.#calls = new GuestCalls({
      guest: this.#guest,
      wallMs: limits.wallMs,
      guard: this.#guard,
      rejections: new RejectionLog(options.deploymentId, options.log),
      disposed: () => this.disposed,
    });
    this.#timers = new HostTimers(limits.wallMs, (id, owner) => {
      this.#looseEnds.timerDone(id);
      if (!this.#disposed) this.#calls.fireTimer(id, owner);
    });
    this.#sync = new SyncPolicy(options.deploymentId, this.#guard.syncTimeoutMs, limits.wallMs);
    this.#streams = new RenderStreams(
      options.deploymentId,
      limits.outputBytes,
      (owner, bytes) => {
        if (!this.#disposed) this.#calls.credit(owner, bytes);
      },
      (owner, reason) => this.#abortRender(owner, reason),
    );
  }

  /** @internal host side of the guest's stream callback (see render-streams.ts). */
  streamed(op: string, owner: string, value: unknown, headers: unknown): void {
    if (!this.#disposed && typeof owner === 'string') {
      this.#streams.received(op, owner, value, headers);
    }
  }

  /**
   * Creates an isolate, installs the guest globals, evaluates the bundle and
   * checks that it registered a handler.
   *
   * @throws FlotillaError `FLOTILLA_ERR_BUNDLE` (too big, syntax error, threw
   * while loading, no handler), `FLOTILLA_ERR_CPU_LIMIT`, `FLOTILLA_ERR_MEMORY_LIMIT`.
   * @throws InvalidOptionError `FLOTILLA_ERR_INVALID_OPTION` naming a bad
   * backend (`backends.api`) or limit.
   */
  static async load(options: LoadOptions): Promise<DeploymentIsolate> {
    const limits = resolveLimits(options.limits, options.ceiling ?? DEFAULT_LIMITS);
    const size = Buffer.byteLength(options.code);
    if (size > limits.bundleBytes) {
      throw new FlotillaError(
        'FLOTILLA_ERR_BUNDLE',
        `bundle of ${options.deploymentId} is ${size} bytes, over the ${limits.bundleBytes}-byte cap`,
      );
    }
    const backends = validateBackends(
      options.backends,
      (option, problem) =>
        new InvalidOptionError(option, `${problem} (deployment ${options.deploymentId})`),
    );
    const backend = new BackendFetcher(options.deploymentId, backends, limits.backendResponseBytes);
    const loaded = await loadIsolate(options, limits);
    const self = new DeploymentIsolate(options, limits, loaded, backend);
    loaded.bridge.attach(self);
    // Idle now: a first reading, for as long as its renders keep it busy.
    self.heapUsed();
    return self;
  }

  /** @internal host side of the guest's setTimeout/clearTimeout. */
  timer(op: string, id: number, ms: number, owner: string): void {
    if (this.#disposed) return;
    if (op === 'set' && typeof owner === 'string') this.#looseEnds.timerSet(id, owner);
    else this.#looseEnds.timerDone(id);
    this.#timers.handle(op, id, ms, owner);
  }

  /**
   * @internal host side of the guest's `fetch`: runs call `id` of render
   * `owner` through the backend bridge and delivers the answer to the guest.
   */
  startFetch(id: number, owner: string, init: BackendFetchInit): void {
    if (this.#disposed || typeof id !== 'number' || typeof owner !== 'string') return;
    const io = this.#backend.ioOf(owner);
    io?.started();
    this.#looseEnds.fetchStarted(owner);
    void this.#backend.fetch(owner, init).then(async (result) => {
      if (result === undefined || this.disposed) {
        io?.dropped();
        return;
      }
      // The continuation is CPU work: it waits for the render's slot first.
      await io?.answered();
      if (this.disposed) {
        io?.delivered();
        return;
      }
      this.#looseEnds.fetchDelivered(owner);
      const delivery = this.#calls.enter(
        this.#guest.deliverFetch.apply(undefined, [id, result], {
          arguments: { copy: true },
          timeout: this.limits.wallMs,
        }),
        owner,
        'code that ran after a fetch answered',
      );
      void delivery.then(
        () => io?.delivered(),
        () => io?.delivered(),
      );
    });
  }

  /** Renders completed by this isolate. */
  get renders(): number {
    return this.#renders;
  }

  /** Of {@link renders}, those that completed synchronously (see `#run`). */
  get syncRenders(): number {
    return this.#syncRenders;
  }

  /** Renders running in this isolate now. */
  get inFlight(): number {
    return this.#guard.running;
  }

  /** True once disposed (limit hit, recycled or evicted). */
  get disposed(): boolean {
    return this.#disposed || this.#isolate.isDisposed;
  }

  /**
   * True while an asynchronous call that runs guest code has not answered (a
   * render's `dispatch`, a timer callback, a `fetch` answer, an abort, a
   * render's cleanup): it may be running on an isolated-vm pool thread,
   * holding the isolate's lock. A render that only waits for the host (its
   * `wait` call) does not make the isolate busy.
   */
  get busy(): boolean {
    return this.#calls.inFlight.guestCalls > 0;
  }

  /**
   * Heap used by the isolate, in bytes: read now when the isolate is idle,
   * otherwise the last reading (the first is taken at load). Never waits
   * for a busy isolate (see heap-reading.ts). {@link heapFresh}
   * tells which it was.
   */
  heapUsed(): number {
    return this.#heap.read();
  }

  /** True when the last {@link heapUsed} read the heap now (not an earlier reading). */
  get heapFresh(): boolean {
    return this.#heap.fresh;
  }

  /**
   * Renders one request. `deadline` (epoch ms) bounds how long the caller
   * waits: past it the render fails with `FLOTILLA_ERR_DEADLINE` but goes on
   * in the background, still held to the wall and CPU limits (a short client
   * deadline is not the bundle's fault and does not cost its warm isolate).
   *
   * The bundle's backend `fetch` calls belong to the render: at most 50,
   * 6 at once, each ending shortly before the
   * render's deadline or wall limit, and all aborted when the render ends.
   *
   * The handler is called as `handler(request, env)` with `options.env`
   * (frozen, fresh per render), and its `fetch` reaches the declared
   * backends, re-pointed by `options.backends`.
   *
   * @throws FlotillaError `FLOTILLA_ERR_RENDER`, `FLOTILLA_ERR_CPU_LIMIT`,
   * `FLOTILLA_ERR_WALL_LIMIT`, `FLOTILLA_ERR_MEMORY_LIMIT`,
   * `FLOTILLA_ERR_OUTPUT_LIMIT`, `FLOTILLA_ERR_DEADLINE`.
   * @throws InvalidOptionError `FLOTILLA_ERR_INVALID_OPTION` naming a bad
   * `env.<name>` or `backends.<name>` (an origin, or a name the deployment
   * does not declare); nothing runs then.
   */
  async render(request: SandboxRequest, options: RenderOptions = {}): Promise<SandboxResponse> {
    const sink = options.stream;
    if (sink === undefined) return this.#render(request, options, undefined);
    const requestId = options.requestId || `render-${++this.#nextRequest}`;
    const stream = this.#streams.open(requestId, sink, options.io);
    try {
      return await this.#render(request, { ...options, requestId }, stream);
    } finally {
      stream.close();
    }
  }

  async #render(
    request: SandboxRequest,
    options: RenderOptions,
    stream: StreamHandle | undefined,
  ): Promise<SandboxResponse> {
    if (this.disposed) {
      throw new FlotillaError(
        'FLOTILLA_ERR_INTERNAL',
        `isolate of ${this.deploymentId} is disposed`,
      );
    }
    const remainingMs =
      options.deadline === undefined ? Number.POSITIVE_INFINITY : options.deadline - Date.now();
    if (remainingMs <= 0)
      throw new FlotillaError('FLOTILLA_ERR_DEADLINE', 'deadline passed before render');
    const env = envPairs(options.env, this.deploymentId);
    const backends = this.#backend.withOverrides(options.backends, invalidOption);
    const init: GuestRequestInit = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body && request.body.byteLength > 0 ? ownBytes(request.body) : null,
      // Unique per render: timers and log lines are tied to it.
      requestId: options.requestId || `render-${++this.#nextRequest}`,
      env,
      maxBodyBytes: this.limits.outputBytes,
      ...(stream ? { stream: true } : {}),
    };
    const cpuBefore = this.#isolate.cpuTime;
    const processBefore = processCpuMs();
    const syncBefore = this.#syncRenders;
    // Backend sub-requests end with the render (its deadline or its wall
    // limit), a little before it: 10% of its time, at most 100 ms, so that a
    // bundle catching the fetch error still has time to answer with a fallback.
    const startedAt = Date.now();
    const endsAt = Math.min(
      options.deadline ?? Number.POSITIVE_INFINITY,
      startedAt + this.limits.wallMs,
    );
    const scope = this.#backend.begin(init.requestId, {
      endAt: endsAt - Math.min(100, (endsAt - startedAt) / 10),
      traceparent: options.traceparent,
      onRequest: options.onBackendRequest,
      backends,
      io: options.io,
    });
    // Never synchronously into an isolate that may be running on a pool
    // thread: the call would wait for that run, blocking this thread (and
    // the CPU watch that could stop the run).
    const run = this.#run(init, scope, cpuBefore, !this.busy && this.#sync.allows(remainingMs));
    const result: GuestResult =
      remainingMs < this.limits.wallMs
        ? await raceDeadline(run, options.deadline ?? 0, remainingMs, this.deploymentId, (m) =>
            // The render goes on in the background: its request.signal tells it to stop.
            this.#abortRender(init.requestId, m),
          )
        : await run;
    if (!result?.ok && result?.code === 'FLOTILLA_ERR_MEMORY_LIMIT') {
      // The guest caught an allocation the isolate refused: it is at (or
      // asking past) its heap, so it goes, as when the heap limit hits.
      const reason: KillReason = {
        code: 'FLOTILLA_ERR_MEMORY_LIMIT',
        message: `render of ${this.deploymentId} exceeded the ${this.limits.heapMb} MB heap; isolate disposed (${String(result.message).slice(0, 200)})`,
      };
      this.#guard.kill(reason);
      throw new FlotillaError(reason.code, reason.message);
    }
    // A synchronous render's CPU is this thread's, measured exactly; otherwise
    // the CPU watch's upper bound (see `used` in limit-guard.ts).
    const cpuMs =
      this.#syncRenders > syncBefore
        ? this.#lastSyncCpuMs
        : this.disposed
          ? 0
          : used(this.#isolate.cpuTime, cpuBefore, processCpuMs(), processBefore);
    this.#sync.completed(cpuMs);
    const response = toResponse(result, cpuMs, this.deploymentId, this.limits.outputBytes);
    if (response.streamed && result.ok) {
      // The chunks' host callbacks may come after the result.
      await stream?.finish(result.streamedChunks ?? 0, Math.min(endsAt, Date.now() + 5000));
    }
    return response;
  }

  /**
   * Runs one render; settles when the bundle answers or the isolate dies.
   *
   * With `sync`, the render first runs synchronously on this thread
   * (`start`, then `take`): a render that does not wait for the host (no
   * timer, no `fetch`; React's and Vue's string renderers, for instance) is
   * done after those two calls, without the round trip through an
   * isolated-vm pool thread that an asynchronous call costs. Otherwise, or
   * when it does wait for the host, it continues asynchronously under the
   * wall limit and the CPU watch (`wait`, or `dispatch` without `sync`).
   *
   * @param cpuStart the isolate's CPU time before the render started.
   */
  async #run(
    init: GuestRequestInit,
    scope: FetchScope,
    cpuStart: bigint,
    sync: boolean,
  ): Promise<GuestResult> {
    const startedAt = performance.now();
    const id = ++this.#renderSeq;
    // Results the host has: their guest records go with this call.
    const forget = this.#forget.length > 0 ? this.#forget.splice(0) : null;
    const args = [init, id, forget, this.#looseEnds.take()] as const;
    if (sync) {
      // The run is on this thread: its CPU is this thread's, measured exactly.
      const threadStart = process.threadCpuUsage();
      const ranMs = () => {
        const u = process.threadCpuUsage(threadStart);
        return (u.user + u.system) / 1000;
      };
      try {
        // The microtasks the render queues run within the call, under its
        // timeout: the only thing that can stop a synchronous run, so it is a
        // backstop past `cpuMs` (see LimitGuard.failure for how it is told).
        try {
          this.#guest.start.applySync(undefined, [...args], {
            arguments: { copy: true },
            timeout: this.#guard.syncTimeoutMs,
          });
        } catch (err) {
          if (!this.#calls.isUnhandledRejection(err, init.requestId)) throw err;
        }
        // Runs prelude code only, and a copy never calls bundle code (getters
        // and proxies are refused), but a timeout costs little.
        const result = this.#guest.take.applySync(undefined, [id], {
          result: { copy: true },
          timeout: this.#guard.syncTimeoutMs,
        });
        if (result !== null) {
          this.#lastSyncCpuMs = ranMs();
          this.#guard.ranAlone(cpuStart, this.#lastSyncCpuMs);
          this.#ended(scope);
          this.#syncRenders++;
          return result;
        }
      } catch (err) {
        const cpuMs = ranMs();
        this.#guard.ranAlone(cpuStart, cpuMs);
        const error = await this.#guard.failure(err, undefined, cpuMs);
        this.#ended(scope);
        throw error;
      }
    }
    let fail!: FailRender;
    const killed = new Promise<never>((_, reject) => {
      fail = (reason: KillReason) => reject(new FlotillaError(reason.code, reason.message));
    });
    killed.catch(() => {});
    const wall = this.#guard.begin(fail, cpuStart, startedAt);
    // Asynchronous calls run on an isolated-vm pool thread: the CPU watch
    // holds them to `cpuMs` of CPU time, the wall timer to `wallMs`; their own
    // `timeout` is only a backstop at the wall limit.
    const enter = async <T>(call: Promise<T>): Promise<T> => {
      this.#guard.track(call);
      return Promise.race([call, killed]);
    };
    try {
      if (!sync) {
        // One call (start, then wait): a hop to the pool thread and back.
        try {
          const result = (await enter(
            this.#calls.count(
              this.#guest.dispatch.apply(undefined, [...args], {
                arguments: { copy: true },
                result: { promise: true, copy: true },
                timeout: this.limits.wallMs,
              }),
            ),
          )) as GuestResult;
          this.#forget.push(id);
          return result;
        } catch (err) {
          if (!this.#calls.isUnhandledRejection(err, init.requestId)) throw err;
        }
      }
      for (;;) {
        try {
          // Not counted as busy: `wait` only hands over the render's promise,
          // which settles in a call that is (a timer, a fetch answer).
          const result = (await enter(
            this.#calls.inFlight.add(
              this.#guest.wait.apply(undefined, [id], {
                result: { promise: true, copy: true },
                timeout: this.limits.wallMs,
              }),
            ),
          )) as GuestResult;
          this.#forget.push(id);
          return result;
        } catch (err) {
          // The render goes on in the guest: wait for it again.
          if (!this.#calls.isUnhandledRejection(err, init.requestId)) throw err;
        }
      }
    } catch (err) {
      const error = await this.#guard.failure(err, fail);
      if (this.#disposed) await this.#guard.quiesce();
      throw error;
    } finally {
      // Sub-requests still in flight are aborted; the guest forgets them in settle.
      scope.end();
      this.#guard.end(fail, wall);
      this.#renders++;
      if (
        (this.#timers.size > 0 || scope.calls > 0) &&
        !this.disposed &&
        !this.#looseEnds.ended(init.requestId)
      ) {
        await this.#settleTimers(init.requestId);
      }
      if (this.#retired && this.#guard.running === 0) this.dispose();
    }
  }

  /** Aborts the signal of render `requestId` if it still runs (its listeners run under the CPU limit). */
  #abortRender(requestId: string, message: string): void {
    if (!this.#disposed) this.#calls.abort(requestId, message);
  }

  /** Bookkeeping of a render that ended synchronously (it left no timer and made no `fetch`). */
  #ended(scope: FetchScope): void {
    scope.end();
    this.#renders++;
    if (this.#retired && this.#guard.running === 0) this.dispose();
  }

  /**
   * Cancels the timers a finished render left behind (none outlives its
   * render) and makes the guest forget its unanswered fetch calls.
   */
  async #settleTimers(requestId: string): Promise<void> {
    try {
      const ids = await this.#calls.settle(requestId);
      for (const id of ids) {
        this.#timers.clear(id);
        this.#looseEnds.timerDone(id);
      }
    } catch {
      // the isolate died meanwhile: its timers went with it
    }
  }

  /**
   * Disposes the isolate once no render runs in it: for eviction and
   * recycling, so that renders in flight finish first.
   */
  retire(): void {
    if (this.#retired || this.#disposed) return;
    this.#retired = true;
    // A caller that acquired this isolate a moment ago may not have started
    // its render yet; give it until the next turn of the event loop.
    setImmediate(() => {
      if (this.#guard.running === 0) this.dispose();
    });
  }

  /** Resolves once every asynchronous call into the isolate has answered: see calls-in-flight.ts. */
  settled(): Promise<void> {
    return this.#calls.inFlight.settled();
  }

  /** Asynchronous calls into the isolate not answered yet (see {@link settled}). */
  get callsInFlight(): number {
    return this.#calls.inFlight.size;
  }

  /** Disposes the isolate now and releases every Reference; renders still running fail. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    if (this.#guard.running > 0) {
      this.#guard.kill({ code: 'FLOTILLA_ERR_INTERNAL', message: 'it was shut down' });
    } else this.#dispose();
  }

  #dispose(): void {
    this.#disposed = true;
    this.profiler?.dispose();
    this.#backend.dispose();
    this.#guard.stop();
    this.#timers.clearAll();
    this.#looseEnds.clear();
    for (const r of this.#refs) {
      try {
        r.release();
      } catch {
        // already released with the isolate
      }
    }
    if (!this.#isolate.isDisposed) this.#isolate.dispose();
  }
}
