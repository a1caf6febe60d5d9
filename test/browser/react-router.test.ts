/**
 * A React Router app in framework mode (`examples/react-router-shop`) on a
 * real fleet, as its developer and its visitors meet it: `flotilla publish`
 * (the real CLI, which runs the app's own `react-router build`) to a fleet of
 * separate processes (nats-server, scheduler, worker, shield with its cache
 * on), the products API its loaders fetch, and Debian's Chromium loading the
 * shop through the shield: the page hydrates (the cart counter works),
 * a `<Link>` navigates client-side (its `.data` request goes through the
 * shield, the page is not reloaded), no console errors, no failed requests,
 * scripts and styles from the deployment's content-hashed assets. Then the
 * shield's cache: a cacheable page is a hit the second time, and a page and
 * its single-fetch data never share an entry.
 */
import { startProductsApi } from '@flotilla/example-products-api';
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

const EXAMPLE = new URL('../../examples/react-router-shop/', import.meta.url).pathname;
const APP = 'react-router-shop';

let fleet: Fleet;
let browser: Browser;
let api: Awaited<ReturnType<typeof startProductsApi>>;
let published: string;
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
  // Builds with React Router's own build on the way (progress on stderr).
  published = await cli(['publish', '--dir', EXAMPLE, '--env', 'production'], 240_000);
  await cli(['env', 'set', '--env', 'production', '--app', APP, '--backend', `api=${api.url}`]);
  await fleet.settled();
  origin = `http://${APP}.localhost:${new URL(fleet.shield.url).port}`;
  browser = await launchBrowser();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await fleet?.stop();
  await api?.close();
});

/** GET through the shield with the app's Host (fetch cannot set Host). */
function get(path: string): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, path, { host: `${APP}.localhost` });
}

describe('a React Router app (framework mode) on the fleet', () => {
  it("publishes with the CLI, which runs the app's react-router build", () => {
    expect(published).toMatch(/build: framework .*react-router build/);
    expect(published).toMatch(/building ssr environment for production/);
    expect(published).toContain(`${APP}-`);
  });

  it('hydrates, navigates client-side through the shield, and breaks nothing', async () => {
    const page: Page = await browser.newPage();
    const problems = watchPage(page);
    const assets: Array<{ status: number; cacheControl: Promise<string | null> }> = [];
    page.on('response', (res) => {
      if (!new URL(res.url()).pathname.startsWith('/assets/')) return;
      assets.push({ status: res.status(), cacheControl: res.headerValue('cache-control') });
    });
    try {
      await page.goto(`${origin}/`);
      await page.waitForSelector('h1:text("Products")');
      // Hydrated: the root's effect ran, so the button's handler is React's.
      await page.waitForSelector('html[data-hydrated="true"]', { timeout: 30_000 });
      await page.getByRole('button', { name: 'Add to cart' }).first().click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 1")');
      await keepScreenshot(page, 'react-router-shop-listing');

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
      // The cart lives in the root route's state: still there after navigating.
      expect(await page.textContent('[data-testid="cart"]')).toBe('Cart: 1');
      expect(problems.requests).toContain(`${origin}${href}.data`);
      await page.getByRole('button', { name: 'Add to cart' }).click();
      await page.waitForSelector('[data-testid="cart"]:text("Cart: 2")');
      await keepScreenshot(page, 'react-router-shop-product');

      expect(problems.consoleErrors).toEqual([]);
      expect(problems.failedRequests).toEqual([]);
      // Scripts and styles: the deployment's content-hashed assets, served immutable by the shield.
      const scripts = problems.requests.filter((u) => /\.(js|css)(\?|$)/.test(u));
      expect(scripts.length).toBeGreaterThan(2);
      for (const url of scripts)
        expect(url).toMatch(new RegExp(`^${origin}/assets/[\\w.-]+-[\\w-]{8}\\.(js|css)$`));
      expect(assets.length).toBeGreaterThan(2);
      for (const res of assets) {
        expect(res.status).toBe(200);
        expect(await res.cacheControl).toMatch(/immutable/);
      }
    } finally {
      await page.close();
    }
  }, 120_000);

  it('caches pages from their route headers; a page and its .data never share an entry', async () => {
    const path = '/p/11';
    // Another test may have cached nothing of these yet: wait for a stored miss, then a hit.
    const html = await get(path);
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    let again: HttpReply | undefined;
    await waitFor(
      async () => {
        again = await get(path);
        return /flotilla; hit/.test(again.headers['cache-status'] ?? '');
      },
      { timeoutMs: 20_000, message: `a cache hit for ${path}` },
    );
    expect(again?.body).toBe(html.body);

    const data = await get(`${path}.data`);
    expect(data.status).toBe(200);
    expect(data.headers['content-type']).toBe('text/x-script');
    expect(data.headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(data.body).not.toContain('<html');
    const dataAgain = await get(`${path}.data`);
    expect(dataAgain.headers['cache-status']).toMatch(/flotilla; hit/);
    expect(dataAgain.headers['content-type']).toBe('text/x-script');
    expect(dataAgain.body).toBe(data.body);

    // The listing's data with ?_routes= is its own entry again.
    const routes = await get('/_.data?_routes=routes%2Fhome');
    expect(routes.status).toBe(200);
    expect(routes.headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(routes.body).not.toContain('<html');
  }, 60_000);
});
