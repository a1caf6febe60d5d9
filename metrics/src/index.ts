/**
 * `@flotilla/metrics`: how the tiers register their Prometheus metrics.
 *
 * @module
 */
export { counter, gauge, histogram, LATENCY_BUCKETS, metricSet } from './metric-set.ts';
export { type MetricConfig, sharedCounter, sharedGauge } from './shared-metrics.ts';
