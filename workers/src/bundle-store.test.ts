import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DirectoryBundleStore } from './bundle-store.ts';

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'flotilla-bundles-test-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function deploy(id: string, manifest: string): Promise<void> {
  await mkdir(join(root, id), { recursive: true });
  await writeFile(join(root, id, 'bundle.js'), 'Flotilla.serve(() => new Response("x"));');
  await writeFile(join(root, id, 'manifest.json'), manifest);
}

async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: { code?: string; message: string }) => err,
  );
}

describe('DirectoryBundleStore', () => {
  it("resolves a deployment's bundle path and hash from its manifest", async () => {
    await deploy('shop-v1', JSON.stringify({ bundleHash: 'abc123', routes: [] }));
    const store = new DirectoryBundleStore(root);
    expect(await store.resolve('shop-v1')).toEqual({
      deploymentId: 'shop-v1',
      bundlePath: join(root, 'shop-v1', 'bundle.js'),
      bundleHash: 'abc123',
      backends: {},
    });
  });

  it('knows no environments: any environment gets the manifest backends and no env', async () => {
    await deploy(
      'shop-v1',
      JSON.stringify({ bundleHash: 'abc123', backends: { api: 'http://api.internal' } }),
    );
    const store = new DirectoryBundleStore(root);
    const preview = await store.resolve('shop-v1');
    const production = await store.resolve('shop-v1', 'production');
    expect(production).toEqual(preview);
    expect(production).not.toHaveProperty('env');
    expect(production.backends).toEqual({ api: 'http://api.internal' });
  });

  it('returns the limits the manifest asks for, and none when it asks for none', async () => {
    await deploy(
      'shop-limited',
      JSON.stringify({ bundleHash: 'abc123', limits: { cpuMs: 50, heapMb: 64 } }),
    );
    await deploy('shop-plain', JSON.stringify({ bundleHash: 'abc123' }));
    const store = new DirectoryBundleStore(root);
    expect((await store.resolve('shop-limited', 'production')).limits).toEqual({
      cpuMs: 50,
      heapMb: 64,
    });
    expect(await store.resolve('shop-plain')).not.toHaveProperty('limits');
  });

  it("returns the manifest's backends, origins normalized", async () => {
    await deploy(
      'shop-v1',
      JSON.stringify({
        bundleHash: 'abc123',
        backends: { api: 'http://API.internal:80/', cms: 'https://cms.example:8443' },
      }),
    );
    expect((await new DirectoryBundleStore(root).resolve('shop-v1')).backends).toEqual({
      api: 'http://api.internal',
      cms: 'https://cms.example:8443',
    });
  });

  it.each([
    [{ api: 'http://api.internal/v1' }, 'backends.api'],
    [{ api: 'file:///etc' }, 'backends.api'],
    [{ 'no spaces': 'http://x.test' }, 'backends.no spaces'],
    ['http://x.test', 'backends'],
  ])('rejects the backends %j with FLOTILLA_ERR_BUNDLE naming %s', async (backends, name) => {
    await deploy('shop-v4', JSON.stringify({ bundleHash: 'abc', backends }));
    const err = await failure(new DirectoryBundleStore(root).resolve('shop-v4'));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain('shop-v4');
    expect(err.message).toContain(`"${name}"`);
  });

  it('reads each manifest once: deployments are immutable', async () => {
    await deploy('shop-v1', JSON.stringify({ bundleHash: 'first' }));
    const store = new DirectoryBundleStore(root);
    await store.resolve('shop-v1');
    await writeFile(
      join(root, 'shop-v1', 'manifest.json'),
      JSON.stringify({ bundleHash: 'second' }),
    );
    expect((await store.resolve('shop-v1')).bundleHash).toBe('first');
    await rm(join(root, 'shop-v1'), { recursive: true });
    expect((await store.resolve('shop-v1')).bundleHash).toBe('first');
  });

  it.each(['..', '../x', 'A.B', '', 'shop/../../etc', '.hidden', 'a b'])(
    'rejects the invalid id %j with FLOTILLA_ERR_NOT_FOUND without touching the disk',
    async (id) => {
      await writeFile(join(root, 'manifest.json'), JSON.stringify({ bundleHash: 'root-level' }));
      const err = await failure(new DirectoryBundleStore(join(root, 'sub')).resolve(id));
      expect(err.code).toBe('FLOTILLA_ERR_NOT_FOUND');
      expect(err.message).toContain('invalid');
    },
  );

  it('rejects an unknown deployment with FLOTILLA_ERR_NOT_FOUND, then finds it once published', async () => {
    const store = new DirectoryBundleStore(root);
    const err = await failure(store.resolve('shop-v2'));
    expect(err.code).toBe('FLOTILLA_ERR_NOT_FOUND');
    expect(err.message).toContain('shop-v2');
    await deploy('shop-v2', JSON.stringify({ bundleHash: 'later' }));
    expect((await store.resolve('shop-v2')).bundleHash).toBe('later');
  });

  it.each([
    ['not JSON', '{ bundleHash: ', 'not valid JSON'],
    ['without a bundleHash', JSON.stringify({ routes: [] }), 'no bundleHash'],
    ['with an empty bundleHash', JSON.stringify({ bundleHash: '' }), 'no bundleHash'],
    ['that is null', 'null', 'no bundleHash'],
  ])('rejects a manifest %s with FLOTILLA_ERR_BUNDLE', async (_, manifest, shown) => {
    await deploy('shop-v3', manifest);
    const err = await failure(new DirectoryBundleStore(root).resolve('shop-v3'));
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.message).toContain(shown);
  });

  it('needs a root directory', () => {
    expect(() => new DirectoryBundleStore('')).toThrow(/root directory/);
  });
});
