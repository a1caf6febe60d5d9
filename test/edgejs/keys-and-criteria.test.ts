/**
 * EdgeJS cache keys, matching criteria and browser cache options through a
 * real fleet: `test/edgejs/keys-app.ts` (an EdgeJS routes file with its
 * import changed) built by `buildApp`, published to the control plane of a
 * real nats-server, served by a shield (its cache on), a scheduler and a
 * worker running the bundle in isolates, each its own process; requests are
 * real HTTP on 127.0.0.1 and every case asserts what a client sees.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildApp } from '@flotilla/sdk/build';
import { type Fleet, type HttpReply, httpRequest, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHit } from '../support/cache-bundles.ts';
import { openControlPlane } from '../support/control-plane.ts';

const APP = 'edgejs-keys';
const ENTRY = fileURLToPath(new URL('./keys-app.ts', import.meta.url));

const IPHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const PIXEL =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36';
const GOOGLEBOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';

let fleet: Fleet;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-edgejs-keys-'));
  const outDir = join(dir, 'build');
  await buildApp({ entry: ENTRY, outDir, name: APP, framework: 'none' });
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: async (natsUrl) => {
      const publisher = await openControlPlane(natsUrl);
      try {
        await publisher.controlPlane.publish({ dir: outDir }, { env: 'production' });
      } finally {
        await publisher.close();
      }
      return undefined;
    },
  });
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function get(path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, `/${APP}${path}`, { headers, timeoutMs: 15_000 });
}

interface Page {
  label: string;
  id: string;
  params: Record<string, string>;
  query: string;
  cookie: string | null;
  isBot: string | null;
  vendor: string | null;
}

function pageOf(reply: HttpReply): Page {
  expect(reply.status, reply.body).toBe(200);
  return JSON.parse(reply.body) as Page;
}

describe('CustomCacheKey through the fleet', () => {
  it('addCookie with partitions: one cached page per partition, none for unmatched values', async () => {
    const us = await get('/partitioned', { cookie: 'location=us' });
    expect(isHit(us)).toBe(false);
    // Another user in the same partition: the same cached page.
    const ca = await get('/partitioned', { cookie: 'location=ca; session=other-user' });
    expect(isHit(ca), ca.headers['cache-status']).toBe(true);
    expect(pageOf(ca).id).toBe(pageOf(us).id);
    // The render saw the keyed cookie of the request that filled the entry, nothing else.
    expect(pageOf(us).cookie).toBe('location=us');
    // A different partition misses, then is its own entry.
    const de = await get('/partitioned', { cookie: 'location=de' });
    expect(isHit(de)).toBe(false);
    expect(pageOf(de).id).not.toBe(pageOf(us).id);
    const fr = await get('/partitioned', { cookie: 'location=fr' });
    expect(isHit(fr)).toBe(true);
    expect(pageOf(fr).id).toBe(pageOf(de).id);
    // Values no partition matches share the "no partition" entry with requests without the cookie.
    const jp = await get('/partitioned', { cookie: 'location=jp' });
    expect(isHit(jp)).toBe(false);
    expect([pageOf(us).id, pageOf(de).id]).not.toContain(pageOf(jp).id);
    const none = await get('/partitioned');
    expect(isHit(none)).toBe(true);
    expect(pageOf(none).id).toBe(pageOf(jp).id);
    // "russia" holds "us" but the pattern is anchored by the app (^(us|ca)$): no partition.
    const ru = await get('/partitioned', { cookie: 'location=russia' });
    expect(pageOf(ru).id).toBe(pageOf(jp).id);
  });

  it("the caching guide's key: only color and size, currency, location partitions, device, browser", async () => {
    const desktop =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36';
    const as = (cookie: string, ua = desktop) => ({ cookie, 'user-agent': ua });
    const first = await get('/some/path?color=red&utm_source=a', as('currency=USD; location=us'));
    expect(isHit(first)).toBe(false);
    expect(first.headers['cache-control']).toBe('max-age=0');
    expect(first.headers['x-sw-cache-control']).toBe('max-age=3600');
    // The render saw only the kept parameters and keyed cookies.
    expect(pageOf(first)).toMatchObject({
      query: '?color=red',
      cookie: 'currency=USD; location=us',
    });
    const same = await get(
      '/some/path?utm_source=b&color=red',
      as('session=x; location=ca; currency=USD'),
    );
    expect(isHit(same), same.headers['cache-status']).toBe(true);
    expect(pageOf(same).id).toBe(pageOf(first).id);
    expect(same.headers['cache-control']).toBe('max-age=0');
    for (const [path, headers] of [
      ['/some/path?color=red', as('currency=EUR; location=us')],
      ['/some/path?color=red&size=L', as('currency=USD; location=us')],
      ['/some/path?color=red', as('currency=USD; location=de')],
      ['/some/path?color=red', as('currency=USD; location=us', IPHONE)],
    ] as const) {
      const reply = await get(path, headers);
      expect(isHit(reply), `${path} ${JSON.stringify(headers)}`).toBe(false);
      expect(pageOf(reply).id).not.toBe(pageOf(first).id);
    }
  });

  it('addIsBot and addVendor: crawlers and vendors get their own entries, the render sees both', async () => {
    const iphone = await get('/bots', { 'user-agent': IPHONE });
    expect(isHit(iphone)).toBe(false);
    expect(pageOf(iphone)).toMatchObject({ isBot: '0', vendor: 'apple' });
    const iphoneAgain = await get('/bots', { 'user-agent': IPHONE.replace('17_5', '17_4') });
    expect(isHit(iphoneAgain)).toBe(true);
    expect(pageOf(iphoneAgain).id).toBe(pageOf(iphone).id);
    const pixel = await get('/bots', { 'user-agent': PIXEL });
    expect(isHit(pixel)).toBe(false);
    expect(pageOf(pixel)).toMatchObject({ isBot: '0', vendor: 'android' });
    const bot = await get('/bots', { 'user-agent': GOOGLEBOT });
    expect(isHit(bot)).toBe(false);
    expect(pageOf(bot)).toMatchObject({ isBot: '1', vendor: 'generic' });
    const curl = await get('/bots', { 'user-agent': 'curl/8.5.0' });
    expect(isHit(curl)).toBe(false);
    expect(pageOf(curl)).toMatchObject({ isBot: '0', vendor: 'generic' });
    expect(new Set([iphone, pixel, bot, curl].map((r) => pageOf(r).id)).size).toBe(4);
  });

  it('excludeAllQueryParameters: one entry whatever the query; the render sees none', async () => {
    const first = await get('/no-query?utm_source=mail&page=2');
    expect(isHit(first)).toBe(false);
    expect(pageOf(first).query).toBe('');
    const second = await get('/no-query?color=red');
    expect(isHit(second)).toBe(true);
    expect(pageOf(second).id).toBe(pageOf(first).id);
    const bare = await get('/no-query');
    expect(isHit(bare)).toBe(true);
  });
});

describe('route criteria through the fleet', () => {
  it('a constrained path parameter matches only what its constraint allows', async () => {
    expect(pageOf(await get('/p/42'))).toMatchObject({
      label: 'product-by-id',
      params: { id: '42' },
    });
    expect(pageOf(await get('/p/blue-shirt'))).toMatchObject({
      label: 'product-by-slug',
      params: { slug: 'blue-shirt' },
    });
    expect(pageOf(await get('/p/42a'))).toMatchObject({ label: 'product-by-slug' });
    expect(pageOf(await get('/docs/fr/intro'))).toMatchObject({
      label: 'docs',
      params: { lang: 'fr', page: 'intro' },
    });
    expect(pageOf(await get('/docs/intro'))).toMatchObject({
      label: 'docs',
      params: { page: 'intro' },
    });
    expect((await get('/docs/de/intro')).status).toBe(404);
  });

  it('regular expressions on headers, cookies and query values', async () => {
    // Cached (the first route caches every /beta): the answer matched by a
    // header is keyed by it, so it is never served to a request without it.
    const beta = await get('/beta', { 'x-beta': 'YES' });
    expect(beta.body).toBe('beta header');
    expect(isHit(beta)).toBe(false);
    const plain = await get('/beta');
    expect(plain.body).toBe('plain');
    expect(isHit(plain)).toBe(false);
    const betaAgain = await get('/beta', { 'x-beta': 'YES' });
    expect(betaAgain.body).toBe('beta header');
    expect(isHit(betaAgain)).toBe(true);
    expect((await get('/beta', { cookie: 'plan=pro-monthly' })).body).toBe('pro cookie');
    expect(isHit(await get('/beta'))).toBe(true);
    expect((await get('/beta', { 'x-beta': '1' })).body).toBe('beta header');
    expect((await get('/beta', { 'x-beta': 'no' })).body).toBe('plain');
    expect((await get('/beta', { cookie: 'plan=pro-annual' })).body).toBe('pro cookie');
    expect((await get('/beta', { cookie: 'plan=free' })).body).toBe('plain');
    expect((await get('/beta?v=12')).body).toBe('numeric query');
    expect((await get('/beta?v=12b')).body).toBe('plain');
    expect((await get('/beta')).body).toBe('plain');
  });
});

describe('cache options through the fleet', () => {
  it('browser: false sends cache-control: private, no-store (the app said public, max-age=3600)', async () => {
    const first = await get('/no-browser');
    expect(first.status).toBe(200);
    expect(first.headers['cache-control']).toBe('private, no-store');
    const second = await get('/no-browser');
    // Still cached at the edge: browser: false is about the browser only.
    expect(isHit(second)).toBe(true);
    expect(second.headers['cache-control']).toBe('private, no-store');
    // An answer the app marked private is not stored, and browser: false still holds.
    const mine = await get('/no-browser-private');
    expect(mine.body).toBe('mine');
    expect(mine.headers['x-flotilla-caching-status']).toBe('private');
    expect(mine.headers['cache-control']).toBe('private, no-store');
  });

  it('browser: { maxAgeSeconds: 0 } sends cache-control: max-age=0, as EdgeJS', async () => {
    const reply = await get('/browser-zero');
    expect(reply.status).toBe(200);
    expect(reply.headers['cache-control']).toBe('max-age=0');
    const again = await get('/browser-zero');
    expect(isHit(again)).toBe(true);
    expect(again.headers['cache-control']).toBe('max-age=0');
  });
});
