import { startProductsApi } from '@flotilla/example-products-api';
import { PRODUCT_COUNT, PRODUCTS } from '@flotilla/example-products-api/products';
import { computeCacheKey, type MatchRequest, matchRoutes } from '@flotilla/manifest';
import { DESCRIBE_ROUTES } from '@flotilla/sdk';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import app from './app.ts';
import { renderPage } from './render.ts';

// The Router fetches `backend://api/…`, which only the isolate runtime
// resolves. Here a stand-in for that bridge sends it to a real products API
// on a free port; anything else fails the test.
let apiOrigin: string;
let closeApi: () => Promise<void>;
const backendCalls: string[] = [];
const realFetch = globalThis.fetch;

beforeAll(async () => {
  const api = await startProductsApi({ port: 0 });
  apiOrigin = api.url;
  closeApi = api.close;
  vi.stubGlobal('fetch', bridge);
});

function bridge(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const url = input instanceof Request ? input.url : String(input);
  if (!url.startsWith('backend://api/')) {
    return Promise.reject(new TypeError(`test: unexpected fetch of ${url}`));
  }
  const path = url.slice('backend://api'.length);
  backendCalls.push(path);
  return realFetch(`${apiOrigin}${path}`, init);
}

afterAll(async () => {
  vi.unstubAllGlobals();
  await closeApi();
});

const get = (path: string, headers: Record<string, string> = {}) =>
  app.fetch(new Request(`http://vue-shop.localhost:3000${path}`, { headers }));

const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;

describe('vue-shop Router, in Node, against the products API', () => {
  it('answers / with the listing loaded from GET /products', async () => {
    backendCalls.length = 0;
    const res = await get('/', { 'x-forwarded-prefix': '/vue-shop' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(backendCalls).toEqual(['/products']);
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(html).toContain('<h1><a href="/vue-shop/">Vue Shop</a></h1>');
    // The same HTML the pure render gives for the same data.
    expect(html).toBe(await renderPage('/', PRODUCTS, '/vue-shop'));
  });

  it('answers /p/7 with the product from GET /products/7', async () => {
    backendCalls.length = 0;
    const res = await get('/p/7?variant=large');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(backendCalls).toEqual(['/products/7']);
    expect(html).toContain(`<h2>${PRODUCTS[6]?.name}</h2>`);
    expect(html).toContain('aria-current="true">large</a>');
    expect(html).toBe(await renderPage('/p/7?variant=large', PRODUCTS));
  });

  it('answers the 404 page when the API says 404, and for other paths', async () => {
    backendCalls.length = 0;
    const missing = await get('/p/999');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await missing.text();
    expect(html).toContain('Page not found');
    expect(html).toContain('<code>/p/999</code>');
    expect(html).toContain('Vue Shop</a></h1>');
    expect(backendCalls).toEqual(['/products/999']);

    // Ids that cannot be products never reach the API.
    for (const path of ['/p/abc', '/p/07', '/p/0', '/nope', '/p/7/x']) {
      const res = await get(path);
      expect(res.status, path).toBe(404);
      expect(await res.text()).toContain('Page not found');
    }
    expect(backendCalls).toEqual(['/products/999']);
  });

  it('answers HEAD like GET, and 405 to writes', async () => {
    const head = await app.fetch(new Request('http://x/p/3', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await app.fetch(new Request('http://x/', { method, body: 'x' }));
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
    }
  });

  it('fails the render when the API fails (no page pretending all is well)', async () => {
    vi.stubGlobal('fetch', () => Promise.resolve(new Response('down', { status: 503 })));
    try {
      await expect(get('/')).rejects.toMatchObject({ name: 'BackendError', status: 503 });
    } finally {
      vi.stubGlobal('fetch', bridge);
    }
  });
});

describe('vue-shop routes, as the build describes them', () => {
  const routes = app[DESCRIBE_ROUTES]();
  const request = (path: string, query = ''): MatchRequest => ({
    method: 'GET',
    host: 'vue-shop.localhost',
    path,
    query,
    headers: {},
  });

  it('declares the listing, the product page, writes and the fallback with cache options', () => {
    expect(routes.map((r) => [r.criteria.path, r.fallback, r.action.kind])).toEqual([
      ['/', false, 'render'],
      ['/p/:id', false, 'render'],
      ['/:path*', false, 'render'],
      ['/:path*', true, 'render'],
    ]);
    expect(routes[2]?.cache?.edge).toBe(false);
    expect(routes[0]?.cache?.edge).toEqual({ maxAgeSeconds: 60, staleWhileRevalidateSeconds: 300 });
    expect(routes[1]?.cache?.key?.query).toEqual({ mode: 'only', names: ['variant'] });
  });

  it('caches product pages per variant, whatever other query parameters say', () => {
    const key = (query: string) => {
      const decision = matchRoutes(routes, request('/p/7', query));
      expect(decision.terminal?.id).toBe(1);
      return computeCacheKey(decision.cache?.key, request('/p/7', query), {
        environment: 'production',
      });
    };
    expect(key('ref=listing&utm_source=x')).toBe(key(''));
    expect(key('variant=large&ref=listing')).toBe(key('variant=large'));
    expect(key('variant=large')).not.toBe(key('variant=gift-wrapped'));
    expect(key('variant=large')).not.toBe(key(''));
  });

  it('sends unknown paths to the fallback', () => {
    expect(matchRoutes(routes, request('/nope')).terminal?.fallback).toBe(true);
    expect(matchRoutes(routes, request('/')).terminal?.id).toBe(0);
  });
});
