/**
 * A Nuxt app (`examples/nuxt-shop`) on a real fleet, as its developer and
 * its visitors meet it: `flotilla publish` (the real CLI, which runs Nuxt's
 * own build with Flotilla's Nitro preset) to a fleet of separate processes
 * (nats-server, scheduler, worker, shield with its cache on), the products
 * API its server routes fetch (re-pointed with `flotilla env set
 * --backend`), and Debian's Chromium loading the shop through the shield:
 * the page hydrates (the cart counter works), a `<NuxtLink>` navigates
 * client-side (the route's payload, `/p/<id>/_payload.json`, comes through
 * the shield; the page is not reloaded), no console errors, no failed requests, scripts
 * and styles from the deployment's content-hashed `/_nuxt/` assets. Then
 * the route rules as the shield's caching, the prerendered page served as a
 * file, and the hashed assets still served after a newer deployment is
 * promoted.
 */
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

const EXAMPLE = new URL('../../examples/nuxt-shop/', import.meta.url).pathname;
const APP = 'nuxt-shop';
/** The app's own files (what a developer writes), copied for the second deployment. */
const APP_FILES = [
  'app',
  'server',
  'public',
  'package.json',
  'flotilla.config.json',
  'nuxt.config.ts',
  'tsconfig.json',
];

let fleet: Fleet;
let browser: Browser;
let api: Awaited<ReturnType<typeof startProductsApi>>;
let published: string;
let manifest: Manifest;
let origin: string;
let scratch: string | undefined;

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
  // Builds with Nuxt's own build on the way (progress on stderr).
  published = await cli(['publish', '--dir', EXAMPLE, '--env', 'production'], 300_000);
  manifest = JSON.parse(
    await readFile(join(EXAMPLE, '.flotilla', 'build', 'manifest.json'), 'utf8'),
  ) as Manifest;
  await cli(['env', 'set', '--env', 'production', '--app', APP, '--backend', `api=${api.url}`]);
  await fleet.settled();
  origin = `http://${APP}.localhost:${new URL(fleet.shield.url).port}`;
  browser = await launchBrowser();
}, 400_000);

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

/** GETs `path` until the shield answers it from its cache; returns the first reply and the hit. */
async function untilHit(path: string): Promise<{ first: HttpReply; hit: HttpReply }> {
  const first = await get(path);
  let hit: HttpReply | undefined;
  await waitFor(
    async () => {
      hit = await get(path);
      return /flotilla; hit/.test(hit.headers['cache-status'] ?? '');
    },
    { timeoutMs: 20_000, message: `a cache hit for ${path}` },
  );
  return { first, hit: hit as HttpReply };
}

