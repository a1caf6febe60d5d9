import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { controlSubject } from '@flotilla/protocol';
import { type NatsServerHandle, startNatsServer, waitFor } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { blobName } from './blobs.ts';
import { ControlClient } from './control-client.ts';
import { ControlPlane } from './control-plane.ts';
import { ControlService } from './control-service.ts';
import { UPLOAD_CHUNK_BYTES } from './control-verbs.ts';
import { MemoryControlStore } from './memory-control-store.ts';
import { sha256, tempDir, writeBuild } from './test-builds.ts';

/**
 * The control service and its client over a real nats-server (without
 * credentials: what nats-server authorises is the authorization suite's
 * part; here, what the service itself checks).
 */

let server: NatsServerHandle;
let nc: NatsConnection;
let root: { path: string; remove(): Promise<void> };
let store: MemoryControlStore;
let service: ControlService;
let client: ControlClient;

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
});

beforeEach(async () => {
  root = await tempDir('flotilla-control-');
  store = new MemoryControlStore();
  service = new ControlService({
    connection: nc,
    controlPlane: new ControlPlane({ store }),
    uploadDir: join(root.path, 'uploads'),
    maxUploadBytes: 2 * UPLOAD_CHUNK_BYTES,
  });
  service.start();
  client = new ControlClient({ connection: nc, timeoutMs: 20_000 });
});

afterEach(async () => {
  await service.drain();
  await root.remove();
});

describe('ControlService', () => {
  it('publishes a build uploaded in chunks, promotes and rolls back through the client', async () => {
    const big = 'x'.repeat(UPLOAD_CHUNK_BYTES + 1000); // two chunks
    const v1 = await writeBuild(root.path, 'v1', {
      assets: [{ path: '/assets/big.txt', content: big }],
    });
    const v2 = await writeBuild(root.path, 'v2', { code: 'export default 2;\n' });
    const first = await client.publish({ dir: v1.dir }, { env: 'production' });
    expect(first.deployment.id).toBe(v1.id);
    expect(first.environment?.deploymentId).toBe(v1.id);
    expect(await store.blobGet(blobName(sha256(big)))).toEqual(new TextEncoder().encode(big));
    await client.publish({ dir: v2.dir });
    expect((await client.promote(v2.id, 'production')).deploymentId).toBe(v2.id);
    expect((await client.rollback('shop', 'production')).deploymentId).toBe(v1.id);
    expect((await client.environments('shop')).map((e) => e.deploymentId)).toEqual([v1.id]);
    expect((await client.deployments()).map((d) => d.id).sort()).toEqual([v1.id, v2.id].sort());
    expect((await client.deployment(v2.id))?.app).toBe('shop');
  });

  it('refuses a build of another app than the subject’s, and stores nothing', async () => {
    const build = await writeBuild(root.path, 'alpha', { name: 'alpha' });
    const manifest = JSON.stringify(build.manifest);
    await client.call('beta', 'upload', {
      uploadId: 'u1',
      file: 'manifest.json',
      offset: 0,
      data: Buffer.from(manifest).toString('base64'),
    });
    await expect(client.call('beta', 'publish', { uploadId: 'u1' })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_FORBIDDEN',
      message: expect.stringMatching(/app "alpha", but was sent as beta/),
    });
    expect(await store.keys('')).toEqual([]);
  });

  it('refuses a deployment of another app than the subject’s', async () => {
    const build = await writeBuild(root.path, 'alpha', { name: 'alpha' });
    await client.publish({ dir: build.dir }, { env: 'production' });
    await expect(
      client.call('beta', 'promote', { deploymentId: build.id, env: 'production' }),
    ).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_FORBIDDEN',
      message: `deployment ${build.id} belongs to app alpha, not beta`,
    });
    await expect(client.call('beta', 'delete-deployment', { id: build.id })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_FORBIDDEN',
    });
    expect(await client.deployment(build.id)).toBeDefined();
  });

  it('refuses a purge not scoped to the subject’s app', async () => {
    for (const selector of [
      { kind: 'surrogate-key', key: 'k', app: 'alpha' },
      { kind: 'url', url: 'beta.localhost/' },
    ] as const) {
      await expect(client.call('beta', 'purge', { selector })).rejects.toMatchObject({
        code: 'FLOTILLA_ERR_FORBIDDEN',
        message: expect.stringMatching(/must be scoped to it \(--app beta\)/),
      });
    }
  });

  it.each([
    ['../escape', /file must be manifest.json, bundle.js or assets/],
    ['assets/../../escape', /must not contain empty, "\." or "\.\." segments/],
    ['assets//x', /must not contain empty/],
  ])('refuses the upload file name %j', async (file, message) => {
    await expect(
      client.call('shop', 'upload', { uploadId: 'u2', file, offset: 0, data: 'eA==' }),
    ).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_INVALID_OPTION',
      message: expect.stringMatching(message),
    });
  });

  it('refuses an upload larger than it accepts before storing it, and forgets it', async () => {
    const huge = 'y'.repeat(3 * UPLOAD_CHUNK_BYTES);
    const build = await writeBuild(root.path, 'huge', {
      assets: [{ path: '/assets/huge.txt', content: huge }],
    });
    await expect(client.publish({ dir: build.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
      message: expect.stringMatching(/larger than the control service accepts/),
    });
    expect(await store.keys('')).toEqual([]);
    expect(await store.blobHas(blobName(sha256(huge)))).toBe(false);
  });

  it('refuses a file that does not match its manifest before storing any blob', async () => {
    const build = await writeBuild(root.path, 'tampered', {
      assets: [{ path: '/assets/app.css', content: 'body{}' }],
    });
    await writeFile(join(build.dir, 'bundle.js'), 'export default "tampered";\n');
    await expect(client.publish({ dir: build.dir })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
    });
    expect(await store.keys('')).toEqual([]);
    expect(await store.blobHas(blobName(sha256('body{}')))).toBe(false);
  });

  it('holds at most maxUploadsPerApp uploads of one app at once', async () => {
    const chunk = (app: string, uploadId: string) =>
      client.call(app, 'upload', { uploadId, file: 'bundle.js', offset: 0, data: 'eA==' });
    for (const id of ['p1', 'p2', 'p3', 'p4']) await chunk('shop', id);
    await expect(chunk('shop', 'p5')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      message: 'app shop already has 4 uploads in progress: publish or wait for them',
    });
    await chunk('other', 'p6'); // another app is not held up
  });

  it('an interrupted upload never becomes a deployment', async () => {
    const build = await writeBuild(root.path, 'cut');
    await client.call('shop', 'upload', {
      uploadId: 'u3',
      file: 'manifest.json',
      offset: 0,
      data: Buffer.from(JSON.stringify(build.manifest)).toString('base64'),
    });
    // No bundle.js was sent: the publish fails its check and the upload is gone.
    await expect(client.call('shop', 'publish', { uploadId: 'u3' })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_BUNDLE',
    });
    await expect(client.call('shop', 'publish', { uploadId: 'u3' })).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    expect(await store.keys('')).toEqual([]);
  });
});

