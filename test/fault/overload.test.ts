import { type Fleet, httpRequest, metricValue, startFleet, waitFor } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP } from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';

/**
 * 256 concurrent misses against a region that takes far fewer at once: one
 * worker holding 2 renders in flight, one scheduler queueing at most 64
 * (fewer when its renders take long: what it can start within its queue
 * wait; the shield hears it a heartbeat later, or at once from a refusal).
 * The shield refuses the rest itself, before sending them:
 * they never cost a NATS round trip or the scheduler's time, and cached
 * pages go on being served meanwhile. How fast sheds and hits are under
 * this load is measured by `bench/src/overload.ts`; here what is counted is
 * where each request ended.
 */
const MISSES = 256;
/** What the region takes at once, as the shield heard it (set in beforeAll). */
let room = 0;

let fleet: Fleet;

beforeAll(async () => {
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: fixtures(CACHE_APP),
    args: { worker: ['--tasks-per-thread', '1', '--io-slots', '2'] },
  });
  // The shield has heard the scheduler announce the region's room.
  await waitFor(
    async () => (await metricValue(fleet.shield.adminUrl, 'flotilla_shield_region_room')) > 0,
    { timeoutMs: 30_000 },
  );
  room = await metricValue(fleet.shield.adminUrl, 'flotilla_shield_region_room');
  // A cacheable page, stored before the flood.
  expect((await httpRequest(fleet.shield.url, '/cachetest/fresh/home')).status).toBe(200);
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
});

const metric = (url: string, name: string, labels?: Record<string, string>) =>
  metricValue(url, name, labels);

describe('an overload of misses', () => {
  it('is shed at the shield past the region’s room, never sent on, while hits go on', async () => {
    const shield = fleet.shield.url;
    const admin = fleet.shield.adminUrl;
    const scheduler = fleet.started.scheduler[0]?.url ?? '';
    const dispatched0 = await metric(scheduler, 'flotilla_scheduler_dispatches_total');
    const flood = Array.from({ length: MISSES }, (_, i) =>
      httpRequest(shield, `/cachetest/slow/flood-${i}`, { timeoutMs: 60_000 }),
    );
    // Hits during the flood: served from the cache, not refused.
    const hits = await Promise.all(
      Array.from({ length: 20 }, () => httpRequest(shield, '/cachetest/fresh/home')),
    );
    const replies = await Promise.all(flood);

    expect(hits.map((h) => [h.status, h.headers['x-flotilla-caching-status']])).toEqual(
      Array(20).fill([200, 'ok']),
    );
    const byOutcome = new Map<string, number>();
    for (const r of replies) {
      const key = `${r.status} ${r.headers['x-flotilla-error'] ?? ''}`.trim();
      byOutcome.set(key, (byOutcome.get(key) ?? 0) + 1);
    }
    const shedAtShield = await metric(admin, 'flotilla_shield_shed_total');
    const shedAtScheduler = await metric(scheduler, 'flotilla_scheduler_shed_total');
    const dispatched =
      (await metric(scheduler, 'flotilla_scheduler_dispatches_total')) - dispatched0;
    console.log(
      `[overload] ${MISSES} concurrent misses, room ${room}: ${[...byOutcome].map(([k, n]) => `${k}×${n}`).join(', ')}; ` +
        `shed at the shield ${shedAtShield}, at the scheduler ${shedAtScheduler}, sent on ${dispatched}, shed there included`,
    );
    // Every request answered: rendered, or refused with a clear 503 and Retry-After.
    expect(
      replies.filter(
        (r) => r.status !== 200 && r.headers['x-flotilla-error'] !== 'FLOTILLA_ERR_OVERLOADED',
      ),
    ).toEqual([]);
    expect(
      replies.filter((r) => r.status === 503).every((r) => r.headers['retry-after'] !== undefined),
    ).toBe(true);
    // Most never left the shield: it sends the region no more than its room
    // at once (a miss the scheduler refuses frees its place at once, so more
    // than the room may be sent in all). Every miss is accounted for.
    expect(shedAtShield).toBeGreaterThanOrEqual(MISSES / 2);
    expect(shedAtShield + dispatched).toBe(MISSES);
    // The room announced before the flood (a fast page's hold time) is far
    // more than the slow renders leave: once the scheduler refuses a miss,
    // the shield sends no more at once than it had besides, so the rest of
    // the burst is refused at the shield, not sent there one by one.
    expect(shedAtScheduler).toBeLessThan(MISSES / 4);
  });
});
