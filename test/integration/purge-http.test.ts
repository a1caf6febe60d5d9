/**
 * Purge and revalidation over HTTP, through a real fleet (nats-server, two
 * shields with their caches, a scheduler and a worker, each a process of
 * its own): `POST /purge` and `POST /revalidate` on a shield's admin
 * listener, with its bearer token, are acknowledged by both shields, as
 * `flotilla purge` is; the traffic port never answers them.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProject } from '@flotilla/sdk/build';
import {
  type Fleet,
  httpRequest,
  metricValue,
  type RoleProcess,
  startFleet,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

/** Inside the repository, so the app's `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));
const TOKEN = 'purge-api-token-0123456789';
const HOST = 'purgeapi.localhost';

const ROUTES = `import { CustomCacheKey, Router } from '@flotilla/sdk';

const tierOf = (request) => /(?:^|;\\s*)tier=([^;]*)/.exec(request.headers.get('cookie') ?? '')?.[1];

export default new Router()
  .get('/v/:id', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 300 }, key: new CustomCacheKey().addDevice().addCookie('tier') });
    render(({ params, request }) => new Response(
      'variant ' + params.id + ' device=' + request.headers.get('x-flotilla-device') +
        ' tier=' + tierOf(request) + ' ' + Math.random(),
    ));
  })
  .get('/f/:id', ({ cache, passRequestFacts, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    passRequestFacts(['client-ip'], { cacheKey: 'add' });
    render(({ params }) => new Response('fact ' + params.id + ' ' + Math.random()));
  })
  .get('/p/:id', ({ cache, render }) => {
    cache({ edge: { maxAgeSeconds: 300 } });
    render(({ params }) => new Response('product ' + params.id + ' ' + Math.random(), {
      headers: { 'surrogate-key': 'product-' + params.id },
    }));
  });
`;

let fleet: Fleet;
let dir: string;
let shields: RoleProcess[];

beforeAll(async () => {
  await mkdir(APPS_ROOT, { recursive: true });
  dir = await mkdtemp(join(APPS_ROOT, 'purge-http-'));
  await mkdir(join(dir, 'src'), { recursive: true });
  await writeFile(
    join(dir, 'flotilla.config.json'),
    JSON.stringify({ name: 'purgeapi', entry: 'src/routes.ts', framework: 'none' }),
  );
  await writeFile(join(dir, 'src', 'routes.ts'), ROUTES);
  const { outDir } = await buildProject({ dir, outDir: join(dir, 'out') });
  fleet = await startFleet({
    shields: 2,
    schedulers: 1,
    workers: 1,
    cache: true,
    args: { shield: ['--admin-token', TOKEN] },
    warmPath: '/purgeapi/p/0',
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
  shields = fleet.live('shield');
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const page = (shield: RoleProcess, path: string) =>
  httpRequest(shield.url, path, { host: HOST, timeoutMs: 20_000 });

/** POSTs `body` (JSON) to `path` of the first shield's admin listener. */
async function admin(
  path: string,
  body: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
  base = (shields[0] as RoleProcess).adminUrl,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, headers: Object.fromEntries(res.headers), body: await res.text() };
}

/** Stores `path` on both shields; returns each one's body. */
async function warm(path: string): Promise<string[]> {
  const bodies: string[] = [];
  for (const shield of shields) {
    const first = await page(shield, path);
    expect(first.status).toBe(200);
    const again = await page(shield, path);
    expect(again.headers['cache-status']).toMatch(/^flotilla; hit/);
    bodies.push(again.body);
  }
  return bodies;
}

interface ShieldAck {
  shieldId: string;
  status: string;
  removed: number;
  revalidated?: number;
  notRevalidated?: string[];
}

