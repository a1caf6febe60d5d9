/**
 * Shield → scheduler → worker over a real nats-server, each on its own
 * connection as separate processes would be. The worker is a fake that
 * answers render requests directly (no isolates), so this checks the wire
 * path: subjects, queue groups, headers, bodies, retries, errors.
 */

import type { Manifest } from '@flotilla/manifest';
import {
  decodeRenderRequest,
  encodeHeartbeat,
  encodeRenderResult,
  type RenderRequest,
  regionSubjects,
  traceIdOf,
} from '@flotilla/protocol';
import { Scheduler } from '@flotilla/scheduler';
import { Shield, SiteDirectory, type SiteSource } from '@flotilla/shield';
import { metricValue, type NatsServerHandle, startNatsServer } from '@flotilla/test-harness';
import { NatsTransport, type Subscription } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

const REGION = 'it-region';
const subjects = regionSubjects(REGION);
const enc = new TextEncoder();

let nats: NatsServerHandle;
const connections: NatsConnection[] = [];
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f().catch(() => {});
  await Promise.all(connections.splice(0).map((nc) => (nc.isClosed() ? undefined : nc.close())));
});

afterAll(async () => {
  await nats?.stop();
});

async function transport(): Promise<{ nc: NatsConnection; t: NatsTransport }> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  return { nc, t: new NatsTransport({ connection: nc }) };
}

/** A worker process stand-in on its own connection. */
async function fakeWorker(id: string, warm: string[] = []) {
  const { nc, t } = await transport();
  const received: RenderRequest[] = [];
  const sub: Subscription = t.serve(subjects.workerRender(id), async (msg) => {
    const req = decodeRenderRequest(msg);
    received.push(req);
    return encodeRenderResult({
      ok: true,
      status: 200,
      headers: [
        ['content-type', 'application/octet-stream'],
        ['x-worker', id],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
      ],
      body: new Uint8Array([...enc.encode(`${id}|${req.method}|`), ...req.body]),
      timings: { worker: 2, render: 1 },
    });
  });
  await nc.flush();
  t.publish(
    subjects.heartbeat,
    encodeHeartbeat({
      workerId: id,
      inFlight: 0,
      capacity: 8,
      warm,
      draining: false,
      intervalMs: 1000,
    }),
  );
  await nc.flush();
  return { received, vanish: () => sub.drain() };
}

const registries = new WeakMap<Scheduler, Registry>();

async function startScheduler(): Promise<Scheduler> {
  const { nc, t } = await transport();
  const registry = new Registry();
  const scheduler = new Scheduler({ transport: t, region: REGION, registry });
  registries.set(scheduler, registry);
  scheduler.start();
  cleanups.push(() => scheduler.drain());
  await nc.flush();
  return scheduler;
}

/** A control plane in memory: app `shop` in production on deployment `dep-shop`. */
const shopSite: SiteSource = {
  watchEnvironments(onChange) {
    onChange([{ app: 'shop', env: 'production', deploymentId: 'dep-shop', history: [] }]);
    return { initial: Promise.resolve(), stop: () => {} };
  },
  async manifest(): Promise<Manifest> {
    return {
      manifestVersion: 2,
      name: 'shop',
      framework: 'none',
      bundleHash: 'b'.repeat(64),
      bundleBytes: 10,
      contentHash: 'c'.repeat(64),
      builtAt: '2026-11-22T00:00:00.000Z',
      routes: [],
      backends: {},
      assets: [],
    };
  },
  async asset() {
    return undefined;
  },
};

/** A shield forwarding every request (no cache) for `/shop/…` to `dep-shop`. */
async function startShield(requestTimeoutMs = 5000): Promise<string> {
  const { t } = await transport();
  const sites = new SiteDirectory({ source: shopSite });
  await sites.start();
  const shield = new Shield({
    transport: t,
    region: REGION,
    sites,
    cache: false,
    port: 0,
    requestTimeoutMs,
  });
  cleanups.push(async () => {
    await shield.drain();
    sites.stop();
  });
  return (await shield.listen()).url;
}

