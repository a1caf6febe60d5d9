import type { RouteCacheOptions } from '@flotilla/manifest';
import type { RenderResult, WireErrorCode } from '@flotilla/protocol';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  type CacheRequest,
  type EdgeAnswer,
  EdgeCache,
  type EdgeCacheOptions,
  type OriginAnswer,
  type OriginMode,
} from './edge-cache.ts';
import { type Deferred, deferred } from './test-timing.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Swr 30 s: fresh 0–60 s, stale (served, revalidated) 60–90 s, stale-if-error 90–120 s. */
const ROUTE: RouteCacheOptions = { edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 30 } };
const T0 = 1_700_000_000_000;

function request(over: Partial<CacheRequest> = {}): CacheRequest {
  return {
    key: 'production|shop.example/p/1|ae=identity',
    method: 'GET',
    route: ROUTE,
    debug: false,
    postCacheable: false,
    requestBodyBytes: 0,
    setCookieRemoved: false,
    app: 'shop',
    environment: 'production',
    path: '/p/1',
    url: 'shop.example/p/1',
    ...over,
  };
}

function page(
  body: string,
  over: Partial<Extract<RenderResult, { ok: true }>> = {},
): Extract<RenderResult, { ok: true }> {
  return {
    ok: true,
    status: 200,
    headers: [['content-type', 'text/html; charset=utf-8']],
    body: enc.encode(body),
    timings: { worker: 2, render: 1 },
    ...over,
  };
}

function failure(
  code: WireErrorCode = 'FLOTILLA_ERR_RENDER',
  message = 'render threw',
): RenderResult {
  return { ok: false, error: { code, message }, timings: { worker: 1 } };
}

type Behaviour = (call: number, mode: OriginMode, signal: AbortSignal) => Promise<RenderResult>;

/** A stand-in for the region: counts calls, answers with `behaviour`. */
class FakeOrigin {
  readonly calls: Array<{ mode: OriginMode; signal: AbortSignal }> = [];
  behaviour: Behaviour;
  constructor(behaviour: Behaviour = async (n) => page(`render ${n}`)) {
    this.behaviour = behaviour;
  }
  readonly fn = async (mode: OriginMode, signal: AbortSignal): Promise<OriginAnswer> => {
    this.calls.push({ mode, signal });
    const result = await this.behaviour(this.calls.length, mode, signal);
    return { result, region: undefined };
  };
  get count(): number {
    return this.calls.length;
  }
}

/** An origin that never answers until its signal aborts (a hung render). */
function hang(_n: number, _mode: OriginMode, signal: AbortSignal): Promise<RenderResult> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

function setup(options: EdgeCacheOptions = {}) {
  const clock = { t: T0 };
  const registry = new Registry();
  const cache = new EdgeCache({ registry, now: () => clock.t, ...options });
  return {
    cache,
    clock,
    registry,
    advance: (ms: number) => {
      clock.t += ms;
    },
  };
}

function bodyOf(a: EdgeAnswer): string {
  if (a.kind !== 'response') throw new Error(`expected a response, got ${JSON.stringify(a)}`);
  return dec.decode(a.response.body);
}

function statusOf(a: EdgeAnswer): number {
  if (a.kind !== 'response') throw new Error(`expected a response, got ${JSON.stringify(a)}`);
  return a.response.status;
}

