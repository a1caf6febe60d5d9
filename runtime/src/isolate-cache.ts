import { positiveInt } from '@flotilla/protocol';
import type { CompileCache } from './compile-cache.ts';
import type { GuestLogEntry } from './console-capture.ts';
import { DEFAULT_LIMITS, type SandboxLimits } from './limits.ts';
import { DeploymentIsolate } from './sandbox.ts';
import type { SnapshotCache } from './snapshot-cache.ts';

/** Options of {@link IsolateCache}. */
export interface IsolateCacheOptions {
  /**
   * Isolates kept per thread; the least recently used is disposed past it.
   * @default 16
   */
  maxIsolates?: number;
  /**
   * Renders after which an isolate is recycled (disposed and reloaded on next use).
   * @default 10000
   */
  maxRendersPerIsolate?: number;
  /**
   * Every this many renders an isolate's heap is sampled; an isolate whose
   * heap grew at each of the last 3 samples past a quarter of its limit, or
   * stands above three quarters of it, is recycled (a leaking bundle gets a
   * fresh isolate before it hits FLOTILLA_ERR_MEMORY_LIMIT).
   * @default 200
   */
  heapCheckEveryRenders?: number;
  /** The operator's limits. @default DEFAULT_LIMITS */
  ceiling?: SandboxLimits;
  /** Compile cache shared by this thread's isolates. */
  compileCache?: CompileCache;
  /** Receives bundle console output. */
  log?: (entry: GuestLogEntry) => void;
  /**
   * Deployments' startup snapshots: an isolate starts from its deployment's
   * when there is one, and every fresh load is counted there
   * (`SnapshotCache.loadedFresh`): a deployment that loaded fresh
   * `snapshotAfterLoads` times gets one made in the background (see
   * snapshot-cache.ts). {@link disposeAll} closes it.
   * @default none: every isolate loads fresh
   */
  snapshots?: SnapshotCache;
  /** Called once per isolate created (a cold start); `fromSnapshot` when it started from one. */
  onColdStart?: (deploymentId: string, loadMs: number, fromSnapshot: boolean) => void;
}

/** What {@link IsolateCache.acquire} needs to load a deployment it does not hold. */
export interface DeploymentSource {
  deploymentId: string;
  bundleHash: string;
  /** Reads the bundle script; called only on a cold start. */
  loadCode(): Promise<string>;
  limits?: Partial<SandboxLimits>;
  /**
   * Backends the bundle may fetch (name → origin, from the manifest). Their
   * names are fixed for a deployment id and bundle hash (deployments are
   * immutable), so they live with the isolate and are read only when it
   * loads. Each render may re-point them (`RenderOptions.backends`, an
   * environment's origins) but never add a name.
   */
  backends?: Record<string, string>;
  /**
   * Paths the deployment renders itself (the pre-warm paths): its snapshot
   * renders them once, in a throw-away context, so that the code they run
   * is compiled in it. @default none
   */
  warmupPaths?: string[];
}

/** Options of {@link IsolateCache.prewarm}. */
export interface PrewarmOptions {
  /** URL of the synthetic render. @default 'http://prewarm.flotilla.invalid/' */
  url?: string;
  /**
   * URLs of the synthetic renders, in order (the deployment's pre-warm
   * paths: its home page, prerender list and literal routes), each warming
   * the code its route runs. Overrides {@link url}. @default [url]
   */
  urls?: string[];
  /**
   * Run the synthetic render; `false` only loads the isolate (for a
   * deployment with no path it renders itself: pre-warm never proxies).
   * @default true
   */
  render?: boolean;
  /** Epoch ms past which the synthetic render fails with `FLOTILLA_ERR_DEADLINE`. */
  deadline?: number;
  /** The synthetic render's `env` (as `RenderOptions.env`). @default {} */
  env?: Record<string, string>;
  /** The synthetic render's re-pointed backends (as `RenderOptions.backends`). @default the declared ones */
  backends?: Record<string, string>;
}

/** What {@link IsolateCache.acquire} returns. */
export interface AcquiredIsolate {
  isolate: DeploymentIsolate;
  /** True when the caller waited for the isolate to load (its own load or one it joined). */
  cold: boolean;
  /** True for the one caller whose call started the load (count cold starts with this). */
  loaded: boolean;
}

/** What {@link IsolateCache.prewarm} did. */
export interface PrewarmResult {
  deploymentId: string;
  /** False when the deployment was already warm (only the render ran). */
  cold: boolean;
  loadMs: number;
  renderMs: number;
  /** Status of the first synthetic render (0 when it only loaded). */
  status: number;
  /** Statuses of every synthetic render, in order. */
  statuses: number[];
  /** True when the isolate loaded for it started from the deployment's snapshot. */
  fromSnapshot: boolean;
}

