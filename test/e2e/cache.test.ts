import { Agent } from 'node:http';
import { setTimeout as delay } from 'node:timers/promises';
import {
  type Fleet,
  type HttpReply,
  type HttpRequestOptions,
  httpRequest,
  metricValue,
  type RoleProcess,
  runCli,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CACHE_APP,
  cacheStatus,
  cachingStatus,
  HANG_RENDER_MS,
  isHit,
  MATRIX,
  REFLECT_APP,
  RENDER_MS,
  SLOW_RENDER_MS,
  SWR_RENDER_MS,
  VAULT_APP,
} from '../support/cache-bundles.ts';
import { fixtures } from '../support/control-plane.ts';

/**
 * The shield's L2 cache end to end: a real nats-server with JetStream, one
 * scheduler, one worker (one thread: the bundles' per-path state lives in
 * its one isolate) and two shields with their cache on, each a separate
 * process; hand-written bundles whose manifests declare the routes' cache
 * options. Renders are counted by the worker (`flotilla_worker_renders_total`).
 */

const RENDERS = 'flotilla_worker_renders_total';
const COALESCED = 'flotilla_shield_coalesced_total';
const LEADERS = 'flotilla_shield_coalesce_leaders_total';
const PASSES = 'flotilla_shield_coalesce_passes_total';
const REVALIDATIONS = 'flotilla_shield_revalidations_total';

let fleet: Fleet;
/** The two shields' URLs. */
let shieldA: string;
/** The admin listener of shield A, where its metrics are. */
let adminA: string;
let shieldB: string;
/** The worker's admin URL (its render counter). */
let worker: string;

const renders = () => metricValue(worker, RENDERS);

/**
 * `n` requests for `path` at once. Their `n` connections are opened (and
 * used once, on `/healthz`) first, so the requests leave together rather
 * than one TCP handshake after another.
 */