/** Lets queued microtasks and I/O callbacks run. */
const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EdgeCache: hits and misses', () => {
  it('misses once and stores, then answers hits with Age and a shrinking ttl', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin();

    const miss = await cache.serve(request(), origin.fn);
    expect(bodyOf(miss)).toBe('render 1');
    expect(miss.cacheStatus).toBe('flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60');
    expect(miss.cachingStatus).toBe('ok');
    expect(miss.kind === 'response' && miss.entry).toBeTruthy();
    expect(miss.timings).toEqual({ worker: 2, render: 1 });
    expect(origin.calls.map((c) => c.mode)).toEqual(['cache']);

    advance(12_500);
    const hit = await cache.serve(request(), origin.fn);
    expect(bodyOf(hit)).toBe('render 1');
    expect(hit.cacheStatus).toBe('flotilla; hit; ttl=47');
    expect(hit.cachingStatus).toBe('ok');
    expect(hit.kind === 'response' && hit.ageSeconds).toBe(12);
    expect(hit.timings).toBeUndefined();
    expect(origin.count).toBe(1);
  });

  it('keeps keys apart', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin();
    await cache.serve(request({ key: 'a' }), origin.fn);
    const b = await cache.serve(request({ key: 'b' }), origin.fn);
    expect(bodyOf(b)).toBe('render 2');
    expect(bodyOf(await cache.serve(request({ key: 'a' }), origin.fn))).toBe('render 1');
    expect(origin.count).toBe(2);
  });

  it('never stores set-cookie, age or hop-by-hop headers with the copy', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin(async () =>
      page('x', {
        headers: [
          ['content-type', 'text/html'],
          ['age', '3'],
          ['connection', 'close'],
          ['x-app', 'yes'],
        ],
      }),
    );
    await cache.serve(request(), origin.fn);
    const hit = await cache.serve(request(), origin.fn);
    expect(hit.kind === 'response' && hit.response.headers).toEqual([
      ['content-type', 'text/html'],
      ['x-app', 'yes'],
    ]);
  });
});

describe('EdgeCache: stale-while-revalidate', () => {
  it('serves 100 concurrent stale requests at once and runs exactly one revalidation', async () => {
    const { cache, advance, registry } = setup();
    const gate = deferred<RenderResult>();
    const origin = new FakeOrigin(async (n) => (n === 1 ? page('v1') : gate.promise));
    await cache.serve(request(), origin.fn);

    advance(70_000); // 10 s into the 30 s stale-while-revalidate window
    const answers = await Promise.all(
      Array.from({ length: 100 }, () => cache.serve(request(), origin.fn)),
    );
    for (const a of answers) {
      expect(bodyOf(a)).toBe('v1');
      expect(a.cacheStatus).toBe('flotilla; hit; ttl=-10; detail=stale');
      expect(a.kind === 'response' && a.ageSeconds).toBe(70);
    }
    await tick();
    // The revalidation is under way (not yet answered): exactly one origin call.
    expect(origin.count).toBe(2);
    expect(origin.calls[1]?.mode).toBe('cache');

    gate.resolve(page('v2'));
    await cache.drain();
    const after = await cache.serve(request(), origin.fn);
    expect(bodyOf(after)).toBe('v2');
    expect(after.cacheStatus).toBe('flotilla; hit; ttl=60');
    expect(origin.count).toBe(2);
    const metrics = await registry.metrics();
    expect(metrics).toContain('flotilla_shield_revalidations_total{outcome="ok"} 1');
    expect(metrics).toContain('flotilla_shield_revalidations_total{outcome="duplicate"} 99');
  });

  it('keeps serving the stale copy when the revalidation fails', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin(async (n) => (n === 1 ? page('v1') : failure()));
    await cache.serve(request(), origin.fn);
    advance(65_000);
    expect(bodyOf(await cache.serve(request(), origin.fn))).toBe('v1');
    await cache.drain();
    const again = await cache.serve(request(), origin.fn);
    expect(bodyOf(again)).toBe('v1');
    expect(again.cacheStatus).toBe('flotilla; hit; ttl=-5; detail=stale');
  });
});

