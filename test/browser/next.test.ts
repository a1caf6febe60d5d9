/**
 * A Next.js App Router app (`examples/next-shop`) on a real fleet, as its
 * developer and its visitors meet it: `flotilla publish` (the real CLI, which
 * runs the app's own `next build` with Flotilla's adapter) to a fleet of
 * separate processes (nats-server, scheduler, worker, shield with its cache
 * on), the products API its server components fetch, and Debian's Chromium
 * loading the shop through the shield: the pages render in the isolate, the
 * page hydrates (the client component counts clicks), a `next/link`
 * navigates client-side (its RSC request goes through the shield, the page
 * is not reloaded), no console errors, no failed requests, scripts and
 * styles from `/_next/static/` served immutable; a server action called
 * from a client component, a route handler; a Node-runtime page (Next's
 * default runtime: cookies, headers, an uncached fetch) rendered per
 * request and hydrated, a Node-runtime route handler. Then the shield's cache: a
 * prerendered page is a hit the second time, its HTML and its RSC never
 * share an entry, a purge by one of Next's cache tags drops them, and an ISR
 * page is served stale-while-revalidate past its revalidate time.
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

const EXAMPLE = new URL('../../examples/next-shop/', import.meta.url).pathname;
const APP = 'next-shop';

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
  // Builds with Next's own build on the way (progress on stderr).
  published = await cli(['publish', '--dir', EXAMPLE, '--env', 'production'], 300_000);
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
function get(path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, path, { host: `${APP}.localhost`, headers });
}

describe('a Next.js app on the fleet', () => {
  it("publishes with the CLI, which runs the app's next build", () => {
    expect(published).toMatch(/build: framework .*next build/);
    expect(published).toMatch(/Next\.js 16\.\d+\.\d+, build /);
    expect(published).toContain(`${APP}-`);
  });

  it('renders in the isolate, hydrates, navigates client-side through the shield, and breaks nothing', async () => {
    const page: Page = await browser.newPage();
    const problems = watchPage(page);
    const statics: Array<{ status: number; cacheControl: Promise<string | null> }> = [];
    const rscRequests: string[] = [];
    page.on('request', (req) => {
      if (req.headers().rsc === '1') rscRequests.push(req.url());
    });
    page.on('response', (res) => {
      if (!new URL(res.url()).pathname.startsWith('/_next/static/')) return;
      statics.push({ status: res.status(), cacheControl: res.headerValue('cache-control') });
    });
    try {
      await page.goto(`${origin}/`);
      await page.waitForSelector('h1:text("Products")');
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
      // The page's RSC payload came through the shield.
      expect(rscRequests.some((url) => new URL(url).pathname === href)).toBe(true);

      // Hydrated: the client component's handler is React's.
      await page.getByRole('button', { name: `Add ${name} to cart` }).click();
      await page.waitForSelector('[data-testid="cart-count"]:text("1")');
      await keepScreenshot(page, 'next-shop-product');

      // Back to the listing, then the prerendered About page, client-side.
      await page.getByRole('link', { name: 'About' }).click();
      await page.waitForSelector('h1:text("About")');
      // next/image's static SVG, from Next's hashed media files.
      const logo = page.getByAltText('Next Shop logo');
      expect(await logo.getAttribute('src')).toMatch(/^\/_next\/static\/media\/logo\.[\w-]+\.svg$/);
      await page.waitForFunction(
        () =>
          (document.querySelector('img[alt="Next Shop logo"]') as HTMLImageElement | null)
            ?.naturalWidth === 64,
      );
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );

      expect(problems.consoleErrors).toEqual([]);
      expect(problems.failedRequests).toEqual([]);
      // Scripts and styles: Next's content-hashed files, served immutable by the shield.
      const scripts = problems.requests.filter((u) => /\.(js|css)(\?|$)/.test(u));
      expect(scripts.length).toBeGreaterThan(2);
      for (const url of scripts) expect(url).toMatch(new RegExp(`^${origin}/_next/static/`));
      expect(statics.length).toBeGreaterThan(2);
      for (const res of statics) {
        expect(res.status).toBe(200);
        expect(await res.cacheControl).toMatch(/immutable/);
      }
    } finally {
      await page.close();
    }
  }, 120_000);

  it('calls a server action through the shield', async () => {
    const context = await browser.newContext();
    const page: Page = await context.newPage();
    const problems = watchPage(page);
    // Next's client stops reading an action's response once it has the result;
    // Chromium then reports a POST whose 200 answer was already in as aborted.
    const answered: string[] = [];
    const posted = new Promise<void>((resolve) => {
      page.on('requestfinished', (req) => {
        if (req.method() === 'POST') resolve();
      });
      page.on('requestfailed', async (req) => {
        if (req.method() !== 'POST') return;
        if ((await req.response())?.status() === 200) answered.push(req.url());
        resolve();
      });
    });
    try {
      await page.goto(`${origin}/guestbook`);
      await page.waitForSelector('h1:text("Guestbook")');
      // Submitting before React hydrated the form would be the browser's own GET.
      await page.waitForSelector('form[data-hydrated="true"]');
      await page.getByLabel('Name').fill('Ada');
      await page.getByRole('button', { name: 'Sign' }).click();
      await page.waitForSelector(
        '[data-testid="guestbook-message"]:text("Thanks for signing, Ada!")',
      );
      await posted;
      expect(problems.consoleErrors).toEqual([]);
      expect(
        problems.failedRequests.filter(
          (failure) => !answered.some((url) => failure === `POST ${url}: net::ERR_ABORTED`),
        ),
      ).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);

  it("renders a Node-runtime page (Next's default runtime) per request in the isolate, and it hydrates", async () => {
    const context = await browser.newContext();
    await context.addCookies([{ name: 'visitor', value: 'ada', url: origin }]);
    const page: Page = await context.newPage();
    const problems = watchPage(page);
    try {
      await page.goto(`${origin}/account`);
      await page.waitForSelector('h1:text("Account")');
      // Request-time data: the visitor's cookie and browser, the products API through the declared backend.
      expect(await page.textContent('#visitor')).toBe('Signed in as ada');
      expect(await page.textContent('#agent')).toMatch(/^Browser: Mozilla\/5\.0 .*Chrome/);
      expect(await page.locator('article li a').count()).toBeGreaterThan(0);
      // Hydrated: next/link navigates client-side (the window marker survives).
      await page.evaluate(() => {
        (window as unknown as { marker: string }).marker = 'same document';
      });
      const first = page.locator('article li a').first();
      const name = (await first.textContent()) ?? '';
      await first.click();
      await page.waitForSelector(`article h1:text(${JSON.stringify(name)})`);
      expect(await page.evaluate(() => (window as unknown as { marker?: string }).marker)).toBe(
        'same document',
      );
      // And back to the Node-runtime page client-side: its RSC comes from the isolate too.
      await page.goBack();
      await page.waitForSelector('h1:text("Account")');
      // The Node-runtime route handler, POSTed from the page: a JSON body read through Node's req.
      const posted = await page.evaluate(async () => {
        const res = await fetch('/api/whoami', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'Dee' }),
        });
        return { status: res.status, body: await res.json() };
      });
      expect(posted).toEqual({ status: 201, body: { hello: 'Dee' } });
      await keepScreenshot(page, 'next-shop-account');
      expect(problems.consoleErrors).toEqual([]);
      expect(problems.failedRequests).toEqual([]);
    } finally {
      await context.close();
    }

    // Per request, never shared through the cache: each visitor gets their own page.
    for (let round = 0; round < 2; round++) {
      for (const visitor of ['ada', 'bob']) {
        // A fleet shedding load on a busy machine answers 503: asked again until it renders.
        let res: HttpReply | undefined;
        await waitFor(
          async () => {
            res = await get('/account', { cookie: `visitor=${visitor}` });
            return res.status !== 503;
          },
          { timeoutMs: 60_000, message: `/account rendered for ${visitor}` },
        );
        if (res === undefined) throw new Error('no answer');
        expect(res.status).toBe(200);
        expect(res.headers['cache-control']).toMatch(/no-store/);
        expect(res.headers['cache-status'] ?? '').not.toMatch(/hit/);
        expect(res.body).toContain(`Signed in as <!-- -->${visitor}`);
      }
    }
  }, 120_000);

  it('answers a Node-runtime route handler from the isolate with the request’s cookie and query', async () => {
    const res = await get('/api/whoami?q=fleet', { cookie: 'visitor=cy' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ visitor: 'cy', path: '/api/whoami', q: 'fleet' });
  }, 60_000);

  it('answers a route handler from the isolate', async () => {
    const res = await get('/api/health');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({ ok: true, path: '/api/health' });
  });

  it('serves prerendered pages from the cache; HTML and RSC of one URL never share an entry', async () => {
    const html = await get('/about');
    expect(html.status).toBe(200);
    expect(html.headers['content-type']).toMatch(/^text\/html/);
    expect(html.body).toContain('<h1>About</h1>');
    let again: HttpReply | undefined;
    await waitFor(
      async () => {
        again = await get('/about');
        return /flotilla; hit/.test(again.headers['cache-status'] ?? '');
      },
      { timeoutMs: 20_000, message: 'a cache hit for /about' },
    );
    expect(again?.body).toBe(html.body);

    const rsc = await get('/about', { rsc: '1' });
    expect(rsc.status).toBe(200);
    expect(rsc.headers['content-type']).toBe('text/x-component');
    expect(rsc.body).not.toContain('<html');
    let rscAgain: HttpReply | undefined;
    await waitFor(
      async () => {
        rscAgain = await get('/about', { rsc: '1' });
        return /flotilla; hit/.test(rscAgain.headers['cache-status'] ?? '');
      },
      { timeoutMs: 20_000, message: 'a cache hit for the RSC of /about' },
    );
    expect(rscAgain?.headers['content-type']).toBe('text/x-component');
    expect(rscAgain?.body).toBe(rsc.body);
    // And the HTML entry is still the HTML.
    const htmlAgain = await get('/about');
    expect(htmlAgain.headers['content-type']).toMatch(/^text\/html/);
    expect(htmlAgain.body).toBe(html.body);

    // Next's cache tags are the entries' surrogate keys: a purge by tag drops both.
    await cli(['purge', '--surrogate-key', '_N_T_/about']);
    await waitFor(
      async () => !/flotilla; hit/.test((await get('/about')).headers['cache-status'] ?? ''),
      { timeoutMs: 20_000, message: 'a miss for /about after the purge' },
    );
  }, 60_000);

  it('serves an ISR page (revalidate = 2) stale-while-revalidate after its revalidate time', async () => {
    const first = await get('/deals');
    expect(first.status).toBe(200);
    expect(first.body).toContain('<h1>Deals</h1>');
    expect(first.headers['cache-status']).toMatch(/stored; ttl=2$/);
    // Past 2 s the shield answers from its stale copy at once and revalidates behind it.
    let stale: HttpReply | undefined;
    await waitFor(
      async () => {
        stale = await get('/deals');
        return /detail=stale/.test(stale.headers['cache-status'] ?? '');
      },
      { timeoutMs: 30_000, message: 'a stale hit for /deals' },
    );
    expect(stale?.headers['cache-status']).toMatch(/^flotilla; hit; ttl=-\d+; detail=stale$/);
    expect(stale?.body).toBe(first.body);
  }, 60_000);

  it('renders request-time pages in the isolate from the declared backend, runs the middleware its matchers name, and 404s unknown products', async () => {
    const product = await get('/p/7');
    expect(product.status).toBe(200);
    expect(product.body).toContain('<title>Product 7 · Next Shop</title>');
    // The app's middleware ran (its matchers take /p/… and /about, not /).
    expect(product.headers['x-shop']).toBe('next-shop');
    expect((await get('/about')).headers['x-shop']).toBe('next-shop');
    expect((await get('/')).headers['x-shop']).toBeUndefined();
    const missing = await get('/p/999999');
    expect(missing.status).toBe(404);
    const nowhere = await get('/no/such/page');
    expect(nowhere.status).toBe(404);
    expect(nowhere.headers['content-type']).toMatch(/^text\/html/);
  }, 60_000);
});
