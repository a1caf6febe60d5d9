import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InProcessTransport } from '@flotilla/transport';
import { afterEach, describe, expect, it } from 'vitest';
import { Shield } from './shield.ts';
import type { ShieldOptions } from './shield-options.ts';
import { SiteDirectory } from './site-directory.ts';
import { FakeSource, manifest } from './test-sites.ts';

const TOKEN = 'admin-api-unit-token-42';
const started: Shield[] = [];

afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.drain()));
});

/** A shield with its cache on one in-process transport (the embedded fleet: it purges itself). */
async function shieldWith(adminToken?: string, more: Partial<ShieldOptions> = {}) {
  const shield = new Shield({
    ...more,
    transport: new InProcessTransport(),
    region: 'unit',
    port: 0,
    shieldId: 'admin-unit',
    ...(adminToken !== undefined ? { adminToken } : {}),
  });
  started.push(shield);
  const { adminUrl, url } = await shield.listen();
  return { adminUrl, url };
}

async function post(
  base: string,
  path: string,
  body: string,
  headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` },
  method = 'POST',
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(method === 'POST' ? { body } : {}),
  });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

describe('the purge API on the admin listener', () => {
  it('is off (404) without a token, and refuses a short one at construction', async () => {
    const { adminUrl } = await shieldWith();
    const res = await post(adminUrl, '/purge', '{"kind":"url","url":"a.test/"}');
    expect(res.status).toBe(404);
    expect(res.json.error.message).toMatch(/--admin-token/);
    expect(
      () =>
        new Shield({ transport: new InProcessTransport(), region: 'unit', adminToken: 'short' }),
    ).toThrow(/adminToken.*at least 16 characters/);
  });

  it('401 without a bearer token, 403 with a wrong one, 405 for a GET', async () => {
    const { adminUrl } = await shieldWith(TOKEN);
    const body = '{"kind":"url","url":"a.test/"}';
    const none = await post(adminUrl, '/purge', body, {});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="flotilla-admin"');
    const basic = await post(adminUrl, '/purge', body, { authorization: `Basic ${TOKEN}` });
    expect(basic.status).toBe(401);
    const wrong = await post(adminUrl, '/purge', body, { authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error.code).toBe('FLOTILLA_ERR_FORBIDDEN');
    const get = await post(adminUrl, '/purge', '', undefined, 'GET');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('400 for a body that is not JSON, an unknown field, a bad selector or timeout', async () => {
    const { adminUrl } = await shieldWith(TOKEN);
    const cases: Array<[string, string, RegExp]> = [
      ['/purge', '{nope', /not JSON/],
      ['/purge', '[1]', /JSON object/],
      ['/purge', '{"kind":"url","url":"a.test/","extra":1}', /unknown field "extra"/],
      ['/purge', '{"kind":"everything"}', /must be url, path, surrogate-key or environment/],
      ['/purge', '{"kind":"surrogate-key","key":"a b"}', /surrogate key/],
      ['/purge', '{"kind":"url","url":"a.test/","timeoutMs":0}', /timeoutMs/],
      ['/revalidate', '{"url":"/no-host"}', /not a URL with a host/],
      ['/revalidate', '{"url":"a.test/","kind":"url"}', /unknown field "kind"/],
    ];
    for (const [path, body, problem] of cases) {
      const res = await post(adminUrl, path, body);
      expect(res.status, body).toBe(400);
      expect(res.json.error.code).toBe('FLOTILLA_ERR_BAD_REQUEST');
      expect(res.json.error.message, body).toMatch(problem);
    }
  });

  it("purges with this shield's acknowledgement and answers the request format", async () => {
    const { adminUrl, url } = await shieldWith(TOKEN);
    const res = await post(
      adminUrl,
      '/purge',
      '{"kind":"url","url":"https://Shop.Example.com:8443/p/1?x=1#top"}',
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      action: 'purge',
      selector: { kind: 'url', url: 'shop.example.com/p/1?x=1' },
      complete: true,
      removed: 0,
      shields: [{ shieldId: 'admin-unit', region: 'unit', removed: 0, status: 'acked' }],
    });
    expect(res.json.purgeId).toMatch(/^[0-9a-f]+$/);
    // Never on the traffic port.
    const traffic = await fetch(`${url}/purge`, { method: 'POST', body: '{}' });
    expect(traffic.status).toBe(404);
    expect(await traffic.text()).not.toContain('purgeId');
  });

  it('a revalidation that stores nothing is a failed ack, with the reason (502)', async () => {
    const { adminUrl } = await shieldWith(TOKEN);
    const res = await post(adminUrl, '/revalidate', '{"url":"nobody.test/p"}');
    expect(res.status).toBe(502);
    expect(res.json.complete).toBe(false);
    expect(res.json.shields[0]).toMatchObject({ status: 'failed', shieldId: 'admin-unit' });
    expect(res.json.shields[0].error).toMatch(/was not stored again: 404/);
  });

  it('revalidates a URL here, behind --https-redirect too: stored again, once per encoding', async () => {
    let n = 0;
    const origin = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 's-maxage=300' });
      res.end(`copy ${++n}`);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    try {
      const source = new FakeSource([
        [
          'rv-1',
          {
            ...manifest('rv', [
              {
                id: 0,
                criteria: { path: '/p', method: ['GET'] },
                fallback: false,
                action: { kind: 'proxy', backend: 'api', noCode: true },
                headerOps: [],
              },
            ]),
            backends: { api: originUrl },
          },
        ],
      ]);
      source.set([{ app: 'rv', env: 'production', deploymentId: 'rv-1', history: [] }]);
      const sites = new SiteDirectory({ source });
      await sites.start();
      // The shield's own loopback requests are never sent to HTTPS.
      const { adminUrl } = await shieldWith(TOKEN, { sites, frontDoor: { httpsRedirect: true } });
      const res = await post(adminUrl, '/revalidate', '{"url":"https://rv.localhost/p"}');
      expect(res.status).toBe(200);
      expect(res.json).toMatchObject({
        action: 'revalidate',
        complete: true,
        revalidated: 3,
        shields: [{ status: 'acked', revalidated: 3 }],
      });
      expect(n).toBe(3);
    } finally {
      await new Promise((r) => origin.close(r));
    }
  });
});