describe('a Nuxt app on the fleet', () => {
  it("publishes with the CLI, which runs Nuxt's build with Flotilla's preset", () => {
    expect(published).toMatch(
      /build: framework nuxt build \(examples\/nuxt-shop\/node_modules\/nuxt\)/,
    );
    expect(published).toMatch(/build: assets \d+ file\(s\): \d+ hashed .*, 2 prerendered/);
    expect(published).toMatch(/build: framework .*building ssr environment for production/);
    expect(published).toContain(`${APP}-`);
    expect(manifest.framework).toBe('nuxt');
  });

  it("writes the app's route rules into the manifest as the shield's cache options", () => {
    const edge = (path: string) => manifest.routes.find((r) => r.criteria.path === path)?.cache;
    // '/': { swr: 60 } and '/p/**': { cache: { swr: true, maxAge: 300, staleMaxAge: 3600 } }
    expect(edge('/')).toEqual({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 31_536_000 },
    });
    expect(edge('/p/:path*')).toEqual({
      edge: { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 3600 },
    });
    expect(edge('/api/products/:path*')).toEqual({
      edge: { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 31_536_000 },
    });
    expect(manifest.routes.at(-1)).toMatchObject({
      criteria: { path: '/:path*' },
      action: { kind: 'render' },
    });
    // The prerendered page is a file of the deployment, not a route.
    expect(manifest.assets.find((a) => a.path === '/about')).toMatchObject({
      contentType: 'text/html; charset=utf-8',
      permanent: false,
    });
  });

  it('hydrates, navigates client-side through the shield, and breaks nothing', async () => {
    const page: Page = await browser.newPage();
    const problems = watchPage(page);
    const assets: Array<{ url: string; status: number; cacheControl: Promise<string | null> }> = [];
    page.on('response', (res) => {
      if (!new URL(res.url()).pathname.startsWith('/_nuxt/')) return;
      if (new URL(res.url()).pathname.startsWith('/_nuxt/builds/')) return;
      assets.push({
        url: res.url(),
        status: res.status(),
        cacheControl: res.headerValue('cache-control'),
      });
    });
    try {
      await page.goto(`${origin}/`);
      await page.waitForSelector('h1:text("Products")');
      // Hydrated: the app's onMounted ran, so the button's handler is Vue's.
      await page.waitForSelector('html[data-hydrated="true"]', { timeout: 30_000 });
      await page.getByRole('button', { name: 'Add to cart' }).first().click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 1")');
      await keepScreenshot(page, 'nuxt-shop-listing');

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
      // The cart is Nuxt state: still there after navigating.
      expect(await page.textContent('[data-testid="cart"]')).toBe('Cart: 1');
      // The page's data came through the shield: Nuxt's payload of the cached route, rendered in the isolate.
      expect(problems.requests.some((u) => u.startsWith(`${origin}${href}/_payload.json?`))).toBe(
        true,
      );
      await page.getByRole('button', { name: 'Add to cart' }).click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 2")');
      await keepScreenshot(page, 'nuxt-shop-product');

      // The prerendered page, client-side too.
      await page.getByRole('link', { name: 'About' }).click();
      await page.waitForSelector('h1:text("About this shop")');
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );

      // NuxtLink prefetches the payloads of the links in view; a navigation
      // started before they answer (a busy machine renders them slowly)
      // aborts those still in flight, as it would for any visitor.
      const aborted = /\/_payload\.json\?_b=[\w-]+: net::ERR_ABORTED$/;
      expect(problems.failedRequests.filter((f) => !aborted.test(f))).toEqual([]);
      expect(problems.consoleErrors).toEqual([]);
      // Scripts and styles: the deployment's content-hashed assets, served immutable by the shield.
      const scripts = problems.requests.filter((u) => /\.(js|css)(\?|$)/.test(u));
      expect(scripts.length).toBeGreaterThan(2);
      for (const url of scripts) {
        expect(url).toMatch(new RegExp(`^${origin}/_nuxt/[\\w.-]+\\.(js|css)$`));
        const path = new URL(url).pathname;
        expect(manifest.assets.find((a) => a.path === path)?.permanent).toBe(true);
      }
      expect(assets.length).toBeGreaterThan(2);
      for (const res of assets) {
        expect(res.status).toBe(200);
        expect(await res.cacheControl).toMatch(/immutable/);
      }
    } finally {
      await page.close();
    }
  }, 120_000);

  it('caches pages and API data by the route rules; other paths are never cached', async () => {
    const page = await untilHit('/p/11');
    expect(page.first.status).toBe(200);
    expect(page.first.headers['content-type']).toMatch(/^text\/html/);
    expect(page.first.body).toContain('<div id="__nuxt">');
    expect(page.hit.body).toBe(page.first.body);

    const data = await untilHit('/api/products/11');
    expect(data.first.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(data.hit.body)).toMatchObject({ id: 11 });

    // No rule caches a missing page: each request renders again.
    const missing = await get('/no/such/page');
    expect(missing.status).toBe(404);
    const again = await get('/no/such/page');
    expect(again.headers['cache-status'] ?? '').not.toMatch(/flotilla; hit/);
  }, 60_000);

  it('serves the prerendered page as a file, without a render', async () => {
    const about = await get('/about');
    expect(about.status).toBe(200);
    expect(about.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(about.headers['x-flotilla-deployment']).toBeDefined();
    expect(about.headers['server-timing'] ?? '').not.toMatch(/render/);
    expect(about.body).toContain('About this shop');
  });

  it('keeps serving the hashed assets after a newer deployment is promoted', async () => {
    const hashed = manifest.assets.filter((a) => a.permanent && a.path.endsWith('.css'));
    expect(hashed.length).toBeGreaterThan(0);
    await mkdir(join(EXAMPLE, '.flotilla'), { recursive: true });
    scratch = await mkdtemp(join(EXAMPLE, '.flotilla', 'browser-v2-'));
    for (const file of APP_FILES)
      await cp(join(EXAMPLE, file), join(scratch, file), { recursive: true });
    const css = join(scratch, 'app', 'assets', 'main.css');
    await writeFile(css, `${await readFile(css, 'utf8')}\nh1 { letter-spacing: 0.01em; }\n`);
    await cli(['publish', '--dir', scratch, '--env', 'production'], 300_000);
    await fleet.settled();
    const next = JSON.parse(
      await readFile(join(scratch, '.flotilla', 'build', 'manifest.json'), 'utf8'),
    ) as Manifest;
    const nextCss = next.assets.filter((a) => a.permanent && a.path.endsWith('.css'));
    const gone = hashed.filter((a) => !nextCss.some((b) => b.path === a.path));
    expect(gone.length).toBeGreaterThan(0);
    // The new deployment serves its own stylesheet…
    await waitFor(
      async () => {
        const res = await get('/');
        return res.status === 200 && nextCss.some((a) => res.body.includes(a.path));
      },
      { timeoutMs: 30_000, message: 'the promoted deployment' },
    );
    // …and the old one's stay served, immutable, for tabs still open on it.
    for (const asset of gone) {
      const res = await get(asset.path);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toMatch(/immutable/);
    }
  }, 400_000);
});
