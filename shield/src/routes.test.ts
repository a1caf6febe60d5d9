import { FlotillaError } from '@flotilla/protocol';
import { describe, expect, it } from 'vitest';
import { type AppRoute, matchRoute, validateApps } from './routes.ts';

const shop: AppRoute = {
  name: 'shop',
  deploymentId: 'dep-shop',
  hosts: ['Shop.Localhost', 'www.shop.test'],
};
const app: AppRoute = { name: 'app', deploymentId: 'dep-app', hosts: [] };
const apps = [shop, app];

describe('matchRoute', () => {
  it('routes by host, ignoring port and case, keeping the whole path', () => {
    expect(matchRoute(apps, 'shop.localhost', '/p/1?x=1')).toEqual({
      app: shop,
      path: '/p/1?x=1',
      prefix: '',
    });
    expect(matchRoute(apps, 'SHOP.localhost:3000', '/')).toEqual({
      app: shop,
      path: '/',
      prefix: '',
    });
    expect(matchRoute(apps, ' www.shop.test:8080 ', '/app/x')?.app).toBe(shop);
  });

  it('routes by host before path prefix', () => {
    expect(matchRoute(apps, 'shop.localhost', '/app/x')).toEqual({
      app: shop,
      path: '/app/x',
      prefix: '',
    });
  });

  it('routes by the first path segment on other hosts, stripping it', () => {
    const cases: Array<[string, string]> = [
      ['/app', '/'],
      ['/app/', '/'],
      ['/app?x=1', '/?x=1'],
      ['/app/?x=1', '/?x=1'],
      ['/app/p/1', '/p/1'],
      ['/app/p/1?q=a/b', '/p/1?q=a/b'],
      ['/shop/cart', '/cart'],
    ];
    for (const [raw, path] of cases) {
      const m = matchRoute(apps, 'localhost:3000', raw);
      expect(m?.path, raw).toBe(path);
      expect(m?.prefix, raw).toBe(`/${m?.app.name}`);
    }
    expect(matchRoute(apps, '127.0.0.1', '/app')?.app).toBe(app);
  });

  it('handles bracketed IPv6 hosts', () => {
    const v6: AppRoute = { name: 'v6', deploymentId: 'dep-v6', hosts: ['[::1]'] };
    expect(matchRoute([v6], '[::1]:3000', '/x')).toEqual({ app: v6, path: '/x', prefix: '' });
    expect(matchRoute([v6], '[::2]:3000', '/x')).toBeUndefined();
  });

  it('returns undefined for unknown hosts and paths', () => {
    for (const raw of [
      '/',
      '',
      '/nope',
      '/apps',
      '/application/x',
      '/App',
      '//app',
      'http://x/app',
      '?app',
    ]) {
      expect(matchRoute(apps, 'other.test', raw), raw).toBeUndefined();
    }
    expect(matchRoute([], 'shop.localhost', '/app')).toBeUndefined();
  });
});

function invalid(list: unknown): FlotillaError {
  try {
    validateApps(list as AppRoute[]);
  } catch (err) {
    if (err instanceof FlotillaError) return err;
    throw err;
  }
  throw new Error('expected validateApps to throw');
}

describe('validateApps', () => {
  it('accepts a valid list', () => {
    expect(() => validateApps(apps)).not.toThrow();
    expect(() => validateApps([])).not.toThrow();
  });

  const cases: Array<[string, unknown, RegExp]> = [
    ['not an array', { shop }, /option "apps" must be an array/],
    ['a null entry', [null], /option "apps\[0\]\.name"/],
    [
      'an upper-case name',
      [{ ...shop, name: 'Shop' }],
      /option "apps\[0\]\.name" must be lower-case/,
    ],
    ['a name with a dot', [{ ...shop, name: 'a.b' }], /option "apps\[0\]\.name"/],
    [
      'a repeated name',
      [shop, { ...app, name: 'shop' }],
      /option "apps\[1\]\.name" repeats "shop"/,
    ],
    [
      'a wildcard deployment id',
      [{ ...shop, deploymentId: '*' }],
      /option "apps\[0\]\.deploymentId"/,
    ],
    [
      'a host used twice, in different case',
      [shop, { ...app, hosts: ['SHOP.localhost'] }],
      /option "apps\[1\]\.hosts" repeats host "SHOP.localhost"/,
    ],
    [
      'hosts missing',
      [{ name: 'x', deploymentId: 'd' }],
      /option "apps\[0\]\.hosts" must be an array/,
    ],
    ['an empty host', [{ ...shop, hosts: [''] }], /option "apps\[0\]\.hosts"/],
    ['a non-string host', [{ ...shop, hosts: [42] }], /option "apps\[0\]\.hosts"/],
    [
      'the name healthz, which the shield serves itself',
      [{ ...app, name: 'healthz' }],
      /"apps\[0\]\.name".*healthz/,
    ],
    [
      'the name metrics, which the shield serves itself',
      [{ ...app, name: 'metrics' }],
      /"apps\[0\]\.name".*metrics/,
    ],
  ];
  for (const [what, list, message] of cases) {
    it(`rejects ${what}, naming the option`, () => {
      const err = invalid(list);
      expect(err.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(err.message).toMatch(message);
    });
  }
});
