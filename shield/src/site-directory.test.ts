import type { Manifest, ManifestAsset } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { SiteDirectory, type SiteEnvironment, type SiteSource } from './site-directory.ts';

function asset(path: string, hash: string, permanent: boolean): ManifestAsset {
  return { path, hash, bytes: 3, contentType: 'text/css; charset=utf-8', permanent };
}

function manifest(name: string, assets: ManifestAsset[] = []): Manifest {
  return {
    manifestVersion: 2,
    name,
    framework: 'none',
    bundleHash: 'b'.repeat(64),
    bundleBytes: 10,
    contentHash: 'c'.repeat(64),
    builtAt: '2026-11-22T00:00:00.000Z',
    routes: [],
    backends: {},
    assets,
  };
}

/** A control plane in memory: environments pushed by `set`, like a KV watch. */
class FakeSource implements SiteSource {
  readonly manifests = new Map<string, Manifest>();
  readonly blobs = new Map<string, Uint8Array>();
  #listener: ((envs: SiteEnvironment[]) => void) | undefined;
  #envs: SiteEnvironment[] = [];
  manifestDelayMs = 0;

  watchEnvironments(onChange: (envs: SiteEnvironment[]) => void) {
    this.#listener = onChange;
    onChange(this.#envs);
    return { initial: Promise.resolve(), stop: () => (this.#listener = undefined) };
  }
  async manifest(id: string): Promise<Manifest> {
    if (this.manifestDelayMs) await new Promise((r) => setTimeout(r, this.manifestDelayMs));
    const m = this.manifests.get(id);
    if (!m) throw new Error(`no deployment ${id}`);
    return m;
  }
  async asset(hash: string): Promise<Uint8Array | undefined> {
    return this.blobs.get(hash);
  }
  set(envs: SiteEnvironment[]): void {
    this.#envs = envs;
    this.#listener?.(envs);
  }
}

const env = (app: string, name: string, deploymentId: string, history: string[] = []) => ({
  app,
  env: name,
  deploymentId,
  history,
});

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
    source.manifests.set('shop-aaa', manifest('shop', [oldHashed, oldPlain]));
    source.manifests.set('shop-bbb', manifest('shop', [newHashed, newPlain]));
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
