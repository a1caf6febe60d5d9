/**
 * A SvelteKit app (`examples/sveltekit-shop`, made with `sv create`) on a
 * real fleet, as its developer and its visitors meet it: `flotilla publish`
 * (the real CLI, which runs the app's own `vite build` with Flotilla's
 * adapter in place of the app's) to a fleet of separate processes
 * (nats-server, scheduler, worker, shield with its cache on), the products
 * API its load functions fetch, and Debian's Chromium loading the shop
 * through the shield: the page hydrates (the cart counter works), a link
 * navigates client-side (its `__data.json` goes through the shield, the
 * page is not reloaded), no console errors, no failed requests, scripts and
 * styles from the deployment's content-hashed assets. Then caching (from
 * `setHeaders` and from `config.isr` in the manifest), the prerendered page
 * served by the shield as a file, and the hashed assets still served after
 * a newer deployment is promoted.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProductsApi } from '@flotilla/example-products-api';
import type { Manifest } from '@flotilla/manifest';
import {
  type Fleet,
  type HttpReply,
  httpRequest,
  runCli,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { keepScreenshot, launchBrowser, watchPage } from '@flotilla/test-harness/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;

const EXAMPLE = new URL('../../examples/sveltekit-shop/', import.meta.url).pathname;
const APP = 'sveltekit-shop';
/** The app's own files, copied for the newer deployment. */
const APP_FILES = [
  'src',
  'static',
  'package.json',
  'flotilla.config.json',
  'tsconfig.json',
  'vite.config.ts',
];

let fleet: Fleet;
let browser: Browser;
let api: Awaited<ReturnType<typeof startProductsApi>>;
let published: string;
let manifest: Manifest;
let origin: string;
let scratch: string;

async function cli(args: string[], timeoutMs = 60_000): Promise<string> {
  const res = await runCli([...args, '--nats', fleet.nats.url], { timeoutMs });
  if (res.code !== 0) {
    throw new Error(`flotilla ${args.join(' ')} exited ${res.code}:\n${res.stderr}`);
  }
  return `${res.stdout}${res.stderr}`;
}

beforeAll(async () => {
  api = await startProductsApi({ port: 0 });
  fleet = await startFleet({ schedulers: 1, workers: 1, cache: true });
  // Builds with SvelteKit's own build on the way (progress on stderr).
  published = await cli(['publish', '--dir', EXAMPLE, '--env', 'production'], 240_000);
  manifest = JSON.parse(
    await readFile(join(EXAMPLE, '.flotilla', 'build', 'manifest.json'), 'utf8'),
  ) as Manifest;
  await cli(['env', 'set', '--env', 'production', '--app', APP, '--backend', `api=${api.url}`]);
  await fleet.settled();
  origin = `http://${APP}.localhost:${new URL(fleet.shield.url).port}`;
  browser = await launchBrowser();
  await mkdir(join(EXAMPLE, '.flotilla'), { recursive: true });
  scratch = await mkdtemp(join(EXAMPLE, '.flotilla', 'browser-test-'));
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stop();
  await api?.close();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** GET through the shield with the app's Host (fetch cannot set Host). */
function get(path: string): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, path, { host: `${APP}.localhost` });
}

/** A cache hit for `path`, after however many stored misses a busy machine takes. */
async function hit(path: string): Promise<HttpReply> {
  let again: HttpReply | undefined;
  await waitFor(
    async () => {
      again = await get(path);
      return /flotilla; hit/.test(again.headers['cache-status'] ?? '');
    },
    { timeoutMs: 20_000, message: `a cache hit for ${path}` },
  );
  return again as HttpReply;
}

