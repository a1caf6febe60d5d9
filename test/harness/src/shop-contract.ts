/**
 * The contract every example shop keeps, whatever its framework: the same
 * pages from the same products API, rendered from data, through its Router
 * in Node, and built and run in an isolate. Each shop's test file calls
 * {@link describeShop} with its app, build, pages and what its framework's
 * markup looks like.
 *
 * Import it as `@flotilla/test-harness/shop-contract` (it registers vitest
 * suites, so only test files load it).
 *
 * @module
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  computeCacheKey,
  type ManifestRoute,
  type MatchRequest,
  matchRoutes,
} from '@flotilla/manifest';
import { DeploymentIsolate, type SandboxResponse } from '@flotilla/runtime';
import { DESCRIBE_ROUTES } from '@flotilla/sdk';
import type { BuildProjectResult } from '@flotilla/sdk/build';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

/** What the contract reads of a product of the catalogue. */
export interface ShopProduct {
  id: number;
  name: string;
  description: string;
  priceCents: number;
}

/** A rendered page: status and complete HTML document. */
export interface ShopPage {
  status: number;
  html: string;
}

/** The shop's pages rendered from data (its `render` module); each may return a promise. */
export interface ShopPages<P extends ShopProduct> {
  renderListing(products: readonly P[]): string | Promise<string>;
  /** The contract renders the `large` variant. */
  renderProduct(product: P, prefix: string, variant: 'large'): string | Promise<string>;
  renderNotFound(path: string): string | Promise<string>;
  renderRoute(path: string, products: readonly P[]): ShopPage | Promise<ShopPage>;
  renderPage(path: string, products: readonly P[], prefix?: string): string | Promise<string>;
}

/** An example shop under test. */
export interface ShopUnderTest<P extends ShopProduct> {
  /** The app's name, also its path prefix and host: `react-shop`. */
  name: string;
  /** The site title every page shows: `React Shop`. */
  title: string;
  /** `framework` of its `flotilla.config.json`. */
  framework: string;
  /** The app's Router (its entry's default export). */
  app: { fetch(request: Request): Promise<Response>; [DESCRIBE_ROUTES](): ManifestRoute[] };
  /** The app's build (`build.ts`). */
  build(options: { outDir: string }): Promise<BuildProjectResult>;
  /** The app's directory (holding `flotilla.config.json` and `public/`). */
  projectDir: string;
  pages: ShopPages<P>;
  /** The products API the shop fetches from, and its catalogue. */
  api: {
    start(options: { port: number }): Promise<{ url: string; close(): Promise<void> }>;
    products: readonly P[];
  };
  /** How the framework writes markup. */
  markup: {
    /** How a void element ends: `/>` (React) or `>` (Vue). */
    voidEnd: string;
    /** The listing's heading count as rendered (React separates text nodes with `<!-- -->`). */
    listingCount(count: number): string;
  };
  /** `renderPage` returns the HTML itself, not a promise. */
  synchronous: boolean;
  /** The `define` its build must use, when it declares one. */
  define?: Readonly<Record<string, string>>;
}

const countCards = (html: string) => html.match(/class="product-card"/g)?.length ?? 0;
const hrefs = (html: string) => [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1] ?? '');
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Registers the shop's suites: pages from data, Router in Node, routes, isolate. */
export function describeShop<P extends ShopProduct>(shop: ShopUnderTest<P>): void {
  describePages(shop);
  describeRouter(shop);
  describeRoutes(shop);
  describeIsolate(shop);
}

function nth<P>(products: readonly P[], index: number): P {
  const product = products[index];
  if (!product) throw new Error(`no product at index ${index}`);
  return product;
}

