import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { ManifestRoute, RouteCacheOptions } from '@flotilla/manifest';
import {
  decodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from '../shield.ts';
import type { ShieldOptions } from '../shield-options.ts';
import { SiteDirectory, type SiteEnvironment } from '../site-directory.ts';
import { FakeSource, manifest } from '../test-sites.ts';

const REGION = 'tiers-region';
const ADMIN_TOKEN = 'tiers-admin-token-0123456789';
const HOST = 'shop.example.test';
const T0 = 1_700_000_000_000;
const enc = new TextEncoder();

function route(id: number, path: string, cache: RouteCacheOptions | undefined): ManifestRoute {
  return {
    id,
    criteria: { path, method: ['GET'] },
    fallback: false,
    action: { kind: 'render' },
    ...(cache ? { cache } : {}),
    headerOps: [],
  };
}

const ROUTES: ManifestRoute[] = [
  route(0, '/p/:id', { edge: { maxAgeSeconds: 60 } }),
  route(1, '/s/:id', { edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 30 } }),
  route(2, '/m/:id', undefined),
  route(3, '/k/:id', {
    edge: { maxAgeSeconds: 60 },
    key: { query: { mode: 'all' }, cookies: ['tier'], headers: [], device: false, browser: false },
  }),
];

const PRODUCTION: SiteEnvironment = {
  app: 'shop',
  env: 'production',
  deploymentId: 'shop-aaa',
  history: [],
  revision: 1,
};

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

