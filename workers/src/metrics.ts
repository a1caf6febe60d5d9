import { CPU_BUCKETS, counter, gauge, histogram, metricSet, startAtZero } from '@flotilla/metrics';
import { ERROR_CODES } from '@flotilla/protocol';

/** The worker metrics registered in a registry; created once per registry and shared. */
// biome-ignore format: a table, one metric a line
export const workerMetrics = metricSet((registers) => ({
  renders:          counter(registers, 'flotilla_worker_renders_total', ['deployment', 'outcome'], 'Renders finished by worker processes, by deployment and outcome (ok or an error code).'),
  renderSeconds:    histogram(registers, 'flotilla_worker_render_seconds', ['deployment', 'outcome'], 'Wall time of renders inside the isolate, by deployment and outcome (ok or an error code).'),
  renderCpuSeconds: histogram(registers, 'flotilla_worker_render_cpu_seconds', ['deployment'], 'CPU time the isolate spent on each successful render.', CPU_BUCKETS),
  errors:           counter(registers, 'flotilla_worker_errors_total', ['code', 'kind'], 'Failed renders by error code, and whose fault: user (the bundle) or system (the fleet).'),
  liveIsolates:     gauge(registers, 'flotilla_worker_live_isolates', ['worker'], 'Isolates alive across the threads of the worker process.'),
  isolateHeapBytes: gauge(registers, 'flotilla_worker_isolate_heap_bytes', ['worker'], 'Heap used by the live isolates of the worker process.'),
  coldStarts:       counter(registers, 'flotilla_worker_cold_starts_total', ['deployment'], 'Isolates created to serve a deployment that was not warm on the thread.'),
  snapshotStarts:   counter(registers, 'flotilla_worker_snapshot_starts_total', ['deployment'], 'Of the cold starts, isolates started from the deployment\'s startup snapshot (no compile, no evaluation).'),
  snapshots:        counter(registers, 'flotilla_worker_snapshots_total', ['outcome'], 'Startup snapshots of deployments the render threads tried to make, by outcome: made, refused (the bundle cannot be held in one) or failed (time, memory, crash).'),
  backendRequests:  counter(registers, 'flotilla_worker_backend_requests_total', ['deployment', 'backend', 'outcome'], 'Backend fetch calls made by renders, by deployment, declared backend ("(undeclared)" when refused before reaching one) and outcome (status class such as 2xx, or refused, limit, deadline, aborted, too_large, redirect, network, error).'),
  inFlight:         gauge(registers, 'flotilla_worker_in_flight', ['worker'], 'Renders running or queued in the worker process.'),
  capacity:         gauge(registers, 'flotilla_worker_capacity', ['worker'], 'CPU slots of the worker process: renders running guest code at once (threads × tasks per thread).'),
  ioSlots:          gauge(registers, 'flotilla_worker_io_slots', ['worker'], 'Renders the worker process holds in flight at once, running or waiting on backend I/O (--io-slots).'),
  ioWaiting:        gauge(registers, 'flotilla_worker_io_waiting', ['worker'], 'Renders of the worker process that only wait on backend fetch calls now (they hold no CPU slot).'),
}));

/** Metrics of the worker processes ({@link workerMetrics}). */
export type WorkerMetrics = ReturnType<typeof workerMetrics>;

/**
 * Puts the worker's error counter at 0 for every error code (with its kind),
 * so render failures are scraped before the first one happens.
 */
export function workerCountersAtZero(metrics: WorkerMetrics): void {
  startAtZero(
    metrics.errors,
    Object.entries(ERROR_CODES).map(([code, info]) => ({ code, kind: info.kind })),
  );
  startAtZero(
    metrics.snapshots,
    ['made', 'refused', 'failed'].map((outcome) => ({ outcome })),
  );
}