describe('messages that are no request', () => {
  it('ignores a control message without an inbox to answer or whose reply is not an inbox (as a JetStream consumer delivers)', async () => {
    const build = await writeBuild(root.path, 'alpha', { name: 'alpha' });
    await client.publish({ dir: build.dir }, { env: 'production' });
    // A service whose log this test reads, in place of the shared one.
    await service.drain();
    const lines: Record<string, unknown>[] = [];
    service = new ControlService({
      connection: nc,
      controlPlane: new ControlPlane({ store }),
      uploadDir: join(root.path, 'uploads-2'),
      log: (line) => lines.push(line),
    });
    service.start();
    await nc.flush();
    const configure = JSON.stringify({ env: 'production', patch: { vars: { PWNED: 'yes' } } });
    const subject = controlSubject('alpha', 'configure');
    nc.publish(subject, configure);
    nc.publish(subject, configure, { reply: 'not-an-inbox.reply' });
    await waitFor(() => lines.filter((l) => /ignored/.test(String(l.msg))).length === 2, {
      timeoutMs: 10_000,
      message: 'the service never looked at the two messages',
    }).catch((err) => {
      throw new Error(`${err.message}: ${JSON.stringify(lines)}`);
    });
    expect(lines.map((l) => l.reply)).toContain('not-an-inbox.reply');
    const [env] = await client.environments('alpha');
    expect(env?.vars).not.toHaveProperty('PWNED');
    // The same message as a request is applied.
    await client.configure('alpha', 'production', { vars: { PWNED: 'no, a request' } });
    expect((await client.environments('alpha'))[0]?.vars).toMatchObject({ PWNED: 'no, a request' });
  });
});

describe('several control services', () => {
  it('an upload’s chunks and its publish all reach the service that took the first chunk', async () => {
    const second = new ControlService({
      connection: nc,
      controlPlane: new ControlPlane({ store }),
      uploadDir: join(root.path, 'uploads-2'),
    });
    second.start();
    try {
      // Three builds of five requests each (manifest, bundle, two asset chunks, publish):
      // spread over the two services by the queue group, one would fail.
      for (const v of ['a', 'b', 'c']) {
        const big = v.repeat(2 * UPLOAD_CHUNK_BYTES - 10_000); // two chunks, within the cap
        const build = await writeBuild(root.path, `multi-${v}`, {
          assets: [{ path: '/assets/big.txt', content: big }],
          code: `export default ${JSON.stringify(v)};\n`,
        });
        expect((await client.publish({ dir: build.dir })).deployment.id).toBe(build.id);
      }
    } finally {
      await second.drain();
    }
  });
});

describe('ControlClient', () => {
  it('says so when no control service answers', async () => {
    await service.drain();
    await expect(client.environments('shop')).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NO_RESPONDERS',
      message: expect.stringMatching(
        /no control service answers flotilla\.control\.shop\.environments.*--role control/,
      ),
    });
  });
});
