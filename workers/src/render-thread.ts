/**
 * Runs inside a piscina thread: one isolate per deployment, kept warm in an
 * LRU, one compile cache per thread.
 */
import { readFile } from 'node:fs/promises';
import { BroadcastChannel, type MessagePort, threadId, workerData } from 'node:worker_threads';
import { FlotillaError, toWireError, traceIdOf } from '@flotilla/protocol';
import {
  CompileCache,
  DEFAULT_LIMITS,
  type DeploymentSource,
  IsolateCache,
  type IsolateCacheStats,
  type RenderStreamSink,
  SnapshotCache,
  type SnapshotEvent,
  useGuestPreludeSource,
} from '@flotilla/runtime';
import { Piscina } from 'piscina';
import { CpuSlots, RenderSlot } from './cpu-slots.ts';
import type {
  AppConsoleLine,
  BackendRequestCount,
  IoWaitReport,
  RenderTask,
  RenderTaskResult,
  RenderThreadData,
  StreamMessage,
} from './task.ts';
import { lowerThreadPriority } from './thread-priority.ts';
import { onShutdownRequest } from './thread-shutdown.ts';

const maxIsolates = Number(process.env.FLOTILLA_MAX_ISOLATES_PER_THREAD) || 16;
const data = workerData as RenderThreadData | undefined;
// Renders yield the CPU to routing, this worker's main thread included (thread-priority.ts).
if (data?.nice) lowerThreadPriority(data.nice);
if (data?.prelude) useGuestPreludeSource(data.prelude);

// The bundles' console lines go to the worker process's logger (one writer,
// one format), with the trace id of the render that wrote them.
const appLog = data?.appLogChannel ? new BroadcastChannel(data.appLogChannel) : undefined;
appLog?.unref();
// Renders that run guest code hold one of the thread's CPU slots; those only
// waiting on backend I/O hold none, and the worker process is told how many
// wait (it heartbeats the figure to the schedulers).
const cpuSlots = new CpuSlots(data?.cpuSlots ?? Number.MAX_SAFE_INTEGER);
const ioReports = data?.ioChannel ? new BroadcastChannel(data.ioChannel) : undefined;
ioReports?.unref();
let ioWaiting = 0;
function onIoWaiting(waiting: boolean): void {
  ioWaiting += waiting ? 1 : -1;
  const report: IoWaitReport = { threadId, waiting: ioWaiting };
  ioReports?.postMessage(report);
}

/** Trace id of each render in flight on this thread, by request id. */
const traceIds = new Map<string, string>();

/** Snapshot outcomes not yet reported to the worker process (sent with the next answer). */
let snapshotEvents: SnapshotEvent[] = [];
/** Each deployment's pre-warm paths, from its last pre-warm task: its snapshot renders them. */
const warmupPaths = new Map<string, string[]>();

const isolates = new IsolateCache({
  maxIsolates,
  // FLOTILLA_SNAPSHOTS=0 turns them off for a whole process (an operator's escape hatch).
  ...(data?.snapshots === false || process.env.FLOTILLA_SNAPSHOTS === '0'
    ? {}
    : {
        snapshots: new SnapshotCache({
          maxEntries: maxIsolates,
          onSnapshot: (event) => {
            if (snapshotEvents.length < 100) snapshotEvents.push(event);
          },
        }),
      }),
  ceiling: data?.limits ?? DEFAULT_LIMITS,
  compileCache: new CompileCache(),
  ...(appLog
    ? {
        log: (entry) => {
          const line: AppConsoleLine = {
            level: entry.level,
            message: entry.message,
            deploymentId: entry.deploymentId,
            requestId: entry.requestId,
            traceId: entry.requestId === undefined ? undefined : traceIds.get(entry.requestId),
          };
          appLog.postMessage(line);
        },
      }
    : {}),
});

// Before the pool closes, the worker has the isolates disposed here, on this
// thread's own loop; the thread answers once every call into them has answered.
if (data?.controlChannel)
  onShutdownRequest(data.controlChannel, threadId, () => isolates.disposeAll());

let stats: IsolateCacheStats = { isolates: 0, heapBytes: 0 };
let statsAt = 0;

/** Isolate count and heap, resampled at most every 500 ms (heap reads cost per isolate). */
function isolateStats(): IsolateCacheStats {
  const t = Date.now();
  if (t - statsAt >= 500) {
    stats = isolates.stats();
    statsAt = t;
  }
  return stats;
}

