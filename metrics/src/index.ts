/**
 * `@flotilla/metrics`: how the tiers register their Prometheus metrics.
 *
 * @module
 */
export { LATENCY_BUCKETS, metricSet } from './metric-set.ts';
export { type MetricConfig, sharedCounter, sharedGauge } from './shared-metrics.ts';
