/**
 * The options of a deployment's isolate ({@link DeploymentIsolate}): what
 * loading it takes and what each render may add.
 *
 * @module
 */
import type { CompileCache } from './compile-cache.ts';
import type { GuestLogEntry } from './console-capture.ts';
import type { RenderIoGate } from './io-wait.ts';
import type { SandboxLimits } from './limits.ts';
import type { DeploymentIsolate } from './sandbox.ts';
import type { DeploymentSnapshot } from './snapshot-cache.ts';

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
  /**
   * The deployment's startup snapshot, from a `SnapshotCache` of this
   * thread (never from anywhere else: it holds machine code; anything else,
   * or another deployment's, is refused with `FLOTILLA_ERR_INVALID_OPTION`).
   * The isolate starts from it instead of compiling and evaluating `code`.
   * @default none
   */
  snapshot?: DeploymentSnapshot;
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
  /**
   * Creates the isolate with V8's inspector, so that
   * `DeploymentIsolate.profiler` can sample it. For benchmarks and
   * diagnosis only, never for a deployment in service: an inspector session
   * can do anything in the isolate, and the isolate runs slower. @default false
   */
  profiling?: boolean;
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
  /**
   * Told when the render only waits on backend `fetch` calls (no guest code
   * of it runs) and awaited before the guest's continuation of an answered
   * call runs: the caller's CPU slot for the render may serve another
   * render meanwhile. See `runtime/README.md`, "Backend fetch".
   * @default none (the render holds whatever the caller gave it throughout)
   */
  io?: RenderIoGate;
  /**
   * Stream a body the handler gives as a `ReadableStream` out chunk by chunk
   * (React's `renderToReadableStream`, Vue's `renderToWebStream`): the head
   * and each chunk go to this sink as the bundle produces them, and the
   * render resolves, once the stream ended, with an empty body and
   * `streamed: true`. Without it (or for a text or bytes body) the body comes
   * whole in the response. The output cap, the CPU and wall limits and the
   * deadline hold over the whole stream. See `runtime/README.md`, "Streamed bodies".
   * @default none (bodies are read whole)
   */
  stream?: RenderStreamSink;
}

/** Where a render streams its body ({@link RenderOptions.stream}). */
export interface RenderStreamSink {
  /**
   * The response's status and headers, once, before any chunk. `credit`
   * gives the render back bytes it streamed once they have left (the guest
   * stops reading its stream while 512 KiB are out unacknowledged).
   * `cancel(reason)` ends the render (its request's signal aborts; the
   * stream fails): nobody reads on.
   */
  head(
    status: number,
    headers: Array<[string, string]>,
    credit: (bytes: number) => void,
    cancel: (reason: string) => void,
  ): void;
  /** One chunk of the body (a copy of the render's own), in order. */
  chunk(bytes: Uint8Array): void;
}