function describePages<P extends ShopProduct>(shop: ShopUnderTest<P>): void {
  const { name, title, pages, markup } = shop;
  const products = shop.api.products;
  const prefix = `/${name}`;

  describe(`${name} pages from data`, () => {
    it('renders the listing: one card per product, in a complete document', async () => {
      const html = await pages.renderListing(products);
      expect(html.startsWith('<!doctype html><html lang="en">')).toBe(true);
      expect(html).toContain(`<title>${title}</title>`);
      expect(html).toMatch(new RegExp(`<h1><a href="/">${escapeRegExp(title)}</a></h1>`));
      expect(html).toContain(`<link rel="stylesheet" href="/styles.css"${markup.voidEnd}`);
      expect(html).toContain(markup.listingCount(products.length));
      expect(countCards(html)).toBe(products.length);
      expect(html).toContain('href="/p/120"');
      expect(html).toContain(products[41]?.name);
    });

    it('lists whatever products it is given', async () => {
      const two = [products[4], products[9]].filter((p) => p !== undefined);
      const html = await pages.renderListing(two);
      expect(countCards(html)).toBe(2);
      expect(html).toContain('data-id="5"');
      expect(html).toContain('data-id="10"');
      expect(html).not.toContain('data-id="1"');
    });

    it('renders a product page with its details, price and variants', async () => {
      const product = nth(products, 6);
      const html = await pages.renderProduct(product, '', 'large');
      expect(html).toContain(`<title>${product.name} | ${title}</title>`);
      expect(html).toContain(`<h2>${product.name}</h2>`);
      expect(html).toContain(product.description);
      const dollars = Math.floor(product.priceCents / 100);
      expect(html).toContain(`$${dollars}.${String(product.priceCents % 100).padStart(2, '0')}`);
      expect(html).toContain('<a href="/p/7?variant=large" aria-current="true">large</a>');
      expect(html).toContain('<a href="/p/7?variant=standard">standard</a>');
      expect(countCards(html)).toBe(0);
    });

    it('renders the not-found page naming the path', async () => {
      const html = await pages.renderNotFound('/nope');
      expect(html).toContain(`<title>Not found | ${title}</title>`);
      expect(html).toContain('Page not found');
      expect(html).toContain('<code>/nope</code>');
    });

    it('routes a path to its page and status', async () => {
      expect((await pages.renderRoute('/', products)).status).toBe(200);
      const detail = await pages.renderRoute('/p/7?variant=gift-wrapped&ref=x', products);
      expect(detail.status).toBe(200);
      expect(detail.html).toContain('aria-current="true">gift-wrapped</a>');
      expect((await pages.renderRoute('/p/7?variant=huge', products)).html).toContain(
        'aria-current="true">standard</a>',
      );
      for (const path of ['/p/999', '/p/0', '/p/07', '/p/abc', '/nope', '/p/7/x']) {
        const page = await pages.renderRoute(path, products);
        expect(page.status, path).toBe(404);
        expect(page.html).toContain('Page not found');
      }
      // A product the given catalogue lacks is not found either.
      expect((await pages.renderRoute('/p/7', products.slice(0, 3))).status).toBe(404);
    });

    it(`renderPage returns the HTML${shop.synchronous ? ' synchronously' : ''}`, async () => {
      const rendered = pages.renderPage('/', products, '/shop');
      if (shop.synchronous) expect(typeof rendered).toBe('string');
      const html = await rendered;
      expect(countCards(html)).toBe(products.length);
      expect(html).toContain('href="/shop/p/1"');
      expect(await pages.renderPage('/p/999', products)).toContain('Page not found');
    });

    it('prefixes every link, the stylesheet included, with the prefix', async () => {
      const under = new RegExp(`^${escapeRegExp(prefix)}/`);
      const html = await pages.renderPage('/', products, prefix);
      expect(html).toContain(`href="${prefix}/p/1"`);
      expect(html).toContain(`href="${prefix}/"`);
      expect(html).toContain(`href="${prefix}/styles.css"`);
      const all = hrefs(html);
      expect(all.length).toBeGreaterThan(products.length);
      for (const href of all) expect(href).toMatch(under);

      const detail = await pages.renderPage('/p/3', products, `${prefix}/`);
      expect(detail).toContain(`href="${prefix}/"`);
      for (const href of hrefs(detail)) expect(href).toMatch(under);
    });

    it('ignores a prefix that is not a plain path', async () => {
      for (const bad of ['//evil.example', 'https://evil.example', 'javascript:alert(1)', '/a b']) {
        const html = await pages.renderPage('/', products, bad);
        expect(html).toContain('href="/p/1"');
        expect(html).not.toContain('evil');
        expect(html).not.toContain('javascript:');
      }
    });
  });
}

