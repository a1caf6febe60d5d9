import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import type { CacheKeySpec, ManifestRoute, RouteCacheOptions } from '@flotilla/manifest';
import {
  decodePurgeAck,
  decodeRenderRequest,
  encodePurgeRequest,
  encodeRenderResult,
  normalizePurgeUrl,
  PURGE_SUBJECT,
  type PurgeAck,
  type PurgeSelector,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  traceIdOf,
} from '@flotilla/protocol';
import { InProcessTransport, type Subscription } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from './shield.ts';
import type { ShieldOptions } from './shield-options.ts';
import { SiteDirectory, type SiteEnvironment } from './site-directory.ts';
import { FakeSource, manifest } from './test-sites.ts';

const REGION = 'cache-region';
const subjects = regionSubjects(REGION);
const HOST = 'shop.example.test';
const SHIELD_ID = 'shield-cache-test';
const T0 = 1_700_000_000_000;
const enc = new TextEncoder();

// ---- manifests and a control plane in memory ----------------------------------------

function keySpec(over: Partial<CacheKeySpec> = {}): CacheKeySpec {
  return {
    query: { mode: 'all' },
    cookies: [],
    headers: [],
    device: false,
    browser: false,
    ...over,
  };
}

const EDGE_60 = { maxAgeSeconds: 60 };

function route(
  id: number,
  path: string,
  cache: RouteCacheOptions | undefined,
  over: Partial<ManifestRoute> = {},
): ManifestRoute {
  return {
    id,
    criteria: { path, method: ['GET'] },
    fallback: false,
    action: { kind: 'render' },
    ...(cache ? { cache } : {}),
    headerOps: [],
    ...over,
  };
}

/** The routes of every `shop` deployment in these tests. */
const ROUTES: ManifestRoute[] = [
  route(0, '/p/:id', {
    edge: EDGE_60,
    browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 },
  }),
  route(1, '/b/:id', { edge: EDGE_60, browser: { maxAgeSeconds: 30 } }),
  route(2, '/q', {
    edge: EDGE_60,
    key: keySpec({ query: { mode: 'exclude', names: ['utm_source', 'fbclid'] } }),
  }),
  route(3, '/only', { edge: EDGE_60, key: keySpec({ query: { mode: 'only', names: ['color'] } }) }),
  route(4, '/c', { edge: EDGE_60, key: keySpec({ cookies: ['currency'] }) }),
  route(5, '/nocache', undefined),
  route(6, '/pass', { edge: false }, { criteria: { path: '/pass' } }),
  route(7, '/s/:id', { edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 30 } }),
  route(8, '/search', { edge: EDGE_60 }, { criteria: { path: '/search', method: ['POST'] } }),
  route(9, '/:path*', { edge: EDGE_60 }, { criteria: { path: '/:path*' }, fallback: true }),
];

/** A control plane in memory holding two `shop` deployments with {@link ROUTES}. */
function shopSource(): FakeSource {
  return new FakeSource([
    ['shop-aaa', manifest('shop', ROUTES)],
    ['shop-bbb', manifest('shop', ROUTES)],
  ]);
}

function production(over: Partial<SiteEnvironment> = {}): SiteEnvironment {
  return {
    app: 'shop',
    env: 'production',
    deploymentId: 'shop-aaa',
    history: [],
    revision: 1,
    ...over,
  };
}

// ---- a stand-in for the region's schedulers -----------------------------------------

type Answer = (req: RenderRequest, n: number) => RenderResult | Promise<RenderResult>;

function pathOf(req: RenderRequest): string {
  const u = new URL(req.url);
  return `${u.pathname}${u.search}`;
}

/** Body names the deployment, environment, method, path and render number. */
const defaultAnswer: Answer = (req, n) => ({
  ok: true,
  status: 200,
  headers: [['content-type', 'text/html; charset=utf-8']],
  body: enc.encode(
    `${req.deploymentId}|${req.environment ?? '-'}|${req.method}|${pathOf(req)}|#${n}`,
  ),
  timings: { worker: 4, render: 2, scheduler: 1, transport: 1 },
});

function fakeScheduler(t: InProcessTransport) {
  const state = {
    received: [] as RenderRequest[],
    answer: defaultAnswer,
    sub: undefined as Subscription | undefined,
  };
  state.sub = t.serve(
    subjects.miss,
    async (msg) => {
      const req = decodeRenderRequest(msg);
      state.received.push(req);
      return encodeRenderResult(await state.answer(req, state.received.length));
    },
    { queue: subjects.schedulerQueue },
  );
  return state;
}

function page(
  body: string | Uint8Array,
  headers: Array<[string, string]> = [['content-type', 'text/html; charset=utf-8']],
  status = 200,
): RenderResult {
  return {
    ok: true,
    status,
    headers,
    body: typeof body === 'string' ? enc.encode(body) : body,
    timings: { worker: 4, render: 2 },
  };
}

function headerValues(req: RenderRequest | undefined, name: string): string[] {
  return (req?.headers ?? []).filter(([k]) => k === name).map(([, v]) => v);
}

// ---- HTTP --------------------------------------------------------------------------

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

interface Req {
  method?: string;
  host?: string;
  headers?: Record<string, string | string[]>;
  body?: Uint8Array;
}

/** One request on a fresh connection (node:http lets us set Host and any header). */
function http(base: string, path: string, r: Req = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...r.headers };
    if (r.host) headers.host = r.host;
    if (r.body) headers['content-length'] = String(r.body.byteLength);
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: r.method ?? 'GET',
        headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: body.toString('utf8'),
          });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(r.body);
  });
}

