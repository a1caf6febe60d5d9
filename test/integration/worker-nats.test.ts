/**
 * A real RenderWorker (piscina threads, isolates) answering over a real
 * nats-server: the reply must fit in one NATS message.
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

  it('fails a page too big for one NATS message with FLOTILLA_ERR_OUTPUT_LIMIT, not a timeout', async () => {
    const result = await render(2_000_000);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.code).toBe('FLOTILLA_ERR_OUTPUT_LIMIT');
      expect(result.error.message).toMatch(/2000000 bytes, over the 983040-byte cap/);
    }
  });
});
