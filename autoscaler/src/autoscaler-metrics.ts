import { metricSet } from '@flotilla/metrics';
import { Counter, Gauge } from 'prom-client';

/** The autoscaler metrics registered in a registry; created once per registry. */
export const autoscalerMetrics = metricSet((registers) => ({
  /** Leader only: the worker count it actuates. KEDA/HPA scale on this. */
  desiredWorkers: new Gauge({
    name: 'flotilla_autoscaler_desired_workers',
    help: 'Workers the region should run, as decided by the autoscaler leader (only the replica holding the lease exports it; scale Kubernetes workers on max() of it).',
    labelNames: ['region'],
    registers,
  }),
  readyWorkers: new Gauge({
    name: 'flotilla_autoscaler_ready_workers',
    help: 'Workers heartbeating and not draining, as the autoscaler sees them.',
    labelNames: ['region'],
    registers,
  }),
  panic: new Gauge({
    name: 'flotilla_autoscaler_panic',
    help: '1 while the autoscaler is in panic mode (panic-window demand at least panicThreshold × ready capacity), else 0.',
    labelNames: ['region'],
    registers,
  }),
  leader: new Gauge({
    name: 'flotilla_autoscaler_leader',
    help: '1 on the scheduler replica holding the region autoscaler lease (the one that actuates), else 0.',
    labelNames: ['region', 'scheduler'],
    registers,
  }),
  scaleEvents: new Counter({
    name: 'flotilla_autoscaler_scale_events_total',
    help: 'Changes of the actuated worker count, by direction (up or down).',
    labelNames: ['region', 'direction'],
    registers,
  }),
  inFlightAverage: new Gauge({
    name: 'flotilla_autoscaler_in_flight_average',
    help: 'Average in-flight renders of the region over the autoscaler window (stable or panic).',
    labelNames: ['region', 'window'],
    registers,
  }),
}));

/** Metrics of the autoscaler ({@link autoscalerMetrics}). */
export type AutoscalerMetrics = ReturnType<typeof autoscalerMetrics>;