// ---- shields under test --------------------------------------------------------------

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function start(options: { envs?: SiteEnvironment[]; shield?: Partial<ShieldOptions> } = {}) {
  const transport = new InProcessTransport();
  const source = shopSource();
  source.set(options.envs ?? [production()]);
  const sites = new SiteDirectory({ source, domain: 'example.test' });
  await sites.start();
  const clock = { t: T0 };
  const registry = new Registry();
  const shield = new Shield({
    transport,
    region: REGION,
    sites,
    port: 0,
    drainGraceMs: 0,
    registry,
    shieldId: SHIELD_ID,
    cache: { now: () => clock.t },
    ...options.shield,
  });
  const { url, adminUrl } = await shield.listen();
  cleanups.push(
    () => transport.drain(),
    () => sites.stop(),
    () => shield.drain(),
  );
  const sched = fakeScheduler(transport);
  const get = (path: string, r: Req = {}) => http(url, path, { host: HOST, ...r });
  /** Publishes a purge the way `flotilla purge` does and returns this shield's ack. */
  const purge = async (selector: PurgeSelector, purgeId = 'purge-1'): Promise<PurgeAck> => {
    const reply = await transport.request(
      PURGE_SUBJECT,
      { headers: {}, body: encodePurgeRequest({ purgeId, selector }) },
      { timeoutMs: 2000 },
    );
    return decodePurgeAck(reply.body);
  };
  /** Pushes new environments and waits until the shield routes with them. */
  const setEnvs = async (envs: SiteEnvironment[]) => {
    source.set(envs);
    const deadline = Date.now() + 2000;
    while (sites.environments() !== envs) {
      if (Date.now() > deadline) throw new Error('the site directory never applied the change');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return {
    shield,
    url,
    adminUrl,
    transport,
    source,
    sites,
    sched,
    clock,
    registry,
    get,
    purge,
    setEnvs,
  };
}

const MISS_STORED = 'flotilla; fwd=uri-miss; fwd-status=200; stored; ttl=60';

/** Request headers a client (or an attacker) may send; none of the forwarding ones is keyed. */
const CLIENT_HEADERS: Record<string, string> = {
  accept: 'text/html',
  'accept-encoding': 'gzip, deflate',
  'accept-language': 'fr-FR',
  'user-agent':
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1',
  cookie: 'session=canary-session; currency=EUR',
  authorization: 'Bearer canary-token',
  referer: 'https://ref.example/',
  'x-forwarded-host': 'canary.evil.example',
  'x-forwarded-proto': 'canary',
  'x-forwarded-for': '6.6.6.6',
  'x-forwarded-prefix': '/canary',
  forwarded: 'for=6.6.6.6;host=canary.evil.example;proto=canary',
  'x-original-url': '/canary',
  'x-rewrite-url': '/canary',
  'x-host': 'canary.evil.example',
  'x-real-ip': '6.6.6.6',
  'x-flotilla-client-ip': '6.6.6.6',
  'x-flotilla-device': 'canary',
  'x-flotilla-original-query': 'canary=1',
  'x-custom': 'custom-value',
};

const SPOOFED = [
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-for',
  'x-forwarded-prefix',
  'forwarded',
  'x-original-url',
  'x-rewrite-url',
  'x-host',
  'x-real-ip',
  'x-flotilla-original-query',
];

// ---- tests -----------------------------------------------------------------------------

describe('Shield cache: Cache-Status, caching status, Age, Server-Timing', () => {
  it('answers a miss, then hits with Age and the remaining ttl', async () => {
    const { get, sched, clock, adminUrl } = await start();
    const miss = await get('/p/1');
    expect(miss.status).toBe(200);
    expect(miss.text).toBe('shop-aaa|production|GET|/p/1|#1');
    expect(miss.headers['cache-status']).toBe(MISS_STORED);
    expect(miss.headers['x-flotilla-caching-status']).toBe('ok');
    expect(miss.headers.age).toBe('0');
    const timing = String(miss.headers['server-timing']);
    expect(timing).toMatch(/(^|, )shield;dur=\d+\.\d\d/);
    expect(timing).toContain('worker;dur=4.00');
    expect(timing).toContain('render;dur=2.00');

    clock.t += 15_000;
    const hit = await get('/p/1');
    expect(hit.text).toBe(miss.text);
    expect(hit.headers['cache-status']).toBe('flotilla; hit; ttl=45');
    expect(hit.headers['x-flotilla-caching-status']).toBe('ok');
    expect(hit.headers.age).toBe('15');
    expect(hit.headers['content-length']).toBe(String(Buffer.byteLength(miss.text)));
    expect(String(hit.headers['server-timing'])).not.toContain('worker');
    expect(sched.received).toHaveLength(1);

    // Later hits take the hot path: Age and ttl still move with the clock.
    for (const [advance, age, ttl] of [
      [0, 15, 45],
      [400, 15, 44],
      [600, 16, 44],
      [1500, 17, 42],
    ] as const) {
      clock.t += advance;
      const again = await get('/p/1');
      expect(again.text).toBe(miss.text);
      expect([again.headers.age, again.headers['cache-status']]).toEqual([
        String(age),
        `flotilla; hit; ttl=${ttl}`,
      ]);
    }
    expect(sched.received).toHaveLength(1);

    const metrics = await http(adminUrl, '/metrics');
    expect(metrics.text).toContain(
      `flotilla_shield_requests_total{app="shop",status="200",region="${REGION}",cache="miss"} 1`,
    );
    expect(metrics.text).toContain(
      `flotilla_shield_requests_total{app="shop",status="200",region="${REGION}",cache="hit"} 5`,
    );
    expect(metrics.text).toContain(
      `flotilla_shield_request_seconds_count{app="shop",region="${REGION}"} 6`,
    );
    expect(metrics.text).toContain('flotilla_shield_cache_entries 1');
  });

  it('counts the hot hits it served before a drain', async () => {
    const { get, shield, registry } = await start();
    for (let i = 0; i < 4; i++) await get('/b/1'); // a miss, a hit, then two hot hits
    await shield.drain();
    const counted = await registry.getSingleMetric('flotilla_shield_requests_total')?.get();
    const hits = counted?.values.find((v) => v.labels.cache === 'hit');
    expect(hits?.value).toBe(3);
  });

  it('coalesces concurrent misses over HTTP into one render', async () => {
    const { get, sched } = await start();
    sched.answer = async (req, n) => {
      await new Promise((r) => setTimeout(r, 150));
      return defaultAnswer(req, n);
    };
    const replies = await Promise.all(Array.from({ length: 40 }, () => get('/p/9')));
    expect(sched.received).toHaveLength(1);
    expect(new Set(replies.map((r) => r.text))).toEqual(
      new Set(['shop-aaa|production|GET|/p/9|#1']),
    );
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(replies.filter((r) => r.headers['cache-status'] === MISS_STORED)).toHaveLength(1);
  });

  it('a response that cannot be stored turns the key hit-for-pass, forwarded in pass mode', async () => {
    const { get, sched } = await start();
    const first = await get('/nocache', { headers: CLIENT_HEADERS });
    expect(first.headers['cache-status']).toBe(
      'flotilla; fwd=uri-miss; fwd-status=200; detail=no-max-age',
    );
    expect(first.headers['x-flotilla-caching-status']).toBe('no-max-age');
    expect(headerValues(sched.received[0], 'cookie')).toEqual([]);

    const second = await get('/nocache', { headers: CLIENT_HEADERS });
    expect(second.text).toBe('shop-aaa|production|GET|/nocache|#2');
    expect(second.headers['cache-status']).toBe(
      'flotilla; fwd=miss; fwd-status=200; detail=hit-for-pass',
    );
    expect(second.headers['x-flotilla-caching-status']).toBe('hit-for-pass');
    expect(headerValues(sched.received[1], 'cookie')).toEqual([CLIENT_HEADERS.cookie]);
    expect(headerValues(sched.received[1], 'x-flotilla-client-ip')).toEqual(['127.0.0.1']);
  });

  it('a debug request with the token bypasses the cache; without it the client cannot', async () => {
    const { get, sched } = await start({ shield: { debugToken: 'sekret' } });
    await get('/p/1');
    const debug = await get('/p/1', { headers: { 'x-flotilla-debug': 'sekret' } });
    expect(debug.headers['cache-status']).toBe(
      'flotilla; fwd=bypass; fwd-status=200; detail=debug',
    );
    expect(debug.headers['x-flotilla-caching-status']).toBe('debug');
    expect(debug.text).toBe('shop-aaa|production|GET|/p/1|#2');
    const guess = await get('/p/1', { headers: { 'x-flotilla-debug': 'guess' } });
    expect(guess.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(guess.text).toBe('shop-aaa|production|GET|/p/1|#1');
    expect(sched.received).toHaveLength(2);
  });

  it('serves the stale copy when the render fails after expiry, and when no scheduler answers', async () => {
    const { get, sched, clock } = await start();
    const first = await get('/p/1');
    clock.t += 90_000; // expired; the default stale-if-error window is 60 s past freshness
    sched.answer = () => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_RENDER', message: 'boom' },
      timings: {},
    });
    const failed = await get('/p/1');
    expect(failed.status).toBe(200);
    expect(failed.text).toBe(first.text);
    expect(failed.headers['cache-status']).toBe(
      'flotilla; fwd=stale; ttl=-30; detail=stale-if-error',
    );
    expect(failed.headers.age).toBe('90');

    sched.answer = () => page('bad gateway', undefined, 502);
    const fiveHundred = await get('/p/1');
    expect(fiveHundred.status).toBe(200);
    expect(fiveHundred.text).toBe(first.text);
    expect(fiveHundred.headers['cache-status']).toBe(
      'flotilla; fwd=stale; fwd-status=502; ttl=-30; detail=stale-if-error',
    );

    await sched.sub?.drain(); // the region is unreachable: no responders
    const unreachable = await get('/p/1');
    expect(unreachable.status).toBe(200);
    expect(unreachable.text).toBe(first.text);
    expect(unreachable.headers['cache-status']).toContain('detail=stale-if-error');
  });
});

describe('Shield cache: stale-while-revalidate and POST caching', () => {
  it('serves concurrent stale requests at once and revalidates once, in cache mode', async () => {
    const { get, sched, clock } = await start();
    const first = await get('/s/1', { headers: CLIENT_HEADERS });
    clock.t += 70_000; // 10 s into the 30 s stale-while-revalidate window
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    cleanups.push(() => release()); // never leave the scheduler hanging
    sched.answer = async (req, n) => {
      await gate;
      return defaultAnswer(req, n);
    };
    const stale = await Promise.all(
      Array.from({ length: 20 }, () => get('/s/1', { headers: CLIENT_HEADERS })),
    );
    for (const r of stale) {
      expect(r.text).toBe(first.text);
      expect(r.headers['cache-status']).toBe('flotilla; hit; ttl=-10; detail=stale');
      expect(r.headers.age).toBe('70');
    }
    expect(sched.received).toHaveLength(2);
    expect(headerValues(sched.received[1], 'cookie')).toEqual([]);
    expect(JSON.stringify(sched.received[1]?.headers)).not.toContain('canary');
    release();
    const deadline = Date.now() + 2000;
    const again = () => get('/s/1', { headers: CLIENT_HEADERS });
    let fresh = await again();
    while (fresh.text === first.text && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      fresh = await again();
    }
    expect(fresh.text).toBe('shop-aaa|production|GET|/s/1|#2');
    expect(fresh.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(sched.received).toHaveLength(2);
  });

  it('caches a POST on a route declared for POST, keyed by its body (up to 8000 bytes)', async () => {
    const { get, sched } = await start();
    const post = (body: string) =>
      get('/search', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: enc.encode(body),
      });
    const first = await post('q=shoes');
    expect(first.headers['cache-status']).toBe(MISS_STORED);
    expect(new TextDecoder().decode(sched.received[0]?.body)).toBe('q=shoes');
    expect(sched.received[0]?.method).toBe('POST');
    expect((await post('q=shoes')).headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect((await post('q=boots')).headers['cache-status']).toBe(MISS_STORED);
    const big = await post(`q=${'x'.repeat(8000)}`);
    expect(big.headers['cache-status']).toBe(
      'flotilla; fwd=bypass; fwd-status=200; detail=body-too-big',
    );
    expect(big.headers['x-flotilla-caching-status']).toBe('body-too-big');
    expect(sched.received).toHaveLength(3);
  });
});

describe('Shield cache: errors', () => {
  it('answers a failed render with nothing stale as an error page, never stored nor hit-for-pass', async () => {
    const { get, sched } = await start();
    sched.answer = () => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_RENDER', message: 'boom' },
      timings: { worker: 1 },
    });
    const failed = await get('/p/1');
    expect(failed.status).toBe(502);
    expect(failed.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_RENDER');
    expect(failed.headers['cache-control']).toBe('no-store');
    expect(failed.headers['cache-status']).toMatch(/^flotilla; fwd=uri-miss; .*detail=code$/);
    expect(failed.headers['x-flotilla-caching-status']).toBe('code');
    sched.answer = defaultAnswer;
    const next = await get('/p/1');
    expect(next.headers['cache-status']).toBe(MISS_STORED);
  });

  it('turns a request away with 503 and Retry-After when a key has maxFollowers waiting', async () => {
    const { get, sched } = await start({ shield: { cache: { maxFollowers: 1, now: () => T0 } } });
    sched.answer = async (req, n) => {
      await new Promise((r) => setTimeout(r, 300));
      return defaultAnswer(req, n);
    };
    const replies = await Promise.all([get('/p/1'), get('/p/1'), get('/p/1')]);
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 503]);
    const refused = replies.find((r) => r.status === 503);
    expect(refused?.headers['retry-after']).toBe('1');
    expect(refused?.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_OVERLOADED');
    expect(refused?.headers['cache-status']).toBeDefined();
    expect(sched.received).toHaveLength(1);
  });
});

