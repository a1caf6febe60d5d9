import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { type IncomingHttpHeaders, request as nodeRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Fleet,
  listen,
  type RoleProcess,
  runCli,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The issue's acceptance app: the routes examples of Edgio's public
 * "Caching" and "Third-Party CDNs" guides (EdgeJS, v4–v6), plus the
 * `CustomCacheKey` methods its API reference lists, ported with the import
 * changed (test/edgejs/fixtures/edgio-guides/), built and published with the
 * real `flotilla` CLI to a fleet of separate processes on a real nats-server,
 * and asked over HTTP on 127.0.0.1. Every case runs twice: through a shield
 * with Flotilla's header names and through one started with
 * `--header-names edgio`, where the guides' `x-0-*` headers are asserted.
 */

const FIXTURES = fileURLToPath(new URL('./fixtures/edgio-guides/', import.meta.url));
/** Inside the repository (git-ignored), so `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));
const APPS = ['caching', 'device-keys', 'cookie-partitions', 'no-browser-cache'] as const;
type AppName = (typeof APPS)[number];
/** The shields' `--debug-token`: the value Edgio's `x-0-debug` header carries. */
const DEBUG_TOKEN = '1';

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0';
const IPHONE_17 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const IPHONE_18 =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const IPAD =
  'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const ANDROID =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const BINGBOT = 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)';

/** An answer: status, lower-case headers (repeats joined with `, `), body. */
interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What the fixtures' `echo()` render (and the test origin) answer with. */
interface Echo {
  render: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyLength: number;
}

interface SendOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request with a `Host` (and optionally a body) to `base`. */
function send(base: string, host: string, path: string, options: SendOptions = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = nodeRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        agent: false,
        headers: {
          host,
          ...options.headers,
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
        },
        timeout: 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: flatten(res.headers),
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${path}: no answer within 15 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function echoOf(reply: Reply): Echo {
  expect(reply.headers['content-type'], reply.body).toMatch(/^application\/json/);
  return JSON.parse(reply.body) as Echo;
}

/** The test's origin (the `origin` backend): echoes, counts requests per path. */
interface Origin {
  url: string;
  hits(path: string): number;
  close(): Promise<void>;
}

/** What the origin adds per path (the routes that proxy to it). */
const ORIGIN_HEADERS: Record<string, Record<string, string>> = {
  // Would be cached, were caching not turned off by the route.
  '/some/uncacheable/path': { 'cache-control': 'public, max-age=3600' },
  '/status/set-cookie-removed': {
    'cache-control': 'public, max-age=3600',
    'set-cookie': 'session=abc; Path=/',
  },
  '/status/upstream-max-age': { 'cache-control': 'public, s-maxage=3600' },
};

async function startOrigin(): Promise<Origin> {
  const counts = new Map<string, number>();
  const server = await listen((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const echo: Echo = {
      render: `origin-${path}-${counts.get(path)}`,
      method: req.method ?? '',
      url: req.url ?? '',
      headers,
      bodyLength: 0,
    };
    res.writeHead(200, { 'content-type': 'application/json', ...ORIGIN_HEADERS[path] });
    res.end(JSON.stringify(echo));
  });
  return {
    url: server.url,
    hits: (path) => counts.get(path) ?? 0,
    close: () => server.close(),
  };
}

let fleet: Fleet;
let origin: Origin;
let appsDir: string;
/** `flotilla publish` of each app: its exit code and stderr (a build error says which API is missing). */
const published = new Map<AppName, { code: number | null; stderr: string }>();
/** The shield started with `--header-names edgio`, or why it did not start. */
let edgioShield: RoleProcess | Error;

beforeAll(async () => {
  origin = await startOrigin();
  fleet = await startFleet({
    shields: 1,
    schedulers: 1,
    workers: 1,
    cache: true,
    args: { shield: ['--debug-token', DEBUG_TOKEN] },
  });
  await mkdir(APPS_ROOT, { recursive: true });
  appsDir = await mkdtemp(join(APPS_ROOT, 'edgio-guides-'));
  await cp(FIXTURES, appsDir, { recursive: true });
  const env = { FLOTILLA_NATS: fleet.nats.url, FLOTILLA_SHIELD: fleet.shield.url };
  for (const app of APPS) {
    const dir = join(appsDir, app);
    const configPath = join(dir, 'flotilla.config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(configPath, JSON.stringify({ ...config, backends: { origin: origin.url } }));
    const res = await runCli(['publish', '--dir', dir, '--env', 'production', '--json'], { env });
    published.set(app, { code: res.code, stderr: res.stderr });
  }
  // The shield watches the environments: wait until it serves the app that built here.
  const served = (shieldUrl: string) =>
    waitFor(
      async () =>
        (await send(shieldUrl, host('caching'), '/status/no-max-age?warm')).status === 200,
      { timeoutMs: 20_000, message: `${shieldUrl} never served edgio-caching` },
    );
  await served(fleet.shield.url);
  try {
    const shield = await fleet.add('shield', { args: ['--header-names', 'edgio'] });
    await served(shield.url);
    edgioShield = shield;
  } catch (err) {
    edgioShield = err instanceof Error ? err : new Error(String(err));
  }
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await origin?.close();
  if (appsDir) await rm(appsDir, { recursive: true, force: true });
});

function host(app: AppName): string {
  return `edgio-${app}.localhost`;
}

/** Which header names a shield speaks. */
type Names = 'flotilla' | 'edgio';

/**
 * The cases, against the shield of `names`. Each case cites the guide and
 * section (or API page) its route comes from; the routes are in
 * test/edgejs/fixtures/edgio-guides/.
 */
function guideCases(names: Names): void {
  const edgio = names === 'edgio';
  const shieldUrl = (): string => {
    if (!edgio) return fleet.shield.url;
    if (edgioShield instanceof Error) {
      throw new Error(`the shield with --header-names edgio did not start: ${edgioShield.message}`);
    }
    return edgioShield.url;
  };
  const built = (app: AppName): void => {
    const res = published.get(app);
    expect(res?.code, `flotilla publish of edgio-${app}: ${res?.stderr}`).toBe(0);
  };
  const get = (app: AppName, path: string, headers: Record<string, string> = {}) =>
    send(shieldUrl(), host(app), path, { headers });
  /** Every request of a case carries the user agent unless it sets one. */
  const page = async (app: AppName, path: string, headers: Record<string, string> = {}) => {
    built(app);
    const reply = await get(app, path, { 'user-agent': CHROME, ...headers });
    expect(reply.status, reply.body).toBe(200);
    return echoOf(reply);
  };
  /** Why a response was or was not stored, by the shield's header names. */
  const cachingStatus = (r: Reply): string | undefined =>
    edgio ? r.headers['x-0-caching-status'] : r.headers['x-flotilla-caching-status'];
  /** Edgio's `x-0-t` cache component (`oc`/`sc` in the caching guide, `ecc`/`gcc` in "Response"). */
  const x0t = (value: 'hit' | 'miss' | 'cached' | 'pass') =>
    new RegExp(`(?:^|,)\\s*(?:oc|sc|ecc|gcc)=${value}\\b`);

  // Caching guide (v4, v6), "Caching a Response".
  it('caching a response: edge lifetime, browser cache-control, x-sw-cache-control, key by browser and cookie', async () => {
    built('caching');
    const first = await get('caching', '/some/path', {
      'user-agent': CHROME,
      cookie: 'some-cookie=a; unrelated=1',
    });
    expect(first.status).toBe(200);
    expect(cachingStatus(first)).toBe('ok');
    expect(first.headers['x-sw-cache-control']).toMatch(/\b3600\b/);
    if (edgio) expect(first.headers['x-0-t']).toMatch(x0t('miss'));

    const again = await get('caching', '/some/path', {
      'user-agent': CHROME,
      cookie: 'unrelated=2; some-cookie=a',
    });
    expect(echoOf(again).render).toBe(echoOf(first).render);
    expect(cachingStatus(again)).toBe('ok');
    expect(again.headers['cache-control']).toBe(first.headers['cache-control']);
    // Guide section "How do I know if a response was served from the cache?".
    if (edgio) expect(again.headers['x-0-t']).toMatch(x0t('hit'));

    const otherCookie = await page('caching', '/some/path', { cookie: 'some-cookie=b' });
    expect(otherCookie.render).not.toBe(echoOf(first).render);
    const otherBrowser = await page('caching', '/some/path', {
      'user-agent': FIREFOX,
      cookie: 'some-cookie=a',
    });
    expect(otherBrowser.render).not.toBe(echoOf(first).render);
    // browser.maxAgeSeconds 0: EdgeJS sends the browser `max-age=0`.
    expect(first.headers['cache-control']).toMatch(/(?:^|[\s,])max-age=0(?:[\s,]|$)/);
  });

  // Caching guide, "Customizing the Cache Key": excludeAllQueryParametersExcept.
  it('excludeAllQueryParametersExcept: only the listed query parameters make a new page', async () => {
    const a = await page('caching', '/key/allowlist?whitelisted-param-1=a&utm_source=x');
    const b = await page('caching', '/key/allowlist?utm_source=y&whitelisted-param-1=a&gclid=1');
    expect(b.render).toBe(a.render);
    const c = await page('caching', '/key/allowlist?whitelisted-param-1=b');
    expect(c.render).not.toBe(a.render);
    const d = await page('caching', '/key/allowlist?whitelisted-param-1=a&whitelisted-param-2=z');
    expect(d.render).not.toBe(a.render);
  });

  // Caching guide, "Customizing the Cache Key": excludeQueryParameters, and the
  // original query string handed to the code (`x-0-original-qs`).
  it('excludeQueryParameters: the listed parameters are left out of the key and of the URL the render gets', async () => {
    const a = await page('caching', '/key/exclude?page=1&to-be-excluded-1=x');
    expect(a.url).toContain('page=1');
    expect(a.url).not.toContain('to-be-excluded');
    if (edgio) expect(a.headers['x-0-original-qs']).toContain('page=1&to-be-excluded-1=x');
    const b = await page('caching', '/key/exclude?page=1&to-be-excluded-1=y&to-be-excluded-2=z');
    expect(b.render).toBe(a.render);
    const c = await page('caching', '/key/exclude?page=2&to-be-excluded-1=x');
    expect(c.render).not.toBe(a.render);
  });

  // Caching guide, "Customizing the Cache Key": addCookie('language').addCookie('currency').
  it('addCookie: the language and currency cookies split the cache, other cookies do not', async () => {
    const a = await page('caching', '/key/cookies', { cookie: 'language=en; currency=usd' });
    expect(a.headers.cookie).toContain('currency=usd');
    expect(a.headers.cookie).toContain('language=en');
    const b = await page('caching', '/key/cookies', {
      cookie: 'tracking=42; currency=usd; language=en',
    });
    expect(b.render).toBe(a.render);
    const c = await page('caching', '/key/cookies', { cookie: 'language=en; currency=eur' });
    expect(c.render).not.toBe(a.render);
    const d = await page('caching', '/key/cookies', { cookie: 'language=de; currency=usd' });
    expect(d.render).not.toBe(a.render);
  });

  // Caching guide, "Customizing the Cache Key": addDevice() (the render reads `x-0-device`).
  it('addDevice: one page per device class (smartphone, desktop)', async () => {
    const phone = await page('caching', '/key/device', { 'user-agent': IPHONE_17 });
    const otherPhone = await page('caching', '/key/device', { 'user-agent': IPHONE_18 });
    expect(otherPhone.render).toBe(phone.render);
    const desktop = await page('caching', '/key/device', { 'user-agent': CHROME });
    expect(desktop.render).not.toBe(phone.render);
    if (edgio) {
      expect(phone.headers['x-0-device']).toBe('smartphone');
      expect(desktop.headers['x-0-device']).toBe('desktop');
    }
  });

  // Caching guide, "Cache Key": every request header the page depends on belongs in the key (addHeader).
  it('addHeader: a request header splits the cache', async () => {
    const a = await page('caching', '/key/header', { 'x-tenant': 'acme' });
    expect(a.headers['x-tenant']).toBe('acme');
    const b = await page('caching', '/key/header', { 'x-tenant': 'acme' });
    expect(b.render).toBe(a.render);
    const c = await page('caching', '/key/header', { 'x-tenant': 'globex' });
    expect(c.render).not.toBe(a.render);
  });

  // Caching guide (before v4), "Caching Responses for POST and other non-GET/HEAD
  // requests", and "Why is my response not being cached?" → "body-too-big", "method".
  it('POST: a router.post route with cache() caches by body; a body over 8000 bytes and match() are not cached', async () => {
    built('caching');
    const post = (path: string, body: string) =>
      send(shieldUrl(), host('caching'), path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
    const query = JSON.stringify({ query: '{ products { id } }' });
    const first = await post('/api', query);
    expect(first.status, first.body).toBe(200);
    expect(cachingStatus(first)).toBe('ok');
    expect(echoOf(first)).toMatchObject({ method: 'POST', bodyLength: query.length });
    const again = await post('/api', query);
    expect(echoOf(again).render).toBe(echoOf(first).render);
    const other = await post('/api', JSON.stringify({ query: '{ cart { id } }' }));
    expect(echoOf(other).render).not.toBe(echoOf(first).render);

    const big = JSON.stringify({ query: `{ products(ids: "${'x'.repeat(8100)}") { id } }` });
    const bigFirst = await post('/api', big);
    expect(bigFirst.status).toBe(200);
    expect(cachingStatus(bigFirst)).toBe('body-too-big');
    expect(echoOf(bigFirst).bodyLength).toBe(big.length);
    const bigAgain = await post('/api', big);
    expect(echoOf(bigAgain).render).not.toBe(echoOf(bigFirst).render);

    const matched = await post('/match-api', query);
    expect(matched.status).toBe(200);
    expect(cachingStatus(matched)).toBe('method');
    const matchedAgain = await post('/match-api', query);
    expect(echoOf(matchedAgain).render).not.toBe(echoOf(matched).render);
  });

  // Caching guide, "Caching Private Responses", and "Why is my response not being cached?" → "private".
  it('forcePrivateCaching caches a private response; without it, "private" says why not', async () => {
    built('caching');
    const forced = await get('caching', '/private/forced');
    expect(forced.status).toBe(200);
    expect(cachingStatus(forced)).toBe('ok');
    const forcedAgain = await get('caching', '/private/forced');
    expect(echoOf(forcedAgain).render).toBe(echoOf(forced).render);

    const refused = await get('caching', '/private/refused');
    expect(refused.status).toBe(200);
    expect(cachingStatus(refused)).toBe('private');
    const refusedAgain = await get('caching', '/private/refused');
    expect(echoOf(refusedAgain).render).not.toBe(echoOf(refused).render);
  });

  // Caching guide, "Achieving 100% Cache Hit Rates": stale-while-revalidate.
  it('staleWhileRevalidateSeconds: past maxAgeSeconds the stale copy answers at once while one render refreshes it', async () => {
    const first = await page('caching', '/swr');
    let stale: Reply | undefined;
    await waitFor(
      async () => {
        const r = await get('caching', '/swr', { 'user-agent': CHROME });
        if (/detail=stale/.test(r.headers['cache-status'] ?? '')) stale = r;
        return stale !== undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, message: '/swr was never served stale' },
    );
    expect(stale?.status).toBe(200);
    if (stale) expect(echoOf(stale).render).toBe(first.render);
    await waitFor(async () => (await page('caching', '/swr')).render !== first.render, {
      timeoutMs: 20_000,
      intervalMs: 100,
      message: '/swr was never refreshed',
    });
  });

  // Caching guide, "Preventing a Response from being Cached", and "Why is my
  // response not being cached?" → "disabled".
  it('edge: false: the origin answers every request although it says max-age', async () => {
    built('caching');
    const path = '/some/uncacheable/path';
    const before = origin.hits(path);
    const first = await get('caching', path);
    const second = await get('caching', path);
    for (const r of [first, second]) {
      expect(r.status, r.body).toBe(200);
      expect(cachingStatus(r)).toBe('disabled');
      if (edgio) expect(r.headers['x-0-t']).toMatch(x0t('pass'));
    }
    expect(echoOf(second).render).not.toBe(echoOf(first).render);
    expect(origin.hits(path)).toBe(before + 2);
  });

  // Caching guide, "Why is my response not being cached?": the reasons a route of the app can show.
  it('x-0-caching-status: no-max-age, code, set-cookie, and the set-cookie remedy', async () => {
    built('caching');
    const noMaxAge = await get('caching', '/status/no-max-age');
    expect(noMaxAge.status).toBe(200);
    expect(cachingStatus(noMaxAge)).toBe('no-max-age');

    const upstream = await get('caching', '/status/upstream-max-age');
    expect(cachingStatus(upstream)).toBe('ok');
    const upstreamAgain = await get('caching', '/status/upstream-max-age');
    expect(echoOf(upstreamAgain).render).toBe(echoOf(upstream).render);

    const code = await get('caching', '/status/code');
    expect(code.status).toBe(404);
    expect(cachingStatus(code)).toBe('code');

    const cookie = await get('caching', '/status/set-cookie');
    expect(cookie.status).toBe(200);
    expect(cookie.headers['set-cookie']).toContain('session=abc');
    expect(cachingStatus(cookie)).toBe('set-cookie');

    const removed = await get('caching', '/status/set-cookie-removed');
    expect(removed.status).toBe(200);
    expect(removed.headers['set-cookie']).toBeUndefined();
    expect(cachingStatus(removed)).toBe('ok');
    const removedAgain = await get('caching', '/status/set-cookie-removed');
    expect(echoOf(removedAgain).render).toBe(echoOf(removed).render);
  });

  // Caching guide (v4, v6), "Why is my response not being cached?" → "debug".
  it('a debug request is never answered from the cache nor stored', async () => {
    built('caching');
    const debugHeader = edgio ? 'x-0-debug' : 'x-flotilla-debug';
    const stored = await page('caching', '/status/debug');
    const debug = await get('caching', '/status/debug', { [debugHeader]: DEBUG_TOKEN });
    expect(debug.status).toBe(200);
    expect(cachingStatus(debug)).toBe('debug');
    expect(echoOf(debug).render).not.toBe(stored.render);
    expect((await page('caching', '/status/debug')).render).toBe(stored.render);
  });

  // "Third-Party CDNs" guide (v4, v5, v6), "Client IPs": the router takes the
  // client IP and geolocation from the CDN's headers.
  const CDN_HEADERS = {
    'x-your-cdn-client-ip-header': '203.0.113.7',
    'x-your-cdn-geo-country-code-header': 'DE',
    'x-your-cdn-geo-city-header': 'Berlin',
  };
  const expectCdnFacts = (seen: Echo): void => {
    expect(seen.headers['x-0-client-ip']).toBe('203.0.113.7');
    expect(seen.headers['x-0-geo-country-code']).toBe('DE');
    expect(seen.headers['x-0-geo-city']).toBe('Berlin');
    expect(seen.headers['x-your-cdn-client-ip-header']).toBeUndefined();
    expect(seen.headers['x-your-cdn-geo-country-code-header']).toBeUndefined();
  };
  it("third-party CDN: the origin gets the CDN's client IP and geolocation as x-0-client-ip and x-0-geo-*", async () => {
    const seen = await page('caching', '/cdn/origin', CDN_HEADERS);
    expect(seen.render).toMatch(/^origin-/);
    expectCdnFacts(seen);
  });
  it("third-party CDN: a cached page's render gets the CDN's client IP and geolocation too", async () => {
    expectCdnFacts(await page('caching', '/cdn/page', CDN_HEADERS));
  });

  // CustomCacheKey API (v4–v6 reference; v7 upgrading guide, "Cache Key Customization").
  it('excludeAllQueryParameters: no query parameter makes a new page', async () => {
    const a = await page('device-keys', '/key/no-query?a=1');
    const b = await page('device-keys', '/key/no-query?b=2&utm_source=x');
    const c = await page('device-keys', '/key/no-query');
    expect(b.render).toBe(a.render);
    expect(c.render).toBe(a.render);
  });
  it('addIsBot: crawlers share one page, people another', async () => {
    const google = await page('device-keys', '/key/is-bot', { 'user-agent': GOOGLEBOT });
    const bing = await page('device-keys', '/key/is-bot', { 'user-agent': BINGBOT });
    expect(bing.render).toBe(google.render);
    const person = await page('device-keys', '/key/is-bot', { 'user-agent': CHROME });
    expect(person.render).not.toBe(google.render);
  });
  it('addVendor: apple, android and generic devices get a page each', async () => {
    const iphone = await page('device-keys', '/key/vendor', { 'user-agent': IPHONE_17 });
    const ipad = await page('device-keys', '/key/vendor', { 'user-agent': IPAD });
    expect(ipad.render).toBe(iphone.render);
    const android = await page('device-keys', '/key/vendor', { 'user-agent': ANDROID });
    expect(android.render).not.toBe(iphone.render);
    const generic = await page('device-keys', '/key/vendor', { 'user-agent': CHROME });
    expect(generic.render).not.toBe(iphone.render);
    expect(generic.render).not.toBe(android.render);
  });

  // CustomCacheKey API: addCookie(name, cookie => cookie.partition(name).byPattern(re)).
  it('cookie partitions: visitors whose cookie falls in one partition share a page', async () => {
    const us = await page('cookie-partitions', '/key/partitions', { cookie: 'location=us' });
    const ca = await page('cookie-partitions', '/key/partitions', { cookie: 'location=ca' });
    expect(ca.render).toBe(us.render);
    const de = await page('cookie-partitions', '/key/partitions', { cookie: 'location=de' });
    expect(de.render).not.toBe(us.render);
    const fr = await page('cookie-partitions', '/key/partitions', { cookie: 'location=fr' });
    expect(fr.render).toBe(de.render);
    const jp = await page('cookie-partitions', '/key/partitions', { cookie: 'location=jp' });
    expect(jp.render).not.toBe(us.render);
    expect(jp.render).not.toBe(de.render);
  });

  // CDN-as-Code guide (v5, v6), "Common Routing Patterns" → "Serving Static
  // Files From a Directory": browser: false.
  it('browser: false: the edge caches the page, the browser is told not to', async () => {
    built('no-browser-cache');
    const first = await get('no-browser-cache', '/index.html');
    expect(first.status).toBe(200);
    expect(cachingStatus(first)).toBe('ok');
    expect(first.headers['cache-control']).toMatch(/no-store|no-cache|max-age=0\b/);
    expect(first.headers['cache-control']).not.toMatch(/s-maxage|max-age=[1-9]/);
    const again = await get('no-browser-cache', '/index.html');
    expect(echoOf(again).render).toBe(echoOf(first).render);
    expect(again.headers['cache-control']).toBe(first.headers['cache-control']);
  });
}

describe("Edgio's guides through a shield with Flotilla's header names", () => {
  guideCases('flotilla');
});

describe("Edgio's guides through a shield started with --header-names edgio", () => {
  guideCases('edgio');
});
