import { LATENCY_BUCKETS, metricSet } from '@flotilla/metrics';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The worker metrics registered in a registry; created once per registry and shared. */
export const workerMetrics = metricSet((registers) => ({
  renders: new Counter({
    name: 'flotilla_worker_renders_total',
    help: 'Renders finished by worker processes, by deployment and outcome (ok or an error code).',
    labelNames: ['deployment', 'outcome'],
    registers,
  }),
  renderSeconds: new Histogram({
    name: 'flotilla_worker_render_seconds',
    help: 'Wall time of renders inside the isolate, by deployment and outcome (ok or an error code).',
    labelNames: ['deployment', 'outcome'],
    buckets: [...LATENCY_BUCKETS],
    registers,
  }),
  renderCpuSeconds: new Histogram({
    name: 'flotilla_worker_render_cpu_seconds',
    help: 'CPU time the isolate spent on each successful render.',
    labelNames: ['deployment'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  }),
  errors: new Counter({
    name: 'flotilla_worker_errors_total',
    help: 'Failed renders by error code, and whose fault: user (the bundle) or system (the fleet).',
    labelNames: ['code', 'kind'],
    registers,
  }),
  liveIsolates: new Gauge({
    name: 'flotilla_worker_live_isolates',
    help: 'Isolates alive across the threads of the worker process.',
    labelNames: ['worker'],
    registers,
  }),
  isolateHeapBytes: new Gauge({
    name: 'flotilla_worker_isolate_heap_bytes',
    help: 'Heap used by the live isolates of the worker process.',
    labelNames: ['worker'],
    registers,
  }),
  coldStarts: new Counter({
    name: 'flotilla_worker_cold_starts_total',
    help: 'Isolates created to serve a deployment that was not warm on the thread.',
    labelNames: ['deployment'],
    registers,
  }),
  backendRequests: new Counter({
    name: 'flotilla_worker_backend_requests_total',
    help: 'Backend fetch calls made by renders, by deployment, declared backend ("(undeclared)" when refused before reaching one) and outcome (status class such as 2xx, or refused, limit, deadline, aborted, too_large, redirect, network, error).',
    labelNames: ['deployment', 'backend', 'outcome'],
    registers,
  }),
  inFlight: new Gauge({
    name: 'flotilla_worker_in_flight',
    help: 'Renders running or queued in the worker process.',
    labelNames: ['worker'],
    registers,
  }),
  capacity: new Gauge({
    name: 'flotilla_worker_capacity',
    help: 'Renders the worker process runs at once (threads × tasks per thread).',
    labelNames: ['worker'],
    registers,
  }),
}));

/** Metrics of the worker processes ({@link workerMetrics}). */
export type WorkerMetrics = ReturnType<typeof workerMetrics>;
