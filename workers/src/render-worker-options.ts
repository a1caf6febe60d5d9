import type { LogFn } from '@flotilla/protocol';
import type { SandboxLimits } from '@flotilla/runtime';
import type { Transport } from '@flotilla/transport';
import type { Registry } from 'prom-client';
import type { BundleStore } from './bundle-store.ts';

/** Options of `RenderWorker` (render-worker.ts). */
export interface RenderWorkerOptions {
  /** Transport to the region (NATS, or in-process for `flotilla start`). */
  transport: Transport;
  /** Region this worker serves, e.g. `us-east`. */
  region: string;
  /** Where deployments' bundles are read from. */
  bundles: BundleStore;
  /**
   * Unique id of this worker process in the region.
   * @default `w-` + 8 random hex characters
   */
  workerId?: string;
  /**
   * piscina threads, each holding its own isolates.
   * @default os.availableParallelism()
   */
  threads?: number;
  /**
   * Renders a thread runs at once (they interleave while awaiting the host).
   * @default 4
   */
  tasksPerThread?: number;
  /**
   * Added to the nice value of each render thread (0…19), so that tenants'
   * CPU-bound renders yield the CPU to routing: the shields, schedulers and
   * nats-server on a machine they share, and this worker's own main thread
   * (heartbeats, NATS, answers), which keeps its priority.
   * @default 0
   */
  renderNice?: number;
  /**
   * Renders in flight at once: running, waiting on backend I/O or queued
   * for a CPU slot. Only renders running guest code hold one of the CPU
   * slots (`threads × tasksPerThread`); a render awaiting its backend
   * `fetch` calls holds none, so up to this many may be admitted while
   * others wait on slow backends. At least `threads × tasksPerThread`.
   * @default 4 × threads × tasksPerThread
   */
  ioSlots?: number;
  /**
   * Least time in ms between two load updates: an extra heartbeat sent when
   * the count of renders waiting on I/O changes or a render ends, so that
   * schedulers see CPU slots freed well before the next heartbeat. 0 sends
   * one on every change.
   * @default 50
   */
  loadUpdateMs?: number;
  /**
   * Heartbeat interval in ms.
   * @default 1000
   */
  heartbeatIntervalMs?: number;
  /**
   * Limits every render is held to, each unset one at the runtime's default
   * (`DEFAULT_LIMITS`). They may be above the defaults. They are the
   * ceiling: a deployment whose manifest asks for lower `limits` gets those,
   * one asking for more gets these.
   * @example { cpuMs: 2000, heapMb: 256 }
   */
  limits?: Partial<SandboxLimits>;
  /**
   * Start isolates from deployments' V8 startup snapshots: a deployment
   * loaded fresh on a thread a second time (recycled, evicted and reloaded,
   * killed by a limit) gets one made there in the background (a child
   * process per snapshot), and its later isolates on that thread start from
   * it. See
   * `runtime/README.md`, "Startup snapshots". @default true
   */
  snapshots?: boolean;
  /** prom-client registry for the worker metrics. @default a private Registry */
  registry?: Registry;
  /** Structured log sink for the worker's own lines (`{ msg, … }`). @default no logging */
  log?: LogFn;
  /**
   * Receives the bundles' `console.*` lines, as `{ msg, level, source: 'app',
   * worker, deployment, requestId, traceId }` (`level`: `debug`, `info` for
   * `console.log`/`info`, `warn`, `error`). Kept apart from `log`: what a
   * tenant prints is its own (it may print its own secrets); the fleet sends
   * both to one logger.
   * @default discard
   */
  appLog?: LogFn;
}
