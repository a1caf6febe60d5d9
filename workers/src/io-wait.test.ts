import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeHeartbeat,
  decodeRenderResult,
  encodeRenderRequest,
  type Heartbeat,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { metricValue, waitFor } from '@flotilla/test-harness';
import { type HoldingBackend, startHoldingBackend } from '@flotilla/test-harness/neighbours';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryBundleStore } from './bundle-store.ts';
import { RenderWorker } from './render-worker.ts';

/**
 * Renders awaiting a backend hold no CPU slot: a worker with one thread
 * and one task per thread (one CPU slot) holding renders of app A that
 * await a slow loopback backend still renders app B's pages.
 */

const REGION = 'test-east';
const subjects = regionSubjects(REGION);

const SLOW = `Flotilla.serve(async () => {
  const res = await fetch('backend://api/hold');
  return new Response('a ' + (await res.text()));
});`;
const FAST = `Flotilla.serve((req) => new Response('b ' + new URL(req.url).pathname));`;

let root: string;
let backend: HoldingBackend;
beforeAll(async () => {
  // Holds every request far longer than the test waits for B.
  backend = await startHoldingBackend(120_000);
  root = await mkdtemp(join(tmpdir(), 'flotilla-io-wait-test-'));
  const bundles: Array<[string, string, Record<string, string>?]> = [
    ['app-a', SLOW, { api: backend.url }],
    ['app-b', FAST],
  ];
  for (const [id, code, backends] of bundles) {
    await mkdir(join(root, id));
    await writeFile(join(root, id, 'bundle.js'), code);
    const bundleHash = createHash('sha256').update(code).digest('hex');
    await writeFile(
      join(root, id, 'manifest.json'),
      JSON.stringify({ bundleHash, routes: [], ...(backends ? { backends } : {}) }),
    );
  }
});
afterAll(async () => {
  backend?.releaseAll();
  await backend?.close();
  await rm(root, { recursive: true, force: true });
});

const running: RenderWorker[] = [];
afterEach(async () => {
  backend.releaseAll();
  await Promise.all(running.splice(0).map((w) => w.drain()));
});

function render(
  transport: InProcessTransport,
  worker: RenderWorker,
  deploymentId: string,
  path: string,
): Promise<RenderResult> {
  const message = encodeRenderRequest({
    deploymentId,
    method: 'GET',
    url: `http://shop.test${path}`,
    headers: [],
    body: new Uint8Array(0),
    deadline: Date.now() + 60_000,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    requestId: randomUUID(),
    attempt: 1,
  });
  return transport
    .request(subjects.workerRender(worker.workerId), message, { timeoutMs: 60_000 })
    .then(decodeRenderResult);
}

const text = (r: RenderResult) =>
  r.ok ? new TextDecoder().decode(r.body) : `${r.error.code}: ${r.error.message}`;

describe('renders waiting on backend I/O', () => {
  it('hold no CPU slot: one slot, three renders of A awaiting a slow backend, B renders at once', async () => {
    const transport = new InProcessTransport();
    const registry = new Registry();
    const heartbeats: Heartbeat[] = [];
    transport.subscribe(subjects.heartbeat, (msg) => heartbeats.push(decodeHeartbeat(msg)));
    const worker = new RenderWorker({
      transport,
      region: REGION,
      bundles: new DirectoryBundleStore(root),
      workerId: 'w-io',
      threads: 1,
      tasksPerThread: 1,
      registry,
      heartbeatIntervalMs: 60_000,
    });
    running.push(worker);
    await worker.start();
    expect(worker.capacity).toBe(1);
    expect(worker.ioSlots).toBe(4);
    // B warm first: its cold start is not what is measured.
    expect(text(await render(transport, worker, 'app-b', '/warm'))).toBe('b /warm');

    let slowSettled = 0;
    const slow = [1, 2, 3].map((i) =>
      render(transport, worker, 'app-a', `/a${i}`).finally(() => slowSettled++),
    );
    // All three run at once on the one slot: each awaits the backend.
    await waitFor(() => backend.holding === 3 && worker.ioWaiting === 3, {
      timeoutMs: 30_000,
      message: "A's three renders did not all await the backend at once",
    });
    // The schedulers learn it from a load update, not the next heartbeat (a minute away).
    await waitFor(() => heartbeats.at(-1)?.ioWaiting === 3, { timeoutMs: 30_000 });
    expect(heartbeats.at(-1)).toMatchObject({ inFlight: 3, capacity: 1, ioWaiting: 3, ioSlots: 4 });
    expect(await metricValue(registry, 'flotilla_worker_io_waiting', { worker: 'w-io' })).toBe(3);

    const b = await render(transport, worker, 'app-b', '/p/1');
    expect(text(b)).toBe('b /p/1');
    // B did not wait for A: the backend still holds all of A's renders.
    expect(backend.holding).toBe(3);
    expect(slowSettled).toBe(0);

    // A's continuations run in turn on the one slot once the backend answers.
    backend.releaseAll();
    const results = await Promise.all(slow);
    expect(results.map(text)).toEqual(['a held', 'a held', 'a held']);
    await waitFor(() => worker.ioWaiting === 0 && worker.inFlight === 0, { timeoutMs: 30_000 });
  }, 90_000);

  it('refuses ioSlots below the CPU slots', () => {
    expect(
      () =>
        new RenderWorker({
          transport: new InProcessTransport(),
          region: REGION,
          bundles: new DirectoryBundleStore(root),
          threads: 2,
          tasksPerThread: 2,
          ioSlots: 3,
        }),
    ).toThrow(/ioSlots.*at least threads × tasksPerThread \(4\), got 3/);
  });
});
