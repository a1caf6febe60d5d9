import type { Registry } from 'prom-client';

/**
 * Buckets, in seconds, of the latency histograms of the shield, the
 * schedulers and the workers: the same everywhere, so a dashboard can put
 * the tiers side by side.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/**
 * The metrics of one tier, created once per registry: the returned function
 * calls `define` with the registry (as prom-client's `registers`) the first
 * time it sees that registry and returns the same set afterwards, so every
 * component of the tier on one registry shares it.
 *
 * @example
 * export const schedulerMetrics = metricSet((registers) => ({
 *   dispatches: new Counter({ name: 'flotilla_scheduler_dispatches_total', help: '…', labelNames: ['region'], registers }),
 * }));
 */
export function metricSet<M>(define: (registers: Registry[]) => M): (registry: Registry) => M {
  const sets = new WeakMap<Registry, M>();
  return (registry) => {
    let set = sets.get(registry);
    if (set === undefined) {
      set = define([registry]);
      sets.set(registry, set);
    }
    return set;
  };
}