describe('Shield cache: browser-facing headers', () => {
  it('sets cache-control from browser.maxAgeSeconds (max-age=0 for 0) and x-sw-cache-control', async () => {
    const { get, sched } = await start();
    sched.answer = (req) =>
      page(pathOf(req), [
        ['content-type', 'text/html'],
        ['cache-control', 'public, s-maxage=600, max-age=5'],
      ]);
    for (const _ of [1, 2]) {
      const p = await get('/p/1');
      expect(p.headers['cache-control']).toBe('max-age=0');
      expect(p.headers['x-sw-cache-control']).toBe('max-age=60');
      const b = await get('/b/1');
      expect(b.headers['cache-control']).toBe('max-age=30');
      expect(b.headers['x-sw-cache-control']).toBeUndefined();
      // No browser options: the upstream's, minus what is meant for shared caches.
      const other = await get('/other');
      expect(other.headers['cache-control']).toBe('public, max-age=5');
    }
    expect(sched.received).toHaveLength(3);
  });

  it('keeps the cache-control of a private answer: a browser lifetime never makes a CDN store it', async () => {
    const { get, sched } = await start();
    sched.answer = (req) =>
      page(pathOf(req), [
        ['content-type', 'text/html'],
        ['cache-control', 'private, max-age=0'],
        ['set-cookie', 'session=abc'],
      ]);
    const b = await get('/b/1');
    expect(b.headers['x-flotilla-caching-status']).toMatch(/^(private|set-cookie)$/);
    expect(b.headers['cache-control']).toBe('private, max-age=0');
  });

  it('never shows surrogate-key or cache-tag to the client, stored or passed', async () => {
    const { get, sched } = await start();
    sched.answer = (req) =>
      page(pathOf(req), [
        ['content-type', 'text/html'],
        ['surrogate-key', 'product-1 all'],
        ['cache-tag', 'product-1,listing'],
        ['x-app', 'kept'],
      ]);
    for (const path of ['/p/1', '/p/1', '/pass']) {
      const r = await get(path);
      expect(r.headers['surrogate-key'], path).toBeUndefined();
      expect(r.headers['cache-tag'], path).toBeUndefined();
      expect(r.headers['x-app'], path).toBe('kept');
    }
  });
});

