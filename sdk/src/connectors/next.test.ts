/**
 * `flotilla build` of a Next.js app, for real: the example app
 * (`examples/next-shop`, whose dependencies hold Next's CLI) copied to a
 * scratch directory inside it (so its `node_modules` resolve and parallel
 * builds do not share `.next/`), built with `buildProject` (the app's own
 * `next build` with Flotilla's adapter), and the bundle rendered in a real
 * isolate against a products API on 127.0.0.1: edge pages, prerendered
 * pages, and Node-runtime (Next's default) pages and route handlers.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_LIMITS, DeploymentIsolate } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildProgress, buildProject } from '../build.ts';
import { routePattern } from './next.ts';
import { prerenderCacheControl, prerenderKey } from './next-server.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'next-shop');
/** The app's own files (what a developer writes), copied into each scratch project. */
const APP_FILES = [
  'app',
  'middleware.ts',
  'public',
  'package.json',
  'flotilla.config.json',
  'next.config.ts',
  'tsconfig.json',
];

let scratchRoot: string;
let api: Server;
let apiOrigin: string;

beforeAll(async () => {
  await mkdir(join(EXAMPLE, '.flotilla'), { recursive: true });
  scratchRoot = await mkdtemp(join(EXAMPLE, '.flotilla', 'connector-test-'));
  api = createServer((req, res) => {
    const id = /^\/products\/(\d+)$/.exec(req.url ?? '')?.[1];
    const product = (n: number) => ({
      id: n,
      name: `Product ${n}`,
      priceCents: 100 * n,
      description: `About product ${n}`,
      rating: 4.5,
      reviewCount: n,
      tags: [],
      category: 'test',
    });
    res.setHeader('content-type', 'application/json');
    if (id !== undefined && Number(id) < 100) res.end(JSON.stringify(product(Number(id))));
    else if (req.url?.startsWith('/products?')) res.end(JSON.stringify([1, 2, 3].map(product)));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  apiOrigin = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await rm(scratchRoot, { recursive: true, force: true });
  await new Promise((r) => api.close(r));
});

/** A copy of the example app under the scratch root, with `files` written over it. */
async function app(name: string, files: Record<string, string> = {}): Promise<string> {
  const dir = join(scratchRoot, name);
  for (const file of APP_FILES) await cp(join(EXAMPLE, file), join(dir, file), { recursive: true });
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  return dir;
}

describe('the handler inside the bundle', () => {
  const rsc = {
    header: 'rsc',
    varyHeader: 'rsc, next-router-state-tree, next-router-prefetch, next-router-segment-prefetch',
    suffix: '.rsc',
    prefetchSegmentHeader: 'next-router-segment-prefetch',
    prefetchSegmentSuffix: '.segment.rsc',
    prefetchSegmentDirSuffix: '.segments',
  };
  it('picks the HTML, the RSC twin or the prefetched segment by the rsc headers', () => {
    expect(prerenderKey('/about', new Headers(), rsc)).toBe('/about');
    expect(prerenderKey('/about', new Headers({ rsc: '1' }), rsc)).toBe('/about.rsc');
    expect(prerenderKey('/', new Headers({ rsc: '1' }), rsc)).toBe('/index.rsc');
    expect(
      prerenderKey(
        '/about',
        new Headers({ rsc: '1', 'next-router-segment-prefetch': '/_tree' }),
        rsc,
      ),
    ).toBe('/about.segments/_tree.segment.rsc');
  });

  it("turns Next's page paths into route patterns", () => {
    expect(routePattern('/account')).toBe('/account');
    expect(routePattern('/p/[id]')).toBe('/p/:p0');
    expect(routePattern('/docs/[section]/[...slug]')).toBe('/docs/:p0/:p1+');
    expect(routePattern('/shop/[[...rest]]')).toBe('/shop/:p0*');
  });

  it('caches static pages for a year and revalidating ones stale-while-revalidate', () => {
    expect(prerenderCacheControl(false, 31_536_000)).toBe('public, max-age=0, s-maxage=31536000');
    expect(prerenderCacheControl(60, 3600)).toBe(
      'public, max-age=0, s-maxage=60, stale-while-revalidate=3540',
    );
  });
});

describe('flotilla build of a Next.js app', () => {
  it('runs next build with the adapter and renders pages in an isolate', async () => {
    const dir = await app('shop');
    const progress: BuildProgress[] = [];
    const { manifest, bundlePath } = await buildProject({
      dir,
      onProgress: (p) => progress.push(p),
    });
    expect(manifest.framework).toBe('next');
    expect(progress.map((p) => p.detail)).toContain(
      'warning: /deals revalidates every 2s: Flotilla serves its build-time prerender (edge-cached, stale-while-revalidate) and never regenerates it',
    );
    expect(progress.map((p) => p.detail)).toContainEqual(expect.stringMatching(/^next build \(/));
    expect(progress.map((p) => p.detail)).toContainEqual(
      expect.stringMatching(/^Next\.js 16\.\d+\.\d+, build /),
    );
    // The Node-runtime outputs' traced files go into the bundle; what cannot work is named.
    expect(progress.map((p) => p.detail)).toContainEqual(
      expect.stringMatching(
        /^2 Node-runtime function\(s\): \d+ traced file\(s\), [\d.]+ MB before minifying; .*node:net.* load but throw when called/,
      ),
    );
    // Uncached routes for the Node-runtime pages (the whole request reaches
    // them), then one catch-all render route keyed by Next's RSC headers.
    expect(manifest.routes.slice(0, 2)).toEqual([
      expect.objectContaining({ criteria: { path: '/account' }, cache: { edge: false } }),
      expect.objectContaining({ criteria: { path: '/api/whoami' }, cache: { edge: false } }),
    ]);
    expect(manifest.routes.slice(2)).toEqual([
      expect.objectContaining({
        criteria: { path: '/:path*' },
        action: { kind: 'render' },
        cache: {
          key: expect.objectContaining({
            headers: [
              'rsc',
              'next-router-state-tree',
              'next-router-prefetch',
              'next-router-segment-prefetch',
            ],
          }),
        },
      }),
    ]);
    const statics = manifest.assets.filter((a) => a.path.startsWith('/_next/static/'));
    expect(statics.length).toBeGreaterThan(3);
    expect(statics.every((a) => a.permanent)).toBe(true);
    expect(manifest.assets).toContainEqual(
      expect.objectContaining({ path: '/logo.svg', permanent: false }),
    );

    const code = await import('node:fs/promises').then((fs) => fs.readFile(bundlePath, 'utf8'));
    const iso = await DeploymentIsolate.load({
      deploymentId: 'next-connector',
      code,
      bundleHash: createHash('sha256').update(code).digest('hex'),
      backends: { api: apiOrigin },
      // Correctness here, not limits: a busy 2-core machine may take seconds
      // of wall time for the first Node-runtime render (it loads Next's server).
      ceiling: { ...DEFAULT_LIMITS, wallMs: 120_000, cpuMs: 30_000 },
      limits: { wallMs: 120_000, cpuMs: 30_000 },
      // Next's own errors, for a failing run.
      log: (entry) => {
        if (entry.level === 'error') console.error(`guest: ${entry.message}`);
      },
    });
    try {
      const get = async (path: string, headers: [string, string][] = []) => {
        const res = await iso.render({
          method: 'GET',
          url: `http://shop.test${path}`,
          headers: [['accept', 'text/html'], ...headers],
          body: null,
        });
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: new TextDecoder().decode(res.body),
        };
      };
      const home = await get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(home.body).toContain('Product 2');
      expect(home.body).toMatch(/<script src="\/_next\/static\/chunks\/[\w-]+\.js"/);

      const product = await get('/p/7');
      expect(product.status).toBe(200);
      expect(product.headers['x-shop']).toBe('next-shop');
      expect(home.headers['x-shop']).toBeUndefined();
      expect(product.body).toContain('<title>Product 7 · Next Shop</title>');
      expect(product.body).toContain('About product 7');
      const payload = await get('/p/7', [['rsc', '1']]);
      expect(payload.headers['content-type']).toBe('text/x-component');
      expect(payload.body).toContain('About product 7');
      expect(payload.body).not.toContain('<html');

      const about = await get('/about');
      expect(about.status).toBe(200);
      expect(about.headers['cache-control']).toBe('public, max-age=0, s-maxage=31536000');
      expect(about.headers['surrogate-key']).toContain('_N_T_/about');
      expect(about.body).toContain('<h1>About</h1>');
      const aboutRsc = await get('/about', [['rsc', '1']]);
      expect(aboutRsc.headers['content-type']).toBe('text/x-component');

      expect((await get('/p/500')).status).toBe(404);
      const nowhere = await get('/no/such/page');
      expect(nowhere.status).toBe(404);
      expect(nowhere.headers['content-type']).toMatch(/^text\/html/);
      const slash = await get('/about/');
      expect(slash.status).toBe(308);
      expect(slash.headers.location).toBe('/about');

      // Node-runtime page (Next's default runtime): cookies, headers and an
      // uncached fetch of the declared backend, per request.
      const ada = await get('/account', [
        ['cookie', 'visitor=ada'],
        ['user-agent', 'connector-test/1'],
      ]);
      expect(ada.status).toBe(200);
      expect(ada.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(ada.headers['cache-control']).toContain('no-store');
      expect(ada.body).toContain('Signed in as <!-- -->ada');
      expect(ada.body).toContain('Browser: <!-- -->connector-test/1');
      expect(ada.body).toContain('<a href="/p/2">Product 2</a>');
      expect(ada.body).toMatch(/<script src="\/_next\/static\/chunks\/[\w-]+\.js"/);
      const bob = await get('/account', [['cookie', 'visitor=bob']]);
      expect(bob.body).toContain('Signed in as <!-- -->bob');
      expect(bob.body).not.toContain('Signed in as <!-- -->ada');
      const guest = await get('/account');
      expect(guest.body).toContain('Signed in as <!-- -->guest');
      const accountRsc = await get('/account', [['rsc', '1']]);
      expect(accountRsc.headers['content-type']).toBe('text/x-component');
      expect(accountRsc.body).toContain('Signed in as ');
      expect(accountRsc.body).not.toContain('<html');

      // Node-runtime route handler: GET with the request's cookie and query, POST with a JSON body.
      const who = await get('/api/whoami?q=fleet', [['cookie', 'visitor=cy']]);
      expect(who.status).toBe(200);
      expect(JSON.parse(who.body)).toEqual({ visitor: 'cy', path: '/api/whoami', q: 'fleet' });
      const posted = await iso.render({
        method: 'POST',
        url: 'http://shop.test/api/whoami',
        headers: [['content-type', 'application/json']],
        body: new TextEncoder().encode(JSON.stringify({ name: 'Dee' })),
      });
      expect(posted.status).toBe(201);
      expect(JSON.parse(new TextDecoder().decode(posted.body))).toEqual({ hello: 'Dee' });
    } finally {
      iso.dispose();
    }
  }, 480_000);
});
