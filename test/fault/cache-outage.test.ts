import { setTimeout as delay } from 'node:timers/promises';
import {
  type Fleet,
  type HttpReply,
  httpRequest,
  metricValue,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE_APP, cacheStatus, isHit } from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';

/** Request deadline at the shield (`--timeout-ms`). */
const DEADLINE_MS = 3000;
/** How long nats-server stays down. */
const OUTAGE_MS = 4000;
/** A request during the outage is answered by the shield alone: well under this. */
const ANSWER_WITHIN_MS = 1000;
/** Service is back (an uncached page renders) within this of nats-server accepting again. */
const RESUME_WITHIN_MS = 5000;

/** Fresh for 300 s: answered as plain hits. */
const FRESH = ['/cachetest/fresh/1', '/cachetest/fresh/2', '/cachetest/fresh/3'];
/** Fresh for 1 s, then only stale-if-error (the 60 s default): served stale on failure. */
const EXPIRING = ['/cachetest/expiring/1', '/cachetest/expiring/2', '/cachetest/expiring/3'];
/** Fresh for 1 s, then stale-while-revalidate for 300 s: served stale, revalidation fails behind. */
const SWR = ['/cachetest/swr-out/1', '/cachetest/swr-out/2'];
/** Never stored before the outage: a cacheable route and one without cache options. */
const UNCACHED = ['/cachetest/fresh/never', '/cachetest/plain'];

/**
 * Issue 6, "shield serves stale during NATS outage", with the cache on: the
 * shield keeps answering what it holds while nats-server is stopped (fresh
 * copies as hits, expired ones as `stale-if-error`, stale-while-revalidate
 * ones as stale hits), answers what it does not hold with a clear 503 at
 * once, hangs nothing, and renders again once NATS is back on the same port.
 */
