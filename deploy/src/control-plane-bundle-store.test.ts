import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import { ControlPlaneBundleStore } from './control-plane-bundle-store.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import { sha256, tempDir, writeBuild } from './test-builds.ts';
import { storePairs } from './test-stores.ts';

const pairs = storePairs('bundles');

let root: { path: string; remove(): Promise<void> };
const stores: ControlPlaneBundleStore[] = [];
beforeEach(async () => {
  root = await tempDir('flotilla-bundles-');
});
afterEach(async () => {
  for (const s of stores.splice(0)) s.close();
  await root.remove();
});

describe.each(pairs)('ControlPlaneBundleStore on %s', (_name, openPair) => {
  async function setup() {
    const [publisherStore, workerStore] = await openPair();
    const publisher = new ControlPlane({ store: publisherStore });
    const workerPlane = new ControlPlane({ store: workerStore });
    const cacheDir = join(root.path, 'cache');
    const bundles = new ControlPlaneBundleStore({ controlPlane: workerPlane, cacheDir });
    stores.push(bundles);
    return { publisher, workerPlane, bundles, cacheDir };
  }

  it('writes each bundle once into the cache directory, named by its hash', async () => {
    const { publisher, workerPlane, bundles, cacheDir } = await setup();
    const build = await writeBuild(root.path, 'v1', { code: 'export default "v1";\n' });
    await publisher.publish({ dir: build.dir });

    const resolved = await bundles.resolve(build.id);
    expect(resolved).toEqual({
      deploymentId: build.id,
      bundlePath: join(cacheDir, `${build.manifest.bundleHash}.js`),
      bundleHash: build.manifest.bundleHash,
      backends: { api: 'http://127.0.0.1:9' },
      // The path a pre-warm renders (the manifest's own routes render /),
      // and every path it renders (no prerender list, no other literal route).
      prewarmPath: '/',
      prewarmPaths: ['/'],
    });
    expect(await readFile(resolved.bundlePath, 'utf8')).toBe('export default "v1";\n');
    const written = (await stat(resolved.bundlePath)).mtimeMs;

    // Later and concurrent resolves reuse it; no temp file is left behind.
    const again = await Promise.all([bundles.resolve(build.id), bundles.resolve(build.id)]);
    expect(again.map((r) => r.bundlePath)).toEqual([resolved.bundlePath, resolved.bundlePath]);
    expect((await stat(resolved.bundlePath)).mtimeMs).toBe(written);
    expect(await readdir(cacheDir)).toEqual([`${build.manifest.bundleHash}.js`]);

    // Another worker process on the same machine reuses a good file, replaces a corrupt one.
    const second = new ControlPlaneBundleStore({ controlPlane: workerPlane, cacheDir });
    stores.push(second);
    await second.resolve(build.id);
    expect((await stat(resolved.bundlePath)).mtimeMs).toBe(written);
    await writeFile(resolved.bundlePath, 'corrupted');
    const third = new ControlPlaneBundleStore({ controlPlane: workerPlane, cacheDir });
    stores.push(third);
    const repaired = await third.resolve(build.id);
    expect(sha256(await readFile(repaired.bundlePath))).toBe(build.manifest.bundleHash);
  });

  it('merges the environment over the manifest: declared backends re-pointed, vars as env', async () => {
    const { publisher, bundles } = await setup();
    const build = await writeBuild(root.path, 'v1', {
      backends: { api: 'http://127.0.0.1:9', images: 'https://img.example' },
    });
    await publisher.publish({ dir: build.dir }, { env: 'production' });
    await publisher.configure('shop', 'production', {
      backends: { api: 'https://api.internal' },
      vars: { API_TOKEN: 't0ken' },
    });

    expect(await bundles.resolve(build.id, 'production')).toMatchObject({
      backends: { api: 'https://api.internal', images: 'https://img.example' },
      env: { API_TOKEN: 't0ken' },
    });
    // A preview (no environment): the manifest alone, no variables.
    const preview = await bundles.resolve(build.id);
    expect(preview.backends).toEqual({ api: 'http://127.0.0.1:9', images: 'https://img.example' });
    expect(preview.env).toBeUndefined();
    // An environment without settings: manifest backends, empty env.
    expect(await bundles.resolve(build.id, 'staging')).toMatchObject({
      backends: { api: 'http://127.0.0.1:9', images: 'https://img.example' },
      env: {},
    });

    // Changes made elsewhere reach the store through its watch.
    await publisher.configure('shop', 'production', {
      backends: { api: null },
      vars: { API_TOKEN: 'rotated', FEATURE: 'on' },
    });
    const deadline = Date.now() + 2000;
    for (;;) {
      const r = await bundles.resolve(build.id, 'production');
      if (r.env?.API_TOKEN === 'rotated') {
        expect(r.env).toEqual({ API_TOKEN: 'rotated', FEATURE: 'on' });
        expect(r.backends.api).toBe('http://127.0.0.1:9');
        break;
      }
      if (Date.now() > deadline) throw new Error(`not updated: ${JSON.stringify(r)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  });

  it('gives every environment the limits the manifest asks for, and none when it asks for none', async () => {
    const { publisher, bundles } = await setup();
    const limited = await writeBuild(root.path, 'limited', { limits: { cpuMs: 50, heapMb: 64 } });
    const plain = await writeBuild(root.path, 'plain', { code: 'export default 2;' });
    await publisher.publish({ dir: limited.dir }, { env: 'production' });
    await publisher.publish({ dir: plain.dir });

    expect((await bundles.resolve(limited.id)).limits).toEqual({ cpuMs: 50, heapMb: 64 });
    expect((await bundles.resolve(limited.id, 'production')).limits).toEqual({
      cpuMs: 50,
      heapMb: 64,
    });
    expect(await bundles.resolve(plain.id)).not.toHaveProperty('limits');
  });

  it('keeps serving an earlier deployment the environment variables after a promote', async () => {
    const { publisher, bundles } = await setup();
    const v1 = await writeBuild(root.path, 'v1');
    const v2 = await writeBuild(root.path, 'v2', { code: 'export default 2;' });
    await publisher.publish({ dir: v1.dir }, { env: 'production' });
    await publisher.configure('shop', 'production', { vars: { A: '1' } });
    await publisher.publish({ dir: v2.dir }, { env: 'production' });
    // In-flight renders of v1 for production still get production's settings.
    expect((await bundles.resolve(v1.id, 'production')).env).toEqual({ A: '1' });
    expect((await bundles.resolve(v2.id, 'production')).env).toEqual({ A: '1' });
  });

  it('answers FLOTILLA_ERR_NOT_FOUND for unknown or malformed deployments', async () => {
    const { bundles } = await setup();
    await expect(bundles.resolve('shop-000000000000')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
      message: 'deployment shop-000000000000 does not exist',
    });
    await expect(bundles.resolve('../../etc/passwd')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    await expect(bundles.resolve('shop-000000000000', 'Bad Env')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
  });
});

describe('ControlPlaneBundleStore options', () => {
  it('validates them, naming the bad option', () => {
    const controlPlane = new ControlPlane({ store: new MemoryControlStore() });
    expect(() => new ControlPlaneBundleStore(undefined as never)).toThrow(
      'option "options" is required',
    );
    expect(() => new ControlPlaneBundleStore({ cacheDir: '/tmp/x' } as never)).toThrow(
      'option "controlPlane" is required',
    );
    expect(() => new ControlPlaneBundleStore({ controlPlane, cacheDir: '' })).toThrow(
      'option "cacheDir" must be a non-empty string',
    );
    expect(
      () => new ControlPlaneBundleStore({ controlPlane: {} as never, cacheDir: '/tmp/x' }),
    ).toThrow('option "controlPlane" must be a ControlPlane');
  });
});
