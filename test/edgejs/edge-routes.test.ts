/**
 * Routes answered at the edge, through a real fleet (nats-server, a
 * shield with its cache, a scheduler and a worker, each a process of its
 * own; real isolates): `redirect()`, `proxy()` to a declared backend
 * (Edgio's `fallback(({ proxy }) => proxy('legacy'))` too) and static
 * files are answered by the shield from the manifest with no render (the
 * worker's render count does not move), with the headers the bundle would
 * set, and the backend's answers are cached by their own headers.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProject } from '@flotilla/sdk/build';
import {
  type Fleet,
  httpRequest,
  type ListeningServer,
  listen,
  metricValue,
  type RoleProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

/** Inside the repository, so the app's `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));

const ROUTES = `import { Router } from '@flotilla/sdk';

export default new Router()
  .static('public')
  .match('/site.css', ({ setResponseHeader, removeUpstreamResponseHeader }) => {
    setResponseHeader('x-static-rule', 'yes');
    removeUpstreamResponseHeader('x-flotilla-deployment');
  })
  .get('/page', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    render(() => new Response('rendered'));
  })
  .get('/old/:slug', ({ redirect, passRequestFacts, setResponseHeader }) => {
    passRequestFacts(['x-test-id'], { cacheKey: 'add' });
    setResponseHeader('x-moved-by', 'edge \${req:x-test-id}');
    redirect('/new/:slug', { statusCode: 301 });
  })
  .get('/api/:path*', ({ proxy, setResponseHeader, updateResponseHeader, setUpstreamResponseHeader,
      removeUpstreamResponseHeader, setRequestHeader, allowCors }) => {
    setRequestHeader('x-from-route', 'api');
    setUpstreamResponseHeader('x-upstream-set', 'yes');
    removeUpstreamResponseHeader('x-secret');
    updateResponseHeader('x-backend', /backend-(\\w+)/, 'edge-$1');
    setResponseHeader('x-route', 'api');
    allowCors({ origin: '*' });
    proxy('api', { path: '/v1/:path*' });
  })
  .get('/cached-route/:id', ({ cache, proxy }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    proxy('api');
  })
  .get('/facts', ({ cache, passRequestFacts, setRequestHeader, proxy }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    passRequestFacts(['client-ip'], { cacheKey: 'add' });
    setRequestHeader('x-client-ip', '\${req:x-flotilla-client-ip}');
    proxy('api');
  })
  .get('/transformed', ({ proxy }) =>
    proxy('api', { transformResponse: async (response) => new Response('T:' + (await response.text()), response) }),
  )
  .fallback(({ proxy }) => proxy('legacy'));
`;

/** Requests each backend got, in order. */
const seen: { api: IncomingMessage[]; legacy: IncomingMessage[] } = { api: [], legacy: [] };
let fleet: Fleet;
let api: ListeningServer;
let legacy: ListeningServer;
let dir: string;