describe('a SvelteKit app on the fleet', () => {
  it("publishes with the CLI, which runs the app's vite build with Flotilla's adapter", () => {
    expect(published).toMatch(/build: framework .*vite build/);
    expect(published).toMatch(/building ssr environment for production/i);
    expect(published).toContain(`${APP}-`);
    expect(manifest.framework).toBe('sveltekit');
    expect(manifest.routes.map((r) => [r.criteria.path, r.cache?.edge])).toEqual([
      ['/p/:id', { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 86_400 }],
      [
        '/p/:id/__data.json',
        { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 86_400, forcePrivateCaching: true },
      ],
      ['/:path*', undefined],
    ]);
  });

  it('hydrates, navigates client-side through the shield, and breaks nothing', async () => {
    const page: Page = await browser.newPage();
    const problems = watchPage(page);
    const assets: Array<{ status: number; cacheControl: Promise<string | null> }> = [];
    page.on('response', (res) => {
      if (!new URL(res.url()).pathname.startsWith('/_app/immutable/')) return;
      assets.push({ status: res.status(), cacheControl: res.headerValue('cache-control') });
    });
    try {
      await page.goto(`${origin}/`);
      await page.waitForSelector('h1:text("Products")');
      // Hydrated: the layout's onMount ran, so the button's handler is Svelte's.
      await page.waitForSelector('html[data-hydrated="true"]', { timeout: 30_000 });
      await page.getByRole('button', { name: 'Add to cart' }).first().click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 1")');
      await keepScreenshot(page, 'sveltekit-shop-listing');

      // A marker on window survives only a client-side navigation.
      await page.evaluate(() => {
        (window as unknown as { marker: string }).marker = 'same document';
      });
      const first = page.locator('.grid h2 a').first();
      const name = (await first.textContent()) ?? '';
      const href = (await first.getAttribute('href')) ?? '';
      expect(href).toMatch(/^\/p\/\d+$/);
      await first.click();
      await page.waitForSelector(`article h1:text(${JSON.stringify(name)})`);
      expect(new URL(page.url()).pathname).toBe(href);
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );
      // The cart is page state: still there after navigating.
      expect(await page.textContent('[data-testid="cart"]')).toBe('Cart: 1');
      expect(problems.requests.some((u) => u.startsWith(`${origin}${href}/__data.json`))).toBe(
        true,
      );
      await page.getByRole('button', { name: 'Add to cart' }).click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 2")');
      // The prerendered page, client-side too.
      await page.getByRole('link', { name: 'About' }).click();
      await page.waitForSelector('h1:text("About this shop")');
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );
      await keepScreenshot(page, 'sveltekit-shop-product');

      expect(problems.consoleErrors).toEqual([]);
      // SvelteKit preloads a link's data on hover (data-sveltekit-preload-data in app.html)
      // and may abort that request when the click's own navigation takes over.
      const aborted = /\/__data\.json\?x-sveltekit-invalidated=\d+: net::ERR_ABORTED$/;
      expect(problems.failedRequests.filter((f) => !aborted.test(f))).toEqual([]);
      // Scripts and styles: the deployment's content-hashed assets, served immutable by the shield.
      const code = problems.requests.filter((u) => /\.(js|css)(\?|$)/.test(u));
      expect(code.length).toBeGreaterThan(3);
      for (const url of code) {
        expect(url).toMatch(new RegExp(`^${origin}/_app/immutable/[\\w/.-]+\\.(js|css)$`));
        expect(manifest.assets.some((a) => a.permanent && url === `${origin}${a.path}`)).toBe(true);
      }
      expect(assets.length).toBeGreaterThan(3);
      for (const res of assets) {
        expect(res.status).toBe(200);
        expect(await res.cacheControl).toMatch(/immutable/);
      }
    } finally {
      await page.close();
    }
  }, 120_000);

  it('caches pages by their setHeaders and by config.isr (with its __data.json)', async () => {
    const home = await get('/');
    expect(home.status).toBe(200);
    expect(home.headers['content-type']).toMatch(/^text\/html/);
    expect((await hit('/')).body).toBe(home.body);

    // config.isr: the manifest's route decides; the response says nothing about caching.
    const product = await get('/p/11');
    expect(product.status).toBe(200);
    expect(product.body).toContain('<title>');
    expect((await hit('/p/11')).body).toBe(product.body);

    const data = await get('/p/11/__data.json?x-sveltekit-invalidated=01');
    expect(data.status).toBe(200);
    expect(data.headers['content-type']).toBe('application/json');
    const dataAgain = await hit('/p/11/__data.json?x-sveltekit-invalidated=01');
    expect(dataAgain.body).toBe(data.body);
    expect(dataAgain.body).not.toContain('<html');
  }, 60_000);

  it('serves the prerendered page from the deployment as a file, not a render', async () => {
    const about = await get('/about');
    expect(about.status).toBe(200);
    expect(about.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(about.body).toContain('<h1>About this shop</h1>');
    const asset = manifest.assets.find((a) => a.path === '/about');
    expect(about.headers.etag).toBe(`"${asset?.hash}"`);
    expect(createHash('sha256').update(about.body).digest('hex')).toBe(asset?.hash);
    expect(about.headers['cache-status']).toBeUndefined();
  });

  it('keeps serving the hashed assets after a newer deployment is promoted', async () => {
    const dir = join(scratch, 'v2');
    for (const file of APP_FILES)
      await cp(join(EXAMPLE, file), join(dir, file), { recursive: true });
    const home = join(dir, 'src', 'routes', '+page.svelte');
    await writeFile(
      home,
      (await readFile(home, 'utf8')).replace('<h1>Products</h1>', '<h1>All products</h1>'),
    );
    await cli(['publish', '--dir', dir, '--env', 'production'], 240_000);
    await waitFor(async () => (await get('/')).body.includes('All products'), {
      timeoutMs: 30_000,
      message: 'the newer deployment serving /',
    });
    const v2 = JSON.parse(
      await readFile(join(dir, '.flotilla', 'build', 'manifest.json'), 'utf8'),
    ) as Manifest;
    const gone = manifest.assets.filter(
      (a) => a.permanent && !v2.assets.some((b) => b.path === a.path),
    );
    // The changed page has a new hashed chunk; the old one is still there for open tabs.
    expect(gone.length).toBeGreaterThan(0);
    for (const a of gone) {
      const res = await get(a.path);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toMatch(/immutable/);
    }
  }, 300_000);
});