function get(base: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        headers: { host: HOST, ...headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

/** One in-process "fleet": a region stand-in and shields of any tier, on one clock. */
function world() {
  const transport = new InProcessTransport();
  const clock = { t: T0 };
  const received: RenderRequest[] = [];
  let answer = (req: RenderRequest, n: number): RenderResult | Promise<RenderResult> => ({
    ok: true,
    status: 200,
    headers: [['content-type', 'text/plain']],
    body: enc.encode(`${new URL(req.url).pathname} #${n}`),
    timings: { scheduler: 1, worker: 3, render: 2 },
  });
  const subjects = regionSubjects(REGION);
  transport.serve(
    subjects.miss,
    async (msg) => {
      const req = decodeRenderRequest(msg);
      received.push(req);
      return encodeRenderResult(await answer(req, received.length));
    },
    { queue: subjects.schedulerQueue },
  );
  cleanups.push(() => transport.drain());

  const shield = async (id: string, over: Partial<ShieldOptions>) => {
    const source = new FakeSource([['shop-aaa', manifest('shop', ROUTES)]]);
    source.set([PRODUCTION]);
    const sites = new SiteDirectory({ source, domain: 'example.test' });
    await sites.start();
    const registry = new Registry();
    const s = new Shield({
      transport,
      region: REGION,
      sites,
      port: 0,
      drainGraceMs: 0,
      registry,
      shieldId: id,
      cache: { now: () => clock.t },
      ...over,
    });
    const { url, adminUrl } = await s.listen();
    cleanups.push(
      () => sites.stop(),
      () => s.drain(),
    );
    const members = async () =>
      (await registry.getSingleMetric('flotilla_shield_tier_members')?.get())?.values[0]?.value;
    return { shield: s, url, adminUrl, registry, members };
  };
  return {
    clock,
    received,
    shield,
    answerWith(f: typeof answer) {
      answer = f;
    },
  };
}

describe('cache tiers in one process', () => {
  it('an edge stores a copy of the global member with the age it has there; freshness ends at both at once', async () => {
    const w = world();
    const e1 = await w.shield('edge-1', { tier: 'edge' });
    const e2 = await w.shield('edge-2', { tier: 'edge' });
    await w.shield('global-1', { tier: 'global' });
    await until(async () => (await e1.members()) === 1 && (await e2.members()) === 1, 'members');

    const miss = await get(e1.url, '/p/1');
    expect(miss.text).toBe('/p/1 #1');
    expect(miss.headers['cache-status']).toBe(
      'flotilla-global; fwd=uri-miss; fwd-status=200; stored; ttl=60, ' +
        'flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=60',
    );
    const timing = String(miss.headers['server-timing']);
    expect(timing).toMatch(/\bglobal;dur=[\d.]+/);
    expect(timing).toMatch(/\bworker;dur=3\.00/);
    expect(timing).toMatch(/\bedge;dur=[\d.]+$/);

    w.clock.t += 30_000;
    const l2 = await get(e2.url, '/p/1');
    expect(l2.text).toBe('/p/1 #1');
    // 30 s old at the global member: 30 s left at the edge too.
    expect(l2.headers['cache-status']).toBe(
      'flotilla-global; hit; ttl=30, flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=30',
    );
    expect(l2.headers['server-timing']).toMatch(/^global;dur=[\d.]+, edge;dur=[\d.]+$/);
    const l1 = await get(e2.url, '/p/1');
    expect(l1.headers['cache-status']).toBe('flotilla-edge; hit; ttl=30');
    expect(l1.headers['server-timing']).toMatch(/^edge;dur=[\d.]+$/);
    expect(l1.headers.age).toBe('30');

    w.clock.t += 31_000;
    const again = await get(e2.url, '/p/1');
    expect(again.text).toBe('/p/1 #2');
    expect(w.received).toHaveLength(2);
  });

  it("a global member's revalidation renders each variant the edges' misses stored (their keyed cookie included)", async () => {
    const w = world();
    const e1 = await w.shield('edge-1', { tier: 'edge' });
    const g = await w.shield('global-1', { tier: 'global', adminToken: ADMIN_TOKEN, adminPort: 0 });
    await until(async () => (await e1.members()) === 1, 'members');
    const gold = { cookie: 'session=s1; tier=gold' };
    expect((await get(e1.url, '/k/1', gold)).text).toBe('/k/1 #1');
    expect(w.received).toHaveLength(1);

    const res = await fetch(`${g.adminUrl}/revalidate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: `${HOST}/k/1` }),
    });
    expect(res.status).toBe(200);
    // The plain visitor's three encodings, and the edge's variant with its cookie (alone).
    expect(((await res.json()) as { revalidated: number }).revalidated).toBe(4);
    expect(w.received).toHaveLength(5);
    const cookies = w.received.slice(1).map((r) => r.headers.find(([n]) => n === 'cookie')?.[1]);
    expect(cookies.filter((c) => c !== undefined)).toEqual(['tier=gold']);
    // The member's new copy of the variant is what it serves now.
    const renderOfGold = w.received.findIndex(
      (r, i) => i > 0 && r.headers.some(([n]) => n === 'cookie'),
    );
    const now = await get(g.url, '/k/1', gold);
    expect(now.headers['cache-status']).toMatch(/^flotilla-global; hit/);
    expect(now.text).toBe(`/k/1 #${renderOfGold + 1}`);
  });

  it('stale-while-revalidate at both tiers: the stale copy answers, one render replaces it', async () => {
    const w = world();
    const edge = await w.shield('edge-1', { tier: 'edge' });
    await w.shield('global-1', { tier: 'global' });
    await until(async () => (await edge.members()) === 1, 'members');
    expect((await get(edge.url, '/s/1')).text).toBe('/s/1 #1');

    w.clock.t += 70_000; // 10 s into the 30 s stale-while-revalidate window
    const stale = await get(edge.url, '/s/1');
    expect(stale.text).toBe('/s/1 #1');
    expect(stale.headers['cache-status']).toBe('flotilla-edge; hit; ttl=-10; detail=stale');
    await until(() => w.received.length === 2, 'the revalidation at the global member');
    // The edge takes the fresh copy on its next revalidation; never a second render.
    await until(async () => (await get(edge.url, '/s/1')).text === '/s/1 #2', 'the fresh copy');
    expect(w.received).toHaveLength(2);
  });

  it('stale-if-error and hit-for-pass hold at the edge', async () => {
    const w = world();
    const edge = await w.shield('edge-1', { tier: 'edge', headerNames: 'edgio' });
    await w.shield('global-1', { tier: 'global' });
    await until(async () => (await edge.members()) === 1, 'members');

    // An uncacheable answer: hit-for-pass at both tiers; the edge then passes to the region.
    w.answerWith((req, n) => ({
      ok: true,
      status: 200,
      headers: [['cache-control', 'private, max-age=60']],
      body: enc.encode(`${new URL(req.url).pathname} #${n}`),
      timings: {},
    }));
    const first = await get(edge.url, '/m/private');
    expect(first.headers['x-flotilla-caching-status']).toBe('private');
    expect(first.headers['x-0-t']).toMatch(/^et=\d+,ecc=miss,gcc=miss,gt=\d+/);
    const second = await get(edge.url, '/m/private');
    expect(second.headers['cache-status']).toBe(
      'flotilla-edge; fwd=miss; fwd-status=200; detail=hit-for-pass',
    );

    // A hit at the global member shows in x-0-t as gcc=hit.
    w.answerWith((req, n) => ({
      ok: true,
      status: 200,
      headers: [],
      body: enc.encode(`${new URL(req.url).pathname} #${n}`),
      timings: {},
    }));
    await get(edge.url, '/p/sie');
    expect((await get(edge.url, '/p/sie')).headers['x-0-t']).toMatch(/^et=\d+,ecc=hit$/);

    // Expired at both tiers, and the render fails: the stale copy answers (stale-if-error).
    w.clock.t += 61_000;
    w.answerWith(() => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_RENDER', message: 'boom' },
      timings: {},
    }));
    const sie = await get(edge.url, '/p/sie');
    expect(sie.status).toBe(200);
    expect(sie.text).toMatch(/^\/p\/sie #\d+$/);
    // The owner answered with its stale copy; the edge keeps no copy that is not fresh.
    expect(sie.headers['cache-status']).toBe(
      'flotilla-global; fwd=stale; ttl=-1; detail=stale-if-error, flotilla-edge; fwd=stale; fwd-status=200',
    );
  });

  it('with no global member live, an edge renders through the regions itself', async () => {
    const w = world();
    const edge = await w.shield('edge-1', { tier: 'edge' });
    const alone = await get(edge.url, '/p/alone');
    expect(alone.text).toBe('/p/alone #1');
    expect(alone.headers['cache-status']).toBe(
      'flotilla-edge; fwd=uri-miss; fwd-status=200; stored; ttl=60',
    );
  });

  it('a global member that leaves: its keys go to the next member', async () => {
    const w = world();
    const edge = await w.shield('edge-1', { tier: 'edge' });
    const g1 = await w.shield('global-1', { tier: 'global' });
    const g2 = await w.shield('global-2', { tier: 'global' });
    await until(async () => (await edge.members()) === 2, 'two members');
    const paths = Array.from({ length: 8 }, (_, i) => `/p/leave-${i}`);
    for (const p of paths) expect((await get(edge.url, p)).status).toBe(200);
    await g2.shield.drain();
    await until(async () => (await edge.members()) === 1, 'one member');
    w.clock.t += 61_000; // every copy expired: each key goes to the global tier again
    for (const p of paths) {
      const r = await get(edge.url, p);
      expect(r.status).toBe(200);
      // Only the member left holds (or renders) them: those it had are stale there.
      expect(r.headers['cache-status']).toMatch(/^flotilla-global; fwd=(uri-miss|stale); /);
    }
    expect(await g1.members()).toBe(1);
  });

  it('refuses a tier without the cache, and an unknown tier', () => {
    const transport = new InProcessTransport();
    expect(() => new Shield({ transport, region: REGION, tier: 'edge', cache: false })).toThrow(
      /tier/,
    );
    expect(() => new Shield({ transport, region: REGION, tier: 'middle' as 'edge' })).toThrow(
      /must be both, edge, global/,
    );
  });
});
