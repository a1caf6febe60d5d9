import { transcode } from 'node:buffer';
import { randomFillSync } from 'node:crypto';
import {
  type ErrorCode,
  FlotillaError,
  fromWireError,
  InvalidOptionError,
} from '@flotilla/protocol';
import { UNSAFE_HEADER_VALUE as BAD_HEADER_VALUE, HEADER_NAME } from '@flotilla/protocol/patterns';
import { validateBackends } from '@flotilla/protocol/schema';
import ivm from 'isolated-vm';
import { BackendFetcher, type FetchScope } from './backend-fetch.ts';
import { MAX_RANDOM_BYTES } from './guest/crypto.ts';
import {
  type GuestFetchResult,
  type GuestRequestInit,
  type GuestResult,
  MAX_TIMERS,
} from './guest/host.ts';
import { installPrelude } from './guest-code.ts';
import { DEFAULT_LIMITS, resolveLimits, type SandboxLimits } from './limits.ts';

/** The request a bundle renders, as plain data. */
export interface SandboxRequest {
  method: string;
  /** Absolute URL. */
  url: string;
  headers: Array<[string, string]>;
  /** Request body, or null for none. */
  body: Uint8Array | null;
}

/** The response a bundle returned, as plain data. */
export interface SandboxResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** CPU time the isolate spent on this render, in ms (approximate under concurrency). */
  cpuMs: number;
}

/** One line a bundle wrote with `console.*`. */
export interface GuestLogEntry {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  message: string;
  deploymentId: string;
  requestId: string | undefined;
}

/**
 * Compiled-code cache (`cachedData`) keyed by bundle hash. It only ever holds
 * data this process produced: never fill it from outside (CVE-2022-39266).
 */
export class CompileCache {
  readonly #entries = new Map<string, ivm.ExternalCopy<ArrayBuffer>>();
  readonly #max: number;

  /** @param maxEntries bundles kept. @default 64 */
  constructor(maxEntries = 64) {
    this.#max = maxEntries;
  }

  /** @internal */
  get(hash: string): ivm.ExternalCopy<ArrayBuffer> | undefined {
    return this.#entries.get(hash);
  }

  /** @internal */
  set(hash: string, data: ivm.ExternalCopy<ArrayBuffer>): void {
    this.#entries.set(hash, data);
    while (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.get(oldest)?.release();
      this.#entries.delete(oldest);
    }
  }

