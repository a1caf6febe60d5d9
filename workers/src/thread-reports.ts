/**
 * What a worker's render threads report with each answer (their warm
 * deployments, isolates, cold starts, snapshots, backend `fetch` calls),
 * kept per thread and turned into the worker's metrics and log lines.
 *
 * @module
 */
import type { LogFn } from '@flotilla/protocol';
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

/** The last report of each render thread of one worker, and the metrics they feed. */
export class ThreadReports {
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

  /** Deployments warm on at least one thread, sorted. */
  warm(): string[] {
    return [...new Set([...this.#warmByThread.values()].flat())].sort();
  }

  /** Threads on which `deploymentId` is warm. */
  warmThreads(deploymentId: string): number {
    return [...this.#warmByThread.values()].filter((w) => w.includes(deploymentId)).length;
  }

  /** Heap used by the live isolates of every thread, as last reported. */
  heapBytes(): number {
    let heapBytes = 0;
    for (const s of this.#isolatesByThread.values()) heapBytes += s.heapBytes;
    return heapBytes;
  }

  /** What every thread answer tells besides its outcome: warm deployments, isolates, cold starts, snapshots. */
  record(deploymentId: string, out: RenderTaskResult): void {
    this.#warmByThread.set(out.threadId, out.warm);
    this.#recordIsolates(out.threadId, out.isolates);
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

  #recordIsolates(threadId: number, stats: IsolateCacheStats): void {
    this.#isolatesByThread.set(threadId, stats);
    let isolates = 0;
    for (const s of this.#isolatesByThread.values()) isolates += s.isolates;
    this.#metrics.liveIsolates.set({ worker: this.#workerId }, isolates);
    this.#metrics.isolateHeapBytes.set({ worker: this.#workerId }, this.heapBytes());
  }

  /**
   * Counts a render's backend fetch calls. Labels stay bounded: a backend
   * name the manifest does not declare (which the sandbox never reports)
   * and an unknown outcome are folded into fixed values.
   */
  countBackendRequests(
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
