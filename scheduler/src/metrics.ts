import { combinations, counter, gauge, histogram, metricSet, startAtZero } from '@flotilla/metrics';

/** The scheduler metrics registered in a registry; created once per registry. */
// biome-ignore format: a table, one metric a line
export const schedulerMetrics = metricSet((registers) => ({
  dispatches:      counter(registers, 'flotilla_scheduler_dispatches_total', ['region', 'outcome'], 'Misses dispatched by the scheduler, by region and outcome (ok or an error code).'),
  retries:         counter(registers, 'flotilla_scheduler_retries_total', ['region', 'reason'], 'Renders sent to a second worker, by reason (the error code of the first try).'),
  liveWorkers:     gauge(registers, 'flotilla_scheduler_live_workers', ['region', 'scheduler'], 'Workers this scheduler sees heartbeating and not draining.'),
  dispatchSeconds: histogram(registers, 'flotilla_scheduler_dispatch_seconds', ['region'], 'Time from a miss reaching the scheduler to its answer, including the render.'),
  inFlight:        gauge(registers, 'flotilla_scheduler_in_flight', ['region', 'scheduler'], 'Renders in flight on the live workers of the region, as this scheduler sees them.'),
  dispatching:     gauge(registers, 'flotilla_scheduler_dispatching', ['region', 'scheduler'], 'Misses this scheduler is handling now (queued or waiting on a worker).'),
  capacity:        gauge(registers, 'flotilla_scheduler_capacity', ['region', 'scheduler'], 'Renders the live workers of the region take at once (sum of their capacity).'),
  queueDepth:      gauge(registers, 'flotilla_scheduler_queue_depth', ['region', 'scheduler'], 'Misses waiting in this scheduler for a worker with room.'),
  queueSeconds:    histogram(registers, 'flotilla_scheduler_queue_wait_seconds', ['region'], 'Time misses waited for a worker with room (only those that had to wait).'),
  shed:            counter(registers, 'flotilla_scheduler_shed_total', ['region', 'reason'], 'Misses refused with FLOTILLA_ERR_OVERLOADED, by reason (queue_full, queue_timeout).'),
  appInFlight:     gauge(registers, 'flotilla_scheduler_app_in_flight', ['region', 'scheduler', 'app'], 'Renders of each app this scheduler sent to workers and has not heard back from (its fair share holds this).'),
  appQueued:       gauge(registers, 'flotilla_scheduler_app_queued', ['region', 'scheduler', 'app'], 'Misses of each app waiting in this scheduler for a slot (no worker with room, or the app is at its fair share).'),
  appBoxed:        gauge(registers, 'flotilla_scheduler_app_boxed', ['region', 'scheduler', 'app'], 'Apps in this scheduler\'s penalty box (1 while boxed): their renders keep failing by their own fault and start one at a time, after a pause.'),
  throttled:       counter(registers, 'flotilla_scheduler_throttled_total', ['region', 'app'], 'Misses of apps in the penalty box refused with FLOTILLA_ERR_THROTTLED (they could not start within the queue wait).'),
  appShed:         counter(registers, 'flotilla_scheduler_app_shed_total', ['region', 'app', 'reason'], 'Misses refused with FLOTILLA_ERR_OVERLOADED, by app and reason (queue_full, queue_timeout).'),
}));

/** Metrics of the schedulers ({@link schedulerMetrics}). */
export type SchedulerMetrics = ReturnType<typeof schedulerMetrics>;

/** Why misses are shed (`reason` of the shed counters). */
export const SHED_REASONS = ['queue_full', 'queue_timeout'] as const;

/**
 * Why a render is sent to a second worker (`reason` of the retries counter):
 * the first never started, or its worker was lost mid-render.
 */
export const RETRY_REASONS = [
  'FLOTILLA_ERR_NO_RESPONDERS',
  'FLOTILLA_ERR_DRAINING',
  'FLOTILLA_ERR_TRANSPORT_CLOSED',
  'FLOTILLA_ERR_OVERLOADED',
  'FLOTILLA_ERR_WORKER_LOST',
] as const;

/** Dispatch outcomes known in advance: success and the region's own failures. */
const DISPATCH_OUTCOMES = [
  'ok',
  'FLOTILLA_ERR_OVERLOADED',
  'FLOTILLA_ERR_NO_WORKERS',
  'FLOTILLA_ERR_WORKER_LOST',
  'FLOTILLA_ERR_DEADLINE',
] as const;

/**
 * Puts the scheduler counters of `region` with known labels (sheds, retries,
 * dispatch outcomes) at 0, so they are scraped before their first event.
 */
export function schedulerCountersAtZero(metrics: SchedulerMetrics, region: string): void {
  startAtZero(metrics.shed, combinations({ region: [region], reason: SHED_REASONS }));
  startAtZero(metrics.retries, combinations({ region: [region], reason: RETRY_REASONS }));
  startAtZero(metrics.dispatches, combinations({ region: [region], outcome: DISPATCH_OUTCOMES }));
}