/** Live isolates of a cache and the heap they use. */
export interface IsolateCacheStats {
  isolates: number;
  heapBytes: number;
}

/**
 * One isolate per deployment per thread, bounded by an LRU. Concurrent first
 * requests for a deployment share a single load. Evicted and recycled
 * isolates are retired: disposed once the renders running in them finish.
 */
export class IsolateCache {
  readonly #max: number;
  readonly #maxRenders: number;
  readonly #heapEvery: number;
  /** Heap samples per isolate, newest last (at most 3), and the render count of the last. */
  readonly #heapSamples = new WeakMap<DeploymentIsolate, { at: number; bytes: number[] }>();
  readonly #options: IsolateCacheOptions;
  // Map order is recency order: the first key is the least recently used.
  readonly #isolates = new Map<string, DeploymentIsolate>();
  // Keyed by deployment id and bundle hash.
  readonly #loading = new Map<string, Promise<DeploymentIsolate>>();
  /**
   * Every isolate loaded that may still be live or have calls in flight:
   * those evicted and retired too, until disposed and settled (see {@link disposeAll}).
   */
  readonly #loaded = new Set<DeploymentIsolate>();

  constructor(options: IsolateCacheOptions = {}) {
    this.#max = positiveInt('maxIsolates', options.maxIsolates, 16);
    this.#maxRenders = positiveInt('maxRendersPerIsolate', options.maxRendersPerIsolate, 10_000);
    this.#heapEvery = positiveInt('heapCheckEveryRenders', options.heapCheckEveryRenders, 200);
    this.#options = options;
  }

  /** Deployments with a live isolate, least recently used first. */
  warm(): string[] {
    return [...this.#isolates.values()].filter((i) => !i.disposed).map((i) => i.deploymentId);
  }

  /** Live isolates. */
  get size(): number {
    return this.warm().length;
  }

  /**
   * Live isolates and their heap (sums `heapUsed()`: call it now and then,
   * not per render). An isolate running on a pool thread counts with its
   * last reading: reading it would wait for that run.
   */
  stats(): IsolateCacheStats {
    let isolates = 0;
    let heapBytes = 0;
    for (const iso of this.#isolates.values()) {
      if (iso.disposed) continue;
      isolates++;
      heapBytes += iso.heapUsed();
    }
    return { isolates, heapBytes };
  }

  /** True when `iso`'s heap keeps growing or stands near its limit (sampled every N renders). */
  #heapSaysRecycle(iso: DeploymentIsolate): boolean {
    const record = this.#heapSamples.get(iso) ?? { at: 0, bytes: [] };
    if (iso.renders - record.at < this.#heapEvery) return false;
    const used = iso.heapUsed();
    // Busy (a render runs on a pool thread): no reading now, the next acquire tries again.
    if (!iso.heapFresh) return false;
    record.at = iso.renders;
    const samples = record.bytes;
    samples.push(used);
    if (samples.length > 3) samples.shift();
    this.#heapSamples.set(iso, record);
    const limit = iso.limits.heapMb * 1024 * 1024;
    if (used > 0.75 * limit) return true;
    const growing =
      samples.length === 3 && (samples[0] ?? 0) < (samples[1] ?? 0) && (samples[1] ?? 0) < used;
    return growing && used > 0.25 * limit;
  }

  /** The warm isolate of `source.deploymentId`, loading it first when cold. */
  async acquire(source: DeploymentSource): Promise<AcquiredIsolate> {
    const key = source.deploymentId;
    const existing = this.#isolates.get(key);
    if (
      existing &&
      !existing.disposed &&
      existing.bundleHash === source.bundleHash &&
      existing.renders < this.#maxRenders &&
      !this.#heapSaysRecycle(existing)
    ) {
      this.#isolates.delete(key);
      this.#isolates.set(key, existing);
      return { isolate: existing, cold: false, loaded: false };
    }
    if (existing) this.#evict(key);
    const loadKey = `${key}\n${source.bundleHash}`;
    let loading = this.#loading.get(loadKey);
    const leader = loading === undefined;
    if (!loading) {
      loading = this.#load(source);
      this.#loading.set(loadKey, loading);
      void loading.then(
        () => this.#loading.delete(loadKey),
        () => this.#loading.delete(loadKey),
      );
    }
    return { isolate: await loading, cold: true, loaded: leader };
  }

  async #load(source: DeploymentSource): Promise<DeploymentIsolate> {
    const started = performance.now();
    const code = await source.loadCode();
    const options = {
      deploymentId: source.deploymentId,
      code,
      bundleHash: source.bundleHash,
      ceiling: this.#options.ceiling ?? DEFAULT_LIMITS,
      // Whatever was given (null included): the load validates it, naming `limits`.
      ...(source.limits !== undefined ? { limits: source.limits } : {}),
      ...(source.backends ? { backends: source.backends } : {}),
      ...(this.#options.compileCache ? { compileCache: this.#options.compileCache } : {}),
      ...(this.#options.log ? { log: this.#options.log } : {}),
    };
    const snapshots = this.#options.snapshots;
    const snapshot = snapshots?.get(source.deploymentId, source.bundleHash);
    let isolate: DeploymentIsolate | undefined;
    if (snapshot) {
      try {
        isolate = await DeploymentIsolate.load({ ...options, snapshot });
      } catch {
        // Never again from it: this and later isolates load fresh.
        snapshots?.refuse(source.deploymentId, source.bundleHash);
      }
    }
    if (!isolate) {
      isolate = await DeploymentIsolate.load(options);
      // Loaded fresh: once it keeps coming back, its next isolates on this
      // thread start from a snapshot (the cache's `snapshotAfterLoads`).
      void snapshots?.loadedFresh({
        deploymentId: source.deploymentId,
        bundleHash: source.bundleHash,
        code,
        heapMb: isolate.limits.heapMb,
        ...(source.warmupPaths ? { warmupPaths: source.warmupPaths } : {}),
      });
    }
    for (const old of this.#loaded) {
      if (old.disposed && old.callsInFlight === 0) this.#loaded.delete(old);
    }
    this.#loaded.add(isolate);
    // Another load (other bundle hash) may have finished meanwhile.
    const previous = this.#isolates.get(source.deploymentId);
    if (previous && previous !== isolate) this.#evict(source.deploymentId);
    this.#isolates.set(source.deploymentId, isolate);
    while (this.#isolates.size > this.#max) {
      const oldest = this.#isolates.keys().next().value;
      if (oldest === undefined) break;
      this.#evict(oldest);
    }
    this.#options.onColdStart?.(
      source.deploymentId,
      performance.now() - started,
      isolate.fromSnapshot,
    );
    return isolate;
  }

  #evict(key: string): void {
    this.#isolates.get(key)?.retire();
    this.#isolates.delete(key);
  }