describe('EdgeCache: stale-if-error', () => {
  it('serves the expired copy when the render fails, with no fwd-status', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin(async (n) => (n === 1 ? page('v1') : failure()));
    await cache.serve(request(), origin.fn);
    advance(100_000); // past swr (90 s), inside stale-if-error (120 s)
    const a = await cache.serve(request(), origin.fn);
    expect(bodyOf(a)).toBe('v1');
    expect(a.cacheStatus).toBe('flotilla; fwd=stale; ttl=-40; detail=stale-if-error');
    expect(a.cachingStatus).toBe('ok');
    expect(a.kind === 'response' && a.ageSeconds).toBe(100);
    expect(origin.count).toBe(2);
  });

  it('serves the expired copy when the render answers 5xx, showing its status', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin(async (n) =>
      n === 1 ? page('v1') : page('upstream down', { status: 503 }),
    );
    await cache.serve(request(), origin.fn);
    advance(100_000);
    const a = await cache.serve(request(), origin.fn);
    expect(bodyOf(a)).toBe('v1');
    expect(statusOf(a)).toBe(200);
    expect(a.cacheStatus).toBe(
      'flotilla; fwd=stale; fwd-status=503; ttl=-40; detail=stale-if-error',
    );
  });

  it('revalidates an expired copy when the render succeeds (fwd=stale; stored)', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin();
    await cache.serve(request(), origin.fn);
    advance(100_000);
    const a = await cache.serve(request(), origin.fn);
    expect(bodyOf(a)).toBe('render 2');
    expect(a.cacheStatus).toBe('flotilla; fwd=stale; fwd-status=200; stored; ttl=60');
  });

  it('answers the failure once the stale-if-error window is over', async () => {
    const { cache, advance } = setup();
    const origin = new FakeOrigin(async (n) =>
      n === 1 ? page('v1') : n === 2 ? failure() : page('oops', { status: 502 }),
    );
    await cache.serve(request(), origin.fn);
    advance(121_000);
    const err = await cache.serve(request(), origin.fn);
    expect(err.kind).toBe('error');
    expect(err.kind === 'error' && err.error.code).toBe('FLOTILLA_ERR_RENDER');
    expect(err.cachingStatus).toBe('code');
    const bad = await cache.serve(request(), origin.fn);
    expect(statusOf(bad)).toBe(502);
    expect(bodyOf(bad)).toBe('oops');
    expect(bad.cacheStatus).toBe('flotilla; fwd=uri-miss; fwd-status=502; detail=code');
    // No response at all: RFC 9211 fwd-status (the next hop's HTTP status) is left out.
    expect(err.cacheStatus).toBe('flotilla; fwd=uri-miss; detail=code');
  });

  it('does not turn a key hit-for-pass after a 5xx: the next request is a coalesced miss again', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin(async (n) =>
      n === 1 ? page('down', { status: 500 }) : page('back'),
    );
    const first = await cache.serve(request(), origin.fn);
    expect(statusOf(first)).toBe(500);
    expect(cache.store.isHitForPass(request().key)).toBe(false);
    const second = await cache.serve(request(), origin.fn);
    expect(bodyOf(second)).toBe('back');
    expect(second.cacheStatus).toContain('stored');
    expect(origin.calls.map((c) => c.mode)).toEqual(['cache', 'cache']);
  });
});

