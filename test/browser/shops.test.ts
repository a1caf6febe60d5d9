import { PRODUCTS, type Product, startProductsApi } from '@flotilla/example-products-api';
import { filterProducts } from '@flotilla/example-products-api/shop-client';
import type { FleetFixtures } from '@flotilla/test-harness';
import { keepScreenshot, type PageProblems, watchPage } from '@flotilla/test-harness/browser';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserFleet, startBrowserFleet } from '../support/browser-fleet.ts';
import { openControlPlane, publishFixtures } from '../support/control-plane.ts';

// Both example shops from a real fleet (nats-server, a scheduler, a worker
// and a shield, each its own process), in Chromium: the pages hydrate (no
// mismatch, no console errors, no failed requests), the elements that only
// work once hydrated work, the browser code comes from the deployment's
// hashed, immutable assets, under a path prefix and on the app's own host.
// A product whose name is markup (and a U+2028) is served by a products API
// of its own in environment `xss`: the page neither breaks nor runs it.

const SHOPS = ['react-shop', 'vue-shop'] as const;
const TITLES = { 'react-shop': 'React Shop', 'vue-shop': 'Vue Shop' } as const;

const HOSTILE_NAME = '</script><script>alert(1)</script>\u2028<!-- & Lamp';
const HOSTILE: Product[] = [
  {
    ...(PRODUCTS[0] as Product),
    name: HOSTILE_NAME,
    description: 'Line\u2029separator, <b>not bold</b> & "quoted" \'too\'',
  },
  PRODUCTS[1] as Product,
];

const FILTER = 'kitchen mug';
const FILTERED = filterProducts(PRODUCTS, FILTER).length;