  /** @internal */
  delete(hash: string): void {
    this.#entries.get(hash)?.release();
    this.#entries.delete(hash);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Options of {@link DeploymentIsolate.load}. */
export interface LoadOptions {
  /** The immutable deployment this isolate serves. */
  deploymentId: string;
  /** The bundle script. */
  code: string;
  /** Content hash of `code`; keys the compile cache. */
  bundleHash: string;
  /** Limits the deployment asks for; clamped to `ceiling`. */
  limits?: Partial<SandboxLimits>;
  /** The operator's limits. @default DEFAULT_LIMITS */
  ceiling?: SandboxLimits;
  /** Compile cache shared by the isolates of this thread. */
  compileCache?: CompileCache;
  /** Receives the bundle's `console.*` output. @default discard */
  log?: (entry: GuestLogEntry) => void;
  /**
   * Backends the bundle may `fetch` (name → origin URL, from the manifest):
   * `fetch('backend://api/p')` or a URL at a declared origin; anything else
   * is refused. Their names are fixed for the isolate's life; a render may
   * re-point them ({@link RenderOptions.backends}). See `runtime/README.md`,
   * "Backend fetch". @default none
   */
  backends?: Record<string, string>;
}

/** Options of {@link DeploymentIsolate.render}. */
export interface RenderOptions {
  /** Epoch ms past which the caller stops waiting (`FLOTILLA_ERR_DEADLINE`). */
  deadline?: number;
  /** The request's id, for log lines and to attribute `fetch` calls. @default a per-isolate counter */
  requestId?: string;
  /**
   * The render's W3C `traceparent`: backend sub-requests carry its trace id
   * with a span id of their own. Absent or invalid: the render starts a trace.
   */
  traceparent?: string;
  /**
   * Called once per backend `fetch` call the render made, with the backend
   * name (or `(undeclared)`) and the outcome: a status class (`2xx`…`5xx`)
   * or `refused`, `limit`, `deadline`, `aborted`, `too_large`, `redirect`,
   * `network`, `error`. All calls are reported before `render` settles.
   */
  onBackendRequest?: (backend: string, outcome: string) => void;
  /**
   * The environment variables (and secrets) the handler gets as its second
   * argument, `handler(request, env)`: a fresh frozen object per render, so
   * no render sees another's. Values must be strings.
   * @default {} (an empty object)
   * @example { API_KEY: 'k-123', REGION: 'eu' }
   */
  env?: Record<string, string>;
  /**
   * Backends re-pointed for this render (name → origin URL), e.g. the
   * environment's origins: each name must be one the isolate was loaded with
   * ({@link LoadOptions.backends}), names left out keep their declared origin.
   * Origins are validated as at load. An undeclared name is refused with
   * `FLOTILLA_ERR_INVALID_OPTION` naming `backends.<name>`.
   * @default the declared backends
   * @example { api: 'https://staging-api.shop.example' }
   */
  backends?: Record<string, string>;
}

/** Reused per thread: UTF-8 straight into it, then one exact copy (faster than TextEncoder). */
let scratch = Buffer.allocUnsafeSlow(256 * 1024);

/** A character V8 cannot keep in a one-byte string: the string is UTF-16 inside. */
const WIDE_CHAR = /[\u0100-\uffff]/;

function utf8(text: string): Uint8Array {
  // Node encodes a UTF-16 string (one '€' or '—' in a page makes it one) to
  // UTF-8 at ~2.7 ns a char: ~120 µs for a 44 KB page, 8% of a React render.
  // A copy as UTF-16LE and ICU's transcode take a third of that. Lone
  // surrogates make transcode throw: Buffer's encoder replaces them.
  if (text.length >= 1024 && WIDE_CHAR.test(text)) {
    try {
      return transcode(Buffer.from(text, 'utf16le'), 'utf16le', 'utf8');
    } catch {
      // falls through
    }
  }
  const worst = text.length * 3;
  if (scratch.length < worst) scratch = Buffer.allocUnsafeSlow(worst);
  const n = scratch.write(text, 0, worst, 'utf8');
  return new Uint8Array(scratch.subarray(0, n));
}

/** Stateless decoders (each call decodes one complete input), by fatal × ignoreBOM. */
const utf8Decoders = new Map<string, TextDecoder>();

/**
 * Host side of the guest's large `TextDecoder.decode` calls: the bytes
 * arrive copied; null for anything but a Uint8Array, or invalid UTF-8 when
 * `fatal` (the guest throws its own TypeError then).
 */
function decodeUtf8(bytes: unknown, fatal: unknown, ignoreBOM: unknown): string | null {
  if (!(bytes instanceof Uint8Array)) return null;
  const key = `${fatal === true} ${ignoreBOM === true}`;
  let decoder = utf8Decoders.get(key);
  if (decoder === undefined) {
    decoder = new TextDecoder('utf-8', { fatal: fatal === true, ignoreBOM: ignoreBOM === true });
    utf8Decoders.set(key, decoder);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

function isMemoryError(err: unknown, isolate: ivm.Isolate): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return /memory limit/i.test(message) || (isolate.isDisposed && /disposed/i.test(message));
}

function isTimeout(err: unknown): boolean {
  return err instanceof Error && /Script execution timed out/.test(err.message);
}

/**
 * `bytes` alone, in a buffer of its own. Copying a view into an isolate (or
 * across threads) copies its whole underlying buffer, and request bodies are
 * often views into a larger pooled or socket buffer holding other data.
 */
function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
    ? bytes
    : bytes.slice();
}

/**
 * `env` as the list of pairs the guest builds its per-render object from, or
 * null for none. Errors name the key only: values may be secrets.
 */
function envPairs(env: unknown, deploymentId: string): Array<[string, string]> | null {
  if (env === undefined || env === null) return null;
  if (typeof env !== 'object' || Array.isArray(env)) {
    throw new InvalidOptionError(
      'env',
      `must be an object of variable name → string value (deployment ${deploymentId})`,
    );
  }
  const pairs: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(env)) {
    if (name === '') {
      throw new InvalidOptionError(
        'env',
        `has an empty variable name (deployment ${deploymentId})`,
      );
    }
    if (typeof value !== 'string') {
      throw new InvalidOptionError(
        `env.${name}`,
        `must be a string, got ${value === null ? 'null' : typeof value} (deployment ${deploymentId})`,
      );
    }
    pairs.push([name, value]);
  }
  return pairs.length > 0 ? pairs : null;
}

function describeError(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * A render runs synchronously on the calling thread (see `#run`) only when
 * the isolate's renders have been short: the thread can do nothing else
 * meanwhile, so a long one would hold up the renders of other deployments
 * on the thread (an asynchronous render runs on an isolated-vm pool thread
 * beside them). Short: under this much CPU (ms). Sync saves some tens of µs
 * a render (a hop to that pool thread and back), which matters only for
 * short ones anyway.
 */
const SYNC_RENDER_MAX_CPU_MS = 10;
/** Renders under {@link SYNC_RENDER_MAX_CPU_MS} an isolate completes (after a longer one) before rendering synchronously. */
const SYNC_AFTER_SHORT_RENDERS = 32;
/**
 * Deployments whose render hit the CPU limit in this thread: they never
 * render synchronously here again, so that a bundle cannot stall the thread
 * repeatedly (once per fresh isolate). Bounded; oldest forgotten first.
 */
const cpuHogs = new Set<string>();
const MAX_CPU_HOGS = 4096;

/** How often running renders' CPU is checked: often enough to stop one near `cpuMs`. */
const CPU_CHECK_MS = (cpuMs: number) => Math.min(100, Math.max(5, Math.floor(cpuMs / 4)));

/**
 * Checks what came out of the isolate. The prelude builds it, but a bundle can
 * patch `Response.prototype` or redefine `status`, so nothing is trusted:
 * a bad shape is the bundle's fault (`FLOTILLA_ERR_RENDER`), never ours.
 */
function invalidResult(result: GuestResult): string | undefined {
  if (typeof result !== 'object' || result === null) return 'not an object';
  if (!result.ok) {
    return typeof result.code === 'string' && typeof result.message === 'string'
      ? undefined
      : 'a malformed error';
  }
  if (!Number.isInteger(result.status) || result.status < 200 || result.status > 599) {
    return `status ${String(result.status)}`;
  }
  if (!Array.isArray(result.headers)) return 'headers that are not a list';
  for (const pair of result.headers) {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      typeof pair[0] !== 'string' ||
      typeof pair[1] !== 'string' ||
      !HEADER_NAME.test(pair[0]) ||
      BAD_HEADER_VALUE.test(pair[1])
    ) {
      return `an invalid header ${JSON.stringify(Array.isArray(pair) ? pair[0] : pair)?.slice(0, 100)}`;
    }
  }
  if (result.bodyText !== null && typeof result.bodyText !== 'string')
    return 'a body that is not text';
  if (result.bodyBytes !== null && !(result.bodyBytes instanceof Uint8Array)) {
    return 'a body that is not bytes';
  }
  return undefined;
}

/** CPU bookkeeping of one running render. */
interface RenderCpu {
  cpuStart: bigint;
  /** Most renders running at once while this one ran: its fair share of the isolate's CPU. */
  overlap: number;
}

/** Why an isolate was disposed while renders were running. */
interface KillReason {
  code: ErrorCode;
  message: string;
}

/** References to the prelude's entry points (`installed` in guest/prelude.ts). */
interface GuestEntries {
  dispatch: ivm.Reference<(init: GuestRequestInit) => Promise<GuestResult>>;
  start: ivm.Reference<(init: GuestRequestInit) => number>;
  take: ivm.Reference<(id: number) => GuestResult | null>;
  wait: ivm.Reference<(id: number) => GuestResult | Promise<GuestResult>>;
  fireTimer: ivm.Reference<(id: number) => void>;
  settle: ivm.Reference<(requestId: string) => number[]>;
  deliverFetch: ivm.Reference<(id: number, result: GuestFetchResult) => void>;
}

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
  readonly #isolate: ivm.Isolate;
  readonly #refs: Array<{ release(): void }> = [];
  readonly #guest: GuestEntries;
  readonly #backend: BackendFetcher;
  readonly #timers = new Map<number, NodeJS.Timeout>();
  /** Timer callbacks running in the isolate now (each settles after its limit checks). */
  readonly #firing = new Set<Promise<void>>();
  /** Render calls into the isolate (`dispatch`, `wait`) not answered yet. */
  readonly #calls = new Set<Promise<unknown>>();
  /**
   * Renders running in the isolate: the function that fails each, the
   * isolate's CPU time when it started, and how many renders it overlapped.
   */
  readonly #running = new Map<(reason: KillReason) => void, RenderCpu>();
  /** Checks CPU per render while any runs (the `timeout` option only covers one synchronous run). */
  #cpuWatch: NodeJS.Timeout | undefined;
  #nextRequest = 0;
  #renders = 0;
  #syncRenders = 0;
  /**
   * Short renders to complete before rendering synchronously again; a fresh
   * isolate renders asynchronously until its first render completed.
   */
  #shortBeforeSync = 1;
  /** True once a render completed (with a result, an error result included). */
  #warm = false;
  #disposed = false;
  #retired = false;
  #killed: KillReason | undefined;

