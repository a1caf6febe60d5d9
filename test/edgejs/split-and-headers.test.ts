import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProject } from '@flotilla/sdk/build';
import {
  type Fleet,
  type FleetFixtures,
  type HttpReply,
  type HttpRequestOptions,
  httpRequest,
  startFleet,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

// EdgeJS split testing, Edgio's header names and request facts on cacheable
// routes, through a real fleet (nats-server, a scheduler, a worker and a
// shield with its cache, each a process of its own): an app built from a
// routes file with router destinations, two deployments of it, a split test
// with rules by cookie, header, device and country over them, and a shield
// started with `--header-names edgio` behind a "CDN" on loopback (a trusted
// proxy whose x-forwarded-for and cf-ipcountry count).

const SDK = fileURLToPath(new URL('../../sdk/', import.meta.url));
const APP = 'edgesplit';
const DEBUG_TOKEN = 'edgio-debug-token';
const PHONE =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';
const DESKTOP =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

/** The routes file: Edgio's destination routing, and two routes passing request facts. */
function routesFile(version: string): string {
  return `
import { CustomCacheKey, Router } from '@flotilla/sdk';

let renders = 0;
const page = (destination: string) => new Router().get('/page', ({ cache, render }) => {
  cache({ edge: { maxAgeSeconds: 300 } });
  render(() => new Response(${JSON.stringify(version)} + ' ' + destination + ' #' + ++renders));
});

const FACTS = ['x-0-device', 'x-0-browser', 'x-0-client-ip', 'x-0-geo-country-code', 'x-0-original-qs',
  'x-flotilla-device', 'x-flotilla-client-ip', 'cf-ipcountry'];

export default new Router()
  // Edgio's third-party-CDN recipe, with the fact the cached request would drop declared.
  .get('/ip', ({ cache, passRequestFacts, setRequestHeader, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    passRequestFacts(['x-forwarded-for'], { cacheKey: 'none' });
    setRequestHeader('x-client-ip', '\${req:x-forwarded-for}');
    render(({ request }) => new Response('ip=' + request.headers.get('x-client-ip') + ' #' + ++renders));
  })
  // The recipe as Edgio wrote it: on a cacheable route the header arrives empty, and the build says so.
  .get('/recipe-as-is', ({ cache, setRequestHeader, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    setRequestHeader('x-client-ip', '\${req:x-your-cdn-client-ip-header}');
    render(({ request }) => new Response('ip=' + request.headers.get('x-client-ip')));
  })
  .get('/ip-keyed', ({ cache, passRequestFacts, setRequestHeader, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    passRequestFacts(['client-ip'], { cacheKey: 'add' });
    setRequestHeader('x-client-ip', '\${req:x-flotilla-client-ip}');
    render(({ request }) => new Response('ip=' + request.headers.get('x-client-ip') + ' #' + ++renders));
  })
  .get('/facts', ({ cache, passRequestFacts, render }) => {
    cache({
      edge: { maxAgeSeconds: 300 },
      key: new CustomCacheKey().addDevice().addBrowser().excludeQueryParameters('utm_source'),
    });
    passRequestFacts(['client-ip', 'cf-ipcountry'], { cacheKey: 'add' });
    render(({ request }) => Response.json(Object.fromEntries(FACTS.map((n) => [n, request.headers.get(n)]))));
  })
  .destination('legacy', page('legacy'))
  .destination('modern', page('modern'))
  .destination('preview', page('preview'));
`;
}

/** Deployment ids: `a` serves production, `b` only through rules. */
const ids = { a: '', b: '' };
/** The warnings `flotilla build` reported for deployment a. */
const buildWarnings: string[] = [];

/** Builds both versions from the routes file, publishes them, and sets the split test. */
async function publishApp(natsUrl: string, dir: string): Promise<FleetFixtures> {
  const root = await mkdtemp(join(tmpdir(), 'flotilla-edgejs-'));
  const publisher = await openControlPlane(natsUrl);
  try {
    for (const version of ['a', 'b'] as const) {
      const project = join(root, version);
      await mkdir(join(project, 'src'), { recursive: true });
      await mkdir(join(project, 'node_modules', '@flotilla'), { recursive: true });
      await symlink(SDK, join(project, 'node_modules', '@flotilla', 'sdk'));
      await writeFile(join(project, 'src', 'app.ts'), routesFile(version));
      const config = { name: APP, entry: 'src/app.ts', framework: 'none' };
      await writeFile(join(project, 'flotilla.config.json'), JSON.stringify(config));
      const built = await buildProject({
        dir: project,
        outDir: join(dir, version),
        onProgress: ({ detail }) => {
          if (version === 'a' && detail.startsWith('warning: ')) buildWarnings.push(detail);
        },
      });
      const published = await publisher.controlPlane.publish(
        { dir: dirname(built.bundlePath) },
        version === 'a' ? { env: 'production' } : {},
      );
      ids[version] = published.deployment.id;
    }
    await publisher.controlPlane.configure(APP, 'production', {
      splitRules: [
        {
          when: { cookie: { name: 'beta', value: '1' } },
          split: [{ deploymentId: ids.b, percent: 100 }],
        },
        {
          when: { header: { name: 'x-variant', value: 'preview' } },
          split: [{ deploymentId: ids.a, destination: 'preview', percent: 100 }],
        },
        {
          when: { device: ['smartphone'] },
          split: [{ deploymentId: ids.a, destination: 'preview', percent: 100 }],
        },
        { when: { country: ['FR'] }, split: [{ deploymentId: ids.b, percent: 100 }] },
      ],
      split: [
        { deploymentId: ids.a, destination: 'legacy', percent: 50 },
        { deploymentId: ids.a, destination: 'modern', percent: 50 },
      ],
    });
  } finally {
    await publisher.close();
    await rm(root, { recursive: true, force: true });
  }
  return { close: async () => {} };
}

let fleet: Fleet;
let shield: string;

beforeAll(async () => {
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: publishApp,
    args: {
      shield: [
        '--header-names',
        'edgio',
        '--debug-token',
        DEBUG_TOKEN,
        '--trusted-proxies',
        'loopback',
        '--client-ip-header',
        'x-forwarded-for',
        '--geo-headers',
        'cf-ipcountry',
      ],
    },
  });
  shield = fleet.live('shield')[0]?.url ?? '';
}, 240_000);

