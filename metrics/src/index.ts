/**
 * `@flotilla/metrics`: how the tiers register their Prometheus metrics.
 *
 * @module
 */
export {
  CPU_BUCKETS,
  combinations,
  counter,
  gauge,
  histogram,
  LATENCY_BUCKETS,
  metricSet,
  startAtZero,
} from './metric-set.ts';
export { type MetricConfig, sharedCounter, sharedGauge } from './shared-metrics.ts';
