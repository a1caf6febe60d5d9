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
  renderPage(path: string, prefix?: string): string;
}

let dir: string;
let mod: AppModule;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-react-shop-'));
  // TSX is not runnable by node directly: bundle the app for node and import it.
  const outfile = join(dir, 'app.mjs');
  await esbuild({
    entryPoints: [join(import.meta.dirname, 'app.tsx')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    jsx: 'automatic',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  mod = (await import(pathToFileURL(outfile).href)) as AppModule;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}) =>
  mod.default.fetch(new Request(`http://react-shop.localhost:3000${path}`, { headers }));

const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;

describe('react-shop', () => {
  it('renders the listing with every product', async () => {
    const res = await get('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html.startsWith('<!doctype html><html')).toBe(true);
    expect(html).toContain('<title>React Shop</title>');
    expect(html).toMatch(/<h1><a href="\/">React Shop<\/a><\/h1>/);
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
    expect(html).toContain('React Shop</a></h1>');
  });

  it('prefixes every link with x-forwarded-prefix', async () => {
    const html = await (await get('/', { 'x-forwarded-prefix': '/react-shop' })).text();
    expect(html).toContain('href="/react-shop/p/1"');
    expect(html).toContain('href="/react-shop/"');
    const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
    expect(hrefs.length).toBeGreaterThan(PRODUCT_COUNT);
    for (const href of hrefs) expect(href).toMatch(/^\/react-shop\//);

    const detail = await (await get('/p/3', { 'x-forwarded-prefix': '/react-shop/' })).text();
    expect(detail).toContain('href="/react-shop/"');
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

  it('exports renderPage returning the HTML synchronously', () => {
    const html = mod.renderPage('/', '/shop');
    expect(typeof html).toBe('string');
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect(html).toContain('href="/shop/p/1"');
    expect(mod.renderPage('/p/999')).toContain('Page not found');
  });

  it('builds a bundle that serves under the isolate contract', async () => {
    const { bundlePath, manifestPath, manifest } = await build({ outDir: join(dir, 'dist') });
    expect(bundlePath).toBe(join(dir, 'dist', 'bundle.js'));
    expect(manifestPath).toBe(join(dir, 'dist', 'manifest.json'));
    expect(manifest).toMatchObject({ name: 'react-shop', framework: 'react' });
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
      new Request('http://react-shop.localhost:3000/', {
        headers: { 'x-forwarded-prefix': '/react-shop' },
      }),
    );
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<h1><a href="/react-shop/">React Shop</a></h1>');
    expect(countCards(html)).toBe(PRODUCT_COUNT);
    expect((await app.fetch(new Request('http://x/p/999'))).status).toBe(404);
  });
});
