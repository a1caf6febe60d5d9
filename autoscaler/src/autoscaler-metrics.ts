import { counter, gauge, metricSet, startAtZero } from '@flotilla/metrics';

/** The autoscaler metrics registered in a registry; created once per registry. */
// biome-ignore format: a table, one metric a line
export const autoscalerMetrics = metricSet((registers) => ({
  /** Leader only: the worker count it actuates. KEDA/HPA scale on this. */
  desiredWorkers:  gauge(registers, 'flotilla_autoscaler_desired_workers', ['region'], 'Workers the region should run, as decided by the autoscaler leader (only the replica holding the lease exports it; scale Kubernetes workers on max() of it).'),
  readyWorkers:    gauge(registers, 'flotilla_autoscaler_ready_workers', ['region'], 'Workers heartbeating and not draining, as the autoscaler sees them.'),
  panic:           gauge(registers, 'flotilla_autoscaler_panic', ['region'], '1 while the autoscaler is in panic mode: from panic-window demand reaching panicThreshold × ready capacity until demand falls (the panic window asks for no more workers than the stable window), else 0.'),
  leader:          gauge(registers, 'flotilla_autoscaler_leader', ['region', 'scheduler'], '1 on the scheduler replica holding the region autoscaler lease (the one that actuates), else 0.'),
  scaleEvents:     counter(registers, 'flotilla_autoscaler_scale_events_total', ['region', 'direction'], 'Changes of the actuated worker count, by direction (up or down).'),
  inFlightAverage: gauge(registers, 'flotilla_autoscaler_in_flight_average', ['region', 'window'], 'Average in-flight renders of the region over the autoscaler window (stable or panic).'),
}));

/** Metrics of the autoscaler ({@link autoscalerMetrics}). */
export type AutoscalerMetrics = ReturnType<typeof autoscalerMetrics>;

/** Puts the scale events of `region` (up and down) at 0, so the first one is seen by `increase()`. */
export function autoscalerCountersAtZero(metrics: AutoscalerMetrics, region: string): void {
  startAtZero(metrics.scaleEvents, [
    { region, direction: 'up' },
    { region, direction: 'down' },
  ]);
}
