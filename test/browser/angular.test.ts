/**
 * An Angular SSR app (`examples/angular-shop`, made with `ng new --ssr`) on a
 * real fleet, as its developer and its visitors meet it: `flotilla publish`
 * (the real CLI, which runs the app's own Angular build with Flotilla's
 * options) to a fleet of separate processes (nats-server, scheduler, worker,
 * shield with its cache on), the products API its resolvers fetch through
 * the declared backend, and Debian's Chromium loading the shop through the
 * shield: the page hydrates (the cart counter works), a `routerLink`
 * navigates client-side (no reload), no console errors, no failed requests,
 * scripts and styles from the deployment's content-hashed assets. Then the
 * shield: route caching from Angular's server routes (`headers`), the
 * prerendered page served as a file, and the hashed assets of this
 * deployment still served after a newer one is promoted. Last, `flotilla
 * dev` on a copy of the shop: one rebuild per change.
 */
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProductsApi } from '@flotilla/example-products-api';
import type { Manifest } from '@flotilla/manifest';
import {
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  type Fleet,
  type HttpReply,
  httpRequest,
  runCli,
  spawnProcess,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { keepScreenshot, launchBrowser, watchPage } from '@flotilla/test-harness/browser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;

const EXAMPLE = new URL('../../examples/angular-shop/', import.meta.url).pathname;
const APP = 'angular-shop';

let fleet: Fleet;
let browser: Browser;
let api: Awaited<ReturnType<typeof startProductsApi>>;
let published: string;
let manifest: Manifest;
let origin: string;

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
  // Builds with Angular's own build on the way (progress on stderr).
  published = await cli(['publish', '--dir', EXAMPLE, '--env', 'production'], 300_000);
  manifest = JSON.parse(
    await readFile(join(EXAMPLE, '.flotilla', 'build', 'manifest.json'), 'utf8'),
  ) as Manifest;
  await cli(['env', 'set', '--env', 'production', '--app', APP, '--backend', `api=${api.url}`]);
  await fleet.settled();
  origin = `http://${APP}.localhost:${new URL(fleet.shield.url).port}`;
  browser = await launchBrowser();
}, 360_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stop();
  await api?.close();
});

/** GET through the shield with the app's Host (fetch cannot set Host). */
function get(path: string): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, path, { host: `${APP}.localhost` });
}