describe('shield cache while nats-server is stopped, then restarted on the same port', () => {
  let fleet: Fleet;
  let shield: string;
  /** The shield's admin listener, where its metrics are. */
  let shieldAdmin: string;

  beforeAll(async () => {
    fleet = await startFleet({
      shields: 1,
      schedulers: 1,
      workers: 1,
      cache: true,
      publish: fixtures(CACHE_APP),
      args: { shield: ['--timeout-ms', String(DEADLINE_MS)] },
      warmPath: '/react-shop/p/1',
    });
    shield = fleet.live('shield')[0]?.url ?? '';
    shieldAdmin = fleet.live('shield')[0]?.adminUrl ?? '';
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('serves warmed pages from the cache, 503s the rest at once, nothing hangs, and resumes', async () => {
    const warmed = new Map<string, string>();
    for (const path of [...FRESH, ...EXPIRING, ...SWR]) {
      const r = await httpRequest(shield, path);
      expect(cacheStatus(r), path).toMatch(/; stored; ttl=\d+$/);
      warmed.set(path, r.body);
    }
    await delay(1200); // the 1 s pages are now stale

    const staleServed0 = await metricValue(shieldAdmin, 'flotilla_shield_requests_total', {
      cache: 'stale',
    });
    await fleet.nats.stop({ keepData: true });
    const down = performance.now();
    // It stays ready (it serves what it cached); its health says it lost NATS.
    await waitFor(
      async () => JSON.parse((await httpRequest(shield, '/healthz')).body).connected === false,
      {
        timeoutMs: 5000,
        intervalMs: 20,
        message: 'the shield never noticed that nats-server was gone',
      },
    );
    const noticedMs = performance.now() - down;

    // Rounds of every page at once, for the whole outage, and one burst of
    // 50 concurrent requests for a page the cache does not hold.
    const during: Array<{ path: string; reply: HttpReply }> = [];
    const ask = (path: string) =>
      httpRequest(shield, path, { timeoutMs: DEADLINE_MS + 5000 }).then((reply) => ({
        path,
        reply,
      }));
    let rounds = 0;
    while (performance.now() - down < OUTAGE_MS) {
      during.push(...(await Promise.all([...warmed.keys(), ...UNCACHED].map(ask))));
      if (rounds === 2) {
        during.push(
          ...(await Promise.all(Array.from({ length: 50 }, () => ask('/cachetest/fresh/burst')))),
        );
      }
      rounds++;
      await delay(250);
    }
    const staleServed1 = await metricValue(shieldAdmin, 'flotilla_shield_requests_total', {
      cache: 'stale',
    });

    await fleet.nats.restart();
    const up = performance.now();
    let resumed: HttpReply | undefined;
    while (performance.now() - up < RESUME_WITHIN_MS + 5000) {
      const r = await httpRequest(shield, '/cachetest/fresh/never', {
        timeoutMs: DEADLINE_MS + 2000,
      });
      if (r.status === 200) {
        resumed = r;
        break;
      }
      await delay(50);
    }
    const resumeMs = performance.now() - up;

    const ms = during.map((d) => d.reply.ms);
    const by = (paths: string[]) => during.filter((d) => paths.includes(d.path));
    const statuses = (paths: string[]) =>
      by(paths).reduce<Record<string, number>>((acc, { reply }) => {
        const k = `${reply.status} ${reply.headers['x-flotilla-error'] ?? ''}`.trim();
        acc[k] = (acc[k] ?? 0) + 1;
        return acc;
      }, {});
    console.log(
      `[fault] cache during a ${OUTAGE_MS / 1000} s nats outage: the shield noticed in ` +
        `${Math.round(noticedMs)} ms; ${during.length} requests in ${rounds} rounds, answered in ` +
        `max ${Math.round(Math.max(...ms))} ms (deadline ${DEADLINE_MS} ms); fresh ` +
        `${JSON.stringify(statuses(FRESH))}, expired ${JSON.stringify(statuses(EXPIRING))}, swr ` +
        `${JSON.stringify(statuses(SWR))}, uncached ${JSON.stringify(statuses([...UNCACHED, '/cachetest/fresh/burst']))}; ` +
        `${staleServed1 - staleServed0} counted as cache="stale"; an uncached page rendered ` +
        `${Math.round(resumeMs)} ms after nats-server was back`,
    );

    // Nothing hangs: every request is answered by the shield at once.
    expect(during.filter((d) => d.reply.ms >= ANSWER_WITHIN_MS).map((d) => d.path)).toEqual([]);
    expect(rounds).toBeGreaterThanOrEqual(3);
    for (const { path, reply } of during) {
      if (FRESH.includes(path)) {
        expect(reply.status, path).toBe(200);
        expect(isHit(reply), cacheStatus(reply)).toBe(true);
        expect(reply.body).toBe(warmed.get(path));
      } else if (EXPIRING.includes(path)) {
        expect(reply.status, path).toBe(200);
        expect(cacheStatus(reply)).toMatch(
          /^flotilla; fwd=stale; ttl=-\d+; detail=stale-if-error$/,
        );
        expect(reply.body).toBe(warmed.get(path));
      } else if (SWR.includes(path)) {
        expect(reply.status, path).toBe(200);
        expect(cacheStatus(reply)).toMatch(/^flotilla; hit; ttl=-\d+; detail=stale$/);
        expect(reply.body).toBe(warmed.get(path));
      } else {
        // Not in the cache: a clear 503 the client may retry.
        expect(reply.status, path).toBe(503);
        expect(reply.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_TRANSPORT_CLOSED');
        expect(reply.headers['retry-after']).toMatch(/^\d+$/);
        expect(reply.body).toMatch(/^FLOTILLA_ERR_TRANSPORT_CLOSED: /);
      }
    }
    expect(staleServed1 - staleServed0).toBe(by(EXPIRING).length);

    // Service resumes once NATS is back; the expired pages are rendered again.
    expect(resumed?.status).toBe(200);
    expect(resumeMs).toBeLessThan(RESUME_WITHIN_MS);
    for (const path of EXPIRING) {
      const r = await httpRequest(shield, path);
      expect(r.status).toBe(200);
      expect(cacheStatus(r)).toMatch(/^flotilla; fwd=stale; fwd-status=200; stored; ttl=1$/);
      expect(r.body).not.toBe(warmed.get(path));
    }
    for (const path of FRESH) {
      const r = await httpRequest(shield, path);
      expect(isHit(r)).toBe(true);
      expect(r.body).toBe(warmed.get(path));
    }
  }, 40_000);
});
