/**
 * A real RenderWorker (a piscina thread, isolates, snapshot-making child
 * processes) over a real nats-server: a pre-warm renders the deployment's
 * declared routes; once the deployment has loaded fresh on the thread a
 * second time (evicted and back), the thread makes its startup snapshot in
 * the background, and the deployment's next isolate on that thread starts
 * from it (counted in `flotilla_worker_snapshot_starts_total`) with none of
 * the earlier isolates' state, nor the snapshot's warm-up renders'.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeRenderResult,
  encodeRenderRequest,
  FlotillaError,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import {
  metricValue,
  type NatsServerHandle,
  startNatsServer,
  waitFor,
} from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { type BundleStore, RenderWorker, type ResolvedBundle } from '@flotilla/workers';
import { connect } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REGION = 'it-snapshots';
const subjects = regionSubjects(REGION);

/** Remembers every path it rendered (and whether it was a pre-warm) in module state. */
const RECORDER = `
const seen = [];
Flotilla.serve((req) => {
  const url = new URL(req.url);
  if (url.pathname === '/seen') return Response.json(seen);
  seen.push(url.pathname + url.search + (req.headers.get('x-flotilla-prewarm') === '1' ? ' (prewarm)' : ''));
  return new Response('page ' + url.pathname);
});`;
const OTHER = `Flotilla.serve(() => new Response('other'));`;
const PATHS = ['/', '/about', '/p/1?tab=spec'];

describe('a worker starting isolates from snapshots', { timeout: 180_000 }, () => {
  let nats: NatsServerHandle;
  let root: string;
  let client: NatsTransport;
  let worker: RenderWorker;
  const registry = new Registry();
  const logs: Array<Record<string, unknown>> = [];
  const previousMax = process.env.FLOTILLA_MAX_ISOLATES_PER_THREAD;

  beforeAll(async () => {
    nats = await startNatsServer();
    root = await mkdtemp(join(tmpdir(), 'flotilla-worker-snapshots-'));
    const bundles = new Map<string, ResolvedBundle>();
    for (const [id, code, paths] of [
      ['recorder', RECORDER, PATHS],
      ['other', OTHER, undefined],
    ] as const) {
      const bundlePath = join(root, `${id}.js`);
      await writeFile(bundlePath, code);
      bundles.set(id, {
        deploymentId: id,
        bundlePath,
        bundleHash: createHash('sha256').update(code).digest('hex'),
        ...(paths ? { prewarmPaths: [...paths] } : {}),
      });
    }
    const store: BundleStore = {
      async resolve(id) {
        const bundle = bundles.get(id);
        if (!bundle) throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no ${id}`);
        return bundle;
      },
    };
    // One isolate per thread: rendering `other` evicts `recorder`, whose next
    // isolate is the one that starts from the snapshot.
    process.env.FLOTILLA_MAX_ISOLATES_PER_THREAD = '1';
    const workerNc = await connect({ servers: nats.url });
    worker = new RenderWorker({
      transport: new NatsTransport({ connection: workerNc }),
      region: REGION,
      bundles: store,
      workerId: 'w-snap',
      threads: 1,
      registry,
      log: (line) => logs.push(line),
    });
    await worker.start();
    await workerNc.flush();
    client = new NatsTransport({ connection: await connect({ servers: nats.url }) });
  });

  afterAll(async () => {
    if (previousMax === undefined) delete process.env.FLOTILLA_MAX_ISOLATES_PER_THREAD;
    else process.env.FLOTILLA_MAX_ISOLATES_PER_THREAD = previousMax;
    await worker?.drain();
    await client?.drain();
    await nats?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function render(deploymentId: string, path: string): Promise<RenderResult> {
    const reply = await client.request(
      subjects.workerRender('w-snap'),
      encodeRenderRequest({
        deploymentId,
        method: 'GET',
        url: `http://shop.test${path}`,
        headers: [],
        body: new Uint8Array(0),
        deadline: Date.now() + 20_000,
        traceparent: '',
        requestId: `r-${deploymentId}-${Math.random()}`,
        attempt: 1,
      }),
      { timeoutMs: 20_000 },
    );
    return decodeRenderResult(reply);
  }

  async function seen(): Promise<string[]> {
    const result = await render('recorder', '/seen');
    if (!result.ok) throw new Error(result.error.message);
    return JSON.parse(Buffer.from(result.body).toString()) as string[];
  }

  const metric = (name: string, labels: Record<string, string> = {}) =>
    metricValue(registry, name, labels);

  it('pre-warms every declared route, in order, as pre-warm renders', async () => {
    const warmed = await worker.prewarm('recorder', 20_000);
    expect(warmed).toEqual({ threads: 1, warm: 1 });
    expect(await seen()).toEqual(PATHS.map((p) => `${p} (prewarm)`));
    expect(await metric('flotilla_worker_snapshot_starts_total')).toBe(0);
  });

  it('starts the deployment’s isolate from its snapshot once it came back, with fresh state', async () => {
    // Evicted by `other` (one isolate per thread), then loaded fresh a second
    // time: that load asks for its snapshot.
    expect((await render('other', '/')).ok).toBe(true);
    expect((await render('recorder', '/back')).ok).toBe(true);
    expect(await metric('flotilla_worker_cold_starts_total', { deployment: 'recorder' })).toBe(2);
    // The snapshot is made in the background; the thread reports it with its
    // next answer.
    await waitFor(
      async () => {
        await render('recorder', '/ping');
        return (await metric('flotilla_worker_snapshots_total', { outcome: 'made' })) >= 1;
      },
      { timeoutMs: 150_000, intervalMs: 200, message: 'no snapshot made' },
    );
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: 'snapshot made', deployment: 'recorder', worker: 'w-snap' }),
    );
    const other = await render('other', '/');
    expect(other.ok && Buffer.from(other.body).toString()).toBe('other');
    const page = await render('recorder', '/about');
    expect(page.ok && Buffer.from(page.body).toString()).toBe('page /about');
    expect(await metric('flotilla_worker_snapshot_starts_total', { deployment: 'recorder' })).toBe(
      1,
    );
    expect(await metric('flotilla_worker_cold_starts_total', { deployment: 'recorder' })).toBe(3);
    // Neither the evicted isolates' renders nor the snapshot's warm-up renders are here.
    expect(await seen()).toEqual(['/about']);
  });
});