describe('purge over HTTP on the admin listener', () => {
  it('refuses a request without the token (401) and with a wrong one (403)', async () => {
    const none = await admin('/purge', { kind: 'url', url: `${HOST}/p/1` }, {});
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toContain('Bearer');
    expect(JSON.parse(none.body).error.code).toBe('FLOTILLA_ERR_CREDENTIALS');
    const wrong = await admin(
      '/purge',
      { kind: 'url', url: `${HOST}/p/1` },
      { authorization: 'Bearer not-the-token-at-all' },
    );
    expect(wrong.status).toBe(403);
    expect(JSON.parse(wrong.body).error.code).toBe('FLOTILLA_ERR_FORBIDDEN');
  });

  it('is not on the traffic port', async () => {
    const res = await admin(
      '/purge',
      { kind: 'url', url: `${HOST}/p/1` },
      undefined,
      shields[0]?.url,
    );
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('purgeId');
  });

  it('answers 400 naming the problem of a bad request', async () => {
    const res = await admin('/purge', { kind: 'path', pattern: 'no-slash' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error.message).toMatch(/pattern/);
    const unknown = await admin('/purge', { kind: 'url', url: `${HOST}/p/1`, force: true });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body).error.message).toMatch(/unknown field "force"/);
  });

  it('purges a URL on both shields, each acknowledging', async () => {
    await warm('/p/1');
    const res = await admin('/purge', { kind: 'url', url: `http://${HOST}/p/1` });
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body);
    expect(answer.complete).toBe(true);
    expect(answer.selector).toEqual({ kind: 'url', url: `${HOST}/p/1` });
    const acks = answer.shields as ShieldAck[];
    expect(acks).toHaveLength(2);
    for (const ack of acks) {
      expect(ack.status).toBe('acked');
      expect(ack.removed).toBeGreaterThanOrEqual(1);
    }
    for (const shield of shields) {
      const after = await page(shield, '/p/1');
      expect(after.headers['cache-status']).not.toMatch(/^flotilla; hit/);
    }
  });

  it('purges by surrogate key, by path pattern and a whole environment', async () => {
    await warm('/p/2');
    const byKey = JSON.parse(
      (await admin('/purge', { kind: 'surrogate-key', key: 'product-2' })).body,
    );
    expect(byKey.complete).toBe(true);
    expect(byKey.removed).toBeGreaterThanOrEqual(2);
    await warm('/p/3');
    const byPath = JSON.parse(
      (await admin('/purge', { kind: 'path', pattern: '/p/:id', app: 'purgeapi' })).body,
    );
    expect(byPath.complete).toBe(true);
    expect(byPath.removed).toBeGreaterThanOrEqual(2);
    await warm('/p/4');
    const all = await admin('/purge', {
      kind: 'environment',
      app: 'purgeapi',
      environment: 'production',
      timeoutMs: 5000,
    });
    expect(all.status).toBe(200);
    const answer = JSON.parse(all.body);
    expect((answer.shields as ShieldAck[]).map((s) => s.status)).toEqual(['acked', 'acked']);
    expect(answer.removed).toBeGreaterThanOrEqual(2);
    for (const shield of shields) {
      expect((await page(shield, '/p/4')).headers['cache-status']).not.toMatch(/^flotilla; hit/);
    }
  });

  it('revalidates a URL: each shield renders it now and serves the new copy as a hit', async () => {
    const before = await warm('/p/5');
    const res = await admin('/revalidate', { url: `${HOST}/p/5` });
    expect(res.status).toBe(200);
    const answer = JSON.parse(res.body);
    expect(answer.action).toBe('revalidate');
    expect(answer.complete).toBe(true);
    const acks = answer.shields as ShieldAck[];
    expect(acks).toHaveLength(2);
    for (const ack of acks) expect(ack.revalidated).toBeGreaterThanOrEqual(1);
    for (const [i, shield] of shields.entries()) {
      const after = await page(shield, '/p/5');
      expect(after.headers['cache-status']).toMatch(/^flotilla; hit/);
      expect(after.body).not.toBe(before[i]);
    }
  });
});