function describeRouter<P extends ShopProduct>(shop: ShopUnderTest<P>): void {
  const { name, title, app, pages } = shop;
  const products = shop.api.products;

  describe(`${name} Router, in Node, against the products API`, () => {
    // The Router fetches `backend://api/…`, which only the isolate runtime
    // resolves. Here a stand-in for that bridge sends it to a real products
    // API on a free port; anything else fails the test.
    let apiOrigin: string;
    let closeApi: (() => Promise<void>) | undefined;
    const backendCalls: string[] = [];
    const realFetch = globalThis.fetch;

    function bridge(input: string | URL | Request, init?: RequestInit): Promise<Response> {
      const url = input instanceof Request ? input.url : String(input);
      if (!url.startsWith('backend://api/')) {
        return Promise.reject(new TypeError(`test: unexpected fetch of ${url}`));
      }
      const path = url.slice('backend://api'.length);
      backendCalls.push(path);
      return realFetch(`${apiOrigin}${path}`, init);
    }

    beforeAll(async () => {
      const api = await shop.api.start({ port: 0 });
      apiOrigin = api.url;
      closeApi = api.close;
      vi.stubGlobal('fetch', bridge);
    });

    afterAll(async () => {
      vi.unstubAllGlobals();
      await closeApi?.();
    });

    const get = (path: string, headers: Record<string, string> = {}) =>
      app.fetch(new Request(`http://${name}.localhost:3000${path}`, { headers }));

    it('answers / with the listing loaded from GET /products', async () => {
      backendCalls.length = 0;
      const res = await get('/', { 'x-forwarded-prefix': `/${name}` });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await res.text();
      expect(backendCalls).toEqual(['/products']);
      expect(countCards(html)).toBe(products.length);
      expect(html).toContain(`<h1><a href="/${name}/">${title}</a></h1>`);
      // The same HTML the pure render gives for the same data.
      expect(html).toBe(await pages.renderPage('/', products, `/${name}`));
    });

    it('answers /p/7 with the product from GET /products/7', async () => {
      backendCalls.length = 0;
      const res = await get('/p/7?variant=large');
      expect(res.status).toBe(200);
      const html = await res.text();
      expect(backendCalls).toEqual(['/products/7']);
      expect(html).toContain(`<h2>${products[6]?.name}</h2>`);
      expect(html).toContain('aria-current="true">large</a>');
      expect(html).toBe(await pages.renderPage('/p/7?variant=large', products));
    });

    it('answers the 404 page when the API says 404, and for other paths', async () => {
      backendCalls.length = 0;
      const missing = await get('/p/999');
      expect(missing.status).toBe(404);
      expect(missing.headers.get('content-type')).toBe('text/html; charset=utf-8');
      const html = await missing.text();
      expect(html).toContain('Page not found');
      expect(html).toContain('<code>/p/999</code>');
      expect(html).toContain(`${title}</a></h1>`);
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
}

function describeRoutes<P extends ShopProduct>(shop: ShopUnderTest<P>): void {
  const { name, app } = shop;

  describe(`${name} routes, as the build describes them`, () => {
    const routes = app[DESCRIBE_ROUTES]();
    const request = (path: string, query = ''): MatchRequest => ({
      method: 'GET',
      host: `${name}.localhost`,
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
      expect(routes[0]?.cache?.edge).toEqual({
        maxAgeSeconds: 60,
        staleWhileRevalidateSeconds: 300,
      });
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
}

function describeIsolate<P extends ShopProduct>(shop: ShopUnderTest<P>): void {
  const { name, markup } = shop;
  const products = shop.api.products;

  describe(`${name} built and run in an isolate`, () => {
    let dir: string;
    let api: { url: string; close(): Promise<void> } | undefined;
    let iso: DeploymentIsolate | undefined;
    let built: BuildProjectResult;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), `flotilla-${name}-`));
      api = await shop.api.start({ port: 0 });
      built = await shop.build({ outDir: join(dir, 'dist') });
      iso = await DeploymentIsolate.load({
        deploymentId: `${name}-test`,
        code: await readFile(built.bundlePath, 'utf8'),
        bundleHash: built.manifest.bundleHash,
        backends: { api: api.url },
      });
    });

    afterAll(async () => {
      iso?.dispose();
      await api?.close();
      await rm(dir, { recursive: true, force: true });
    });

    function render(path: string, headers: Array<[string, string]> = []): Promise<SandboxResponse> {
      if (!iso) throw new Error('the isolate did not load');
      return iso.render({
        method: 'GET',
        url: `http://${name}.localhost${path}`,
        headers,
        body: null,
      });
    }

    const text = (res: SandboxResponse) => new TextDecoder().decode(res.body);

    it('builds from flotilla.config.json: routes, backend, stylesheet and browser code', async () => {
      const { manifest, outDir, bundlePath, manifestPath } = built;
      expect(outDir).toBe(join(dir, 'dist'));
      expect(bundlePath).toBe(join(dir, 'dist', 'bundle.js'));
      expect(manifestPath).toBe(join(dir, 'dist', 'manifest.json'));
      expect(manifest).toMatchObject({
        manifestVersion: 2,
        name,
        framework: shop.framework,
        backends: { api: 'http://127.0.0.1:4001' },
      });
      expect(manifest.routes.map((r) => r.criteria.path)).toEqual([
        '/',
        '/p/:id',
        '/:path*',
        '/:path*',
      ]);
      // The flags the bench's plain-Node build uses are the ones the bundle is built with.
      if (shop.define) expect(built.config.define).toEqual(shop.define);
      const css = await readFile(join(built.config.staticDir ?? '', 'styles.css'));
      const paths = manifest.assets.map((a) => a.path);
      expect(paths).toContain('/styles.css');
      const hashed = paths.find((p) => /^\/assets\/styles\.[0-9a-f]+\.css$/.test(p));
      expect(hashed).toBeDefined();
      const file = (path: string) => readFile(join(dir, 'dist', 'assets', ...path.split('/')));
      expect(await file(hashed ?? '')).toEqual(css);

      // The browser code: the entry and the framework's chunk, content-hashed and permanent.
      const client = manifest.assets.filter((a) => a.path.startsWith('/assets/client/'));
      expect(client.map((a) => a.path.replace(/-[A-Z0-9]{8}\.js$/, '.js')).sort()).toEqual([
        '/assets/client/chunk.js',
        '/assets/client/main.js',
      ]);
      for (const asset of client) {
        expect(asset).toMatchObject({
          permanent: true,
          contentType: 'text/javascript; charset=utf-8',
        });
        expect((await file(asset.path)).byteLength).toBe(asset.bytes);
      }
    });

    it('lists the products the API returns, linking the hashed stylesheet under the prefix', async () => {
      const res = await render('/', [['x-forwarded-prefix', `/${name}`]]);
      expect(res.status).toBe(200);
      const html = text(res);
      expect(countCards(html)).toBe(products.length);
      for (const product of [products[0], products[59], products[119]]) {
        expect(html).toContain(`<a href="/${name}/p/${product?.id}">${product?.name}</a>`);
      }
      const hashed = built.manifest.assets.find((a) => /^\/assets\/styles\./.test(a.path))?.path;
      expect(html).toContain(`<link rel="stylesheet" href="/${name}${hashed}"${markup.voidEnd}`);
    });

    it('ships the data and the module script that hydrate each page, under the prefix', async () => {
      const client = built.manifest.assets.filter((a) => a.path.startsWith('/assets/client/'));
      const entry = client.find((a) => a.path.includes('/main-'))?.path;
      const chunk = client.find((a) => a.path.includes('/chunk-'))?.path;
      const cases = [
        { path: '/', route: 0, page: 'page', count: products.length },
        { path: '/p/7?variant=large', route: 1, page: 'page', params: { id: '7' } },
        { path: '/p/999', route: 1, page: 'notFound', params: { id: '999' } },
        { path: '/nope', route: 3, page: 'page' },
      ];
      for (const c of cases) {
        const html = text(await render(c.path, [['x-forwarded-prefix', `/${name}`]]));
        const tail =
          `<link rel="modulepreload" href="/${name}${chunk}" data-flotilla>` +
          `<script type="module" src="/${name}${entry}" data-flotilla></script></body></html>`;
        expect(html.endsWith(tail), c.path).toBe(true);
        const json =
          /<script type="application\/json" id="flotilla-data" data-flotilla>([^<]*)<\/script>/.exec(
            html,
          )?.[1];
        const payload = JSON.parse(json ?? 'null');
        expect(payload, c.path).toMatchObject({
          v: 1,
          route: c.route,
          page: c.page,
          root: 'document',
          params: c.params ?? {},
          data: { prefix: `/${name}` },
        });
        if (c.count !== undefined) expect(payload.data.products).toHaveLength(c.count);
      }
      // On its own host, no prefix.
      const own = text(await render('/p/3'));
      expect(own).toContain(`<script type="module" src="${entry}" data-flotilla></script>`);
    });

    it('ships no JavaScript with an answer that has no component', async () => {
      if (!iso) throw new Error('the isolate did not load');
      const res = await iso.render({
        method: 'POST',
        url: `http://${name}.localhost/p/7`,
        headers: [],
        body: new TextEncoder().encode('x'),
      });
      expect(res.status).toBe(405);
      expect(text(res)).toBe('Method Not Allowed\n');
    });

    it('renders a product page, and the 404 page when the API says 404', async () => {
      const detail = await render('/p/7');
      expect(detail.status).toBe(200);
      expect(text(detail)).toContain(`<h2>${products[6]?.name}</h2>`);

      const missing = await render('/p/999');
      expect(missing.status).toBe(404);
      expect(text(missing)).toContain('Page not found');
      expect((await render('/nope')).status).toBe(404);
    });
  });
}
