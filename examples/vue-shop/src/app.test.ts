import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runInNewContext } from 'node:vm';
import { build as esbuild } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../build.ts';
import { PRODUCT_COUNT, PRODUCTS } from './products.ts';

interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}
interface AppModule {
  default: FetchApp;
  renderPage(path: string, prefix?: string): Promise<string>;
}

let dir: string;
let mod: AppModule;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-vue-shop-'));
  // Bundle the app for node (as the worker would bundle it, minus the isolate) and import it.
  const outfile = join(dir, 'app.mjs');
  await esbuild({
    entryPoints: [join(import.meta.dirname, 'app.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    define: {
      'process.env.NODE_ENV': '"production"',
      __VUE_OPTIONS_API__: 'true',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    },
    logLevel: 'silent',
  });
  mod = (await import(pathToFileURL(outfile).href)) as AppModule;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  mod.default.fetch(new Request(`http://vue-shop.localhost:3000${path}`, { headers }));

const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;

describe('vue-shop', () => {
  it('renders the listing with every product', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html.startsWith('<!doctype html><html')).toBe(true);
    expect(html).toContain('<title>Vue Shop</title>');
    expect(html).toMatch(/<h1><a href="\/">Vue Shop<\/a><\/h1>/);
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(countCards(html)).toBeGreaterThanOrEqual(100);
    expect(html).toContain('href="/p/120"');
  });

  it('renders a product page', async () => {
    const product = PRODUCTS[6];
    expect(product?.id).toBe(7);
    const res = await get('/p/7?ref=listing');
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(`<h2>${product?.name}</h2>`);
    expect(html).toContain(product?.description);
    expect(countCards(html)).toBe(0);
  });

  it.each(['/p/999', '/p/0', '/p/07', '/p/abc', '/nope', '/p/7/'])('404s %s', async (path) => {
    const res = await get(path);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('Page not found');
    expect(html).toContain('Vue Shop</a></h1>');
  });

  it('prefixes every link with x-forwarded-prefix', async () => {
    const html = await (await get('/', { 'x-forwarded-prefix': '/vue-shop' })).text();
    expect(html).toContain('href="/vue-shop/p/1"');
    expect(html).toContain('href="/vue-shop/"');
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.length).toBeGreaterThan(PRODUCT_COUNT);
    for (const href of hrefs) expect(href).toMatch(/^\/vue-shop\//);

    const detail = await (await get('/p/3', { 'x-forwarded-prefix': '/vue-shop/' })).text();
    expect(detail).toContain('href="/vue-shop/"');
  });

  it('ignores a prefix that is not a plain path', async () => {
    for (const prefix of ['//evil.example', 'https://evil.example', 'javascript:alert(1)']) {
      const html = await (await get('/', { 'x-forwarded-prefix': prefix })).text();
      expect(html).toContain('href="/p/1"');
      expect(html).not.toContain('evil');
      expect(html).not.toContain('javascript:');
    }
  });

  it('answers HEAD without a body and refuses other methods', async () => {
    const head = await mod.default.fetch(new Request('http://x/', { method: 'HEAD' }));
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const post = await mod.default.fetch(new Request('http://x/', { method: 'POST', body: 'x' }));
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('exports renderPage returning a promise of the HTML', async () => {
    const html = await mod.renderPage('/', '/shop');
    expect(typeof html).toBe('string');
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(html).toContain('href="/shop/p/1"');
    expect(await mod.renderPage('/p/999')).toContain('Page not found');
  });

  it('builds a bundle that serves under the isolate contract', async () => {
    const { bundlePath, manifestPath, manifest } = await build({ outDir: join(dir, 'dist') });
    expect(bundlePath).toBe(join(dir, 'dist', 'bundle.js'));
    expect(manifestPath).toBe(join(dir, 'dist', 'manifest.json'));
    expect(manifest).toMatchObject({ name: 'vue-shop', framework: 'vue' });
    expect(manifest.routes).toEqual([
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/p/:id' },
    ]);
    const code = await readFile(bundlePath, 'utf8');
    expect(code).not.toMatch(/require\("(node:)?(stream|util|crypto|async_hooks)"\)/);

    // Only what the isolate offers (a vm context has the ES built-ins and nothing else).
    const served: FetchApp[] = [];
    runInNewContext(code, {
      Flotilla: { serve: (handler: FetchApp) => served.push(handler) },
      Request,
      Response,
      Headers,
      TextEncoder,
      TextDecoder,
      console,
      queueMicrotask,
      setTimeout,
      clearTimeout,
    });
    expect(served).toHaveLength(1);
    const app = served[0] as FetchApp;
    const res = await app.fetch(
      new Request('http://vue-shop.localhost:3000/', {
        headers: { 'x-forwarded-prefix': '/vue-shop' },
      }),
    );
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h1><a href="/vue-shop/">Vue Shop</a></h1>');
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect((await app.fetch(new Request('http://x/p/999'))).status).toBe(404);
  });
});
