/**
 * Metrics shared by name by every component on one registry (the shield's
 * cache components): a metric another component (or an earlier instance)
 * registered already is reused.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Name, help and labels of a metric. */
export interface MetricConfig<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

/** The metric `config.name` of `registry`, or `create`d (and registered there). */
function registered<L extends string, M>(
  registry: Registry | undefined,
  config: MetricConfig<L>,
  create: (settings: MetricConfig<L> & { registers: Registry[] }) => M,
): M {
  const existing = registry?.getSingleMetric(config.name);
  if (existing) return existing as M;
  return create({
    name: config.name,
    help: config.help,
    labelNames: config.labelNames ?? [],
    registers: registry ? [registry] : [],
  });
}

/**
 * The counter `config.name` of `registry`, registered now unless it already
 * is. Without a registry, an unregistered counter.
 */
export function sharedCounter<L extends string = string>(
  registry: Registry | undefined,
  config: MetricConfig<L>,
): Counter<L> {
  return registered(registry, config, (settings) => new Counter<L>(settings));
}

/**
 * The gauge `config.name` of `registry`, registered now unless it already
 * is. Without a registry, an unregistered gauge.
 */
export function sharedGauge<L extends string = string>(
  registry: Registry | undefined,
  config: MetricConfig<L>,
): Gauge<L> {
  return registered(registry, config, (settings) => new Gauge<L>(settings));
}