  /**
   * Loads `source` if it is cold and runs the synthetic renders (`GET /`, or
   * each of `urls`, with `x-flotilla-prewarm: 1`), so the first real
   * requests find the isolate loaded and the code of their routes compiled
   * by the JIT. A synthetic render's status does not matter (a 404 warms as
   * well); an error thrown by the bundle does.
   */
  async prewarm(source: DeploymentSource, options: PrewarmOptions = {}): Promise<PrewarmResult> {
    const started = performance.now();
    const { isolate, cold, loaded: leader } = await this.acquire(source);
    const loaded = performance.now();
    const fromSnapshot = cold && leader && isolate.fromSnapshot;
    const result = {
      deploymentId: source.deploymentId,
      cold,
      loadMs: loaded - started,
      fromSnapshot,
    };
    if (options.render === false) {
      return { ...result, renderMs: 0, status: 0, statuses: [] };
    }
    const urls = options.urls ?? [options.url ?? 'http://prewarm.flotilla.invalid/'];
    const statuses: number[] = [];
    for (const url of urls) {
      const response = await isolate.render(
        { method: 'GET', url, headers: [['x-flotilla-prewarm', '1']], body: null },
        {
          requestId: 'prewarm',
          ...(options.deadline ? { deadline: options.deadline } : {}),
          ...(options.env ? { env: options.env } : {}),
          ...(options.backends ? { backends: options.backends } : {}),
        },
      );
      statuses.push(response.status);
    }
    return {
      ...result,
      renderMs: performance.now() - loaded,
      status: statuses[0] ?? 0,
      statuses,
    };
  }

  /**
   * Disposes every isolate now (shutdown), loads under way once they end,
   * and resolves once every call into them has answered: only then may the
   * thread end (see calls-in-flight.ts). No time limit.
   */
  async disposeAll(): Promise<void> {
    this.#options.snapshots?.close();
    for (const isolate of this.#loaded) isolate.dispose();
    this.#isolates.clear();
    await Promise.allSettled([...this.#loading.values()]);
    for (const isolate of this.#loaded) isolate.dispose();
    this.#isolates.clear();
    await Promise.all([...this.#loaded].map((isolate) => isolate.settled()));
    this.#loaded.clear();
  }
}