beforeAll(async () => {
  api = await listen((req, res) => {
    seen.api.push(req);
    const url = req.url ?? '/';
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-backend': 'backend-api',
      'x-secret': 'never-forwarded',
    };
    // The backend's own caching: s-maxage stores, private does not.
    if (url.startsWith('/v1/public')) headers['cache-control'] = 'public, s-maxage=60';
    else if (url.startsWith('/v1/private')) headers['cache-control'] = 'private, max-age=60';
    res.writeHead(200, headers);
    res.end(
      JSON.stringify({
        url,
        n: seen.api.length,
        fromRoute: req.headers['x-from-route'] ?? null,
        clientIp: req.headers['x-client-ip'] ?? null,
        host: req.headers.host,
      }),
    );
  });
  legacy = await listen((req, res) => {
    seen.legacy.push(req);
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 's-maxage=30' });
    res.end(`legacy ${req.url} #${seen.legacy.length}`);
  });
  await mkdir(APPS_ROOT, { recursive: true });
  dir = await mkdtemp(join(APPS_ROOT, 'edge-routes-'));
  const files: Record<string, string> = {
    'flotilla.config.json': JSON.stringify({
      name: 'edgeroutes',
      entry: 'src/routes.ts',
      framework: 'none',
      static: 'public',
      backends: { api: api.url, legacy: legacy.url },
    }),
    'src/routes.ts': ROUTES,
    'public/site.css': 'body { color: teal }\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  const { outDir } = await buildProject({ dir, outDir: join(dir, 'out') });
  fleet = await startFleet({
    shields: 1,
    schedulers: 1,
    workers: 1,
    cache: true,
    warmPath: '/edgeroutes/page',
    publish: async (natsUrl) => {
      const publisher = await openControlPlane(natsUrl);
      try {
        await publisher.controlPlane.publish({ dir: outDir }, { env: 'production' });
      } finally {
        await publisher.close();
      }
      return undefined;
    },
  });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await api?.close();
  await legacy?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  httpRequest(fleet.shield.url, path, {
    host: 'edgeroutes.localhost',
    headers,
    timeoutMs: 20_000,
  });

/** Renders done by the fleet's workers so far. */
async function renders(): Promise<number> {
  let sum = 0;
  for (const w of fleet.live('worker')) {
    sum += await metricValue(w.adminUrl, 'flotilla_worker_renders_total');
  }
  return sum;
}

/**
 * The same routes on an edge shield (`--tier edge`) with a global member
 * behind it: a redirect or a proxy needs no code, so the edge answers it
 * itself (nothing goes to the global tier, nothing renders) and caches the
 * backend's answer by the same rules as one tier.
 */
describe('routes answered at an edge shield, not sent to the global tier', () => {
  let edge: RoleProcess;
  let global: RoleProcess;
  const tierMisses = () => metricValue(global.adminUrl, 'flotilla_shield_tier_misses_total');
  const atEdge = (path: string) =>
    httpRequest(edge.url, path, { host: 'edgeroutes.localhost', timeoutMs: 20_000 });

  beforeAll(async () => {
    global = await fleet.add('shield', { args: ['--tier', 'global'] });
    edge = await fleet.add('shield', { args: ['--tier', 'edge'] });
    await waitFor(
      async () => (await metricValue(edge.adminUrl, 'flotilla_shield_tier_members')) === 1,
      { timeoutMs: 20_000, message: 'the edge never saw the global member' },
    );
    // The tier works for a render route (the count this block watches moves).
    await waitFor(async () => (await atEdge('/page?tiers=1')).status === 200, {
      timeoutMs: 30_000,
    });
    expect(await tierMisses()).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('proxy() to a backend: answered and stored at the edge (s-maxage), hit at the edge, 0 renders, 0 tier misses', async () => {
    const [renders0, misses0, count] = [await renders(), await tierMisses(), seen.api.length];
    const first = await atEdge('/api/public/at-edge');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).url).toBe('/v1/public/at-edge');
    // One Cache-Status entry: the edge's own (no global member was asked).
    expect(first.headers['cache-status']).toMatch(
      /^flotilla-edge; fwd=(uri-)?miss; fwd-status=200; stored; ttl=\d+$/,
    );
    const second = await atEdge('/api/public/at-edge');
    expect(second.headers['cache-status']).toMatch(/^flotilla-edge; hit; /);
    expect(second.body).toBe(first.body);
    const p1 = await atEdge('/api/private/at-edge');
    const p2 = await atEdge('/api/private/at-edge');
    expect(p1.headers['cache-status']).toMatch(/^flotilla-edge; fwd=uri-miss; .*detail=private$/);
    // Then passed straight to the backend for a while (hit-for-pass), as with one tier.
    expect(p2.headers['cache-status']).toMatch(/^flotilla-edge; fwd=miss; .*detail=hit-for-pass$/);
    expect(JSON.parse(p2.body).n).toBe(JSON.parse(p1.body).n + 1);
    expect(seen.api.length).toBe(count + 3);
    expect(await tierMisses()).toBe(misses0);
    expect(await renders()).toBe(renders0);
    expect(
      await metricValue(edge.adminUrl, 'flotilla_shield_edge_answers_total', { action: 'proxy' }),
    ).toBeGreaterThanOrEqual(1);
  });

  it("redirect() and Edgio's fallback proxy('legacy'): answered at the edge, 0 renders, 0 tier misses", async () => {
    const [renders0, misses0, count] = [await renders(), await tierMisses(), seen.legacy.length];
    const moved = await atEdge('/old/boots');
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe('/new/boots');
    const first = await atEdge('/legacy/at-edge');
    expect(first.body).toBe(`legacy /legacy/at-edge #${count + 1}`);
    const second = await atEdge('/legacy/at-edge');
    expect(second.headers['cache-status']).toMatch(/^flotilla-edge; hit; /);
    expect(second.body).toBe(first.body);
    expect(seen.legacy.length).toBe(count + 1);
    expect(await tierMisses()).toBe(misses0);
    expect(await renders()).toBe(renders0);
  });
});

describe('routes answered at the edge, with no render', () => {
  it('a page route still renders (the count this suite watches moves)', async () => {
    const before = await renders();
    const res = await get('/page?fresh=1');
    expect(res.status).toBe(200);
    expect(res.body).toBe('rendered');
    expect(await renders()).toBe(before + 1);
  });

  it('redirect() with a header rule reading a passed request fact: 301, the location and the header, 0 renders', async () => {
    const before = await renders();
    const res = await get('/old/shoes', { 'x-test-id': 'abc' });
    expect(res.status).toBe(301);
    expect(res.headers.location).toBe('/new/shoes');
    expect(res.headers['x-moved-by']).toBe('edge abc');
    expect(await renders()).toBe(before);
    expect(
      await metricValue(fleet.shield.adminUrl, 'flotilla_shield_edge_answers_total', {
        action: 'redirect',
      }),
    ).toBeGreaterThanOrEqual(1);
  });

  it('proxy() with header rules: the request and response rules as the bundle applies them, 0 renders', async () => {
    const before = await renders();
    const count = seen.api.length;
    const res = await get('/api/items?q=1', { origin: 'https://shop.example' });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body);
    expect(body.url).toBe('/v1/items?q=1');
    expect(body.fromRoute).toBe('api');
    // The backend is asked under its own host, not the site's.
    expect(body.host).toBe(new URL(api.url).host);
    expect(res.headers['x-upstream-set']).toBe('yes');
    expect(res.headers['x-secret']).toBeUndefined();
    expect(res.headers['x-backend']).toBe('edge-api');
    expect(res.headers['x-route']).toBe('api');
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(seen.api.length).toBe(count + 1);
    expect(await renders()).toBe(before);
  });

  it("the backend's cache-control decides: s-maxage is stored, private is not", async () => {
    const before = await renders();
    const count = seen.api.length;
    const first = await get('/api/public/1');
    expect(first.headers['cache-status']).toMatch(/fwd=(uri-)?miss; fwd-status=200; stored/);
    const second = await get('/api/public/1');
    expect(second.headers['cache-status']).toMatch(/^flotilla; hit/);
    expect(second.body).toBe(first.body);
    expect(seen.api.length).toBe(count + 1);
    const p1 = await get('/api/private/1');
    const p2 = await get('/api/private/1');
    expect(p2.headers['cache-status']).not.toMatch(/^flotilla; hit/);
    expect(JSON.parse(p2.body).n).toBe(JSON.parse(p1.body).n + 1);
    expect(await renders()).toBe(before);
  });

  it("the route's cache() stores a backend answer without cache headers", async () => {
    const first = await get('/cached-route/7');
    const second = await get('/cached-route/7');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).url).toBe('/cached-route/7');
    expect(second.headers['cache-status']).toMatch(/^flotilla; hit/);
  });

  it('passRequestFacts: the believed client IP reaches the backend, keyed', async () => {
    const res = await get('/facts');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).clientIp).toBe('127.0.0.1');
  });

  it("Edgio's fallback(({ proxy }) => proxy('legacy')): answered by the legacy backend, cached, 0 renders", async () => {
    const before = await renders();
    const count = seen.legacy.length;
    const first = await get('/some/old/page?x=1');
    expect(first.status).toBe(200);
    expect(first.body).toBe(`legacy /some/old/page?x=1 #${count + 1}`);
    const second = await get('/some/old/page?x=1');
    expect(second.headers['cache-status']).toMatch(/^flotilla; hit/);
    expect(second.body).toBe(first.body);
    expect(seen.legacy.length).toBe(count + 1);
    expect(await renders()).toBe(before);
  });

  it("a static file: answered by the shield with the routes' header rules, 0 renders", async () => {
    const before = await renders();
    const css = await get('/site.css');
    expect(css.status).toBe(200);
    expect(css.body).toBe('body { color: teal }\n');
    expect(css.headers['x-static-rule']).toBe('yes');
    expect(css.headers['x-flotilla-deployment']).toBeUndefined();
    expect(await renders()).toBe(before);
  });

  it('a proxy() whose options run code still goes to the bundle (a render)', async () => {
    const before = await renders();
    const res = await get('/transformed');
    expect(res.status).toBe(200);
    expect(res.body.startsWith('T:')).toBe(true);
    expect(await renders()).toBe(before + 1);
  });

  it('an unreachable backend is FLOTILLA_ERR_BACKEND (502), not a render', async () => {
    await legacy.close();
    const before = await renders();
    const res = await get('/gone/away');
    expect(res.status).toBe(502);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_BACKEND');
    expect(await renders()).toBe(before);
  });
});
