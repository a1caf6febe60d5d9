import { combinations, counter, gauge, histogram, metricSet, startAtZero } from '@flotilla/metrics';
import { ERROR_CODES } from '@flotilla/protocol';

/** The shield metrics registered in a registry; created once per registry. */
export const shieldMetrics = metricSet((registers) => {
  const beforeRead = new Set<() => void>();
  const collect = (): void => {
    for (const f of beforeRead) f();
  };
  // biome-ignore format: a table, one metric a line
  return {
    requests:       counter(registers, 'flotilla_shield_requests_total', ['app', 'status', 'region', 'cache'], 'HTTP requests answered by the shield, by app, status code and cache outcome (hit, stale, miss, pass, none).', { collect }),
    errors:         counter(registers, 'flotilla_shield_errors_total', ['code', 'region'], 'Requests the shield answered with a Flotilla error, by error code.'),
    requestSeconds: histogram(registers, 'flotilla_shield_request_seconds', ['app', 'region'], 'Time from request to response at the shield.'),
    retries:        counter(registers, 'flotilla_shield_retries_total', ['region', 'reason'], 'Requests the shield sent again because the scheduler handling them died, by reason.'),
    failovers:      counter(registers, 'flotilla_shield_failovers_total', ['from', 'to'], 'Requests sent to the secondary region because the primary had no scheduler.'),
    shed:           counter(registers, 'flotilla_shield_shed_total', ['region', 'reason'], 'Misses refused at the shield with FLOTILLA_ERR_OVERLOADED before being sent, by reason (region_full, app_full).'),
    regionRoom:     gauge(registers, 'flotilla_shield_region_room', ['region'], 'Misses the region takes at once, as its schedulers announce it (workers in-flight bounds plus queues): the shield sends no more.'),
    edgeAnswers:    counter(registers, 'flotilla_shield_edge_answers_total', ['app', 'action'], 'Misses of routes that need no code answered by the shield itself, without a render, by action (redirect, proxy).'),
    missesInFlight: gauge(registers, 'flotilla_shield_misses_in_flight', ['region'], 'Misses this shield has sent the region and not yet had answered.'),
    tierMembers:    gauge(registers, 'flotilla_shield_tier_members', [], 'Live global cache members this shield sees (cache tiers; 0 with one tier).'),
    tierMisses:     counter(registers, 'flotilla_shield_tier_misses_total', ['outcome'], 'Edge misses a global cache member answered, by its cache outcome (hit, stale, miss, pass), and peeks of members taking keys over (peek-hit, peek-none).'),
    tierRetries:    counter(registers, 'flotilla_shield_tier_retries_total', [], 'Edge misses sent to the next global member because the owner was gone (no subscription, or stopped heartbeating with the miss in flight).'),
    /**
     * Called before `requests` is read (a scrape, `get()`): shields add the
     * hits they tallied in plain numbers on their hot path.
     */
    beforeRead,
  };
});

/** Metrics of the shield ({@link shieldMetrics}). */
export type ShieldMetrics = ReturnType<typeof shieldMetrics>;

/**
 * Puts the shield counters with known labels at 0 (every error code of
 * `region`, its scheduler-lost retries, its sheds, and the failovers to
 * `secondary` when there is one), so they are scraped before their first event.
 */
export function shieldCountersAtZero(
  metrics: ShieldMetrics,
  region: string,
  secondary: string | undefined,
): void {
  startAtZero(metrics.errors, combinations({ code: Object.keys(ERROR_CODES), region: [region] }));
  startAtZero(metrics.retries, [{ region, reason: 'FLOTILLA_ERR_SCHEDULER_LOST' }]);
  if (secondary !== undefined) startAtZero(metrics.failovers, [{ from: region, to: secondary }]);
  startAtZero(
    metrics.shed,
    combinations({ region: [region], reason: ['region_full', 'app_full'] }),
  );
}
