import { randomBytes } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ControlPlane } from './control-plane.ts';
import type { ControlStore } from './control-store.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import type { PublishProgress } from './publish.ts';
import type { EnvironmentRecord } from './records.ts';
import { sha256, tempDir, writeBuild } from './test-builds.ts';
import { storePairs } from './test-stores.ts';

const pairs = storePairs('plane');

let root: { path: string; remove(): Promise<void> };
beforeEach(async () => {
  root = await tempDir('flotilla-cp-');
});
afterEach(async () => {
  await root.remove();
});

describe.each(pairs)('ControlPlane on %s', (_name, openPair) => {
  async function planes(): Promise<[ControlPlane, ControlPlane, ControlStore]> {
    const [a, b] = await openPair();
    return [new ControlPlane({ store: a }), new ControlPlane({ store: b }), a];
  }

  it('publishes, promotes and rolls back (round trip)', async () => {
    const [plane, elsewhere] = await planes();
    const v1 = await writeBuild(root.path, 'v1', {
      assets: [{ path: '/assets/app.css', content: 'body{}', contentType: 'text/css' }],
    });
    const v2 = await writeBuild(root.path, 'v2', { code: 'export default 2;\n' });

    const progress: PublishProgress[] = [];
    const first = await plane.publish(
      { dir: v1.dir },
      { env: 'production', onProgress: (p) => progress.push(p) },
    );
    expect(first.created).toBe(true);
    expect(first.deployment).toMatchObject({
      id: v1.id,
      app: 'shop',
      contentHash: v1.manifest.contentHash,
      bundleHash: v1.manifest.bundleHash,
      framework: 'none',
      bundleBytes: v1.manifest.bundleBytes,
      assetCount: 1,
      prerenderPaths: 0,
      publishedFor: 'production',
    });
    expect(first.previewHost).toBe(`${v1.id}.preview.localhost`);
    expect(first.environment).toMatchObject({
      app: 'shop',
      env: 'production',
      deploymentId: v1.id,
      history: [],
      backends: {},
      vars: {},
    });
    // Phases in order, each ending complete.
    const phases = progress.map((p) => p.phase).filter((p, i, all) => all[i - 1] !== p);
    expect(phases).toEqual(['hash', 'upload', 'commit', 'promote']);
    for (const phase of phases) {
      const last = progress.filter((p) => p.phase === phase).at(-1);
      expect(last?.done, phase).toBe(last?.total);
    }
    expect(
      progress.find((p) => p.phase === 'upload' && p.file === 'assets/assets/app.css'),
    ).toBeDefined();

    // Everything is readable from another process.
    expect(await elsewhere.deployment(v1.id)).toEqual(first.deployment);
    expect((await elsewhere.manifest(v1.id)).contentHash).toBe(v1.manifest.contentHash);
    expect(new TextDecoder().decode(await elsewhere.bundle(v1.id))).toBe(
      await readFile(join(v1.dir, 'bundle.js'), 'utf8'),
    );
    const css = v1.manifest.assets[0];
    expect(new TextDecoder().decode(await elsewhere.asset(css?.hash ?? ''))).toBe('body{}');
    expect(await elsewhere.asset(sha256('not stored'))).toBeUndefined();
    expect(await elsewhere.asset('../../etc/passwd')).toBeUndefined();

    const second = await plane.publish({ dir: v2.dir });
    expect(second.environment).toBeUndefined();
    expect((await elsewhere.environments('shop'))[0]?.deploymentId).toBe(v1.id);
    const promoted = await elsewhere.promote(v2.id, 'production');
    expect(promoted).toMatchObject({ deploymentId: v2.id, history: [v1.id] });
    expect((await plane.deployments('shop')).map((d) => d.id).sort()).toEqual(
      [v1.id, v2.id].sort(),
    );

    const rolledBack = await plane.rollback('shop', 'production');
    expect(rolledBack).toMatchObject({ deploymentId: v1.id, history: [] });
    expect(rolledBack.revision).toBeGreaterThan(promoted.revision);
    expect(await elsewhere.environments()).toEqual([rolledBack]);
  });

  it('publishes the same content once: same id, created false', async () => {
    const [plane, elsewhere] = await planes();
    const a = await writeBuild(root.path, 'a', { builtAt: '2024-01-01T00:00:00.000Z' });
    // The same app rebuilt later: builtAt differs, the content does not.
    const b = await writeBuild(root.path, 'b', { builtAt: '2025-01-01T00:00:00.000Z' });
    const first = await plane.publish({ dir: a.dir });
    const again = await elsewhere.publish({ dir: b.dir }, { env: 'staging' });
    expect(again.created).toBe(false);
    expect(again.deployment).toEqual(first.deployment);
    expect(again.environment?.deploymentId).toBe(first.deployment.id);
    expect(await plane.deployments()).toHaveLength(1);
  });

  it('runs concurrent publishes: different builds both land, the same build lands once', async () => {
    const [plane, elsewhere] = await planes();
    const shared = { path: '/assets/shared.js', content: 'shared()' };
    const x = await writeBuild(root.path, 'x', { code: 'export default "x";', assets: [shared] });
    const y = await writeBuild(root.path, 'y', { code: 'export default "y";', assets: [shared] });
    const [rx, ry] = await Promise.all([
      plane.publish({ dir: x.dir }),
      elsewhere.publish({ dir: y.dir }),
    ]);
    expect([rx.created, ry.created]).toEqual([true, true]);
    expect((await plane.deployments('shop')).map((d) => d.id).sort()).toEqual([x.id, y.id].sort());

    const z = await writeBuild(root.path, 'z', {
      code: 'export default "z";',
      assets: [{ path: '/assets/z.bin', content: randomBytes(400_000) }],
    });
    const both = await Promise.all([
      plane.publish({ dir: z.dir }),
      elsewhere.publish({ dir: z.dir }),
    ]);
    expect(both[0].deployment.id).toBe(z.id);
    expect(both[1].deployment.id).toBe(z.id);
    expect(both.filter((r) => r.created)).toHaveLength(1);
    expect(await plane.deployments('shop')).toHaveLength(3);
    expect((await elsewhere.bundle(z.id)).byteLength).toBe(z.manifest.bundleBytes);
  });

  it('leaves no deployment behind when a publish is aborted mid-upload', async () => {
    const [plane, elsewhere, store] = await planes();
    const big = randomBytes(6 * 1024 * 1024);
    const build = await writeBuild(root.path, 'big', {
      assets: [
        { path: '/assets/video.bin', content: big, contentType: 'application/octet-stream' },
      ],
    });
    const abort = new AbortController();
    const seen: PublishProgress[] = [];
    const publishing = plane.publish(
      { dir: build.dir },
      {
        env: 'production',
        signal: abort.signal,
        onProgress: (p) => {
          seen.push(p);
          if (p.phase === 'upload' && p.file === 'assets/assets/video.bin' && p.done > 0) {
            abort.abort(new Error('publish cancelled'));
          }
        },
      },
    );
    await expect(publishing).rejects.toThrow('publish cancelled');
    const uploaded = seen.filter((p) => p.phase === 'upload').at(-1);
    expect(uploaded?.done).toBeLessThan(uploaded?.total ?? 0);
    expect(seen.some((p) => p.phase === 'commit')).toBe(false);
    expect(await elsewhere.deployment(build.id)).toBeUndefined();
    expect(await elsewhere.deployments()).toEqual([]);
    expect(await elsewhere.environments()).toEqual([]);
    expect(await store.blobHas(`sha256-${sha256(big)}`)).toBe(false);
    expect(await store.keys('manifest.')).toEqual([]);

    // Publishing again (not aborted) completes.
    const done = await plane.publish({ dir: build.dir }, { env: 'production' });
    expect(done.created).toBe(true);
    expect((await elsewhere.asset(sha256(big)))?.byteLength).toBe(big.byteLength);
  });

  it('refuses a build whose files do not match the manifest, committing nothing', async () => {
    const [plane] = await planes();
    const build = await writeBuild(root.path, 'bad', {
      assets: [{ path: '/assets/app.css', content: 'body{}' }],
    });
    await writeFile(join(build.dir, 'bundle.js'), 'tampered');
    await expect(plane.publish({ dir: build.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringMatching(/bundle\.js hashes to [0-9a-f]{64}, but the manifest says/),
    });

    const asset = await writeBuild(root.path, 'bad-asset', {
      assets: [{ path: '/assets/app.css', content: 'body{}' }],
    });
    await writeFile(join(asset.dir, 'assets', 'assets', 'app.css'), 'body{color:red}');
    await expect(plane.publish({ dir: asset.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('assets/assets/app.css hashes to'),
    });

    await rm(join(asset.dir, 'assets', 'assets', 'app.css'));
    await expect(plane.publish({ dir: asset.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('assets/assets/app.css is missing'),
    });

    const malformed = await writeBuild(root.path, 'malformed');
    const manifest = JSON.parse(await readFile(join(malformed.dir, 'manifest.json'), 'utf8'));
    await writeFile(
      join(malformed.dir, 'manifest.json'),
      JSON.stringify({ ...manifest, bundleHash: 'nope' }),
    );
    await expect(plane.publish({ dir: malformed.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('bundleHash'),
    });
    await writeFile(
      join(malformed.dir, 'manifest.json'),
      JSON.stringify({ ...manifest, limits: { cpuMs: 0 } }),
    );
    await expect(plane.publish({ dir: malformed.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('limits.cpuMs must be a positive integer (got 0)'),
    });
    await writeFile(
      join(malformed.dir, 'manifest.json'),
      JSON.stringify({ ...manifest, assets: [{ ...manifest.assets[0], path: '/a/../../x' }] }),
    );
    await expect(plane.publish({ dir: malformed.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
    });
    await writeFile(join(malformed.dir, 'manifest.json'), '{ not json');
    await expect(plane.publish({ dir: malformed.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('not valid JSON'),
    });
    await expect(plane.publish({ dir: join(root.path, 'nowhere') })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringContaining('no readable manifest.json'),
    });
    expect(await plane.deployments()).toEqual([]);
  });

  it('pushes a promote to watchers in another process well within a second', async () => {
    const [plane, elsewhere] = await planes();
    const v1 = await writeBuild(root.path, 'v1');
    const v2 = await writeBuild(root.path, 'v2', { code: 'export default 2;' });
    await plane.publish({ dir: v1.dir }, { env: 'production' });
    await plane.publish({ dir: v2.dir });

    const lists: EnvironmentRecord[][] = [];
    const watch = elsewhere.watchEnvironments((envs) => lists.push(envs));
    await watch.initial;
    expect(lists).toHaveLength(1);
    expect(lists[0]?.map((e) => e.deploymentId)).toEqual([v1.id]);

    const promotedAt = performance.now();
    await plane.promote(v2.id, 'production');
    let seenAfter = Number.POSITIVE_INFINITY;
    while (performance.now() - promotedAt < 1000) {
      if (lists.at(-1)?.[0]?.deploymentId === v2.id) {
        seenAfter = performance.now() - promotedAt;
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(seenAfter).toBeLessThan(1000);

    // A new environment and a configure are pushed too, always as the full list.
    await plane.promote(v1.id, 'staging');
    await plane.configure('shop', 'staging', { vars: { GREETING: 'hi' } });
    const deadline = Date.now() + 2000;
    while (lists.at(-1)?.find((e) => e.env === 'staging')?.vars.GREETING !== 'hi') {
      if (Date.now() > deadline) throw new Error(`no update: ${JSON.stringify(lists.at(-1))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(lists.at(-1)?.map((e) => `${e.app}.${e.env}`)).toEqual([
      'shop.production',
      'shop.staging',
    ]);
    watch.stop();
    const count = lists.length;
    await plane.rollback('shop', 'production');
    await new Promise((r) => setTimeout(r, 100));
    expect(lists).toHaveLength(count);
  });

  it('explains a rollback with nothing to roll back to', async () => {
    const [plane] = await planes();
    const v1 = await writeBuild(root.path, 'v1');
    await expect(plane.rollback('shop', 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
      message: 'app shop has no environment production: nothing to roll back',
    });
    await plane.publish({ dir: v1.dir }, { env: 'production' });
    await expect(plane.rollback('shop', 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      message: expect.stringContaining('has no earlier deployment to roll back to'),
    });
    await expect(plane.rollback('Shop!', 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
  });

  it('keeps at most 20 earlier deployments, newest first, without repeats', async () => {
    const [plane] = await planes();
    const ids: string[] = [];
    for (let i = 0; i < 23; i++) {
      const b = await writeBuild(root.path, `v${i}`, { code: `export default ${i};` });
      ids.push((await plane.publish({ dir: b.dir }, { env: 'production' })).deployment.id);
    }
    const env = (await plane.environments('shop'))[0];
    expect(env?.deploymentId).toBe(ids[22]);
    expect(env?.history).toEqual(ids.slice(2, 22).reverse());
    // Promoting an earlier one moves it out of the history.
    const again = await plane.promote(ids[10] as string, 'production');
    expect(again.history[0]).toBe(ids[22]);
    expect(again.history).not.toContain(ids[10]);
    expect(new Set(again.history).size).toBe(again.history.length);
    // Promoting what is served changes nothing.
    expect(await plane.promote(ids[10] as string, 'production')).toEqual(again);
  });

  it('serialises racing promotes with compare-and-set: no update is lost', async () => {
    const [plane, elsewhere] = await planes();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const b = await writeBuild(root.path, `r${i}`, { code: `export default ${i};` });
      ids.push((await plane.publish({ dir: b.dir })).deployment.id);
    }
    await Promise.all(
      ids.map((id, i) => (i % 2 === 0 ? plane : elsewhere).promote(id, 'production')),
    );
    const env = (await plane.environments('shop'))[0];
    expect([env?.deploymentId, ...(env?.history ?? [])].sort()).toEqual([...ids].sort());
  });

  it('configures regions, backends and variables, refusing what the manifest does not declare', async () => {
    const [plane] = await planes();
    const v1 = await writeBuild(root.path, 'v1', {
      backends: { api: 'http://127.0.0.1:9', images: 'https://img.example' },
    });
    await expect(plane.configure('shop', 'production', { vars: { A: 'b' } })).rejects.toMatchObject(
      { code: 'FLOTILLA_ERR_NOT_FOUND', message: expect.stringContaining('promote a deployment') },
    );
    await plane.publish({ dir: v1.dir }, { env: 'production' });

    const configured = await plane.configure('shop', 'production', {
      primaryRegion: 'us-east',
      secondaryRegion: 'eu-west',
      backends: { api: 'https://api.internal:8443/' },
      vars: { API_TOKEN: 's3cret', GREETING: 'hello' },
    });
    expect(configured).toMatchObject({
      primaryRegion: 'us-east',
      secondaryRegion: 'eu-west',
      backends: { api: 'https://api.internal:8443' },
      vars: { API_TOKEN: 's3cret', GREETING: 'hello' },
    });
    const patched = await plane.configure('shop', 'production', {
      secondaryRegion: null,
      backends: { api: null, images: 'http://127.0.0.1:8081' },
      vars: { GREETING: null },
    });
    expect(patched.secondaryRegion).toBeUndefined();
    expect(patched.primaryRegion).toBe('us-east');
    expect(patched.backends).toEqual({ images: 'http://127.0.0.1:8081' });
    expect(patched.vars).toEqual({ API_TOKEN: 's3cret' });

    const refused = async (patch: object, field: string, text: string) => {
      await expect(
        plane.configure('shop', 'production', patch as never),
        field,
      ).rejects.toMatchObject({
        code: 'FLOTILLA_ERR_INVALID_OPTION',
        message: expect.stringContaining(`option "${field}" ${text}`),
      });
    };
    await refused(
      { backends: { payments: 'https://pay.example' } },
      'backends.payments',
      'is not a backend of shop-',
    );
    await refused({ backends: { api: 'ftp://x' } }, 'backends.api', 'must be an http(s) origin');
    await refused(
      { backends: { api: 'https://x/path' } },
      'backends.api',
      'must be an http(s) origin',
    );
    await refused({ primaryRegion: 'US EAST' }, 'primaryRegion', 'must be 1-63 lower-case');
    await refused({ secondaryRegion: 'us.east' }, 'secondaryRegion', 'must be 1-63 lower-case');
    await refused(
      { secondaryRegion: 'us-east' },
      'secondaryRegion',
      'must differ from primaryRegion',
    );
    await refused({ vars: { 'BAD-NAME': 'x' } }, 'vars.BAD-NAME', 'is not a variable name');
    await refused({ vars: { OK: 3 } }, 'vars.OK', 'must be a string');
    await refused({ region: 'x' }, 'region', 'is not a setting of an environment');
    // Nothing refused was written.
    expect((await plane.environments('shop'))[0]).toEqual(patched);

    // A new primary that was the secondary drops the secondary.
    await plane.configure('shop', 'production', { secondaryRegion: 'eu-west' });
    const moved = await plane.configure('shop', 'production', { primaryRegion: 'eu-west' });
    expect(moved.primaryRegion).toBe('eu-west');
    expect(moved.secondaryRegion).toBeUndefined();
  });

  it('deletes a deployment only when no environment serves it', async () => {
    const [plane, elsewhere, store] = await planes();
    const v1 = await writeBuild(root.path, 'v1');
    const v2 = await writeBuild(root.path, 'v2', { code: 'export default 2;' });
    await plane.publish({ dir: v1.dir }, { env: 'production' });
    await plane.publish({ dir: v2.dir }, { env: 'production' });
    await expect(plane.deleteDeployment(v2.id)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      message: expect.stringContaining(`deployment ${v2.id} is served by environment production`),
    });
    await elsewhere.deleteDeployment(v1.id);
    expect(await plane.deployment(v1.id)).toBeUndefined();
    expect(await store.get(`manifest.${v1.id}`)).toBeUndefined();
    await expect(plane.manifest(v1.id)).rejects.toMatchObject({ code: 'FLOTILLA_ERR_NOT_FOUND' });
    // The environment forgot it: nothing left to roll back to.
    expect((await plane.environments('shop'))[0]?.history).toEqual([]);
    await expect(plane.rollback('shop', 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
    });
    await expect(plane.deleteDeployment(v1.id)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    // Published again, it is back (blobs were kept).
    expect((await plane.publish({ dir: v1.dir })).created).toBe(true);
  });

  it('refuses unknown deployments and bad names', async () => {
    const [plane] = await planes();
    await expect(plane.promote('shop-000000000000', 'production')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
      message: 'deployment shop-000000000000 does not exist',
    });
    await expect(plane.promote('shop-000000000000', 'Prod')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
      message: expect.stringContaining('option "env"'),
    });
    await expect(plane.bundle('shop-000000000000')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    expect(await plane.deployment('not a valid id')).toBeUndefined();
    const build = await writeBuild(root.path, 'v1');
    await expect(plane.publish({ dir: build.dir }, { env: 'prod.x' })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
    });
    expect(await plane.deployments()).toEqual([]);
  });
});

describe('ControlPlane options', () => {
  it('validates them, naming the bad option', () => {
    const store = new MemoryControlStore();
    expect(() => new ControlPlane(undefined as never)).toThrow('option "options" is required');
    expect(() => new ControlPlane({} as never)).toThrow('option "store" is required');
    expect(() => new ControlPlane({ store: {} as never })).toThrow(
      'option "store" must be a ControlStore',
    );
    expect(() => new ControlPlane({ store, previewDomain: 'Preview Domain' })).toThrow(
      'option "previewDomain" must be a lower-case host name',
    );
    expect(() => new ControlPlane({ store, uploadConcurrency: 0 })).toThrow(
      'option "uploadConcurrency" must be a positive integer',
    );
    expect(() => new ControlPlane({ store, log: 'x' as never })).toThrow('option "log"');
    const plane = new ControlPlane({ store, previewDomain: 'preview.example.com' });
    expect(plane.previewHost('shop-0123456789ab')).toBe('shop-0123456789ab.preview.example.com');
  });

  it('validates publish options', async () => {
    const plane = new ControlPlane({ store: new MemoryControlStore() });
    await expect(plane.publish({ dir: '' })).rejects.toThrow('option "build.dir"');
    await expect(plane.publish({ dir: '/x' }, { onProgress: 3 as never })).rejects.toThrow(
      'option "onProgress" must be a function',
    );
    await expect(plane.publish({ dir: '/x' }, { signal: {} as never })).rejects.toThrow(
      'option "signal" must be an AbortSignal',
    );
    await expect(
      plane.publish({ dir: '/x' }, { signal: AbortSignal.abort(new Error('already')) }),
    ).rejects.toThrow('already');
  });
});