/** `result`, with `body`'s buffer transferred to the worker's main thread rather than cloned. */
function moved(body: Uint8Array, result: RenderTaskResult): RenderTaskResult {
  if (body.byteOffset !== 0 || body.byteLength !== body.buffer.byteLength) return result;
  const transferable = {
    [Piscina.transferableSymbol]: [body.buffer],
    [Piscina.valueSymbol]: result,
  };
  return Piscina.move(
    transferable as unknown as Parameters<typeof Piscina.move>[0],
  ) as unknown as RenderTaskResult;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** What every answer of the thread carries besides the task's outcome and timings. */
type ThreadState = Omit<RenderTaskResult, 'ok' | 'timings'>;

/** The thread's state after a task: its isolates, and the render's backend `fetch` calls if any. */
function threadState(
  cold: boolean,
  loaded: boolean,
  fetches: Map<string, BackendRequestCount>,
  fromSnapshot = false,
): ThreadState {
  const state: ThreadState = {
    cold,
    loaded,
    warm: isolates.warm(),
    isolates: isolateStats(),
    threadId,
  };
  if (fromSnapshot) state.fromSnapshot = true;
  if (fetches.size > 0) state.backendRequests = [...fetches.values()];
  if (snapshotEvents.length > 0) {
    state.snapshotEvents = snapshotEvents;
    snapshotEvents = [];
  }
  return state;
}

/**
 * A render's stream sink posting to the worker's main thread on `port`
 * (chunks transferred, not cloned), and the credit the main thread sends
 * back passed on to the render. Counts the chunks posted.
 */
function portSink(port: MessagePort): RenderStreamSink & { readonly chunks: number } {
  let chunks = 0;
  return {
    get chunks() {
      return chunks;
    },
    head(status, headers, credit, cancel) {
      port.on('message', (m: { credit?: unknown; cancel?: unknown }) => {
        if (typeof m?.credit === 'number') credit(m.credit);
        else if (typeof m?.cancel === 'string') cancel(m.cancel);
      });
      port.postMessage({ type: 'head', status, headers } satisfies StreamMessage);
    },
    chunk(bytes) {
      chunks++;
      const own =
        bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
          ? bytes
          : bytes.slice();
      port.postMessage({ type: 'chunk', bytes: own } satisfies StreamMessage, [
        own.buffer as ArrayBuffer,
      ]);
    },
  };
}

export default async function render(task: RenderTask): Promise<RenderTaskResult> {
  const slot = new RenderSlot(cpuSlots, onIoWaiting);
  await slot.acquire();
  const started = now();
  const timings: Record<string, number> = { queue: Math.max(0, started - task.queuedAt) };
  let cold = false;
  let loaded = false;
  let fromSnapshot = false;
  let renderStart: number | undefined;
  let sink: ReturnType<typeof portSink> | undefined;
  const fetches = new Map<string, BackendRequestCount>();
  const onBackendRequest = (backend: string, outcome: string) => {
    const key = `${backend}\n${outcome}`;
    const known = fetches.get(key);
    if (known) known.count++;
    else fetches.set(key, { backend, outcome, count: 1 });
  };
  const traceId = task.traceparent ? traceIdOf(task.traceparent) : undefined;
  if (traceId) traceIds.set(task.requestId, traceId);
  try {
    if (Date.now() >= task.deadline) {
      throw new FlotillaError('FLOTILLA_ERR_DEADLINE', 'deadline passed while queued for a thread');
    }
    const source: DeploymentSource = {
      deploymentId: task.deploymentId,
      bundleHash: task.bundleHash,
      loadCode: () => readFile(task.bundlePath, 'utf8'),
      // The manifest's names (a task without them: its own backends).
      ...((task.declaredBackends ?? task.backends)
        ? { backends: task.declaredBackends ?? task.backends }
        : {}),
      // What the deployment asks for; the isolate gets it clamped to the
      // thread's ceiling (validated, naming `limits.cpuMs`, when it loads).
      ...(task.limits !== undefined ? { limits: task.limits } : {}),
    };
    if (task.prewarm && task.prewarmPaths) {
      warmupPaths.delete(task.deploymentId);
      warmupPaths.set(task.deploymentId, task.prewarmPaths);
      // The oldest go past 1000 deployments (their snapshots then warm up nothing).
      for (const id of warmupPaths.keys()) {
        if (warmupPaths.size <= 1000) break;
        warmupPaths.delete(id);
      }
    }
    const paths = warmupPaths.get(task.deploymentId);
    if (paths) source.warmupPaths = paths;
    // Per render: environments of one deployment share its isolate, each
    // with its own variables and backend origins.
    const perRender = {
      ...(task.env ? { env: task.env } : {}),
      ...(task.backends ? { backends: task.backends } : {}),
    };
    if (task.prewarm) {
      const origin = new URL(task.request.url).origin;
      const warmed = await isolates.prewarm(source, {
        deadline: task.deadline,
        url: task.request.url,
        ...(task.prewarmPaths?.length
          ? { urls: task.prewarmPaths.map((path) => `${origin}${path}`) }
          : {}),
        render: task.prewarm !== 'load',
        ...perRender,
      });
      timings.render = warmed.renderMs;
      if (warmed.cold) timings.load = warmed.loadMs;
      return {
        ok: true,
        status: warmed.status,
        headers: [],
        body: new Uint8Array(0),
        cpuMs: 0,
        timings,
        ...threadState(warmed.cold, warmed.cold, fetches, warmed.fromSnapshot),
      };
    }
    const acquired = await isolates.acquire(source);
    sink = task.stream ? portSink(task.stream) : undefined;
    cold = acquired.cold;
    loaded = acquired.loaded;
    fromSnapshot = loaded && acquired.isolate.fromSnapshot;
    renderStart = now();
    if (cold) timings.load = renderStart - started;
    const response = await acquired.isolate.render(task.request, {
      deadline: task.deadline,
      requestId: task.requestId,
      ...(task.traceparent ? { traceparent: task.traceparent } : {}),
      ...perRender,
      onBackendRequest,
      io: { waiting: () => slot.waiting(), resume: () => slot.acquire() },
      ...(sink ? { stream: sink } : {}),
    });
    timings.render = now() - renderStart;
    // The body's buffer is the thread's own: hand it over instead of copying it.
    return moved(response.body, {
      ok: true,
      status: response.status,
      headers: response.headers,
      body: response.body,
      cpuMs: response.cpuMs,
      timings,
      ...(response.streamed && sink ? { streamedChunks: sink.chunks } : {}),
      ...threadState(cold, loaded, fetches, fromSnapshot),
    });
  } catch (err) {
    if (renderStart !== undefined) timings.render = now() - renderStart;
    return {
      ok: false,
      error: toWireError(err),
      timings,
      ...threadState(cold, loaded, fetches),
    };
  } finally {
    slot.end();
    traceIds.delete(task.requestId);
    // The worker's main thread closes the port once it has every chunk
    // (closing it here could drop chunks still queued).
  }
}
