import { LATENCY_BUCKETS, metricSet } from '@flotilla/metrics';
import { Counter, Gauge, Histogram } from 'prom-client';

/** The scheduler metrics registered in a registry; created once per registry. */
export const schedulerMetrics = metricSet((registers) => ({
  dispatches: new Counter({
    name: 'flotilla_scheduler_dispatches_total',
    help: 'Misses dispatched by the scheduler, by region and outcome (ok or an error code).',
    labelNames: ['region', 'outcome'],
    registers,
  }),
  retries: new Counter({
    name: 'flotilla_scheduler_retries_total',
    help: 'Renders sent to a second worker, by reason (the error code of the first try).',
    labelNames: ['region', 'reason'],
    registers,
  }),
  liveWorkers: new Gauge({
    name: 'flotilla_scheduler_live_workers',
    help: 'Workers this scheduler sees heartbeating and not draining.',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  dispatchSeconds: new Histogram({
    name: 'flotilla_scheduler_dispatch_seconds',
    help: 'Time from a miss reaching the scheduler to its answer, including the render.',
    labelNames: ['region'],
    buckets: [...LATENCY_BUCKETS],
    registers,
  }),
  inFlight: new Gauge({
    name: 'flotilla_scheduler_in_flight',
    help: 'Renders in flight on the live workers of the region, as this scheduler sees them.',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  dispatching: new Gauge({
    name: 'flotilla_scheduler_dispatching',
    help: 'Misses this scheduler is handling now (queued or waiting on a worker).',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  capacity: new Gauge({
    name: 'flotilla_scheduler_capacity',
    help: 'Renders the live workers of the region take at once (sum of their capacity).',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  queueDepth: new Gauge({
    name: 'flotilla_scheduler_queue_depth',
    help: 'Misses waiting in this scheduler for a worker with room.',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  queueSeconds: new Histogram({
    name: 'flotilla_scheduler_queue_wait_seconds',
    help: 'Time misses waited for a worker with room (only those that had to wait).',
    labelNames: ['region'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  }),
  shed: new Counter({
    name: 'flotilla_scheduler_shed_total',
    help: 'Misses refused with FLOTILLA_ERR_OVERLOADED, by reason (queue_full, queue_timeout).',
    labelNames: ['region', 'reason'],
    registers,
  }),
}));

/** Metrics of the schedulers ({@link schedulerMetrics}). */
export type SchedulerMetrics = ReturnType<typeof schedulerMetrics>;