async function burst(
  base: string,
  path: string,
  n: number,
  options: HttpRequestOptions = {},
): Promise<HttpReply[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: n, maxFreeSockets: n });
  try {
    const warm = await Promise.all(
      Array.from({ length: n }, () => httpRequest(base, '/healthz', { agent, timeoutMs: 15_000 })),
    );
    expect(warm.every((r) => r.status === 200)).toBe(true);
    return await Promise.all(
      Array.from({ length: n }, () =>
        httpRequest(base, path, { timeoutMs: 15_000, ...options, agent }),
      ),
    );
  } finally {
    agent.destroy();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function count<T>(items: T[], keyOf: (t: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = keyOf(item);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

beforeAll(async () => {
  fleet = await startFleet({
    shields: 2,
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: fixtures(CACHE_APP, REFLECT_APP, VAULT_APP),
    warmPath: '/react-shop/p/1',
    // Bursts of 10 renders of one app on one worker: on a busy machine a
    // render queued behind the app's fair share may wait past the default 1 s.
    args: { scheduler: ['--queue-wait-ms', '5000'] },
  });
  [shieldA, shieldB] = fleet.live('shield').map((s) => s.url) as [string, string];
  adminA = fleet.live('shield')[0]?.adminUrl ?? '';
  worker = fleet.live('worker')[0]?.url ?? '';
  // Load the isolate once, so no test's first render pays for it.
  for (const shield of [shieldA, shieldB]) {
    expect((await httpRequest(shield, '/cachetest/warm')).status).toBe(200);
  }
}, 60_000);

afterAll(async () => {
  // Renders of `/hang` run for 8 s: a SIGTERMed worker would wait for them.
  await Promise.allSettled(fleet?.live('worker').map((w) => w.child.kill('SIGKILL')) ?? []);
  await fleet?.stop();
});

describe('coalescing', () => {
  it('1000 concurrent misses on one key: exactly 1 render, all 200 with the same body', async () => {
    const path = '/cachetest/slow/thousand';
    const [renders0, coalesced0] = await Promise.all([renders(), metricValue(adminA, COALESCED)]);
    const started = performance.now();
    const replies = await burst(shieldA, path, 1000);
    const wallMs = performance.now() - started;
    const [renders1, coalesced1] = await Promise.all([renders(), metricValue(adminA, COALESCED)]);
    const coalesced = coalesced1 - coalesced0;
    const collapsed = replies.filter((r) => /; collapsed\b/.test(cacheStatus(r))).length;
    const hits = replies.filter(isHit).length;
    const leaders = replies.filter(
      (r) =>
        /fwd=uri-miss; fwd-status=200; stored/.test(cacheStatus(r)) &&
        !/collapsed/.test(cacheStatus(r)),
    ).length;
    const ms = replies.map((r) => r.ms);
    console.log(
      `[cache] 1000 concurrent misses on one key (render ${SLOW_RENDER_MS} ms): ` +
        `${renders1 - renders0} render(s); ${coalesced} coalesced followers ` +
        `(flotilla_shield_coalesced_total), ${hits} hits, ${leaders} leader; latency p50 ` +
        `${Math.round(percentile(ms, 50))} ms, p99 ${Math.round(percentile(ms, 99))} ms, max ` +
        `${Math.round(Math.max(...ms))} ms; all answered in ${Math.round(wallMs)} ms`,
    );

    expect(count(replies, (r) => String(r.status))).toEqual({ '200': 1000 });
    expect(new Set(replies.map((r) => r.body)).size).toBe(1);
    expect(replies[0]?.body).toMatch(/^slow \/slow\/thousand\nrender \d+ of \w+ \(#1 for /);
    expect(renders1 - renders0).toBe(1);
    // One leader; every other request was a follower given its result, or a hit on it.
    expect(leaders).toBe(1);
    expect(coalesced).toBe(collapsed);
    expect(coalesced + hits).toBe(999);
    // They really overlapped the 200 ms render (999 of 999 on this machine, even under load).
    expect(coalesced).toBeGreaterThanOrEqual(500);
  });

  it('stale-while-revalidate: 50 concurrent requests after expiry are served the stale copy at once, 1 revalidation', async () => {
    const path = '/cachetest/swr/fifty';
    const first = await httpRequest(shieldA, path);
    expect(cacheStatus(first)).toMatch(/fwd=uri-miss; fwd-status=200; stored; ttl=1$/);
    await delay(1200); // maxAge 1 s: now stale, within the 30 s stale-while-revalidate window

    const [renders0, ok0, duplicate0] = await Promise.all([
      renders(),
      metricValue(adminA, REVALIDATIONS, { outcome: 'ok' }),
      metricValue(adminA, REVALIDATIONS, { outcome: 'duplicate' }),
    ]);
    const replies = await burst(shieldA, path, 50);
    const ms = replies.map((r) => r.ms);
    expect(count(replies, (r) => String(r.status))).toEqual({ '200': 50 });
    // All of them the stale copy, none waited for the (1 s) revalidation.
    expect(new Set(replies.map((r) => r.body))).toEqual(new Set([first.body]));
    for (const r of replies) {
      expect(cacheStatus(r)).toMatch(/^flotilla; hit; ttl=-\d+; detail=stale$/);
      expect(Number(r.headers.age)).toBeGreaterThanOrEqual(1);
    }

    // Exactly one revalidation renders, in the background.
    await waitFor(
      async () => (await metricValue(adminA, REVALIDATIONS, { outcome: 'ok' })) - ok0 === 1,
      { timeoutMs: 5000, message: 'the revalidation never finished' },
    );
    await delay(200);
    const [renders1, ok1, duplicate1] = await Promise.all([
      renders(),
      metricValue(adminA, REVALIDATIONS, { outcome: 'ok' }),
      metricValue(adminA, REVALIDATIONS, { outcome: 'duplicate' }),
    ]);
    console.log(
      `[cache] stale-while-revalidate, 50 concurrent stale requests: served in p50 ` +
        `${Math.round(percentile(ms, 50))} ms, max ${Math.round(Math.max(...ms))} ms (revalidation ` +
        `renders ${SWR_RENDER_MS} ms); ${renders1 - renders0} render(s), ${ok1 - ok0} revalidation(s), ` +
        `${duplicate1 - duplicate0} duplicate revalidation(s) refused`,
    );
    expect(renders1 - renders0).toBe(1);
    expect(ok1 - ok0).toBe(1);

    // The next request shows the revalidated page.
    const next = await httpRequest(shieldA, path);
    expect(next.status).toBe(200);
    expect(isHit(next)).toBe(true);
    expect(next.body).not.toBe(first.body);
    expect(next.body).toMatch(/^swr \/swr\/fifty\nrender \d+ of \w+ \(#2 for /);
  });
});

describe('a leader that fails never poisons nor stalls its followers', () => {
  it('leader errors: its followers get the result of one new leader', async () => {
    const path = '/cachetest/fail-once/twenty';
    const [renders0, reelected0] = await Promise.all([
      renders(),
      metricValue(adminA, LEADERS, { reason: 'leader-error' }),
    ]);
    const started = performance.now();
    const replies = await burst(shieldA, path, 20);
    const wallMs = performance.now() - started;
    const [renders1, reelected1] = await Promise.all([
      renders(),
      metricValue(adminA, LEADERS, { reason: 'leader-error' }),
    ]);
    console.log(
      `[cache] leader error, 20 concurrent: ${JSON.stringify(count(replies, (r) => String(r.status)))} ` +
        `in ${Math.round(wallMs)} ms; ${renders1 - renders0} renders, ${reelected1 - reelected0} re-election`,
    );
    // The leader's own client sees its render fail, clearly.
    const failed = replies.filter((r) => r.status !== 200);
    expect(failed.map((r) => [r.status, r.headers['x-flotilla-error']])).toEqual([
      [502, 'FLOTILLA_ERR_RENDER'],
    ]);
    expect(cachingStatus(failed[0] as HttpReply)).toBe('code');
    // Everyone else: the one new leader's (stored) page.
    const ok = replies.filter((r) => r.status === 200);
    expect(ok).toHaveLength(19);
    expect(new Set(ok.map((r) => r.body)).size).toBe(1);
    expect(ok[0]?.body).toMatch(/^recovered \/fail-once\/twenty\nrender \d+ of \w+ \(#2 for /);
    expect(renders1 - renders0).toBe(2);
    expect(reelected1 - reelected0).toBeLessThanOrEqual(1);
    expect(wallMs).toBeLessThan(4 * RENDER_MS + 2000);
    // Not poisoned: the page is stored and served.
    expect(isHit(await httpRequest(shieldA, path))).toBe(true);
  });

  for (const kind of ['cookie', 'private'] as const) {
    it(`an uncacheable leader result (${kind === 'cookie' ? 'set-cookie' : 'cache-control: private'}) is not shared, and the key turns hit-for-pass`, async () => {
      const path = `/cachetest/${kind}/ten`;
      const status = kind === 'cookie' ? 'set-cookie' : 'private';
      const [renders0, coalesced0, passes0] = await Promise.all([
        renders(),
        metricValue(adminA, COALESCED),
        metricValue(adminA, PASSES),
      ]);
      const first = await burst(shieldA, path, 10);
      const [renders1, coalesced1, passes1] = await Promise.all([
        renders(),
        metricValue(adminA, COALESCED),
        metricValue(adminA, PASSES),
      ]);
      // No one got another client's response: one render each.
      expect(count(first, (r) => String(r.status))).toEqual({ '200': 10 });
      expect(new Set(first.map((r) => r.body)).size).toBe(10);
      expect(renders1 - renders0).toBe(10);
      expect(coalesced1 - coalesced0).toBe(0);
      for (const r of first) {
        expect(cacheStatus(r)).not.toMatch(/\bstored\b|\bhit\b|collapsed/);
        expect(cachingStatus(r)).toMatch(new RegExp(`^(${status}|hit-for-pass)$`));
      }

      // Now hit-for-pass: no coalescing, no waiting behind each other.
      const [leaders0, coalesced2] = await Promise.all([
        metricValue(adminA, LEADERS),
        metricValue(adminA, COALESCED),
      ]);
      const second = await burst(shieldA, path, 10);
      const [renders3, leaders1, coalesced3, passes3] = await Promise.all([
        renders(),
        metricValue(adminA, LEADERS),
        metricValue(adminA, COALESCED),
        metricValue(adminA, PASSES),
      ]);
      console.log(
        `[cache] uncacheable leader (${status}), 10 concurrent: ${renders1 - renders0} renders ` +
          `(${passes1 - passes0} followers sent on their own); then hit-for-pass, 10 concurrent: ` +
          `${renders3 - renders1} renders, ${leaders1 - leaders0} coalescing leaders`,
      );
      for (const r of second) {
        expect(r.status).toBe(200);
        expect(cacheStatus(r)).toBe('flotilla; fwd=miss; fwd-status=200; detail=hit-for-pass');
        expect(cachingStatus(r)).toBe('hit-for-pass');
      }
      expect(new Set(second.map((r) => r.body)).size).toBe(10);
      expect(renders3 - renders1).toBe(10);
      expect(leaders1 - leaders0).toBe(0);
      expect(coalesced3 - coalesced2).toBe(0);
      expect(passes3 - passes1).toBe(0);
    });
  }
});

describe('cache poisoning: an unkeyed request header never shapes a cached page', () => {
  /** Per-run suffix of the canaries, so no earlier run's value can be mistaken for one. */
  const RUN = Math.random().toString(36).slice(2, 8);
  const canary = (i: number | string) => `cnry${i}q${RUN}`;
  const url = (c: string) => `${c}.evil.example`;

  /**
   * Headers a client (or a misconfigured CDN) can send that a naive app
   * believes: forwarding and override headers, client-IP headers,
   * framework-internal headers, the shield's own header names, and the
   * ordinary request headers the default key does not hold.
   */
  const UNKEYED: Array<[string, (c: string) => string]> = [
    ['X-Forwarded-Host', url],
    ['X-Forwarded-Proto', (c) => c],
    ['X-Forwarded-Prefix', (c) => `/${c}`],
    ['X-Forwarded-Port', (c) => c],
    ['X-Forwarded-For', (c) => `${c}, 192.0.2.1`],
    ['X-Forwarded-Scheme', (c) => c],
    ['X-Forwarded-Server', url],
    ['X-Forwarded-Ssl', (c) => c],
    ['X-Forwarded-Uri', (c) => `/${c}`],
    ['X-Forwarded-Path', (c) => `/${c}`],
    ['X-Original-URL', (c) => `/${c}`],
    ['X-Original-URI', (c) => `/${c}`],
    ['X-Rewrite-URL', (c) => `/${c}`],
    ['X-Original-Host', url],
    ['X-Host', url],
    ['X-HTTP-Host', url],
    ['Forwarded', (c) => `for=192.0.2.1;host=${url(c)};proto=${c}`],
    ['X-HTTP-Method-Override', (c) => c],
    ['X-HTTP-Method', (c) => c],
    ['X-Method-Override', (c) => c],
    ['True-Client-IP', (c) => c],
    ['X-Real-IP', (c) => c],
    ['X-Client-IP', (c) => c],
    ['Client-IP', (c) => c],
    ['CF-Connecting-IP', (c) => c],
    ['Fastly-Client-IP', (c) => c],
    ['X-Cluster-Client-IP', (c) => c],
    ['X-Originating-IP', (c) => c],
    ['X-Remote-IP', (c) => c],
    ['X-Remote-Addr', (c) => c],
    ['X-Url-Scheme', (c) => c],
    ['Front-End-Https', (c) => c],
    ['X-ARR-SSL', (c) => c],
    ['X-Middleware-Subrequest', (c) => c],
    ['X-Invoke-Path', (c) => `/${c}`],
    ['X-Invoke-Query', (c) => `${c}=1`],
    ['X-Matched-Path', (c) => `/${c}`],
    ['X-Now-Route-Matches', (c) => c],
    ['X-Flotilla-Device', (c) => c],
    ['X-Flotilla-Browser', (c) => c],
    ['X-Flotilla-Original-Query', (c) => `${c}=1`],
    ['X-Flotilla-Client-IP', (c) => c],
    ['X-Flotilla-Debug', (c) => c],
    ['Flotilla-Environment', (c) => c],
    ['User-Agent', (c) => `Mozilla/5.0 ${c}`],
    ['Accept-Language', (c) => c],
    ['Referer', (c) => `https://${url(c)}/`],
    ['Origin', (c) => `https://${url(c)}`],
    ['Cookie', (c) => `session=${c}`],
    ['Authorization', (c) => `Bearer ${c}`],
    ['Via', (c) => `1.1 ${c}`],
    ['X-Wap-Profile', (c) => `http://${url(c)}/p.xml`],
    ['X-Requested-With', (c) => c],
    ['X-Custom-IP-Authorization', (c) => c],
    ['X-Amz-Website-Redirect-Location', (c) => `/${c}`],
    ['If-None-Match', (c) => `"${c}"`],
    ['Max-Forwards', (c) => c],
    ['DNT', (c) => c],
    ['Save-Data', (c) => c],
    ['Sec-Fetch-Site', (c) => c],
    ['Sec-CH-UA-Mobile', (c) => c],
    ['X-Device-User-Agent', (c) => c],
    ['Tracestate', (c) => `vendor=${c}`],
    // Not a valid trace context: never passed on (a valid one continues the trace).
    ['Traceparent', (c) => `00-${c}-${c}-01`],
  ];

  let host: string;
  beforeAll(() => {
    host = `reflect.localhost:${new URL(shieldA).port}`;
  });

  /** Where the canary shows, in the replies' bodies and `Location`s (`[]`: nowhere). */
  function leaks(c: string, replies: Record<string, HttpReply>): string[] {
    const out: string[] = [];
    for (const [what, r] of Object.entries(replies)) {
      if (r.body.includes(c)) out.push(`${what} body`);
      if ((r.headers.location ?? '').includes(c)) out.push(`${what} Location`);
    }
    return out;
  }

  /**
   * Sends a miss with `headers` (the poisoning attempt), then the same URL
   * cleanly; returns where the canary shows (in the stored page and in the
   * clean client's copy of it) and problems with the exchange itself.
   */
  async function attempt(
    path: string,
    c: string,
    poison: { host?: string; headers?: Record<string, string> },
  ): Promise<string[]> {
    const poisoned = await httpRequest(shieldA, path, { host, ...poison });
    const clean = await httpRequest(shieldA, path, { host });
    const problems = leaks(c, { poisoned, clean });
    if (!/; stored\b/.test(cacheStatus(poisoned))) {
      problems.push(`poisoning attempt not stored (${poisoned.status} ${cacheStatus(poisoned)})`);
    }
    if (!isHit(clean)) problems.push(`clean request not a hit (${cacheStatus(clean)})`);
    return problems;
  }

  it('the reflecting app does reflect what reaches it (the suite can see a leak)', async () => {
    // A keyed input (the query) shows in the page and the Location.
    const c = canary('control');
    const page = await httpRequest(shieldA, `/reflect/control?q=${c}`, { host });
    const redirect = await httpRequest(shieldA, `/go/control?q=${c}`, { host });
    expect(page.body).toContain(c);
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toContain(c);
    // On a response that is never stored (hit-for-pass), the client's headers go through.
    const passPath = '/pass/control';
    expect(cachingStatus(await httpRequest(shieldA, passPath, { host }))).toBe('no-max-age');
    const pass = await httpRequest(shieldA, passPath, { host, headers: { 'x-canary': c } });
    expect(cachingStatus(pass)).toBe('hit-for-pass');
    expect(pass.body).toContain(`h:x-canary=${c}`);
  });

  it(`none of ${UNKEYED.length} unkeyed headers with a canary on a miss shows in the cached body or Location`, async () => {
    const found = await Promise.all(
      UNKEYED.map(async ([name, value], i) => {
        const c = canary(i);
        const headers = { [name]: value(c) };
        const problems = [
          ...(await attempt(`/reflect/h${i}`, c, { headers })),
          ...(await attempt(`/go/h${i}`, c, { headers })),
        ];
        return problems.map((p) => `${name}: ${p}`);
      }),
    );
    expect(found.flat()).toEqual([]);
  });

  it('headers repeated or in odd case are no different', async () => {
    const c = canary('dup');
    const problems = await attempt('/reflect/dup', c, {
      headers: { 'x-fOrWaRdEd-hOsT': url(c), 'X-FORWARDED-PROTO': c, 'x-original-url': `/${c}` },
    });
    expect(problems).toEqual([]);
  });

  // The port of the Host header reaches the render (request.url), so it is
  // part of the key: a miss on another port never shapes the page others get.
  it('a Host header with another port is its own entry, never the page of clients on other ports', async () => {
    const port = new URL(shieldA).port === '47913' ? '47914' : '47913';
    for (const path of ['/reflect/port', '/go/port']) {
      const other = await httpRequest(shieldA, path, { host: `reflect.localhost:${port}` });
      expect(cacheStatus(other), path).toMatch(/; stored\b/);
      const clean = await httpRequest(shieldA, path, { host });
      expect(`${clean.body} ${clean.headers.location ?? ''}`, path).not.toContain(port);
    }
  });

  // Accept and Content-Type are not keyed by default, so in cache mode they are
  // not forwarded either (a route that negotiates keys `addHeader('accept')`).
  it('Accept and Content-Type on a miss do not show in the cached page', async () => {
    const problems: string[] = [];
    for (const name of ['Accept', 'Content-Type']) {
      const c = canary(name.toLowerCase());
      const headers = { [name]: `text/${c}` };
      for (const path of [`/reflect/${name}`, `/go/${name}`]) {
        problems.push(...(await attempt(path, c, { headers })).map((p) => `${name}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('cache deception: personal pages on "static-looking" paths are never stored', () => {
  const SUFFIXES = [
    '/x.css',
    ';x.css',
    '%2fx.css',
    '%2Fx.css',
    '%23x.css',
    '%3bx.css',
    '/.css',
    '/x.css?v=1',
    '/%2e.css',
    '%2f..%2fstyle.css',
    '/x.js',
    '/x.png',
    '/',
    '',
  ];
  const PAGES = ['account', 'profile'] as const;

  it(`/account and /profile with ${SUFFIXES.length} suffixes, with a session cookie: never stored, never seen by another client`, async () => {
    const secret = `alice-${Math.random().toString(36).slice(2, 10)}`;
    const other = `bob-${Math.random().toString(36).slice(2, 10)}`;
    const problems: string[] = [];
    const kinds = new Set<string>();
    await Promise.all(
      PAGES.flatMap((page) =>
        SUFFIXES.map(async (suffix) => {
          const path = `/vault/${page}${suffix}`;
          const alice = { headers: { cookie: `session=${secret}; theme=dark` } };
          const replies: Array<[string, HttpReply]> = [];
          replies.push(['alice', await httpRequest(shieldA, path, alice)]);
          replies.push(['alice again', await httpRequest(shieldA, path, alice)]);
          replies.push([
            'bob',
            await httpRequest(shieldA, path, { headers: { cookie: `session=${other}` } }),
          ]);
          replies.push(['anonymous', await httpRequest(shieldA, path)]);
          replies.push(['anonymous on the other shield', await httpRequest(shieldB, path)]);
          for (const [who, r] of replies) {
            const status = cacheStatus(r);
            kinds.add(cachingStatus(r));
            if (r.status !== 200) problems.push(`${path} ${who}: status ${r.status}`);
            if (/\bstored\b|; hit\b|collapsed/.test(status))
              problems.push(`${path} ${who}: ${status}`);
            if (!r.body.startsWith(page === 'account' ? 'account page of ' : 'profile of ')) {
              problems.push(`${path} ${who}: the app did not take it for its ${page} page`);
            }
            if (!who.startsWith('alice') && r.body.includes(secret)) {
              problems.push(`${path} ${who}: sees alice's page`);
            }
          }
          // The page with the secret was made (the test is not vacuous): on
          // hit-for-pass the cookie reaches the app.
          const again = replies[1]?.[1];
          if (!again?.body.includes(secret)) {
            problems.push(`${path}: alice's own page never showed her session`);
          }
        }),
      ),
    );
    expect(problems).toEqual([]);
    expect([...kinds].sort()).toEqual(['hit-for-pass', 'private', 'set-cookie']);
  });
});

describe('purge across two shield processes', () => {
  interface PurgeJson {
    acked: Array<{ shieldId: string; region: string; removed: number }>;
    failed: unknown[];
    missing: unknown[];
    removed: number;
  }

  async function purge(args: string[]): Promise<PurgeJson> {
    const started = performance.now();
    const res = await runCli(['purge', ...args, '--json'], {
      env: { FLOTILLA_NATS: fleet.nats.url },
    });
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout) as PurgeJson;
    console.log(
      `[cache] flotilla purge ${args.join(' ')}: ${json.acked.length} shields acknowledged ` +
        `(removed ${json.acked.map((a) => a.removed).join(' + ')}) in ${Math.round(performance.now() - started)} ms`,
    );
    expect(json.acked).toHaveLength(2);
    expect(json.failed).toEqual([]);
    expect(json.missing).toEqual([]);
    return json;
  }

  /** Stores `paths` on both shields (a miss, then a hit to be sure). */
  async function warm(paths: string[]): Promise<void> {
    for (const shield of [shieldA, shieldB]) {
      for (const path of paths) {
        await httpRequest(shield, path);
        expect(isHit(await httpRequest(shield, path)), `${path} on ${shield}`).toBe(true);
      }
    }
  }

  /** What the next request for `path` is on each shield: `hit` or `miss`. */
  async function next(path: string): Promise<string[]> {
    return Promise.all(
      [shieldA, shieldB].map(async (shield) => {
        const r = await httpRequest(shield, path);
        if (isHit(r)) return 'hit';
        expect(cacheStatus(r)).toMatch(/^flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=300$/);
        return 'miss';
      }),
    );
  }

  it('--url: both shields acknowledge; that URL is a miss on both, others stay', async () => {
    await warm(['/cachetest/purge/url', '/cachetest/purge/keep']);
    const res = await purge(['--url', `${shieldA}/cachetest/purge/url`]);
    expect(res.acked.map((a) => a.removed)).toEqual([1, 1]);
    expect(await next('/cachetest/purge/url')).toEqual(['miss', 'miss']);
    expect(await next('/cachetest/purge/keep')).toEqual(['hit', 'hit']);
  });

  it('--surrogate-key: both shields acknowledge; the tagged page is a miss on both, others stay', async () => {
    await warm(['/cachetest/purge/tagged', '/cachetest/purge/keep']);
    const res = await purge(['--surrogate-key', 'purge-tagged', '--app', 'cachetest']);
    expect(res.removed).toBe(2);
    expect(await next('/cachetest/purge/tagged')).toEqual(['miss', 'miss']);
    expect(await next('/cachetest/purge/keep')).toEqual(['hit', 'hit']);
  });

  it('--all --app --env: both shields acknowledge; everything of the environment is a miss on both', async () => {
    await warm(['/cachetest/purge/one', '/cachetest/purge/keep']);
    const res = await purge(['--all', '--app', 'cachetest', '--env', 'production']);
    for (const a of res.acked) expect(a.removed).toBeGreaterThanOrEqual(2);
    expect(await next('/cachetest/purge/one')).toEqual(['miss', 'miss']);
    expect(await next('/cachetest/purge/keep')).toEqual(['miss', 'miss']);
  });
});

describe('response headers × stored? through HTTP (the wiring of the unit matrix)', () => {
  for (const c of MATRIX) {
    it(`${c.case}: ${c.stored ? 'stored, then a hit' : `not stored (${c.caching}), then hit-for-pass`}`, async () => {
      const path = `/cachetest/m/${c.case}`;
      const first = await httpRequest(shieldB, path);
      const second = await httpRequest(shieldB, path);
      expect(first.status).toBe(c.status);
      expect(second.status).toBe(c.status);
      expect(cachingStatus(first)).toBe(c.caching);
      if (c.stored) {
        expect(cacheStatus(first)).toBe(
          `flotilla; fwd=uri-miss; fwd-status=${c.status}; stored; ttl=60`,
        );
        expect(cacheStatus(second)).toMatch(/^flotilla; hit; ttl=(59|60)$/);
        expect(cachingStatus(second)).toBe('ok');
        expect(second.body).toBe(first.body);
        expect(second.headers.age).toMatch(/^\d+$/);
      } else {
        expect(cacheStatus(first)).toBe(
          `flotilla; fwd=uri-miss; fwd-status=${c.status}; detail=${c.caching}`,
        );
        expect(cacheStatus(second)).toBe(
          `flotilla; fwd=miss; fwd-status=${c.status}; detail=hit-for-pass`,
        );
        expect(cachingStatus(second)).toBe('hit-for-pass');
        expect(second.body).not.toBe(first.body);
      }
      if (c.case === 's-maxage') {
        // s-maxage is for the edge: the browser is told to revalidate.
        expect(first.headers['cache-control']).toBe('public, no-cache');
        expect(second.headers['cache-control']).toBe('public, no-cache');
      }
      if (c.case === 'moved') expect(second.headers.location).toBe('/m/max-age');
      if (c.case === 'set-cookie') expect(first.headers['set-cookie']).toBe('m=1; Path=/');
    });
  }
});

describe('leader hangs (8 s render; shield with --follower-wait-ms 300)', () => {
  let hangShield: RoleProcess;
  const FOLLOWER_WAIT_MS = 300;

  beforeAll(async () => {
    hangShield = await fleet.add('shield', {
      args: ['--follower-wait-ms', String(FOLLOWER_WAIT_MS)],
    });
    expect((await httpRequest(hangShield.url, '/cachetest/warm')).status).toBe(200);
  }, 30_000);

  afterAll(async () => {
    await hangShield?.child.kill('SIGKILL');
  });

  /**
   * Sends `n` requests for `path` at once and returns those answered within
   * `settleMs`; the others (leaders still rendering) are aborted.
   */
  async function released(path: string, n: number, settleMs: number) {
    const agent = new Agent({ keepAlive: false, maxSockets: n });
    const controllers = Array.from({ length: n }, () => new AbortController());
    const answered: HttpReply[] = [];
    const pending = controllers.map((c) =>
      httpRequest(hangShield.url, path, { agent, signal: c.signal, timeoutMs: 15_000 }).then(
        (r) => {
          answered.push(r);
        },
        () => {},
      ),
    );
    await delay(settleMs);
    const outstanding = n - answered.length;
    for (const c of controllers) c.abort();
    await Promise.all(pending);
    agent.destroy();
    return { answered, outstanding };
  }

  it('without a stale copy: followers get 503 + Retry-After within a few follower waits', async () => {
    const { answered, outstanding } = await released('/cachetest/hang/ten', 10, 2500);
    const ms = answered.map((r) => r.ms);
    console.log(
      `[cache] leader hangs ${HANG_RENDER_MS} ms, no stale copy, follower wait ${FOLLOWER_WAIT_MS} ms: ` +
        `${answered.length} followers released in ${Math.round(Math.min(...ms))}–${Math.round(Math.max(...ms))} ms ` +
        `with ${JSON.stringify(count(answered, (r) => `${r.status} ${r.headers['x-flotilla-error']}`))}; ` +
        `${outstanding} still waiting (the leader and the one re-elected leader)`,
    );
    // The leader and (after the first wait) one re-elected leader keep rendering;
    // the others are turned away after a second wait, never held for the render.
    expect(outstanding).toBe(2);
    expect(answered).toHaveLength(8);
    for (const r of answered) {
      expect(r.status).toBe(503);
      expect(r.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_OVERLOADED');
      expect(r.headers['retry-after']).toBe('1');
      expect(r.ms).toBeGreaterThanOrEqual(FOLLOWER_WAIT_MS - 50);
      expect(r.ms).toBeLessThan(2 * FOLLOWER_WAIT_MS + 900);
    }
  });

  it('with a stale copy: followers get it after one follower wait', async () => {
    const path = '/cachetest/hang-stale/ten';
    const first = await httpRequest(hangShield.url, path);
    expect(cacheStatus(first)).toMatch(/stored; ttl=1$/);
    await delay(1200); // maxAge 1 s, no stale-while-revalidate: only stale-if-error remains
    const { answered, outstanding } = await released(path, 10, 1500);
    const ms = answered.map((r) => r.ms);
    console.log(
      `[cache] leader hangs ${HANG_RENDER_MS} ms, stale copy, follower wait ${FOLLOWER_WAIT_MS} ms: ` +
        `${answered.length} followers served stale in ${Math.round(Math.min(...ms))}–${Math.round(Math.max(...ms))} ms; ` +
        `${outstanding} still waiting (the leader)`,
    );
    expect(outstanding).toBe(1);
    expect(answered).toHaveLength(9);
    for (const r of answered) {
      expect(r.status).toBe(200);
      expect(r.body).toBe(first.body);
      expect(cacheStatus(r)).toMatch(/^flotilla; fwd=stale; ttl=-\d+; detail=stale-if-error$/);
      expect(r.ms).toBeGreaterThanOrEqual(FOLLOWER_WAIT_MS - 50);
      expect(r.ms).toBeLessThan(FOLLOWER_WAIT_MS + 900);
    }
  });
});
