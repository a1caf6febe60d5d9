/**
 * A real RenderWorker (piscina threads, isolates) answering over a real
 * nats-server: a page larger than one NATS message (1 MiB) travels in
 * chunks, so the output cap is the documented 10 MiB.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeRenderResult,
  encodeRenderRequest,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { type NatsServerHandle, startNatsServer } from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { DirectoryBundleStore, RenderWorker } from '@flotilla/workers';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REGION = 'it-worker';
const subjects = regionSubjects(REGION);

async function writeDeployment(root: string, id: string, code: string): Promise<void> {
  const dir = join(root, id);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'bundle.js'), code);
  const bundleHash = createHash('sha256').update(code).digest('hex');
  await writeFile(join(dir, 'manifest.json'), JSON.stringify({ name: id, bundleHash }));
}

describe('RenderWorker over NATS', () => {
  let nats: NatsServerHandle;
  let root: string;
  let nc: NatsConnection;
  let client: NatsTransport;
  let worker: RenderWorker;

  beforeAll(async () => {
    nats = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'flotilla-worker-nats-'));
    await writeDeployment(
      root,
      'big-page',
      `Flotilla.serve((req) => new Response('x'.repeat(Number(req.headers.get('x-size')))));`,
    );
    nc = await connect({ servers: nats.url });
    const workerNc = await connect({ servers: nats.url });
    worker = new RenderWorker({
      transport: new NatsTransport({ connection: workerNc }),
      region: REGION,
      bundles: new DirectoryBundleStore(root),
      workerId: 'w-nats',
      threads: 1,
    });
    await worker.start();
    // The worker's subscriptions are on the server once it answers a ping
    // (a scheduler waits for its heartbeat instead; this test asks at once).
    await workerNc.flush();
    client = new NatsTransport({ connection: nc });
  });

  afterAll(async () => {
    await worker?.drain();
    await client?.drain();
    await nats?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function render(size: number): Promise<RenderResult> {
    const reply = await client.request(
      subjects.workerRender('w-nats'),
      encodeRenderRequest({
        deploymentId: 'big-page',
        method: 'GET',
        url: 'http://big/',
        headers: [['x-size', String(size)]],
        body: new Uint8Array(0),
        deadline: Date.now() + 10_000,
        traceparent: '',
        requestId: `r-${size}`,
        attempt: 1,
      }),
      { timeoutMs: 10_000 },
    );
    return decodeRenderResult(reply);
  }

  it('returns a page that fits in one message', async () => {
    const result = await render(500_000);
    expect(result.ok && result.body.byteLength).toBe(500_000);
  });

  it('returns a page larger than one NATS message intact, in chunks', async () => {
    const result = await render(5_000_000);
    expect(result.ok && result.body.byteLength).toBe(5_000_000);
    expect(result.ok && result.body.every((b) => b === 0x78)).toBe(true);
  });

  it('fails a page over the 10 MiB output cap with FLOTILLA_ERR_OUTPUT_LIMIT', async () => {
    const result = await render(11 * 1024 * 1024);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
      expect(result.error.message).toMatch(/11534336 bytes, over the 10485760-byte cap/);
    }
  });
});