describe('Shield cache: compressed variants and HEAD', () => {
  const BIG = 'flotilla caches pages. '.repeat(300);

  it('serves br, gzip and identity by accept-encoding with vary and a matching content-length', async () => {
    const { get, sched } = await start();
    sched.answer = () => page(BIG);
    const br = await get('/big', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.vary).toBe('accept-encoding');
    expect(br.headers['content-length']).toBe(String(br.body.byteLength));
    expect(br.body.byteLength).toBeLessThan(BIG.length);
    expect(brotliDecompressSync(br.body).toString()).toBe(BIG);

    const gzip = await get('/big', { headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect(gzip.headers.vary).toBe('accept-encoding');
    expect(gzip.headers['content-length']).toBe(String(gzip.body.byteLength));
    expect(gunzipSync(gzip.body).toString()).toBe(BIG);

    const plain = await get('/big');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.vary).toBe('accept-encoding');
    expect(plain.headers['content-length']).toBe(String(Buffer.byteLength(BIG)));
    expect(plain.text).toBe(BIG);

    // Each coding is its own entry; the second br request is a hit with the same bytes.
    const again = await get('/big', { headers: { 'accept-encoding': 'br' } });
    expect(again.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(again.body.equals(br.body)).toBe(true);
    expect(sched.received.map((r) => headerValues(r, 'accept-encoding'))).toEqual([
      ['br'],
      ['gzip'],
      ['identity'],
    ]);
  });

  it('answers HEAD from a cached GET, and caches a HEAD miss as a GET', async () => {
    const { get, sched } = await start();
    const full = await get('/p/1');
    const head = await get('/p/1', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(head.body.byteLength).toBe(0);
    expect(head.headers['content-length']).toBe(String(full.body.byteLength));
    expect(sched.received).toHaveLength(1);

    const headMiss = await get('/p/2', { method: 'HEAD' });
    expect(headMiss.headers['cache-status']).toBe(MISS_STORED);
    expect(headMiss.body.byteLength).toBe(0);
    expect(sched.received[1]?.method).toBe('GET');
    const getAfter = await get('/p/2');
    expect(getAfter.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(getAfter.text).toBe('shop-aaa|production|GET|/p/2|#2');
    expect(headMiss.headers['content-length']).toBe(String(getAfter.body.byteLength));
  });
});

describe('Shield cache: conditional requests', () => {
  it('answers If-None-Match with 304 from a stored copy, weakly compared across encodings', async () => {
    const { get, sched } = await start();
    sched.answer = (req) =>
      page(`${pathOf(req)} ${'x'.repeat(2000)}`, [
        ['content-type', 'text/html'],
        ['etag', '"v1"'],
      ]);
    const first = await get('/p/1');
    expect(first.status).toBe(200);
    const again = await get('/p/1', { headers: { 'if-none-match': '"v1"' } });
    expect(again.status).toBe(304);
    expect(again.body.byteLength).toBe(0);
    expect(again.headers.etag).toBe('"v1"');
    expect(again.headers['cache-status']).toMatch(/^flotilla; hit/);
    // A br variant carries a weak ETag; the client's copy still matches.
    const br = await get('/p/1', { headers: { 'accept-encoding': 'br' } });
    expect(br.headers.etag).toBe('W/"v1"');
    const brAgain = await get('/p/1', {
      headers: { 'accept-encoding': 'br', 'if-none-match': br.headers.etag as string },
    });
    expect(brAgain.status).toBe(304);
    // Another ETag: the full page.
    const stale = await get('/p/1', { headers: { 'if-none-match': '"v0"' } });
    expect(stale.status).toBe(200);
    expect(sched.received).toHaveLength(2);
  });
});

describe('Shield cache: environments', () => {
  it('a promote (new deployment in the environment) is a miss, never the old page', async () => {
    const { get, setEnvs, sched } = await start();
    expect((await get('/p/1')).text).toBe('shop-aaa|production|GET|/p/1|#1');
    expect((await get('/p/1')).headers['cache-status']).toBe('flotilla; hit; ttl=60');
    await setEnvs([production({ deploymentId: 'shop-bbb', history: ['shop-aaa'], revision: 2 })]);
    const after = await get('/p/1');
    expect(after.headers['cache-status']).toBe(MISS_STORED);
    expect(after.text).toBe('shop-bbb|production|GET|/p/1|#2');
    expect(sched.received[1]?.deploymentId).toBe('shop-bbb');
  });

  it('a promote is a miss even when the record carries no revision', async () => {
    const { get, setEnvs } = await start({ envs: [production({ revision: undefined })] });
    await get('/p/1');
    await setEnvs([production({ deploymentId: 'shop-bbb', revision: undefined })]);
    expect((await get('/p/1')).text).toBe('shop-bbb|production|GET|/p/1|#2');
  });

  it('a configure (new revision, same deployment) is a miss; an unchanged record keeps hitting', async () => {
    const { get, setEnvs } = await start();
    await get('/p/1');
    await setEnvs([production()]);
    expect((await get('/p/1')).headers['cache-status']).toBe('flotilla; hit; ttl=60');
    await setEnvs([production({ revision: 2 })]);
    const after = await get('/p/1');
    expect(after.headers['cache-status']).toBe(MISS_STORED);
    expect(after.text).toBe('shop-aaa|production|GET|/p/1|#2');
  });

  it('keeps environments apart even on the same deployment', async () => {
    const { get, sched } = await start({
      envs: [production(), production({ env: 'staging' })],
    });
    const prod = await get('/p/1');
    const staging = await get('/p/1', { host: 'staging.shop.example.test' });
    expect(prod.text).toBe('shop-aaa|production|GET|/p/1|#1');
    expect(staging.text).toBe('shop-aaa|staging|GET|/p/1|#2');
    expect(staging.headers['cache-status']).toBe(MISS_STORED);
    expect(sched.received.map((r) => r.environment)).toEqual(['production', 'staging']);
  });
});

describe('Shield cache: query normalisation', () => {
  it('shares one entry between orderings and sends the app the normalised query', async () => {
    const { get, sched } = await start();
    const first = await get('/p/1?b=2&a=1');
    expect(first.headers['cache-status']).toBe(MISS_STORED);
    expect(sched.received[0]?.url).toBe(`http://${HOST}/p/1?a=1&b=2`);
    const second = await get('/p/1?a=1&b=2');
    expect(second.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(second.text).toBe(first.text);
    expect((await get('/p/1?a=1&b=3')).headers['cache-status']).toBe(MISS_STORED);
  });

  it('excluded parameters do not split entries; the handler gets x-flotilla-original-query', async () => {
    const { get, sched } = await start();
    const first = await get('/q?x=1&utm_source=news');
    expect(first.headers['cache-status']).toBe(MISS_STORED);
    const req = sched.received[0];
    expect(req?.url).toBe(`http://${HOST}/q?x=1`);
    expect(headerValues(req, 'x-flotilla-original-query')).toEqual(['x=1&utm_source=news']);
    const second = await get('/q?utm_source=ads&fbclid=zz&x=1');
    expect(second.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect((await get('/q?x=2&utm_source=news')).headers['cache-status']).toBe(MISS_STORED);
    expect(sched.received).toHaveLength(2);
  });

  it('with only listed parameters kept, others neither split entries nor reach the app', async () => {
    const { get, sched } = await start();
    await get('/only?sid=1&color=red');
    expect(sched.received[0]?.url).toBe(`http://${HOST}/only?color=red`);
    expect(headerValues(sched.received[0], 'x-flotilla-original-query')).toEqual([]);
    expect((await get('/only?color=red&sid=2')).headers['cache-status']).toBe(
      'flotilla; hit; ttl=60',
    );
    expect(sched.received).toHaveLength(1);
  });
});

describe('Shield cache: the upstream request', () => {
  it('in cache mode carries only allow-listed headers (no cookie, no forwarding headers)', async () => {
    const { get, sched } = await start();
    await get('/p/1', { headers: CLIENT_HEADERS });
    const req = sched.received[0];
    expect(req?.headers.map(([k]) => k)).toEqual(['accept-encoding', 'traceparent']);
    expect(headerValues(req, 'accept-encoding')).toEqual(['gzip']);
    expect(JSON.stringify(req?.headers)).not.toContain('canary');
    // A client with other unkeyed headers gets the same stored page.
    const clean = await get('/p/1', { headers: { 'accept-encoding': 'gzip' } });
    expect(clean.headers['cache-status']).toBe('flotilla; hit; ttl=60');
  });

  it("in cache mode starts a new trace unless a trusted proxy sent the client's traceparent", async () => {
    const clientTrace = 'feedc0de'.repeat(4);
    const headers = { traceparent: `00-${clientTrace}-00f067aa0ba902b7-01` };
    const untrusted = await start();
    await untrusted.get('/p/1', { headers });
    await untrusted.get('/pass', { headers });
    const [cached, passed] = untrusted.sched.received;
    expect(traceIdOf(cached?.traceparent ?? '')).toMatch(/^[0-9a-f]{32}$/);
    expect(traceIdOf(cached?.traceparent ?? '')).not.toBe(clientTrace);
    expect(JSON.stringify(cached?.headers)).not.toContain(clientTrace);
    // Never stored: the client's trace goes on.
    expect(traceIdOf(passed?.traceparent ?? '')).toBe(clientTrace);

    const behindProxy = await start({ shield: { frontDoor: { trustedProxies: ['loopback'] } } });
    await behindProxy.get('/p/1', { headers });
    const fromProxy = behindProxy.sched.received[0];
    expect(traceIdOf(fromProxy?.traceparent ?? '')).toBe(clientTrace);
    expect(headerValues(fromProxy, 'traceparent')).toEqual([fromProxy?.traceparent]);
  });

  it('in cache mode forwards a keyed cookie alone, and keys on it', async () => {
    const { get, sched } = await start();
    await get('/c', { headers: { cookie: 'session=s1; currency=EUR' } });
    expect(headerValues(sched.received[0], 'cookie')).toEqual(['currency=EUR']);
    const sameCurrency = await get('/c', { headers: { cookie: 'currency=EUR; session=s2' } });
    expect(sameCurrency.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    const otherCurrency = await get('/c', { headers: { cookie: 'currency=USD; session=s1' } });
    expect(otherCurrency.headers['cache-status']).toBe(MISS_STORED);
    expect(headerValues(sched.received[1], 'cookie')).toEqual(['currency=USD']);
  });

  it('in pass mode forwards the client headers minus spoofable ones, plus x-flotilla-client-ip', async () => {
    const { get, sched } = await start();
    const res = await get('/pass', { headers: CLIENT_HEADERS });
    expect(res.headers['cache-status']).toBe(
      'flotilla; fwd=bypass; fwd-status=200; detail=disabled',
    );
    expect(res.headers['x-flotilla-caching-status']).toBe('disabled');
    const req = sched.received[0];
    for (const name of ['cookie', 'authorization', 'accept-language', 'user-agent', 'referer']) {
      expect(headerValues(req, name), name).toEqual([CLIENT_HEADERS[name]]);
    }
    expect(headerValues(req, 'x-custom')).toEqual(['custom-value']);
    for (const name of SPOOFED) expect(headerValues(req, name), name).toEqual([]);
    expect(headerValues(req, 'x-flotilla-client-ip')).toEqual(['127.0.0.1']);
    expect(headerValues(req, 'x-flotilla-device')).toEqual(['smartphone']);

    const post = await get('/other', {
      method: 'POST',
      headers: { ...CLIENT_HEADERS, 'content-type': 'text/plain' },
      body: enc.encode('hello'),
    });
    expect(post.headers['cache-status']).toBe('flotilla; fwd=method; fwd-status=200');
    expect(post.headers['x-flotilla-caching-status']).toBe('method');
    const postReq = sched.received[1];
    expect(postReq?.method).toBe('POST');
    expect(new TextDecoder().decode(postReq?.body)).toBe('hello');
    expect(headerValues(postReq, 'cookie')).toEqual([CLIENT_HEADERS.cookie]);
    for (const name of SPOOFED) expect(headerValues(postReq, name), name).toEqual([]);
  });

  it('in pass mode never forwards geo or client-IP headers an untrusted peer sent', async () => {
    const { get, sched } = await start({
      shield: {
        frontDoor: {
          trustedProxies: ['10.0.0.0/8'],
          clientIpHeader: 'x-cdn-client-ip',
          geoHeaders: ['x-geo-country'],
        },
      },
    });
    await get('/pass', {
      headers: { 'x-geo-country': 'canary', 'x-cdn-client-ip': '6.6.6.6' },
    });
    const req = sched.received[0];
    expect(headerValues(req, 'x-flotilla-client-ip')).toEqual(['127.0.0.1']);
    // A client that is not a trusted proxy never reaches the app with its own geo or
    // client-IP headers.
    expect(headerValues(req, 'x-geo-country')).toEqual([]);
    expect(headerValues(req, 'x-cdn-client-ip')).toEqual([]);
  });

  it('in pass mode takes the client IP and geo headers from a trusted proxy', async () => {
    const { get, sched } = await start({
      shield: {
        frontDoor: {
          trustedProxies: ['loopback'],
          clientIpHeader: 'x-cdn-client-ip',
          geoHeaders: ['x-geo-country'],
        },
      },
    });
    await get('/pass', { headers: { 'x-geo-country': 'FR', 'x-cdn-client-ip': '203.0.113.9' } });
    expect(headerValues(sched.received[0], 'x-flotilla-client-ip')).toEqual(['203.0.113.9']);
    expect(headerValues(sched.received[0], 'x-geo-country')).toEqual(['FR']);
    // Cache mode: neither reaches the app (they are not in the key).
    await get('/p/1', { headers: { 'x-geo-country': 'FR', 'x-cdn-client-ip': '203.0.113.9' } });
    expect(headerValues(sched.received[1], 'x-geo-country')).toEqual([]);
    expect(headerValues(sched.received[1], 'x-flotilla-client-ip')).toEqual([]);
  });

  it('on a path-prefix route sends the app its own path and one x-forwarded-prefix', async () => {
    const { url, sched } = await start();
    const res = await http(url, '/shop/p/1?b=1&a=2', {
      headers: { 'x-forwarded-prefix': '/canary' },
    });
    expect(res.headers['cache-status']).toBe(MISS_STORED);
    const req = sched.received[0];
    expect(pathOf(req as RenderRequest)).toBe('/p/1?a=2&b=1');
    expect(headerValues(req, 'x-forwarded-prefix')).toEqual(['/shop']);
    expect((await http(url, '/shop/p/1?a=2&b=1')).headers['cache-status']).toBe(
      'flotilla; hit; ttl=60',
    );
  });
});

describe('Shield cache: split tests', () => {
  const COOKIE = 'flotilla_split_shop_production';
  const splitEnv = () =>
    production({
      split: [
        { deploymentId: 'shop-aaa', percent: 50 },
        { deploymentId: 'shop-bbb', percent: 50 },
      ],
    });

  it('assigns a new visitor with a sticky cookie that is never stored with the page', async () => {
    const { get, sched } = await start({ envs: [splitEnv()] });
    const first = await get('/p/1');
    const setCookie = first.headers['set-cookie'] ?? [];
    expect(setCookie).toHaveLength(1);
    const m = new RegExp(
      `^${COOKIE}=(shop-aaa|shop-bbb); Path=/; Max-Age=2592000; SameSite=Lax; HttpOnly$`,
    ).exec(setCookie[0] ?? '');
    expect(m).not.toBeNull();
    const drawn = m?.[1] as string;
    expect(sched.received[0]?.deploymentId).toBe(drawn);
    expect(first.text).toBe(`${drawn}|production|GET|/p/1|#1`);
    expect(first.headers['cache-status']).toBe(MISS_STORED);

    // The visitor comes back with the cookie: a hit, and no cookie is set again.
    const back = await get('/p/1', { headers: { cookie: `${COOKIE}=${drawn}` } });
    expect(back.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(back.text).toBe(first.text);
    expect(back.headers['set-cookie']).toBeUndefined();
    expect(sched.received).toHaveLength(1);
  });

  it('keeps each destination in its own entry and passes the split cookie upstream', async () => {
    const { get, sched } = await start({ envs: [splitEnv()] });
    const a = await get('/p/2', { headers: { cookie: `${COOKIE}=shop-aaa; session=x` } });
    const b = await get('/p/2', { headers: { cookie: `${COOKIE}=shop-bbb` } });
    expect(a.text).toBe('shop-aaa|production|GET|/p/2|#1');
    expect(b.text).toBe('shop-bbb|production|GET|/p/2|#2');
    expect(b.headers['cache-status']).toBe(MISS_STORED);
    expect(a.headers['set-cookie']).toBeUndefined();
    expect(headerValues(sched.received[0], 'cookie')).toEqual([`${COOKIE}=shop-aaa`]);
    const aAgain = await get('/p/2', { headers: { cookie: `${COOKIE}=shop-aaa` } });
    expect(aAgain.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(aAgain.text).toBe(a.text);
    // A cookie naming a deployment no longer in the split is reassigned.
    const stale = await get('/p/2', { headers: { cookie: `${COOKIE}=shop-zzz` } });
    expect(stale.headers['set-cookie']?.[0]).toMatch(new RegExp(`^${COOKIE}=shop-(aaa|bbb);`));
    expect(stale.headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect(sched.received).toHaveLength(2);
  });
});

describe('Shield cache: the front door', () => {
  it('rewrites every Location to the public host, on the miss and on the hit', async () => {
    const { get, sched, url } = await start({
      shield: { frontDoor: { publicHost: 'www.example.com' } },
    });
    const port = new URL(url).port;
    const targets: Record<string, string> = {
      '/go/internal': `http://${HOST}:${port}/cart?x=1`,
      '/go/evil': 'https://evil.example/steal?x=1',
      '/go/network-path': '//evil.example/x',
      '/go/relative': '/cart',
    };
    sched.answer = (req) =>
      page('', [['location', targets[new URL(req.url).pathname] ?? '/']], 302);
    const expected: Record<string, string> = {
      '/go/internal': 'https://www.example.com/cart?x=1',
      '/go/evil': 'https://www.example.com/steal?x=1',
      '/go/network-path': 'https://www.example.com/x',
      '/go/relative': '/cart',
    };
    for (const [path, location] of Object.entries(expected)) {
      const miss = await get(path, {
        host: `${HOST}:${port}`,
        headers: { 'x-forwarded-host': 'canary.evil.example' },
      });
      expect(miss.status, path).toBe(302);
      expect(miss.headers.location, path).toBe(location);
      const hit = await get(path, { host: `${HOST}:${port}` });
      expect(hit.headers['cache-status'], path).toBe('flotilla; hit; ttl=60');
      expect(hit.headers.location, path).toBe(location);
    }
  });

  it('answers 414 for a URL over 16 KB and 431 for headers over 32 KB, without a render', async () => {
    const { get, sched } = await start();
    const long = await get(`/p/1?q=${'a'.repeat(17_000)}`);
    expect(long.status).toBe(414);
    expect(long.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_URI_TOO_LONG');
    expect(long.text).toMatch(/^FLOTILLA_ERR_URI_TOO_LONG: /);
    const big = await get('/p/1', { headers: { 'x-pad': 'b'.repeat(33_000) } });
    expect(big.status).toBe(431);
    expect(big.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_HEADERS_TOO_LARGE');
    expect(big.text).toMatch(/^FLOTILLA_ERR_HEADERS_TOO_LARGE: /);
    expect(sched.received).toHaveLength(0);
    // Just under the limits is served.
    expect((await get(`/p/1?q=${'a'.repeat(15_000)}`)).status).toBe(200);
  });
});

describe('Shield cache: purge over the transport', () => {
  it('purges by URL every variant of the page and answers with the count', async () => {
    const { get, purge } = await start();
    await get('/p/1', { headers: { 'accept-encoding': 'br' } });
    await get('/p/1');
    await get('/p/2');
    const ack = await purge({ kind: 'url', url: normalizePurgeUrl(`https://${HOST}/p/1`) });
    expect(ack).toEqual({ purgeId: 'purge-1', shieldId: SHIELD_ID, region: REGION, removed: 2 });
    expect((await get('/p/1')).headers['cache-status']).toBe(MISS_STORED);
    expect((await get('/p/2')).headers['cache-status']).toBe('flotilla; hit; ttl=60');
  });

  it('purges by surrogate key, path pattern and environment', async () => {
    const { get, purge, sched } = await start();
    sched.answer = (req, n) =>
      page(`${pathOf(req)}#${n}`, [
        ['content-type', 'text/html'],
        ['surrogate-key', pathOf(req).startsWith('/p/') ? 'products' : 'other'],
      ]);
    for (const p of ['/p/1', '/p/2', '/b/1', '/about']) await get(p);
    expect((await purge({ kind: 'surrogate-key', key: 'products' })).removed).toBe(2);
    expect((await get('/p/1')).headers['cache-status']).toBe(MISS_STORED);
    expect((await get('/b/1')).headers['cache-status']).toBe('flotilla; hit; ttl=60');
    expect((await purge({ kind: 'path', pattern: '/b/:id', app: 'shop' })).removed).toBe(1);
    expect((await get('/b/1')).headers['cache-status']).toBe(MISS_STORED);
    expect(
      (await purge({ kind: 'environment', app: 'shop', environment: 'production' })).removed,
    ).toBe(3); // /p/1, /b/1, /about
    expect((await get('/about')).headers['cache-status']).toBe(MISS_STORED);
  });

  it('purges by URL whichever spelling of the query stored the page', async () => {
    const { get, purge } = await start();
    await get('/p/1?b=2&a=1');
    await get('/q?x=1&utm_source=news');
    // One entry answers every spelling of its query: a purge by any of them removes it.
    expect((await purge({ kind: 'url', url: `${HOST}/p/1?a=1&b=2` })).removed).toBe(1);
    expect((await purge({ kind: 'url', url: `${HOST}/q?x=1` })).removed).toBe(1);
  });
});