afterAll(() => fleet?.stop(), 60_000);

function get(path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
  const options: HttpRequestOptions = {
    timeoutMs: 20_000,
    headers: { 'user-agent': DESKTOP, ...headers },
  };
  return httpRequest(shield, `/${APP}${path}`, options);
}

/** The split cookie a reply sets, as a browser would send it back. */
function splitCookie(reply: HttpReply): string {
  const set = reply.headers['set-cookie'] ?? '';
  const match = new RegExp(`flotilla_split_${APP}_production=[^;,]+`).exec(set);
  return match?.[0] ?? '';
}

describe('split testing by rules and percentage, through a real fleet', () => {
  it('spreads new visitors over the router destinations by percentage and keeps each on one', async () => {
    const seen = new Map<string, string>();
    // 50/50: both destinations show up long before 40 new visitors (2^-39 they would not).
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const reply = await get('/page');
      expect(reply.status).toBe(200);
      const cookie = splitCookie(reply);
      const destination = reply.body.split(' ')[1] as string;
      expect(['legacy', 'modern']).toContain(destination);
      expect(cookie).toBe(`flotilla_split_${APP}_production=${ids.a}.${destination}`);
      seen.set(destination, cookie);
    }
    expect([...seen.keys()].sort()).toEqual(['legacy', 'modern']);
    for (const [destination, cookie] of seen) {
      for (let i = 0; i < 3; i++) {
        const again = await get('/page', { cookie });
        expect(again.body).toMatch(new RegExp(`^a ${destination} #\\d+$`));
        // Sticky: the cookie holds, no new one.
        expect(again.headers['set-cookie']).toBeUndefined();
      }
    }
  }, 120_000);

  it('caches each variant apart: a hit never crosses destinations', async () => {
    const legacy = `flotilla_split_${APP}_production=${ids.a}.legacy`;
    const modern = `flotilla_split_${APP}_production=${ids.a}.modern`;
    const l1 = await get('/page', { cookie: legacy });
    const l2 = await get('/page', { cookie: legacy });
    const m1 = await get('/page', { cookie: modern });
    const m2 = await get('/page', { cookie: modern });
    expect(l1.body).toMatch(/^a legacy #\d+$/);
    expect(m1.body).toMatch(/^a modern #\d+$/);
    // The second of each is the stored copy of the first (same render number).
    expect(l2.body).toBe(l1.body);
    expect(m2.body).toBe(m1.body);
    expect(l2.headers['cache-status']).toMatch(/hit/);
    expect(m2.headers['cache-status']).toMatch(/hit/);
  }, 60_000);

  it('sends a visitor by cookie, header, device and country rules, first match first', async () => {
    // Cookie rule: deployment b, which no percentage reaches.
    const beta = await get('/page', { cookie: 'beta=1' });
    expect(beta.body).toMatch(/^b legacy #\d+$/);
    expect(splitCookie(beta)).toBe(`flotilla_split_${APP}_production=${ids.b}`);
    // The cookie rule comes before the device rule.
    expect((await get('/page', { cookie: 'beta=1', 'user-agent': PHONE })).body).toMatch(/^b /);
    // Header rule, and device rule: the preview destination, which no percentage reaches either.
    const previews: Array<Record<string, string>> = [
      { 'x-variant': 'preview' },
      { 'user-agent': PHONE },
    ];
    for (const headers of previews) {
      for (let i = 0; i < 3; i++) {
        const reply = await get('/page', headers);
        expect(reply.body, JSON.stringify(headers)).toMatch(/^a preview #\d+$/);
        expect(splitCookie(reply)).toBe(`flotilla_split_${APP}_production=${ids.a}.preview`);
      }
    }
    // A header with another value matches no rule: back to the percentage split.
    expect((await get('/page', { 'x-variant': 'other' })).body).toMatch(/^a (legacy|modern) /);
    // Country rule, from the trusted proxy's geo header (loopback is trusted here).
    expect((await get('/page', { 'cf-ipcountry': 'FR' })).body).toMatch(/^b legacy #\d+$/);
    expect((await get('/page', { 'cf-ipcountry': 'DE' })).body).toMatch(/^a (legacy|modern) /);
  }, 60_000);
});

describe("Edgio's header names (--header-names edgio)", () => {
  it('adds x-0-caching-status and x-0-t beside Flotilla’s headers, on a miss and on a hit', async () => {
    const cookie = `flotilla_split_${APP}_production=${ids.a}.modern; fresh=${Date.now()}`;
    const miss = await get('/page?headers-test=1', { cookie });
    expect(miss.headers['x-flotilla-caching-status']).toBe('ok');
    expect(miss.headers['x-0-caching-status']).toBe('ok');
    expect(miss.headers['cache-status']).toMatch(/fwd=uri-miss/);
    expect(miss.headers['x-0-t']).toMatch(
      /^et=\d+,ecc=miss,nt=\d+,st=\d+(,wq=\d+)?,wt=\d+(,wr=\d+)?$/,
    );
    const hit = await get('/page?headers-test=1', { cookie });
    expect(hit.body).toBe(miss.body);
    expect(hit.headers['x-0-caching-status']).toBe('ok');
    expect(hit.headers['x-0-t']).toMatch(/^et=\d+,ecc=hit$/);
    expect(hit.headers['server-timing']).toBeDefined();
  }, 60_000);

  it('honours x-0-debug as the debug header: never from nor into the cache', async () => {
    const cookie = `flotilla_split_${APP}_production=${ids.a}.modern`;
    const debug = await get('/page?headers-test=1', { cookie, 'x-0-debug': DEBUG_TOKEN });
    expect(debug.headers['x-0-caching-status']).toBe('debug');
    expect(debug.headers['x-flotilla-caching-status']).toBe('debug');
    // A wrong token is an ordinary request.
    const plain = await get('/page?headers-test=1', { cookie, 'x-0-debug': 'guess' });
    expect(plain.headers['x-0-caching-status']).toBe('ok');
    expect(plain.headers['x-0-t']).toMatch(/ecc=hit/);
  }, 60_000);

  it('gives the render Edgio’s request facts beside Flotilla’s, never a client’s forged ones', async () => {
    const reply = await get('/facts?utm_source=mail&id=3', {
      'user-agent': PHONE,
      'x-forwarded-for': '198.51.100.23',
      'cf-ipcountry': 'DE',
      'x-0-client-ip': '6.6.6.6',
      'x-0-device': 'forged',
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({
      'x-0-device': 'smartphone',
      'x-0-browser': 'safari',
      'x-0-client-ip': '198.51.100.23',
      'x-0-geo-country-code': 'DE',
      'x-0-original-qs': 'utm_source=mail&id=3',
      'x-flotilla-device': 'smartphone',
      'x-flotilla-client-ip': '198.51.100.23',
      'cf-ipcountry': 'DE',
    });
  }, 60_000);
});

describe('request facts on cacheable routes', () => {
  it("passes the trusted client IP of Edgio's third-party-CDN recipe to the render, unkeyed by design", async () => {
    // One split variant for both visitors (the variant is in the key; the IP is not).
    const cookie = `flotilla_split_${APP}_production=${ids.a}.legacy`;
    const first = await get('/ip?recipe=1', { cookie, 'x-forwarded-for': '203.0.113.9' });
    expect(first.body).toMatch(/^ip=203\.0\.113\.9 #\d+$/);
    expect(first.headers['x-0-caching-status']).toBe('ok');
    // cacheKey 'none': the stored page answers the next visitor (its IP is not in the key).
    const second = await get('/ip?recipe=1', { cookie, 'x-forwarded-for': '203.0.113.10' });
    expect(second.body).toBe(first.body);
    expect(second.headers['cache-status']).toMatch(/hit/);
    // A forwarding chain: the address the trusted hops vouch for, not the client's own claim.
    const chained = await get('/ip?recipe=2', { 'x-forwarded-for': '6.6.6.6, 203.0.113.11' });
    expect(chained.body).toMatch(/^ip=203\.0\.113\.11 #\d+$/);
  }, 60_000);

  it('warns at build time about the recipe as Edgio wrote it, whose header then arrives empty', async () => {
    expect(buildWarnings).toContainEqual(
      expect.stringMatching(
        /^warning: route GET \/recipe-as-is \(route 1\): setRequestHeader\("x-client-ip", "\$\{req:x-your-cdn-client-ip-header\}"\) on a cacheable route: "x-your-cdn-client-ip-header" is not in the cache key, so it arrives empty/,
      ),
    );
    expect(buildWarnings).toContainEqual(
      expect.stringMatching(
        /^warning: route GET \/ip \(route 0\): passRequestFacts\(\[x-forwarded-for\], \{ cacheKey: 'none' \}\) passes them unkeyed/,
      ),
    );
    const reply = await get('/recipe-as-is', { 'x-your-cdn-client-ip-header': '203.0.113.5' });
    expect(reply.body).toBe('ip=');
  }, 60_000);

  it('keys the client IP when the route asks: one cached copy per visitor', async () => {
    const cookie = `flotilla_split_${APP}_production=${ids.a}.legacy`;
    const a1 = await get('/ip-keyed', { cookie, 'x-forwarded-for': '192.0.2.1' });
    const b1 = await get('/ip-keyed', { cookie, 'x-forwarded-for': '192.0.2.2' });
    const a2 = await get('/ip-keyed', { cookie, 'x-forwarded-for': '192.0.2.1' });
    expect(a1.body).toMatch(/^ip=192\.0\.2\.1 #\d+$/);
    expect(b1.body).toMatch(/^ip=192\.0\.2\.2 #\d+$/);
    expect(a2.body).toBe(a1.body);
    expect(a2.headers['cache-status']).toMatch(/hit/);
  }, 60_000);
});

describe('a shield whose trusted proxies are elsewhere (loopback is not trusted)', () => {
  let other: string;

  beforeAll(async () => {
    // The fleet's shield arguments, with the trusted proxies replaced (the last one counts).
    other = (await fleet.add('shield', { args: ['--trusted-proxies', '10.0.0.0/8'] })).url;
  }, 120_000);

  function getOther(path: string, headers: Record<string, string> = {}): Promise<HttpReply> {
    return httpRequest(other, `/${APP}${path}`, {
      timeoutMs: 20_000,
      headers: { 'user-agent': DESKTOP, ...headers },
    });
  }

  it("passes the TCP peer as the client IP, never the visitor's own x-forwarded-for", async () => {
    const cookie = `flotilla_split_${APP}_production=${ids.a}.legacy`;
    const reply = await getOther('/ip?untrusted=1', { cookie, 'x-forwarded-for': '6.6.6.6' });
    expect(reply.body).toMatch(/^ip=127\.0\.0\.1 #\d+$/);
  }, 60_000);

  it("ignores an untrusted peer's country, for rules and for renders", async () => {
    for (let i = 0; i < 3; i++) {
      expect((await getOther('/page', { 'cf-ipcountry': 'FR' })).body).toMatch(
        /^a (legacy|modern) /,
      );
    }
    const facts = JSON.parse((await getOther('/facts?id=9', { 'cf-ipcountry': 'FR' })).body);
    expect(facts['x-0-client-ip']).toBe('127.0.0.1');
    expect(facts['cf-ipcountry'] ?? '').toBe('');
    expect(facts['x-0-geo-country-code'] ?? '').toBe('');
  }, 60_000);
});