/** The example shops and their products API, plus environment `xss` of each on the hostile API. */
async function publishShops(natsUrl: string, dir: string): Promise<FleetFixtures> {
  const published = await publishFixtures(natsUrl, { dir });
  const hostile = await startProductsApi({ port: 0, products: HOSTILE });
  const close = async () => {
    await hostile.close();
    await published.close();
  };
  try {
    const publisher = await openControlPlane(natsUrl);
    try {
      const { controlPlane } = publisher;
      for (const app of SHOPS) {
        const production = (await controlPlane.environments(app)).find(
          (e) => e.env === 'production',
        );
        if (!production) throw new Error(`${app} has no production environment`);
        await controlPlane.promote(production.deploymentId, 'xss');
        await controlPlane.configure(app, 'xss', { backends: { api: hostile.url } });
      }
    } finally {
      await publisher.close();
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { close };
}

/** What a page did, beyond what `watchPage` records. */
interface Watched extends PageProblems {
  /** Console warnings about hydration (React and Vue report mismatches so). */
  hydrationWarnings: string[];
  /** Dialogs the page opened (`alert(1)` would be one). */
  dialogs: string[];
  /** Every script and stylesheet response: URL, status, cache-control. */
  code: Array<{ url: string; status: number; cacheControl: string }>;
}

function watch(page: Page): Watched {
  const watched: Watched = Object.assign(watchPage(page), {
    hydrationWarnings: [],
    dialogs: [],
    code: [],
  });
  page.on('console', (msg) => {
    if (msg.type() === 'warning' && /hydrat/i.test(msg.text())) {
      watched.hydrationWarnings.push(msg.text());
    }
  });
  page.on('dialog', (dialog) => {
    watched.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('response', (res) => {
    const type = res.request().resourceType();
    if (type === 'script' || type === 'stylesheet') {
      watched.code.push({
        url: res.url(),
        status: res.status(),
        cacheControl: res.headers()['cache-control'] ?? '',
      });
    }
  });
  return watched;
}

/** Opens `url` and waits until the client runtime says the page is hydrated. */
async function openHydrated(page: Page, url: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load', timeout: 60_000 });
  await page.waitForSelector('html[data-hydrated]', { timeout: 60_000 });
}

/**
 * The page went well: nothing broken, and its code came from hashed,
 * immutable assets under `base`. `expected404` is a document that answers
 * 404 on purpose (the browser logs it as a console error too).
 */
function expectClean(watched: Watched, base: string, expected404?: string): void {
  const errors = watched.consoleErrors.filter(
    (e) => expected404 === undefined || !/status of 404 \(Not Found\)$/.test(e),
  );
  expect(errors).toEqual([]);
  expect(watched.hydrationWarnings).toEqual([]);
  expect(watched.failedRequests.filter((r) => r !== `404 ${expected404}`)).toEqual([]);
  expect(watched.dialogs).toEqual([]);
  const scripts = watched.code.filter((c) => c.url.endsWith('.js'));
  expect(scripts.length).toBeGreaterThanOrEqual(2);
  for (const c of watched.code) {
    expect(c.url).toMatch(
      new RegExp(
        `^${base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/assets/(client/[a-z]+-[A-Z0-9]{8}\\.js|styles\\.[0-9a-f]{10}\\.css)$`,
      ),
    );
    expect(c.status).toBe(200);
    expect(c.cacheControl).toContain('immutable');
  }
}

const cartCount = (page: Page) => page.locator('.cart-count').textContent();
const cards = (page: Page) => page.locator('.product-card').count();

describe('example shops in Chromium, from a real fleet', () => {
  let run: BrowserFleet;
  let origin: string;
  let port: string;

  beforeAll(async () => {
    run = await startBrowserFleet(publishShops);
    origin = run.fleet.shield.url;
    port = new URL(origin).port;
  }, 240_000);

  afterAll(() => run?.stop(), 60_000);

  /** Runs `body` in a browser context of its own (its own localStorage). */
  async function withContext<T>(body: (context: BrowserContext) => Promise<T>): Promise<T> {
    const context = await run.browser.newContext();
    try {
      return await body(context);
    } finally {
      await context.close();
    }
  }

  for (const app of SHOPS) {
    it(`${app}: hydrates, the cart and the filter work, and the cart survives navigation`, async () => {
      await withContext(async (context) => {
        const base = `${origin}/${app}`;
        const page = await context.newPage();
        const listing = watch(page);
        await openHydrated(page, `${base}/`);
        expect(await cards(page)).toBe(PRODUCTS.length);
        expect(await cartCount(page)).toBe('0');

        await page.locator('.product-card .add-to-cart').first().click();
        await expect.poll(() => cartCount(page)).toBe('1');
        await page.locator('.product-card[data-id="2"] .add-to-cart').click();
        await expect.poll(() => cartCount(page)).toBe('2');

        await page.locator('.product-filter').pressSequentially(FILTER);
        await expect.poll(() => cards(page)).toBe(FILTERED);
        expect(FILTERED).toBeGreaterThan(0);
        expect(FILTERED).toBeLessThan(PRODUCTS.length);
        await keepScreenshot(page, `shops-${app}-listing-filtered`);
        expectClean(listing, base);

        // A full navigation to a product page: a new document, hydrated again,
        // with the cart read back from localStorage.
        const first = page.locator('.product-card h3 a').first();
        const href = await first.getAttribute('href');
        expect(href).toMatch(new RegExp(`^/${app}/p/\\d+$`));
        const detail = watch(page);
        await first.click();
        await page.waitForURL(`${origin}${href}`);
        await page.waitForSelector('html[data-hydrated]', { timeout: 60_000 });
        await expect.poll(() => cartCount(page)).toBe('2');
        await page.locator('.product-detail .add-to-cart').click();
        await expect.poll(() => cartCount(page)).toBe('3');
        await keepScreenshot(page, `shops-${app}-detail`);
        expectClean(detail, base);
      });
    }, 180_000);

    it(`${app}: hydrates on its own host, and its 404 page too`, async () => {
      await withContext(async (context) => {
        const base = `http://${app}.localhost:${port}`;
        const page = await context.newPage();
        const detail = watch(page);
        await openHydrated(page, `${base}/p/5?variant=large`);
        expect(await page.locator('h2').textContent()).toBe(PRODUCTS[4]?.name);
        expect(await page.locator('[aria-current="true"]').textContent()).toBe('large');
        await page.locator('.add-to-cart').click();
        await expect.poll(() => cartCount(page)).toBe('1');
        await keepScreenshot(page, `shops-${app}-own-host`);
        expectClean(detail, base);

        const missing = watch(page);
        await openHydrated(page, `${base}/p/999`);
        expect(await page.locator('code').textContent()).toBe('/p/999');
        await expect.poll(() => cartCount(page)).toBe('1');
        await keepScreenshot(page, `shops-${app}-not-found`);
        expectClean(missing, base, `${base}/p/999`);
      });
    }, 180_000);

    it(`${app}: a product name that is markup neither breaks the page nor runs`, async () => {
      await withContext(async (context) => {
        const base = `http://xss.${app}.localhost:${port}`;
        const page = await context.newPage();
        const watched = watch(page);
        await openHydrated(page, `${base}/p/1`);
        expect(await page.locator('h2').textContent()).toBe(HOSTILE_NAME);
        expect(await page.locator('.description').textContent()).toBe(HOSTILE[0]?.description);
        expect(await page.title()).toBe(`${HOSTILE_NAME} | ${TITLES[app]}`);
        await page.locator('.add-to-cart').click();
        await expect.poll(() => cartCount(page)).toBe('1');
        // The client removed its own scripts: any script left is one the name injected.
        expect(await page.evaluate(() => document.scripts.length)).toBe(0);
        await keepScreenshot(page, `shops-${app}-hostile-product`);

        await openHydrated(page, `${base}/`);
        expect(await cards(page)).toBe(HOSTILE.length);
        expect(await page.locator('.product-card h3').first().textContent()).toBe(HOSTILE_NAME);
        expectClean(watched, base);
      });
    }, 180_000);
  }
});