  private constructor(
    options: LoadOptions,
    limits: SandboxLimits,
    isolate: ivm.Isolate,
    guest: GuestEntries,
    refs: Array<{ release(): void }>,
    backend: BackendFetcher,
  ) {
    this.deploymentId = options.deploymentId;
    this.bundleHash = options.bundleHash;
    this.limits = limits;
    this.#isolate = isolate;
    this.#guest = guest;
    this.#backend = backend;
    this.#refs.push(...refs);
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
    const isolate = new ivm.Isolate({ memoryLimit: limits.heapMb });
    const refs: Array<{ release(): void }> = [];
    let self: DeploymentIsolate | undefined;
    // Timers the bundle sets while it loads, replayed once the isolate exists.
    const early: Array<[string, number, number]> = [];
    try {
      const context = await isolate.createContext();
      refs.push(context);
      const log = options.log;
      const logCallback = new ivm.Callback(
        (level: GuestLogEntry['level'], message: string, requestId: string) => {
          log?.({
            level,
            message: String(message).slice(0, 8192),
            deploymentId: options.deploymentId,
            requestId: typeof requestId === 'string' && requestId !== '' ? requestId : undefined,
          });
        },
        { ignored: true },
      );
      const timerCallback = new ivm.Callback(
        (op: string, id: number, ms: number) => {
          if (self) self.timer(op, id, ms);
          else early.push([op, id, ms]);
        },
        { ignored: true },
      );
      // Fetch calls made before `self` exists are refused by the guest (no render runs).
      const fetchCallback = new ivm.Callback(
        (
          id: number,
          owner: string,
          url: string,
          method: string,
          headers: unknown,
          body: unknown,
          redirect: string,
        ) => self?.startFetch(id, owner, { url, method, headers, body, redirect }),
        { ignored: true },
      );
      // Synchronous: the guest's crypto gets `n` fresh bytes from the CSPRNG (copied in).
      const randomCallback = new ivm.Callback((n: number) => {
        const size = Number.isInteger(n) && n > 0 && n <= MAX_RANDOM_BYTES ? n : 0;
        return randomFillSync(new Uint8Array(size));
      });
      // Synchronous: large UTF-8 decodes (a backend's JSON) in Node's native decoder.
      const decodeCallback = new ivm.Callback(decodeUtf8);
      // Compiled with this thread's code cache of the prelude (see installPrelude).
      const installed = await installPrelude(isolate, context, [
        logCallback,
        timerCallback,
        fetchCallback,
        randomCallback,
        decodeCallback,
      ]);
      refs.push(installed);
      const entry = async <K extends keyof GuestEntries | 'hasHandler'>(name: K) => {
        const ref = await installed.get(name, { reference: true });
        refs.push(ref);
        return ref as K extends keyof GuestEntries ? GuestEntries[K] : ivm.Reference<() => boolean>;
      };
      const hasHandler = await entry('hasHandler');
      const guest: GuestEntries = {
        dispatch: await entry('dispatch'),
        start: await entry('start'),
        take: await entry('take'),
        wait: await entry('wait'),
        fireTimer: await entry('fireTimer'),
        settle: await entry('settle'),
        deliverFetch: await entry('deliverFetch'),
      };

      const cache = options.compileCache;
      const cachedData = cache?.get(options.bundleHash);
      let script: ivm.Script;
      try {
        script = await isolate.compileScript(options.code, {
          filename: `flotilla://${options.deploymentId}/bundle.js`,
          ...(cachedData ? { cachedData } : { produceCachedData: cache !== undefined }),
        });
      } catch (err) {
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `bundle of ${options.deploymentId} does not compile: ${describeError(err)}`,
          { cause: err },
        );
      }
      if (cache) {
        // isolated-vm sets these on the script; its typings omit them.
        const produced = script as ivm.Script & {
          cachedData?: ivm.ExternalCopy<ArrayBuffer>;
          cachedDataRejected?: boolean;
        };
        if (produced.cachedDataRejected) cache.delete(options.bundleHash);
        else if (produced.cachedData) cache.set(options.bundleHash, produced.cachedData);
      }
      try {
        await script.run(context, { timeout: limits.cpuMs, release: true });
      } catch (err) {
        if (isTimeout(err)) {
          throw new FlotillaError(
            'FLOTILLA_ERR_CPU_LIMIT',
            `bundle of ${options.deploymentId} used more than ${limits.cpuMs} ms of CPU while loading`,
          );
        }
        if (isMemoryError(err, isolate)) {
          throw new FlotillaError(
            'FLOTILLA_ERR_MEMORY_LIMIT',
            `bundle of ${options.deploymentId} exceeded ${limits.heapMb} MB while loading`,
          );
        }
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `bundle of ${options.deploymentId} threw while loading: ${describeError(err)}`,
          { cause: err },
        );
      }
      if (!(await hasHandler.apply(undefined, [], { timeout: limits.cpuMs }))) {
        throw new FlotillaError(
          'FLOTILLA_ERR_BUNDLE',
          `bundle of ${options.deploymentId} never called Flotilla.serve(handler)`,
        );
      }
      self = new DeploymentIsolate(options, limits, isolate, guest, refs, backend);
      for (const [op, id, ms] of early) self.timer(op, id, ms);
      return self;
    } catch (err) {
      for (const r of refs) r.release();
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  /** @internal host side of the guest's setTimeout/clearTimeout. */
  timer(op: string, id: number, ms: number): void {
    if (this.#disposed) return;
    if (op === 'clear') {
      clearTimeout(this.#timers.get(id));
      this.#timers.delete(id);
      return;
    }
    // The guest keeps MAX_TIMERS alive at most, but its count can run ahead
    // of clears still queued here; the host bound holds whatever the guest does.
    if (op !== 'set' || this.#timers.size >= 2 * MAX_TIMERS) return;
    const delay = Math.min(Math.max(0, ms), this.limits.wallMs);
    const t = setTimeout(() => {
      this.#timers.delete(id);
      if (this.#disposed) return;
      this.#enterGuest(
        this.#guest.fireTimer.apply(undefined, [id], { timeout: this.limits.cpuMs }),
        'a setTimeout callback or what followed it',
      );
    }, delay);
    t.unref();
    this.#timers.set(id, t);
  }

  /**
   * Tracks a call from the host into the isolate outside any render's
   * dispatch (a timer firing, a fetch answer). Each such call (and the
   * microtasks it runs, such as the rest of an awaiting render) gets the CPU
   * limit; past it the isolate is killed and the renders waiting in it fail
   * with FLOTILLA_ERR_CPU_LIMIT.
   */
  #enterGuest(call: Promise<unknown>, what: string): void {
    const firing = call.then(
      () => {},
      (err: unknown) => {
        if (this.#disposed) return;
        if (isTimeout(err)) {
          this.#kill({
            code: 'FLOTILLA_ERR_CPU_LIMIT',
            message: `render of ${this.deploymentId} used more than ${this.limits.cpuMs} ms of CPU in ${what}; isolate disposed`,
          });
        } else if (isMemoryError(err, this.#isolate)) {
          this.#kill({
            code: 'FLOTILLA_ERR_MEMORY_LIMIT',
            message: `render of ${this.deploymentId} exceeded the ${this.limits.heapMb} MB heap; isolate disposed`,
          });
        }
      },
    );
    this.#firing.add(firing);
    void firing.finally(() => this.#firing.delete(firing));
  }

  /**
   * @internal host side of the guest's `fetch`: runs call `id` of render
   * `owner` through the backend bridge and delivers the answer to the guest.
   */
  startFetch(
    id: number,
    owner: string,
    init: { url: unknown; method: unknown; headers: unknown; body: unknown; redirect: unknown },
  ): void {
    if (this.#disposed || typeof id !== 'number' || typeof owner !== 'string') return;
    void this.#backend.fetch(owner, init).then((result) => {
      if (result === undefined || this.disposed) return;
      this.#enterGuest(
        this.#guest.deliverFetch.apply(undefined, [id, result], {
          arguments: { copy: true },
          timeout: this.limits.cpuMs,
        }),
        'code that ran after a fetch answered',
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
    return this.#running.size;
  }

  /** True once disposed (limit hit, recycled or evicted). */
  get disposed(): boolean {
    return this.#disposed || this.#isolate.isDisposed;
  }

  /** Heap used by the isolate, in bytes. */
  heapUsed(): number {
    if (this.disposed) return 0;
    try {
      const s = this.#isolate.getHeapStatisticsSync();
      return s.used_heap_size + s.externally_allocated_size;
    } catch {
      // Disposed between the check and the call (its memory limit, hit by a
      // render still running): it holds nothing any more. Whoever asked (the
      // stats after another deployment's render) must not fail for it.
      return 0;
    }
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
    const backends = this.#backend.withOverrides(
      options.backends,
      (option, problem) => new InvalidOptionError(option, problem),
    );
    const init: GuestRequestInit = {
      method: request.method,
      url: request.url,
      headers: request.headers,
      body: request.body && request.body.byteLength > 0 ? ownBytes(request.body) : null,
      // Unique per render: timers and log lines are tied to it.
      requestId: options.requestId || `render-${++this.#nextRequest}`,
      env,
    };
    const cpuBefore = this.#isolate.cpuTime;
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
    });
    // Synchronously first when the isolate's renders have been short, and
    // when the render cannot outlast its deadline or wall limit before its
    // CPU limit stops it: this thread is blocked meanwhile, so neither of
    // their timers could fire.
    const sync =
      this.#shortBeforeSync === 0 &&
      this.limits.cpuMs <= Math.min(remainingMs, this.limits.wallMs) &&
      !cpuHogs.has(this.deploymentId);
    const run = this.#run(init, scope, cpuBefore, sync);
    let result: GuestResult;
    if (remainingMs < this.limits.wallMs) {
      run.catch(() => {}); // the caller may stop waiting first
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new FlotillaError(
                'FLOTILLA_ERR_DEADLINE',
                `render of ${this.deploymentId} did not finish before the request's deadline (${Math.round(remainingMs)} ms)`,
              ),
            ),
          // Less what the synchronous part of the render took.
          Math.max(0, (options.deadline ?? 0) - Date.now()),
        );
      });
      try {
        result = await Promise.race([run, deadline]);
      } finally {
        clearTimeout(timer);
      }
    } else {
      result = await run;
    }
    const cpuMs = this.disposed ? 0 : Number(this.#isolate.cpuTime - cpuBefore) / 1e6;
    // A fresh isolate's first render is slow anyway (lazy setup, cold code).
    // For the others, cpuMs is approximate when asynchronous (other renders'
    // CPU counts too): it errs towards asynchronous.
    if (!this.#warm) {
      this.#warm = true;
      this.#shortBeforeSync = 0;
    } else if (cpuMs > SYNC_RENDER_MAX_CPU_MS) {
      this.#shortBeforeSync = SYNC_AFTER_SHORT_RENDERS;
    } else if (this.#shortBeforeSync > 0) {
      this.#shortBeforeSync--;
    }
    const problem = invalidResult(result);
    if (problem !== undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_RENDER',
        `render of ${this.deploymentId} returned an invalid response: ${problem}`,
      );
    }
    if (!result.ok) throw fromWireError(result);
    const body =
      result.bodyBytes ?? (result.bodyText !== null ? utf8(result.bodyText) : new Uint8Array(0));
    if (body.byteLength > this.limits.outputBytes) {
      throw new FlotillaError(
        'FLOTILLA_ERR_OUTPUT_LIMIT',
        `response of ${this.deploymentId} is ${body.byteLength} bytes, over the ${this.limits.outputBytes}-byte cap`,
      );
    }
    return { status: result.status, headers: result.headers, body: ownBytes(body), cpuMs };
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
    // isolated-vm's typings resolve `promise: true` results to the promise type itself.
    let call: () => Promise<unknown>;
    if (sync) {
      let id: number;
      try {
        // The microtasks the render queues run within the call, under its timeout.
        id = this.#guest.start.applySync(undefined, [init], {
          arguments: { copy: true },
          timeout: this.limits.cpuMs,
        });
        // Runs prelude code only, and a copy never calls bundle code (getters
        // and proxies are refused), but a timeout costs little.
        const result = this.#guest.take.applySync(undefined, [id], {
          result: { copy: true },
          timeout: this.limits.cpuMs,
        });
        if (result !== null) {
          this.#ranAlone(cpuStart);
          this.#ended(scope);
          this.#syncRenders++;
          return result;
        }
      } catch (err) {
        this.#ranAlone(cpuStart);
        const error = await this.#failure(err);
        this.#ended(scope);
        throw error;
      }
      call = () =>
        this.#guest.wait.apply(undefined, [id], {
          result: { promise: true, copy: true },
          timeout: this.limits.cpuMs,
        });
    } else {
      call = () =>
        this.#guest.dispatch.apply(undefined, [init], {
          arguments: { copy: true },
          result: { promise: true, copy: true },
          timeout: this.limits.cpuMs,
        });
    }
    let fail!: (reason: KillReason) => void;
    const killed = new Promise<never>((_, reject) => {
      fail = (reason) => reject(new FlotillaError(reason.code, reason.message));
    });
    this.#running.set(fail, { cpuStart, overlap: 1 });
    const overlap = this.#running.size;
    for (const cpu of this.#running.values()) cpu.overlap = Math.max(cpu.overlap, overlap);
    this.#cpuWatch ??= setInterval(() => this.#checkCpu(), CPU_CHECK_MS(this.limits.cpuMs));
    this.#cpuWatch.unref();
    const wall = setTimeout(
      () =>
        this.#kill(
          {
            code: 'FLOTILLA_ERR_WALL_LIMIT',
            message: `render of ${this.deploymentId} took longer than ${this.limits.wallMs} ms (wall time); isolate disposed`,
          },
          fail,
        ),
      // Less what the synchronous part of the render took.
      Math.max(0, this.limits.wallMs - (performance.now() - startedAt)),
    );
    const pending = call();
    this.#calls.add(pending);
    void pending.then(
      () => this.#calls.delete(pending),
      () => this.#calls.delete(pending),
    );
    try {
      return (await Promise.race([pending, killed])) as GuestResult;
    } catch (err) {
      const error = await this.#failure(err, fail);
      if (this.#disposed) await this.#quiesce();
      throw error;
    } finally {
      // Sub-requests still in flight are aborted; the guest forgets them in settle.
      scope.end();
      clearTimeout(wall);
      this.#running.delete(fail);
      if (this.#running.size === 0) {
        clearInterval(this.#cpuWatch);
        this.#cpuWatch = undefined;
      }
      this.#renders++;
      if ((this.#timers.size > 0 || scope.calls > 0) && !this.disposed) {
        await this.#settleTimers(init.requestId);
      }
      if (this.#retired && this.#running.size === 0) this.dispose();
    }
  }

  /**
   * A render ran synchronously, alone in the isolate, since `cpuStart`: the
   * CPU it used is not the renders' waiting in the isolate meanwhile.
   */
  #ranAlone(cpuStart: bigint): void {
    if (this.#running.size === 0 || this.#isolate.isDisposed) return;
    const used = this.#isolate.cpuTime - cpuStart;
    for (const cpu of this.#running.values()) cpu.cpuStart += used;
  }

  /** Bookkeeping of a render that ended synchronously (it left no timer and made no `fetch`). */
  #ended(scope: FetchScope): void {
    scope.end();
    this.#renders++;
    if (this.#retired && this.#running.size === 0) this.dispose();
  }

  /**
   * The error a render fails with after a call into the isolate threw `err`,
   * disposing the isolate when `err` is a limit. `fail` is the render's entry
   * in `#running`, if it has one.
   */
  async #failure(err: unknown, fail?: (reason: KillReason) => void): Promise<Error> {
    if (err instanceof FlotillaError) return err;
    // A timer callback that hits a limit terminates the isolate's execution,
    // which rejects this render ("Promise was abandoned") possibly before
    // that callback's own failure, which names the limit, has been handled.
    if (this.#firing.size > 0) await Promise.allSettled([...this.#firing]);
    if (this.#killed) return this.#victimError(this.#killed);
    if (isTimeout(err)) {
      const reason: KillReason = {
        code: 'FLOTILLA_ERR_CPU_LIMIT',
        message: `render of ${this.deploymentId} used more than ${this.limits.cpuMs} ms of CPU; isolate disposed`,
      };
      this.#kill(reason, fail);
      return new FlotillaError(reason.code, reason.message);
    }
    if (isMemoryError(err, this.#isolate)) {
      const reason: KillReason = {
        code: 'FLOTILLA_ERR_MEMORY_LIMIT',
        message: `render of ${this.deploymentId} exceeded the ${this.limits.heapMb} MB heap; isolate disposed`,
      };
      this.#kill(reason, fail);
      return new FlotillaError(reason.code, reason.message);
    }
    return new FlotillaError(
      'FLOTILLA_ERR_RENDER',
      `render of ${this.deploymentId} failed: ${(err as Error).message}`,
      { cause: err },
    );
  }

  /**
   * Cancels the timers a finished render left behind (none outlives its
   * render) and makes the guest forget its unanswered fetch calls.
   */
  async #settleTimers(requestId: string): Promise<void> {
    try {
      const ids = await this.#guest.settle.apply(undefined, [requestId], {
        result: { copy: true },
        timeout: this.limits.cpuMs,
      });
      for (const id of ids) {
        clearTimeout(this.#timers.get(id));
        this.#timers.delete(id);
      }
    } catch {
      // the isolate died meanwhile: its timers went with it
    }
  }

  /**
   * After the isolate was disposed under running calls: waits (at most 1 s)
   * until they have answered. isolated-vm answers each on this thread once
   * the isolate has unwound, and a thread torn down before that (a worker
   * draining) takes the whole process down (`std::terminate`).
   */
  async #quiesce(): Promise<void> {
    const pending = [...this.#calls, ...this.#firing];
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending),
      new Promise((resolve) => {
        timer = setTimeout(resolve, 1000);
      }),
    ]);
    clearTimeout(timer);
  }

  /** Kills the isolate when a render used more than its share of `cpuMs`, across every await. */
  #checkCpu(): void {
    if (this.disposed) return;
    const now = this.#isolate.cpuTime;
    for (const [fail, cpu] of this.#running) {
      const usedMs = Number(now - cpu.cpuStart) / 1e6 / cpu.overlap;
      if (usedMs > this.limits.cpuMs) {
        this.#kill(
          {
            code: 'FLOTILLA_ERR_CPU_LIMIT',
            message: `render of ${this.deploymentId} used more than ${this.limits.cpuMs} ms of CPU; isolate disposed`,
          },
          fail,
        );
        return;
      }
    }
  }

  #victimError(reason: KillReason): FlotillaError {
    return new FlotillaError(
      reason.code,
      `isolate of ${this.deploymentId} was disposed while this render ran: ${reason.message}`,
    );
  }

  /**
   * Disposes the isolate because of `reason`: the `culprit` render fails with
   * it, every other render running in the isolate with a note that it was
   * cut short by another.
   */
  #kill(reason: KillReason, culprit?: (reason: KillReason) => void): void {
    if (this.#disposed) return;
    this.#killed = reason;
    if (reason.code === 'FLOTILLA_ERR_CPU_LIMIT') {
      cpuHogs.delete(this.deploymentId);
      cpuHogs.add(this.deploymentId);
      for (const oldest of cpuHogs) {
        if (cpuHogs.size <= MAX_CPU_HOGS) break;
        cpuHogs.delete(oldest);
      }
    }
    for (const fail of this.#running.keys()) {
      if (fail === culprit) fail(reason);
      else fail({ code: reason.code, message: this.#victimError(reason).message });
    }
    this.#running.clear();
    this.#dispose();
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
      if (this.#running.size === 0) this.dispose();
    });
  }

  /** Disposes the isolate now and releases every Reference; renders still running fail. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    if (this.#running.size > 0) {
      this.#kill({ code: 'FLOTILLA_ERR_INTERNAL', message: 'it was shut down' });
    } else this.#dispose();
  }

  #dispose(): void {
    this.#disposed = true;
    this.#backend.dispose();
    clearInterval(this.#cpuWatch);
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
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
