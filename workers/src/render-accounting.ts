/**
 * What a worker learns from each answer of its render threads: which
 * deployments each thread holds warm, its isolates and their heap, its
 * startup snapshots (metrics and log lines), and the per-render metrics
 * (renders' time and CPU, cold starts, backend calls).
 *
 * @module
 */
import type { LogFn, RenderRequest, RenderResult } from '@flotilla/protocol';
import { type IsolateCacheStats, UNDECLARED_BACKEND } from '@flotilla/runtime';
import type { WorkerMetrics } from './metrics.ts';
import type { BackendRequestCount, RenderTaskResult } from './task.ts';

/** Outcomes of backend fetch calls, as the sandbox reports them (a bounded label set). */
const BACKEND_OUTCOMES = new Set([
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'refused',
  'limit',
  'deadline',
  'aborted',
  'too_large',
  'redirect',
  'network',
  'error',
]);

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** The render threads' state as their answers report it, and the metrics of each render. */
export class RenderAccounting {
  readonly #workerId: string;
  readonly #metrics: WorkerMetrics;
  readonly #log: LogFn;
  readonly #warmByThread = new Map<number, string[]>();
  readonly #isolatesByThread = new Map<number, IsolateCacheStats>();

  constructor(workerId: string, metrics: WorkerMetrics, log: LogFn) {
    this.#workerId = workerId;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Deployments warm on at least one thread. */
  warm(): string[] {
    return [...new Set([...this.#warmByThread.values()].flat())].sort();
  }

  /** Threads holding `deploymentId` warm. */
  warmThreads(deploymentId: string): number {
    return [...this.#warmByThread.values()].filter((w) => w.includes(deploymentId)).length;
  }

  /** Heap of every thread's isolates, bytes. */
  heapBytes(): number {
    let heapBytes = 0;
    for (const s of this.#isolatesByThread.values()) heapBytes += s.heapBytes;
    return heapBytes;
  }

  /**
   * Records the thread state an answer carries (warm deployments, isolates,
   * a cold start, from a snapshot or not, and the thread's snapshot events).
   */
  thread(deploymentId: string, out: RenderTaskResult): void {
    this.#warmByThread.set(out.threadId, out.warm);
    this.#isolatesByThread.set(out.threadId, out.isolates);
    let isolates = 0;
    for (const s of this.#isolatesByThread.values()) isolates += s.isolates;
    this.#metrics.liveIsolates.set({ worker: this.#workerId }, isolates);
    this.#metrics.isolateHeapBytes.set({ worker: this.#workerId }, this.heapBytes());
    if (out.loaded) this.#metrics.coldStarts.inc({ deployment: deploymentId });
    if (out.loaded && out.fromSnapshot) {
      this.#metrics.snapshotStarts.inc({ deployment: deploymentId });
    }
    for (const event of out.snapshotEvents ?? []) {
      this.#metrics.snapshots.inc({ outcome: event.outcome });
      this.#log({
        msg: `snapshot ${event.outcome}`,
        worker: this.#workerId,
        thread: out.threadId,
        deployment: event.deploymentId,
        ms: Math.round(event.ms),
        ...(event.bytes !== undefined ? { bytes: event.bytes } : {}),
        ...(event.message !== undefined ? { reason: event.message } : {}),
      });
    }
  }

  /**
   * A render's answer recorded (its thread, its metrics), as the render
   * result: `received` is when the worker got the request (epoch ms).
   */
  render(
    req: RenderRequest,
    declared: Record<string, string>,
    out: RenderTaskResult,
    received: number,
  ): RenderResult {
    this.thread(req.deploymentId, out);
    this.#countBackendRequests(req.deploymentId, declared, out.backendRequests);
    const timings = { ...out.timings, worker: now() - received };
    if (out.timings.render !== undefined) {
      this.#metrics.renderSeconds.observe(
        { deployment: req.deploymentId, outcome: out.ok ? 'ok' : out.error.code },
        out.timings.render / 1000,
      );
    }
    if (!out.ok) return { ok: false, error: out.error, timings };
    this.#metrics.renderCpuSeconds.observe({ deployment: req.deploymentId }, out.cpuMs / 1000);
    return { ok: true, status: out.status, headers: out.headers, body: out.body, timings };
  }

  /**
   * Counts a render's backend fetch calls. Labels stay bounded: a backend
   * name the manifest does not declare (which the sandbox never reports)
   * and an unknown outcome are folded into fixed values.
   */
  #countBackendRequests(
    deploymentId: string,
    backends: Record<string, string> | undefined,
    counts: BackendRequestCount[] | undefined,
  ): void {
    for (const { backend, outcome, count } of counts ?? []) {
      const declared = backends !== undefined && Object.hasOwn(backends, backend);
      this.#metrics.backendRequests.inc(
        {
          deployment: deploymentId,
          backend: declared ? backend : UNDECLARED_BACKEND,
          outcome: BACKEND_OUTCOMES.has(outcome) ? outcome : 'error',
        },
        count,
      );
    }
  }
}