describe('an Angular SSR app on the fleet', () => {
  it("publishes with the CLI, which runs the app's Angular build", () => {
    expect(published).toMatch(/build: framework ng build/);
    expect(published).toMatch(/Prerendered 1 static route/);
    expect(published).toContain(`${APP}-`);
    // The app's files are as they were: Flotilla's own files are gone.
    expect(published).not.toMatch(/ng build failed/);
  });

  it("writes Angular's server routes and their caching into the manifest", () => {
    expect(manifest.framework).toBe('angular');
    const byPath = new Map(manifest.routes.map((r) => [r.criteria.path, r]));
    expect(byPath.get('/')?.cache).toEqual({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
    });
    expect(byPath.get('/p/:seg1')?.cache).toEqual({
      edge: { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 3600 },
    });
    expect(byPath.get('/about')?.cache).toBeUndefined();
    expect(byPath.get('/:rest*')?.fallback).toBe(true);
    // The prerendered page is an asset; the built scripts and styles are hashed, permanent.
    const about = manifest.assets.find((a) => a.path === '/about');
    expect(about).toMatchObject({ permanent: false, contentType: 'text/html; charset=utf-8' });
    const hashed = manifest.assets.filter((a) => a.permanent).map((a) => a.path);
    expect(hashed.some((p) => /^\/main-[A-Z0-9]{8}\.js$/.test(p))).toBe(true);
    expect(hashed.some((p) => /^\/styles-[A-Z0-9]{8}\.css$/.test(p))).toBe(true);
    expect(manifest.assets.find((a) => a.path === '/favicon.svg')?.permanent).toBe(false);
  });

  it('renders pages in the isolate with data from the declared backend', async () => {
    const listing = await get('/');
    expect(listing.status).toBe(200);
    expect(listing.headers['content-type']).toMatch(/^text\/html/);
    expect(listing.body).toContain('<h1>Products</h1>');
    expect(listing.body).toContain('ng-server-context="ssr"');
    const product = await get('/p/7');
    expect(product.status).toBe(200);
    expect(product.body).toMatch(/<article class="card"[^>]*><h1[^>]*>[^<]+<\/h1>/);
    // The shield keeps s-maxage to itself; browsers get what is left of the route's Cache-Control.
    expect(product.headers['cache-control']).not.toMatch(/s-maxage/);

    const missing = await get('/p/999999');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('Not found');
    const unknown = await get('/no/such/page');
    expect(unknown.status).toBe(404);

    // By path prefix on any host: the shield passes the prefix in x-forwarded-prefix, which the app trusts.
    const prefixed = await httpRequest(fleet.shield.url, `/${APP}/p/7`);
    expect(prefixed.status).toBe(200);
    expect(prefixed.body).toContain('<article class="card"');
  }, 60_000);

  it("caches pages as Angular's server routes say; prerendered pages are files", async () => {
    const path = '/p/11';
    const html = await get(path);
    expect(html.status).toBe(200);
    let again: HttpReply | undefined;
    await waitFor(
      async () => {
        again = await get(path);
        return /flotilla; hit/.test(again.headers['cache-status'] ?? '');
      },
      { timeoutMs: 20_000, message: `a cache hit for ${path}` },
    );
    expect(again?.body).toBe(html.body);

    // Served by the shield from the build, not rendered: its etag is the file's hash.
    const about = manifest.assets.find((a) => a.path === '/about');
    const page = await get('/about');
    expect(page.status).toBe(200);
    expect(page.headers.etag).toBe(`"${about?.hash}"`);
    expect(page.body).toContain('About this shop');
    expect(page.headers['server-timing'] ?? '').not.toMatch(/render/);
  }, 60_000);

  it('hydrates, navigates client-side, and breaks nothing', async () => {
    const page: Page = await browser.newPage();
    const problems = watchPage(page);
    const code: Array<{ url: string; status: number; cacheControl: Promise<string | null> }> = [];
    page.on('response', (res) => {
      if (!/\.(js|css)$/.test(new URL(res.url()).pathname)) return;
      code.push({
        url: res.url(),
        status: res.status(),
        cacheControl: res.headerValue('cache-control'),
      });
    });
    try {
      await page.goto(`${origin}/`);
      await page.waitForSelector('h1:text("Products")');
      // Hydrated: afterNextRender ran in the browser, so the buttons' handlers are Angular's.
      await page.waitForSelector('html[data-hydrated="true"]', { timeout: 30_000 });
      await page.getByRole('button', { name: 'Add to cart' }).first().click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 1")');
      await keepScreenshot(page, 'angular-shop-listing');

      // A marker on window survives only a client-side navigation.
      await page.evaluate(() => {
        (window as unknown as { marker: string }).marker = 'same document';
      });
      const first = page.locator('.grid h2 a').first();
      const name = ((await first.textContent()) ?? '').trim();
      const href = (await first.getAttribute('href')) ?? '';
      expect(href).toMatch(/^\/p\/\d+$/);
      const documents = problems.requests.length;
      await first.click();
      await page.waitForSelector(`article h1:text(${JSON.stringify(name)})`);
      expect(new URL(page.url()).pathname).toBe(href);
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );
      expect(problems.requests.slice(documents)).not.toContain(`${origin}${href}`);
      // The cart is a root service: still there after navigating.
      expect(await page.textContent('[data-testid="cart"]')).toBe('Cart: 1');
      await page.getByRole('button', { name: 'Add to cart' }).click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 2")');
      await page.getByRole('link', { name: 'All products' }).click();
      await page.waitForSelector('h1:text("Products")');
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );
      await keepScreenshot(page, 'angular-shop-product');

      expect(problems.consoleErrors).toEqual([]);
      expect(problems.failedRequests).toEqual([]);
      // Scripts and styles: the deployment's content-hashed assets, served immutable by the shield.
      expect(code.length).toBeGreaterThan(1);
      const permanent = new Set(manifest.assets.filter((a) => a.permanent).map((a) => a.path));
      for (const res of code) {
        expect(permanent.has(new URL(res.url).pathname), res.url).toBe(true);
        expect(res.status).toBe(200);
        expect(await res.cacheControl).toMatch(/immutable/);
      }
    } finally {
      await page.close();
    }
  }, 120_000);

  it('still serves its hashed assets after a newer deployment is promoted', async () => {
    const hashed = manifest.assets.filter((a) => a.permanent);
    const dir = await mkdtemp(join(tmpdir(), 'angular-shop-v2-'));
    try {
      await writeFile(
        join(dir, 'flotilla.config.json'),
        JSON.stringify({ name: APP, framework: 'none', entry: 'app.js' }),
      );
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: APP, type: 'module' }));
      await writeFile(
        join(dir, 'app.js'),
        "export default { fetch: () => new Response('version two') };\n",
      );
      await cli(['publish', '--dir', dir, '--env', 'production'], 120_000);
      await waitFor(async () => (await get('/p/3')).body === 'version two', {
        timeoutMs: 20_000,
        message: 'the newer deployment serving production',
      });
      for (const asset of hashed) {
        const res = await get(asset.path);
        expect(res.status, asset.path).toBe(200);
        expect(res.headers.etag).toBe(`"${asset.hash}"`);
        expect(res.headers['cache-control']).toMatch(/immutable/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('an Angular SSR app under flotilla dev', () => {
  it("serves the app and rebuilds it once per change (Angular's .angular/ cache is no change)", async () => {
    // A copy inside the example (its node_modules resolve), as the developer's own app.
    await mkdir(join(EXAMPLE, '.flotilla'), { recursive: true });
    const scratch = await mkdtemp(join(EXAMPLE, '.flotilla', 'dev-test-'));
    const dir = join(scratch, 'app');
    for (const file of [
      'src',
      'public',
      'package.json',
      'flotilla.config.json',
      'angular.json',
      'tsconfig.json',
      'tsconfig.app.json',
    ]) {
      await cp(join(EXAMPLE, file), join(dir, file), { recursive: true });
    }
    const dev = await spawnProcess({
      command: process.execPath,
      args: [...FLEET_NODE_FLAGS, FLEET_BIN, 'dev', '--dir', dir, '--port', '0'],
      env: { NODE_OPTIONS: '' },
      name: 'flotilla-dev-angular',
      readyPattern: /serving at http:\/\/\S+/,
      readyTimeoutMs: 180_000,
    });
    try {
      const line = await dev.waitForLine(/serving at http:\/\/\S+/);
      const base = /serving at (http:\/\/[^/\s]+)/.exec(line)?.[1] as string;
      const about = () => httpRequest(base, '/no/such', { host: `${APP}.localhost` });
      expect((await about()).body).toContain('<h1>Not found</h1>');

      const page = join(dir, 'src', 'app', 'pages', 'not-found.ts');
      await writeFile(
        page,
        (await readFile(page, 'utf8')).replace('<h1>Not found</h1>', '<h1>Nothing here</h1>'),
      );
      await waitFor(async () => (await about()).body.includes('<h1>Nothing here</h1>'), {
        timeoutMs: 180_000,
        intervalMs: 500,
        message: 'the rebuilt page',
      });
      // One rebuild for one change: the build's own writes (.angular/, .flotilla/) start
      // none. A rebuild they started would print its line one build later: wait twice
      // as long as the last rebuild took, then count.
      const served = () =>
        dev
          .output()
          .split('\n')
          .filter((l) => /serving at http/.test(l));
      const lastMs = Number(/\((\d+) ms\)/.exec(served().at(-1) ?? '')?.[1] ?? 10_000);
      await new Promise((resolve) => setTimeout(resolve, 2 * lastMs + 2000));
      expect(served()).toHaveLength(2);
    } finally {
      await dev.kill('SIGTERM');
      await rm(scratch, { recursive: true, force: true });
    }
  }, 420_000);
});
