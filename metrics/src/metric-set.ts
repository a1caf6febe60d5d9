import { Counter, type CounterConfiguration, Gauge, Histogram, type Registry } from 'prom-client';

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
 *   dispatches: counter(registers, 'flotilla_scheduler_dispatches_total', ['region'], '…'),
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

/**
 * A counter of a metric set, in one line of its table: registered in
 * `registers` (what {@link metricSet} passes to `define`), with its name,
 * its label names (they type `labels()` and `inc()`) and its help text.
 * `more.collect` runs before every read (a scrape, `get()`).
 */
export function counter<L extends string>(
  registers: Registry[],
  name: string,
  labelNames: readonly L[],
  help: string,
  more: Pick<CounterConfiguration<L>, 'collect'> = {},
): Counter<L> {
  return new Counter<L>({ name, help, labelNames, registers, ...more });
}

/** A gauge of a metric set, in one line of its table (as {@link counter}). */
export function gauge<L extends string>(
  registers: Registry[],
  name: string,
  labelNames: readonly L[],
  help: string,
): Gauge<L> {
  return new Gauge<L>({ name, help, labelNames, registers });
}

/**
 * A histogram of a metric set, in one line of its table (as {@link counter}).
 * `buckets` default to {@link LATENCY_BUCKETS}.
 */
export function histogram<L extends string>(
  registers: Registry[],
  name: string,
  labelNames: readonly L[],
  help: string,
  buckets: readonly number[] = LATENCY_BUCKETS,
): Histogram<L> {
  return new Histogram<L>({ name, help, labelNames, buckets: [...buckets], registers });
}