describe('EdgeCache: coalescing', () => {
  it('sends 1000 concurrent misses on one key to the origin once', async () => {
    const { cache, registry } = setup();
    const gate = deferred<RenderResult>();
    const origin = new FakeOrigin(() => gate.promise);
    const pending = Array.from({ length: 1000 }, () => cache.serve(request(), origin.fn));
    await tick();
    expect(origin.count).toBe(1);
    gate.resolve(page('one render'));
    const answers = await Promise.all(pending);
    expect(origin.count).toBe(1);
    expect(answers.every((a) => bodyOf(a) === 'one render')).toBe(true);
    const statuses = answers.map((a) => a.cacheStatus);
    expect(
      statuses.filter((s) => s === 'flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60'),
    ).toHaveLength(1);
    expect(
      statuses.filter(
        (s) => s === 'flotilla; fwd=uri-miss; fwd-status=200; stored; collapsed; ttl=60',
      ),
    ).toHaveLength(999);
    expect(await registry.metrics()).toContain('flotilla_shield_coalesced_total 999');
  });

  it('a failing leader never stalls its followers: one re-election, then all get the failure', async () => {
    const { cache } = setup();
    const gates = [deferred<RenderResult>(), deferred<RenderResult>()];
    const origin = new FakeOrigin((n) => gates[n - 1]?.promise ?? Promise.resolve(page('late')));
    const pending = Array.from({ length: 50 }, () => cache.serve(request(), origin.fn));
    await tick();
    expect(origin.count).toBe(1);
    gates[0]?.resolve(failure());
    await tick();
    expect(origin.count).toBe(2); // one follower took over
    gates[1]?.resolve(failure('FLOTILLA_ERR_RENDER', 'still broken'));
    const answers = await Promise.all(pending);
    expect(origin.count).toBe(2);
    expect(answers.every((a) => a.kind === 'error')).toBe(true);
    expect(answers.every((a) => a.cachingStatus === 'code')).toBe(true);
  });

  it('caps the followers of one key: past maxFollowers a request gets 503 with Retry-After at once', async () => {
    const { cache } = setup({ maxFollowers: 2 });
    const gate = deferred<RenderResult>();
    const origin = new FakeOrigin(() => gate.promise);
    const pending = Array.from({ length: 3 }, () => cache.serve(request(), origin.fn));
    const over = await cache.serve(request(), origin.fn);
    expect(over.kind).toBe('error');
    if (over.kind === 'error') {
      expect(over.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
      expect(over.retryAfterSeconds).toBe(1);
    }
    gate.resolve(page('ok'));
    expect((await Promise.all(pending)).map(bodyOf)).toEqual(['ok', 'ok', 'ok']);
    expect(origin.count).toBe(1);
  });

  it('a follower whose wait runs out gets the stale copy when there is one', async () => {
    const { cache, advance } = setup({ followerWaitMs: 30, leaderTimeoutMs: 400 });
    const origin = new FakeOrigin(async (n, mode, signal) =>
      n === 1 ? page('v1') : hang(n, mode, signal),
    );
    await cache.serve(request(), origin.fn);
    advance(100_000); // stale-if-error only: a miss, with a stale copy to fall back on
    const leader = cache.serve(request(), origin.fn);
    await tick();
    const started = performance.now();
    const follower = await cache.serve(request(), origin.fn);
    expect(performance.now() - started).toBeLessThan(250); // well before the leader's 400 ms
    expect(bodyOf(follower)).toBe('v1');
    expect(follower.cacheStatus).toBe('flotilla; fwd=stale; ttl=-40; detail=stale-if-error');
    // The hung leader gives up at leaderTimeoutMs and falls back on the stale copy too.
    const led = await leader;
    expect(bodyOf(led)).toBe('v1');
    expect(led.cacheStatus).toContain('detail=stale-if-error');
    expect(origin.count).toBe(2);
  });

  it('without a stale copy a timed-out follower leads once; later ones get 503 with retryAfterSeconds', async () => {
    const { cache } = setup({ followerWaitMs: 40, leaderTimeoutMs: 500 });
    const origin = new FakeOrigin(hang);
    const first = cache.serve(request(), origin.fn);
    await tick();
    const second = cache.serve(request(), origin.fn);
    await sleep(5);
    const third = cache.serve(request(), origin.fn);
    // After 40 ms the second request is elected leader (a second origin call);
    // the third follows it for another 40 ms, then gets 503 with Retry-After.
    const started = performance.now();
    const turnedAway = await third;
    expect(performance.now() - started).toBeLessThan(700);
    expect(turnedAway.kind).toBe('error');
    if (turnedAway.kind === 'error') {
      expect(turnedAway.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
      expect(turnedAway.retryAfterSeconds).toBe(1);
    }
    expect(origin.count).toBe(2);
    // The hung leaders give up at leaderTimeoutMs: an error, never a hang.
    for (const a of await Promise.all([first, second])) {
      expect(a.kind).toBe('error');
      expect(a.kind === 'error' && a.error.code).toBe('FLOTILLA_ERR_DEADLINE');
    }
    expect(origin.count).toBe(2);
  });
});

describe('EdgeCache: hit-for-pass and pass', () => {
  it('marks a key whose response cannot be shared hit-for-pass, then passes without coalescing', async () => {
    const { cache, advance } = setup({ hitForPassMs: 120_000 });
    const gates: Array<Deferred<RenderResult>> = [];
    const origin = new FakeOrigin((n) => {
      if (n === 1) return Promise.resolve(page('private', { headers: [['set-cookie', 's=1']] }));
      const g = deferred<RenderResult>();
      gates.push(g);
      return g.promise;
    });
    const first = await cache.serve(request(), origin.fn);
    expect(first.cacheStatus).toBe('flotilla; fwd=uri-miss; fwd-status=200; detail=set-cookie');
    expect(first.cachingStatus).toBe('set-cookie');
    expect(cache.store.isHitForPass(request().key, T0)).toBe(true);

    // Five at once: each goes to the origin on its own, in pass mode.
    const pending = Array.from({ length: 5 }, () => cache.serve(request(), origin.fn));
    await tick();
    expect(origin.count).toBe(6);
    expect(origin.calls.slice(1).map((c) => c.mode)).toEqual(Array(5).fill('pass'));
    for (const g of gates) g.resolve(page('passed'));
    for (const a of await Promise.all(pending)) {
      expect(bodyOf(a)).toBe('passed');
      expect(a.cacheStatus).toBe('flotilla; fwd=miss; fwd-status=200; detail=hit-for-pass');
      expect(a.cachingStatus).toBe('hit-for-pass');
      expect(a.kind === 'response' && a.entry).toBeUndefined();
    }

    // After hitForPassMs the key is looked up (and coalesced) again.
    advance(120_001);
    origin.behaviour = async () => page('cacheable now');
    const again = await cache.serve(request(), origin.fn);
    expect(again.cacheStatus).toBe('flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60');
    expect(origin.calls.at(-1)?.mode).toBe('cache');
  });

  it.each<[string, Partial<Extract<RenderResult, { ok: true }>>, RouteCacheOptions | undefined]>([
    ['no-max-age', { headers: [['content-type', 'text/html']] }, undefined],
    ['private', { headers: [['cache-control', 'private, max-age=60']] }, undefined],
    ['vary', { headers: [['vary', 'cookie']] }, ROUTE],
    ['code', { status: 206 }, ROUTE],
  ])('a %s response is not stored and makes the key hit-for-pass', async (status, over, route) => {
    const { cache } = setup();
    const origin = new FakeOrigin(async () => page('x', over));
    const first = await cache.serve(request({ route }), origin.fn);
    expect(first.cachingStatus).toBe(status);
    expect(first.cacheStatus).toContain(`detail=${status}`);
    expect(first.cacheStatus).not.toContain('stored');
    const second = await cache.serve(request({ route }), origin.fn);
    expect(second.cachingStatus).toBe('hit-for-pass');
    expect(origin.count).toBe(2);
  });

  it('passes a POST on a route that does not cache POST: fwd=method, never stored', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin();
    for (let i = 1; i <= 2; i++) {
      const a = await cache.serve(request({ method: 'POST', requestBodyBytes: 10 }), origin.fn);
      expect(bodyOf(a)).toBe(`render ${i}`);
      expect(a.cacheStatus).toBe('flotilla; fwd=method; fwd-status=200');
      expect(a.cachingStatus).toBe('method');
    }
    expect(origin.calls.map((c) => c.mode)).toEqual(['pass', 'pass']);
    expect(cache.store.size).toBe(0);
    // The POST did not make the key hit-for-pass for GETs.
    const get = await cache.serve(request(), origin.fn);
    expect(get.cacheStatus).toContain('stored');
  });

  it('passes a debug request, neither served from nor stored in the cache', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin();
    await cache.serve(request(), origin.fn); // stored
    const debug = await cache.serve(request({ debug: true }), origin.fn);
    expect(bodyOf(debug)).toBe('render 2');
    expect(debug.cacheStatus).toBe('flotilla; fwd=bypass; fwd-status=200; detail=debug');
    expect(debug.cachingStatus).toBe('debug');
    expect(origin.calls[1]?.mode).toBe('pass');
    // The stored copy is untouched.
    expect(bodyOf(await cache.serve(request(), origin.fn))).toBe('render 1');
  });

  it('passes a route that declares edge: false', async () => {
    const { cache } = setup();
    const origin = new FakeOrigin();
    const a = await cache.serve(request({ route: { edge: false } }), origin.fn);
    expect(a.cacheStatus).toBe('flotilla; fwd=bypass; fwd-status=200; detail=disabled');
    expect(a.cachingStatus).toBe('disabled');
    expect(cache.store.size).toBe(0);
  });
});

