/**
 * `flotilla publish` refuses a bundle over the 10 MiB cap workers load
 * (`MAX_BUNDLE_BYTES`) before anything is uploaded: the real CLI against a
 * real nats-server with JetStream, then the object store is listed.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '@flotilla/manifest';
import { MAX_BUNDLE_BYTES } from '@flotilla/protocol';
import { type NatsServerHandle, runCli, startNatsServer } from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let nats: NatsServerHandle;
let nc: NatsConnection;
let dir: string;

/** A build directory whose bundle.js is `bytes` long; `declared` is what its manifest says. */
async function writeBuild(name: string, bytes: number, declared = bytes): Promise<string> {
  const out = join(dir, name);
  await mkdir(join(out, 'assets'), { recursive: true });
  const head = `Flotilla.serve(() => new Response('${name}'));\n//`;
  const code = head + 'x'.repeat(bytes - head.length);
  const bundleHash = createHash('sha256').update(code).digest('hex');
  const manifest: Manifest = {
    manifestVersion: 2,
    name,
    framework: 'none',
    bundleHash,
    bundleBytes: declared,
    contentHash: createHash('sha256').update(`${bundleHash}${name}`).digest('hex'),
    builtAt: new Date().toISOString(),
    routes: [
      {
        id: 0,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'render' },
        headerOps: [],
      },
    ],
    backends: {},
    assets: [],
  };
  await writeFile(join(out, 'bundle.js'), code);
  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest));
  return out;
}

async function api(subject: string): Promise<Record<string, unknown>> {
  return (await nc.request(subject, '{}', { timeout: 5000 })).json();
}

/** Messages in the object store's stream (chunks and metadata of every blob). */
async function storedBlobMessages(): Promise<number> {
  const info = await api('$JS.API.STREAM.INFO.OBJ_flotilla_blobs');
  if (info.error) return 0; // no bucket yet: nothing stored
  return (info.state as { messages: number }).messages;
}

/** Keys of the control plane's KV bucket. */
async function deploymentKeys(): Promise<number> {
  const info = await api('$JS.API.STREAM.INFO.KV_flotilla_control');
  if (info.error) return 0;
  return (info.state as { messages: number }).messages;
}

function publish(build: string) {
  return runCli(['publish', '--build-dir', build, '--nats', nats.url], {
    timeoutMs: 90_000,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-oversize-'));
  nats = await startNatsServer({ jetstream: true });
  nc = await connect({ servers: nats.url, name: 'oversize-test' });
}, 60_000);

afterAll(async () => {
  await nc?.close().catch(() => {});
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('flotilla publish of an oversized bundle', { timeout: 120_000 }, () => {
  it('exits 1 naming the size and the cap, and stores nothing', async () => {
    const bytes = 12 * 1024 * 1024;
    const res = await publish(await writeBuild('big-app', bytes));
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`${bytes} bytes (12.0 MiB)`);
    expect(res.stderr).toContain(`${MAX_BUNDLE_BYTES} bytes (10.0 MiB)`);
    expect(res.stderr).toMatch(/nothing was uploaded/);
    expect(await storedBlobMessages()).toBe(0);
    expect(await deploymentKeys()).toBe(0);
  });

  it('refuses it too when the manifest understates the size', async () => {
    const res = await publish(await writeBuild('sly-app', MAX_BUNDLE_BYTES + 1, 1000));
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`${MAX_BUNDLE_BYTES + 1} bytes`);
    expect(await storedBlobMessages()).toBe(0);
    expect(await deploymentKeys()).toBe(0);
  });

  it('publishes a bundle at the cap', async () => {
    const res = await publish(await writeBuild('full-app', MAX_BUNDLE_BYTES));
    expect(res.code, res.stderr).toBe(0);
    expect(await storedBlobMessages()).toBeGreaterThan(0);
    expect(await deploymentKeys()).toBeGreaterThan(0);
  });
});
