import {
  Counter,
  type CounterConfiguration,
  Gauge,
  Histogram,
  type LabelValues,
  type Registry,
} from 'prom-client';

/**
 * Buckets, in seconds, of every latency histogram (shield requests,
 * scheduler dispatch and queue wait, worker renders): the same everywhere,
 * so a dashboard can put the tiers side by side. Fine at the millisecond
 * scale the targets are set in (a cached page in ≤ 5 ms, a shed in
 * ≤ 10 ms) and up to the 10 s request deadline.
 */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5,
  10,
]);

/**
 * Buckets, in seconds, of CPU-time histograms (the isolate's CPU per
 * render): from half a millisecond to the default 1 s CPU limit.
 */
export const CPU_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
]);

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
 * Sets every label combination of `labelSets` on `counter` at 0 (an
 * `inc(labels, 0)` each), so the series exist from the first scrape:
 * `rate()` and `increase()` then see the first event (a series that appears
 * at 1 reads as no increase), and panels show 0 instead of "No data".
 * Combinations already counted keep their value.
 */
export function startAtZero<L extends string>(
  counter: Counter<L>,
  labelSets: Iterable<LabelValues<L>>,
): void {
  for (const labels of labelSets) counter.inc(labels, 0);
}

/**
 * The label sets of every combination of `values` (a cross product):
 * `combinations({ region: ['a'], reason: ['x', 'y'] })` is
 * `[{ region: 'a', reason: 'x' }, { region: 'a', reason: 'y' }]`.
 */
export function combinations<L extends string>(
  values: Record<L, readonly (string | number)[]>,
): LabelValues<L>[] {
  let out: LabelValues<L>[] = [{}];
  for (const [name, options] of Object.entries(values) as [L, readonly (string | number)[]][]) {
    out = out.flatMap((partial) => options.map((v) => ({ ...partial, [name]: v })));
  }
  return out;
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
