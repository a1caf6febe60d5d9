import type { MessagePort } from 'node:worker_threads';
import type { StageTimings, WireError } from '@flotilla/protocol';
import type {
  IsolateCacheStats,
  SandboxLimits,
  SandboxRequest,
  SnapshotEvent,
} from '@flotilla/runtime';

/** What the worker process hands a render thread (structured-cloned). */
export interface RenderTask {
  deploymentId: string;
  bundleHash: string;
  /** Absolute path of the deployment's `bundle.js`. */
  bundlePath: string;
  request: SandboxRequest;
  /** Absolute deadline, epoch ms. */
  deadline: number;
  requestId: string;
  /** When the task was queued (epoch ms, fractional), to measure queue wait. */
  queuedAt: number;
  /**
   * A synthetic render that only warms the deployment on the thread: `GET`
   * of the request's URL, or (`'load'`) no render at all, only the load.
   */
  prewarm?: boolean | 'load';
  /**
   * Paths the deployment renders itself, for a pre-warm (rendered in order,
   * the request's URL's origin before each) and for its snapshot's warm-up
   * (the thread keeps them per deployment). @default the request's path
   */
  prewarmPaths?: string[];
  /**
   * The manifest's backends (name → origin): an isolate loading for this
   * task declares them, and their names are all a render may ever use.
   */
  declaredBackends?: Record<string, string>;
  /**
   * Backends the bundle may fetch in this render (name → origin): the
   * declared ones with the environment's origins. Passed as the render's
   * re-pointed backends; a name not in {@link declaredBackends} fails the
   * render with `FLOTILLA_ERR_INVALID_OPTION`.
   */
  backends?: Record<string, string>;
  /** The environment's variables and secrets for this render: `handler(request, env)`. */
  env?: Record<string, string>;
  /** The render request's W3C `traceparent`: backend sub-requests continue its trace. */
  traceparent?: string;
  /**
   * The limits the deployment asks for (its manifest's `limits`): an
   * isolate loading for this task is held to the smaller of these and the
   * thread's {@link RenderThreadData.limits}. Absent: the thread's limits.
   */
  limits?: Partial<SandboxLimits>;
  /**
   * Stream a `ReadableStream` body out on this port as it is produced
   * ({@link StreamMessage}s), rather than return it whole; the port also
   * brings credit back (`{ credit: bytes }`). Transferred with the task.
   */
  stream?: MessagePort;
}

/** What a render thread posts on a task's stream port: the head, then each chunk. */
export type StreamMessage =
  | { type: 'head'; status: number; headers: Array<[string, string]> }
  | { type: 'chunk'; bytes: Uint8Array };

/** Backend sub-requests of one render with one backend and outcome. */
export interface BackendRequestCount {
  /** A declared backend name, or `(undeclared)` for calls refused before reaching one. */
  backend: string;
  /** Status class (`2xx`…`5xx`) or a failure (`refused`, `limit`, `deadline`, …). */
  outcome: string;
  count: number;
}

/** What every render thread is started with (piscina `workerData`). */
export interface RenderThreadData {
  /** The operator's limits: every render on the thread is held to them. */
  limits: SandboxLimits;
  /** The guest prelude, built once by the worker process for all its threads. */
  prelude?: string;
  /**
   * Name of the `BroadcastChannel` the thread posts the bundles' `console.*`
   * lines to ({@link AppConsoleLine}); the worker process logs them. Absent:
   * they are discarded.
   */
  appLogChannel?: string;
  /**
   * CPU slots of the thread: renders running guest code at once (the
   * worker's `tasksPerThread`). Renders waiting on backend I/O hold none.
   * @default unbounded
   */
  cpuSlots?: number;
  /** Name of the `BroadcastChannel` the thread posts its {@link IoWaitReport}s to. Absent: none. */
  ioChannel?: string;
  /** Name of the `BroadcastChannel` on which the worker asks the thread to dispose its isolates before the pool closes. */
  controlChannel?: string;
  /** Start isolates from deployments' startup snapshots, made on the thread (see `SnapshotCache`). @default true */
  snapshots?: boolean;
  /** Added to the thread's nice value when it starts (`RenderWorkerOptions.renderNice`). @default 0 */
  nice?: number;
}

/** How many renders of one thread only wait on backend I/O now, posted on each change. */
export interface IoWaitReport {
  threadId: number;
  waiting: number;
}

/** One line a bundle wrote with `console.*`, as a render thread posts it. */
export interface AppConsoleLine {
  level: 'log' | 'info' | 'warn' | 'error' | 'debug';
  message: string;
  deploymentId: string;
  requestId: string | undefined;
  /** Trace id of the render's `traceparent`, when it had one. */
  traceId: string | undefined;
}

/** What a render thread answers. */
export type RenderTaskResult = {
  /** Deployments warm on the thread that ran the task. */
  warm: string[];
  threadId: number;
  /** The task waited for its deployment's isolate to load. */
  cold: boolean;
  /** The task started that load (one per isolate created: count cold starts with it). */
  loaded: boolean;
  /** That load started the isolate from the deployment's snapshot. */
  fromSnapshot?: boolean;
  /** Snapshots the thread made, refused or failed since its last answer. */
  snapshotEvents?: SnapshotEvent[];
  /** Live isolates and their heap on the thread, sampled at most twice a second. */
  isolates: IsolateCacheStats;
  timings: StageTimings;
  /** The render's backend `fetch` calls (successful or not), when it made any. */
  backendRequests?: BackendRequestCount[];
} & (
  | {
      ok: true;
      status: number;
      headers: Array<[string, string]>;
      body: Uint8Array;
      cpuMs: number;
      /** The body went out on the task's stream port, in this many chunks (`body` is empty). */
      streamedChunks?: number;
    }
  | { ok: false; error: WireError }
);
