import { LATENCY_BUCKETS, metricSet } from '@flotilla/metrics';
import { Counter, Histogram } from 'prom-client';

/** The shield metrics registered in a registry; created once per registry. */
export const shieldMetrics = metricSet((registers) => {
  const beforeRead = new Set<() => void>();
  return {
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
      buckets: [...LATENCY_BUCKETS],
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
    /**
     * Called before `requests` is read (a scrape, `get()`): shields add the
     * hits they tallied in plain numbers on their hot path.
     */
    beforeRead,
  };
});

/** Metrics of the shield ({@link shieldMetrics}). */
export type ShieldMetrics = ReturnType<typeof shieldMetrics>;