const DESKTOP_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36';
const PHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1';

describe('revalidation of every stored variant of a URL', () => {
  it('re-renders each device class and keyed cookie stored under the URL, after a restart from --cache-dir too; a variant keyed by the client address is listed as not revalidated', async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'flotilla-revalidate-variants-'));
    const worker = fleet.live('worker')[0]?.url ?? '';
    const renders = () => metricValue(worker, 'flotilla_worker_renders_total');
    const variants = [DESKTOP_UA, PHONE_UA].flatMap((ua) =>
      ['gold', 'silver'].map((tier) => ({
        'user-agent': ua,
        // The unkeyed cookie is not kept with the entry: the replay sends `tier` alone.
        cookie: `session=s-${tier}; tier=${tier}`,
        'accept-encoding': 'gzip',
      })),
    );
    const get = (shield: RoleProcess, path: string, headers: Record<string, string>) =>
      httpRequest(shield.url, path, { host: HOST, headers, timeoutMs: 20_000 });
    const args = ['--shield-id', 'variants', '--cache-dir', cacheDir];
    let member: RoleProcess | undefined;
    try {
      member = await fleet.add('shield', { args });
      const first = member;
      const bodies: string[] = [];
      for (const headers of variants) {
        expect((await get(first, '/v/1', headers)).status).toBe(200);
        const hit = await get(first, '/v/1', headers);
        expect(hit.headers['cache-status']).toMatch(/^flotilla; hit/);
        bodies.push(hit.body);
      }
      expect(new Set(bodies.map((b) => b.split(' ').slice(0, 4).join(' ')))).toEqual(
        new Set([
          'variant 1 device=desktop tier=gold',
          'variant 1 device=desktop tier=silver',
          'variant 1 device=smartphone tier=gold',
          'variant 1 device=smartphone tier=silver',
        ]),
      );
      expect((await get(first, '/f/1', {})).status).toBe(200);

      // Restarted from its --cache-dir: the entries (and what they replay) come back from disk.
      expect((await first.child.kill('SIGTERM')).code).toBe(0);
      member = await fleet.add('shield', { args });
      const back = member;
      const restored = await get(back, '/v/1', variants[3] as Record<string, string>);
      expect(restored.headers['cache-status']).toMatch(/^flotilla; hit/);
      expect(restored.body).toBe(bodies[3]);

      const renders0 = await renders();
      const res = await admin('/revalidate', { url: `${HOST}/v/1` }, undefined, back.adminUrl);
      expect(res.status).toBe(200);
      const answer = JSON.parse(res.body);
      expect(answer.complete).toBe(true);
      const ack = (answer.shields as ShieldAck[]).find((a) => a.shieldId === 'variants');
      // The three plain-visitor encodings, and the four variants (each its own header set).
      expect(ack?.revalidated).toBe(7);
      expect(answer.notRevalidated).toEqual([]);
      // Every shield renders the plain encodings (3 each), this one the variants too.
      const others = (answer.shields as ShieldAck[]).length - 1;
      expect((await renders()) - renders0).toBe(7 + 3 * others);
      for (const [i, headers] of variants.entries()) {
        const after = await get(back, '/v/1', headers);
        expect(after.headers['cache-status']).toMatch(/^flotilla; hit/);
        expect(after.body).not.toBe(bodies[i]);
        expect(after.body.split(' ').slice(0, 4)).toEqual(
          (bodies[i] as string).split(' ').slice(0, 4),
        );
      }

      const facts = await admin('/revalidate', { url: `${HOST}/f/1` }, undefined, back.adminUrl);
      expect(facts.status).toBe(200);
      const notRevalidated = JSON.parse(facts.body).notRevalidated as string[];
      expect(notRevalidated).toHaveLength(1);
      expect(notRevalidated[0]).toMatch(/keyed by x-flotilla-client-ip/);
    } finally {
      await member?.child.kill('SIGTERM');
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});