describe('EdgeCache: purge', () => {
  it("an edge revalidating a URL keeps none of the global tier's copies older than the revalidation", async () => {
    const { cache, advance } = setup();
    // The global owner's copy: `ageS` seconds old there, fresh for 60 s.
    let ageS = 30;
    const origin = async (): Promise<OriginAnswer> => ({
      result: page(`owner copy aged ${ageS}`),
      region: undefined,
      tier: {
        cacheStatus: 'flotilla-global; hit',
        cachingStatus: 'ok',
        outcome: 'hit',
        shieldId: 'g-1',
        windows: { ageMs: ageS * 1000, maxAgeMs: 60_000, swrMs: 0, staleIfErrorMs: 0 },
      },
    });
    expect((await cache.serve(request(), origin)).cacheStatus).toMatch(/; stored/);
    cache.expectNewTierCopy('SHOP.example/p/1', 10_000);
    expect(await cache.purgeDurably({ kind: 'url', url: 'shop.example/p/1' })).toBe(1);
    // The owner still serves the old copy while it renders: served, not kept.
    advance(500);
    const old = await cache.serve(request(), origin);
    expect(bodyOf(old)).toBe('owner copy aged 30');
    expect(old.cacheStatus).not.toMatch(/; stored/);
    expect(cache.peek(request().key)).toBeUndefined();
    // Another URL is not concerned.
    const other = request({
      key: 'production|shop.example/p/2|ae=identity',
      url: 'shop.example/p/2',
    });
    expect((await cache.serve(other, origin)).cacheStatus).toMatch(/; stored/);
    // The owner's new copy (stored after the revalidation began) is kept.
    advance(1500);
    ageS = 1;
    const renewed = await cache.serve(request(), origin);
    expect(renewed.cacheStatus).toMatch(/; stored/);
    expect(bodyOf(await cache.serve(request(), origin))).toBe('owner copy aged 1');
    // Past the window, any copy is kept again.
    advance(10_000);
    ageS = 40;
    const later = request({ key: 'production|shop.example/p/1|ae=gzip' });
    expect((await cache.serve(later, origin)).cacheStatus).toMatch(/; stored/);
  });

  async function filled() {
    const s = setup();
    const origin = new FakeOrigin(async (n) =>
      page(`r${n}`, {
        headers: [
          ['content-type', 'text/html'],
          ['surrogate-key', n % 2 === 1 ? 'odd all' : 'even all'],
        ],
      }),
    );
    const reqs = [
      request({ key: 'k1', path: '/p/1', url: 'shop.example/p/1' }),
      request({ key: 'k2', path: '/p/2', url: 'shop.example/p/2?x=1' }),
      request({ key: 'k3', path: '/about', url: 'shop.example/about' }),
      request({
        key: 'k4',
        path: '/p/1',
        url: 'staging.shop.example/p/1',
        environment: 'staging',
      }),
      request({ key: 'k5', app: 'blog', path: '/p/1', url: 'blog.example/p/1' }),
    ];
    for (const r of reqs) await s.cache.serve(r, origin.fn);
    expect(s.cache.store.size).toBe(5);
    const cached = async (r: CacheRequest) =>
      (await s.cache.serve(r, new FakeOrigin().fn)).cacheStatus.includes('; hit');
    return { ...s, reqs, cached };
  }

  it('by URL removes exactly that entry; the next request is a miss', async () => {
    const { cache, reqs, cached } = await filled();
    expect(cache.purge({ kind: 'url', url: 'https://Shop.Example/p/2?x=1' })).toBe(1);
    expect(cache.store.size).toBe(4);
    expect(await cached(reqs[1] as CacheRequest)).toBe(false);
    expect(await cached(reqs[0] as CacheRequest)).toBe(true);
  });

  it('by path pattern, optionally within an app and environment', async () => {
    const { cache } = await filled();
    expect(
      cache.purge({ kind: 'path', pattern: '/p/:id', app: 'shop', environment: 'staging' }),
    ).toBe(1);
    expect(cache.purge({ kind: 'path', pattern: '/p/:id', app: 'shop' })).toBe(2);
    expect(cache.purge({ kind: 'path', pattern: '/:any*' })).toBe(2);
    expect(cache.store.size).toBe(0);
  });

  it('by surrogate key, optionally within an app', async () => {
    const { cache } = await filled();
    expect(cache.purge({ kind: 'surrogate-key', key: 'odd', app: 'shop' })).toBe(2); // k1, k3
    expect(cache.purge({ kind: 'surrogate-key', key: 'all' })).toBe(3);
    expect(cache.purge({ kind: 'surrogate-key', key: 'none' })).toBe(0);
  });

  it('by environment, which also forgets hit-for-pass markers', async () => {
    const { cache, reqs, cached } = await filled();
    cache.store.markHitForPass('k-pass', T0 + 60_000);
    expect(cache.purge({ kind: 'environment', app: 'shop', environment: 'production' })).toBe(3);
    expect(cache.store.isHitForPass('k-pass', T0)).toBe(false);
    expect(await cached(reqs[3] as CacheRequest)).toBe(true);
    expect(await cached(reqs[4] as CacheRequest)).toBe(true);
  });
});