describe('shield → scheduler → worker over NATS', () => {
  it('renders a GET through both hops, keeping headers, trace id and the deployment', async () => {
    const scheduler = await startScheduler();
    const worker = await fakeWorker('w-1');
    await scheduler.waitForWorkers(1, 5000);
    const url = await startShield();
    const res = await fetch(`${url}/shop/p/1?x=1`, {
      headers: {
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        'X-Custom': 'Yes',
      },
    });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('w-1|GET|');
    expect(res.headers.get('x-worker')).toBe('w-1');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(res.headers.get('server-timing')).toMatch(
      /worker;dur=2\.00.*scheduler;dur=.*shield;dur=/,
    );
    const req = worker.received[0] as RenderRequest;
    expect(req.deploymentId).toBe('dep-shop');
    expect(req.url).toMatch(/\/p\/1\?x=1$/);
    expect(traceIdOf(req.traceparent)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(req.headers).toContainEqual(['x-custom', 'Yes']);
    expect(req.headers).toContainEqual(['x-forwarded-prefix', '/shop']);
  });

  it('answers 413 to a body larger than one NATS message can carry', async () => {
    const scheduler = await startScheduler();
    const worker = await fakeWorker('w-big');
    await scheduler.waitForWorkers(1, 5000);
    const url = await startShield();
    // The shield's own limit is 1 MiB; the server's max_payload (1 MiB with
    // headers) is the tighter one.
    const res = await fetch(`${url}/shop/upload`, {
      method: 'POST',
      body: new Uint8Array(1_000_000),
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(
      /^FLOTILLA_ERR_BODY_TOO_LARGE: request body is over 983040 bytes/,
    );
    expect(worker.received).toHaveLength(0);
  });

  it('carries a binary POST body to the worker and back', async () => {
    const scheduler = await startScheduler();
    const worker = await fakeWorker('w-1');
    await scheduler.waitForWorkers(1, 5000);
    const url = await startShield();
    const body = new Uint8Array(2048).map((_, i) => (i * 13) % 256);
    const res = await fetch(`${url}/shop/api`, { method: 'POST', body });
    const got = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(Buffer.compare(got.subarray('w-1|POST|'.length), Buffer.from(body))).toBe(0);
    expect(Buffer.compare(Buffer.from(worker.received[0]?.body ?? []), Buffer.from(body))).toBe(0);
  });

  it('retries on another worker when the chosen one is gone from NATS', async () => {
    const scheduler = await startScheduler();
    const gone = await fakeWorker('w-gone', ['dep-shop']);
    const other = await fakeWorker('w-other');
    await scheduler.waitForWorkers(2, 5000);
    await gone.vanish();
    const url = await startShield();
    const res = await fetch(`${url}/shop/`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('w-other|POST|x');
    expect(other.received.map((r) => r.attempt)).toEqual([2]);
    expect(scheduler.liveWorkers()).toBe(1);
  });

  it('spreads misses across two schedulers and answers every one', async () => {
    const one = await startScheduler();
    const two = await startScheduler();
    const worker = await fakeWorker('w-1');
    await Promise.all([one.waitForWorkers(1, 5000), two.waitForWorkers(1, 5000)]);
    const url = await startShield();
    const statuses = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const res = await fetch(`${url}/shop/`);
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect(worker.received).toHaveLength(40);
    const handled = await Promise.all(
      [one, two].map(async (s) => {
        const registry = registries.get(s);
        return registry ? metricValue(registry, 'flotilla_scheduler_dispatches_total') : 0;
      }),
    );
    expect(handled[0]).toBeGreaterThan(0);
    expect(handled[1]).toBeGreaterThan(0);
    expect((handled[0] ?? 0) + (handled[1] ?? 0)).toBe(40);
  });

  it('answers 503 NO_WORKERS when the scheduler has no worker, 503 NO_RESPONDERS with no scheduler', async () => {
    const url = await startShield(60_000);
    const none = await fetch(`${url}/shop/`);
    expect(none.status).toBe(503);
    expect(await none.text()).toMatch(/^FLOTILLA_ERR_NO_RESPONDERS:/);
    await startScheduler();
    const noWorkers = await fetch(`${url}/shop/`);
    expect(noWorkers.status).toBe(503);
    expect(await noWorkers.text()).toMatch(/^FLOTILLA_ERR_NO_WORKERS:/);
  }, 10_000);
});
