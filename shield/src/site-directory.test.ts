import type { ManifestAsset } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { SiteDirectory } from './site-directory.ts';
import { environment as env, FakeSource, manifest } from './test-sites.ts';

function asset(path: string, hash: string, permanent: boolean): ManifestAsset {
  return { path, hash, bytes: 3, contentType: 'text/css; charset=utf-8', permanent };
}

async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 20));
}

describe('SiteDirectory', () => {
  it('serves production on <app>.<domain> and /<app>/, other environments on <env>.<app>.<domain>', async () => {
    const source = new FakeSource();
    source.manifests.set('shop-aaa', manifest('shop'));
    source.manifests.set('shop-bbb', manifest('shop'));
    source.set([env('shop', 'production', 'shop-aaa'), env('shop', 'staging', 'shop-bbb')]);
    const sites = new SiteDirectory({ source, domain: 'example.test' });
    await sites.start();

    expect(await sites.resolve('SHOP.example.test:3000', '/p/1?x=1')).toMatchObject({
      deploymentId: 'shop-aaa',
      environment: 'production',
      path: '/p/1?x=1',
      prefix: '',
    });
    expect(await sites.resolve('staging.shop.example.test', '/')).toMatchObject({
      deploymentId: 'shop-bbb',
      environment: 'staging',
    });
    expect(await sites.resolve('127.0.0.1:3000', '/shop?q=1')).toMatchObject({
      deploymentId: 'shop-aaa',
      path: '/?q=1',
      prefix: '/shop',
    });
    expect(await sites.resolve('127.0.0.1:3000', '/other/')).toBeUndefined();
    expect(await sites.resolve('staging.other.example.test', '/')).toBeUndefined();
  });

  it('serves any stored deployment on its preview host, and says so for an unknown one', async () => {
    const source = new FakeSource();
    source.manifests.set('shop-0123456789ab', manifest('shop'));
    const sites = new SiteDirectory({ source });
    await sites.start();
    expect(await sites.resolve('shop-0123456789ab.preview.localhost:3000', '/')).toMatchObject({
      app: 'shop',
      deploymentId: 'shop-0123456789ab',
      environment: undefined,
    });
    await expect(sites.resolve('shop-ffffffffffff.preview.localhost', '/')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    expect(sites.previewHostOf('shop-0123456789ab')).toBe('shop-0123456789ab.preview.localhost');
  });

  it('switches an environment as a whole once the new manifest is loaded', async () => {
    const source = new FakeSource();
    source.manifests.set('shop-aaa', manifest('shop'));
    source.manifests.set('shop-bbb', manifest('shop'));
    source.set([env('shop', 'production', 'shop-aaa')]);
    const sites = new SiteDirectory({ source });
    await sites.start();
    source.manifestDelayMs = 50;
    source.set([env('shop', 'production', 'shop-bbb', ['shop-aaa'])]);
    // Until the new manifest is in, the old deployment keeps serving.
    expect((await sites.resolve('shop.localhost', '/'))?.deploymentId).toBe('shop-aaa');
    await new Promise((r) => setTimeout(r, 120));
    expect((await sites.resolve('shop.localhost', '/'))?.deploymentId).toBe('shop-bbb');
  });

  it('keeps earlier deployments’ hashed assets, not their unhashed ones', async () => {
    const source = new FakeSource();
    const oldHashed = asset('/assets/app.1111111111.css', 'h1', true);
    const oldPlain = asset('/app.css', 'h1', false);
    const newHashed = asset('/assets/app.2222222222.css', 'h2', true);
    const newPlain = asset('/app.css', 'h2', false);
    source.manifests.set('shop-aaa', manifest('shop', [], [oldHashed, oldPlain]));
    source.manifests.set('shop-bbb', manifest('shop', [], [newHashed, newPlain]));
    source.blobs.set('h1', new TextEncoder().encode('old'));
    source.set([env('shop', 'production', 'shop-bbb', ['shop-aaa'])]);
    const sites = new SiteDirectory({ source });
    await sites.start();
    await settle();
    const target = await sites.resolve('shop.localhost', '/');
    if (!target) throw new Error('no target');
    expect(sites.assetFor(target, '/assets/app.1111111111.css')).toEqual(oldHashed);
    expect(sites.assetFor(target, '/assets/app.2222222222.css')).toEqual(newHashed);
    expect(sites.assetFor(target, '/app.css')).toEqual(newPlain);
    expect(sites.assetFor(target, '/nope.css')).toBeUndefined();
    expect(new TextDecoder().decode(await sites.assetBytes(oldHashed))).toBe('old');
  });

  it('names a bad domain option', () => {
    expect(() => new SiteDirectory({ source: new FakeSource(), domain: 'a b' })).toThrow(/domain/);
  });
});

describe('SiteDirectory routing by host and path prefix', () => {
  async function directory(): Promise<SiteDirectory> {
    const source = new FakeSource([
      ['dep-shop', manifest('shop')],
      ['dep-shop-staging', manifest('shop')],
      ['dep-app', manifest('app')],
    ]);
    source.set([
      env('shop', 'production', 'dep-shop'),
      env('shop', 'staging', 'dep-shop-staging'),
      env('app', 'production', 'dep-app'),
    ]);
    const sites = new SiteDirectory({ source });
    await sites.start();
    return sites;
  }

  it('routes by host, ignoring port, case and surrounding spaces, keeping the whole path', async () => {
    const sites = await directory();
    expect(await sites.resolve('shop.localhost', '/p/1?x=1')).toMatchObject({
      app: 'shop',
      path: '/p/1?x=1',
      prefix: '',
    });
    expect(await sites.resolve('SHOP.localhost:3000', '/')).toMatchObject({
      app: 'shop',
      path: '/',
      prefix: '',
    });
    expect(await sites.resolve(' staging.shop.localhost:8080 ', '/app/x')).toMatchObject({
      app: 'shop',
      environment: 'staging',
    });
  });

  it('routes by host before path prefix', async () => {
    const sites = await directory();
    expect(await sites.resolve('shop.localhost', '/app/x')).toMatchObject({
      app: 'shop',
      path: '/app/x',
      prefix: '',
    });
  });

  it('routes by the first path segment on other hosts, stripping it', async () => {
    const sites = await directory();
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
      const m = await sites.resolve('localhost:3000', raw);
      expect(m?.path, raw).toBe(path);
      expect(m?.prefix, raw).toBe(`/${m?.app}`);
    }
    expect((await sites.resolve('127.0.0.1', '/app'))?.app).toBe('app');
    expect((await sites.resolve('[::1]:3000', '/app/x'))?.path).toBe('/x');
  });

  it('returns undefined for unknown hosts and paths', async () => {
    const sites = await directory();
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
      expect(await sites.resolve('other.test', raw), raw).toBeUndefined();
    }
    expect(await sites.resolve('[::2]:3000', '/x')).toBeUndefined();
    const empty = new SiteDirectory({ source: new FakeSource() });
    await empty.start();
    expect(await empty.resolve('shop.localhost', '/app')).toBeUndefined();
  });
});
