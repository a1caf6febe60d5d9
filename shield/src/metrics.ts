import { Counter, Histogram, type Registry } from 'prom-client';

/** Metrics of the shield; created once per registry. */
export interface ShieldMetrics {
  requests: Counter<'app' | 'status' | 'region' | 'cache'>;
  errors: Counter<'code' | 'region'>;
  requestSeconds: Histogram<'app' | 'region'>;
  retries: Counter<'region' | 'reason'>;
  failovers: Counter<'from' | 'to'>;
  /**
   * Called before `requests` is read (a scrape, `get()`): shields add the
   * hits they tallied in plain numbers on their hot path.
   */
  beforeRead: Set<() => void>;
}

const cache = new WeakMap<Registry, ShieldMetrics>();

/** The shield metrics registered in `registry`. */
export function shieldMetrics(registry: Registry): ShieldMetrics {
  const existing = cache.get(registry);
  if (existing) return existing;
  const registers = [registry];
  const beforeRead = new Set<() => void>();
  const m: ShieldMetrics = {
    requests: new Counter({
      name: 'flotilla_shield_requests_total',
      help: 'HTTP requests answered by the shield, by app, status code and cache outcome (hit, stale, miss, pass, none).',
      labelNames: ['app', 'status', 'region', 'cache'],
      registers,
      collect() {
        for (const f of beforeRead) f();
      },
    }),
    errors: new Counter({
      name: 'flotilla_shield_errors_total',
      help: 'Requests the shield answered with a Flotilla error, by error code.',
      labelNames: ['code', 'region'],
      registers,
    }),
    requestSeconds: new Histogram({
      name: 'flotilla_shield_request_seconds',
      help: 'Time from request to response at the shield.',
      labelNames: ['app', 'region'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    }),
    retries: new Counter({
      name: 'flotilla_shield_retries_total',
      help: 'Requests the shield sent again because the scheduler handling them died, by reason.',
      labelNames: ['region', 'reason'],
      registers,
    }),
    failovers: new Counter({
      name: 'flotilla_shield_failovers_total',
      help: 'Requests sent to the secondary region because the primary had no scheduler.',
      labelNames: ['from', 'to'],
      registers,
    }),
    beforeRead,
  };
  cache.set(registry, m);
  return m;
}
