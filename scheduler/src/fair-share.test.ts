import {
  decodeRenderRequest,
  decodeRenderResult,
  encodeHeartbeat,
  encodeRenderRequest,
  encodeRenderResult,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
} from '@flotilla/protocol';
import { waitFor } from '@flotilla/test-harness';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { appOf, FairShare } from './fair-share.ts';
import { Scheduler } from './scheduler.ts';

const REGION = 'fair';
const subjects = regionSubjects(REGION);
const enc = new TextEncoder();
const dec = new TextDecoder();

describe('FairShare', () => {
  it('names the app of a deployment id', () => {
    expect(appOf('react-shop-95d0bbaecb91')).toBe('react-shop');
    expect(appOf('dep-a')).toBe('dep-a');
  });

  it('keeps the reserve free from a lone app, and gives a newcomer its share of the rest', () => {
    const fair = new FairShare({ reserve: 0.25 });
    // 8 slots, 2 reserved: a lone app takes 6.
    for (let i = 0; i < 6; i++) {
      expect(fair.mayStart('a', 8, i)).toBe(true);
      fair.begin('a');
    }
    expect(fair.mayStart('a', 8, 6)).toBe(false);
    // Another app starts at once: it is within its share (6 ÷ 2 apps).
    expect(fair.share('b', 8)).toBe(3);
    expect(fair.mayStart('b', 8, 6)).toBe(true);
    fair.begin('b');
    // While b waits, a (over its share of 3) may not start even when a slot frees.
    const ticket = fair.enqueue('b');
    fair.end('a');
    expect(fair.mayStart('a', 8, 6)).toBe(false);
    expect(fair.mayStart('b', 8, 6)).toBe(true);
    ticket.leave();
    expect(fair.queued).toBe(0);
  });

  it('lets an app past its CPU share borrow in-flight slots while the CPU and in-flight reserves stay free', () => {
    const fair = new FairShare({ reserve: 0.25 });
    // 2 CPU slots (1 reserved), 8 in flight (2 reserved); b has a render in flight.
    fair.begin('b');
    fair.begin('a');
    // a holds its CPU share (1); its renders wait on I/O, nothing runs: it may borrow.
    expect(fair.mayStart('a', 2, 0, { slots: 8, inFlight: 2 })).toBe(true);
    // Not while a render runs (the CPU reserve) …
    expect(fair.mayStart('a', 2, 1, { slots: 8, inFlight: 2 })).toBe(false);
    // … nor past the in-flight bound less its reserve (waiting renders count).
    expect(fair.mayStart('a', 2, 0, { slots: 8, inFlight: 5 })).toBe(true);
    expect(fair.mayStart('a', 2, 0, { slots: 8, inFlight: 6 })).toBe(false);
    // b, under its share, starts whatever a holds.
    expect(fair.mayStart('b', 2, 1, { slots: 8, inFlight: 6 })).toBe(false);
    fair.end('b');
    expect(fair.mayStart('b', 2, 1, { slots: 8, inFlight: 6 })).toBe(true);
  });

  it('lets an app borrow idle slots beyond its share while no other app waits', () => {
    const fair = new FairShare({ reserve: 0.25 });
    fair.begin('b');
    for (let i = 0; i < 3; i++) fair.begin('a');
    // a holds its share (3 of 6): it borrows up to the reserve while b does not wait.
    expect(fair.mayStart('a', 8, 4)).toBe(true);
    expect(fair.mayStart('a', 8, 6)).toBe(false);
    fair.enqueue('b');
    expect(fair.mayStart('a', 8, 4)).toBe(false);
  });

  it('wakes the waiting misses round-robin across apps, rotating the first app', async () => {
    const fair = new FairShare();
    const order: string[] = [];
    const wait = (app: string, label: string) => {
      const t = fair.enqueue(app);
      return t.wait(10_000).then(() => {
        order.push(label);
        t.leave();
      });
    };
    const all = [
      wait('a', 'a1'),
      wait('a', 'a2'),
      wait('a', 'a3'),
      wait('b', 'b1'),
      wait('c', 'c1'),
    ];
    fair.wakeAll();
    await Promise.all(all);
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'a3']);
    // Next time, another app is served first.
    order.length = 0;
    const again = [wait('a', 'a4'), wait('b', 'b2')];
    fair.wakeAll();
    await Promise.all(again);
    expect(order).toEqual(['b2', 'a4']);
  });

  it('shares the queue: an app alone may fill it, with others its part of it', () => {
    const fair = new FairShare();
    for (let i = 0; i < 4; i++) fair.enqueue('a');
    expect(fair.mayQueue('a', 4)).toBe(false);
    expect(fair.mayQueue('b', 4)).toBe(true);
    expect(fair.mayQueue('a', 0)).toBe(false);
  });

  it('validates its reserve, naming the option', () => {
    expect(() => new FairShare({ reserve: 1 })).toThrow(/fairShareReserve/);
    expect(() => new FairShare({ reserve: -0.1 })).toThrow(/fairShareReserve/);
  });
});

/** Workers that hold every render until released, and count what they got by app. */
class HoldingWorkers {
  readonly held: Array<{ req: RenderRequest; release: () => void }> = [];
  constructor(transport: InProcessTransport, ids: string[], capacity: number) {
    for (const id of ids) {
      transport.serve(subjects.workerRender(id), async (msg) => {
        const req = decodeRenderRequest(msg);
        await new Promise<void>((release) => this.held.push({ req, release }));
        const result: RenderResult = {
          ok: true,
          status: 200,
          headers: [],
          body: enc.encode(req.requestId),
          timings: {},
        };
        return encodeRenderResult(result);
      });
      transport.publish(
        subjects.heartbeat,
        encodeHeartbeat({
          workerId: id,
          inFlight: 0,
          capacity,
          warm: [],
          draining: false,
          intervalMs: 60_000,
        }),
      );
    }
  }

  heldOf(app: string): number {
    return this.held.filter((h) => appOf(h.req.deploymentId) === app).length;
  }

  releaseFirstOf(app: string): void {
    const i = this.held.findIndex((h) => appOf(h.req.deploymentId) === app);
    const [h] = this.held.splice(i, 1);
    h?.release();
  }

  releaseAll(): void {
    for (const h of this.held.splice(0)) h.release();
  }
}

function request(app: string, id: string): RenderRequest {
  return {
    deploymentId: `${app}-0123456789ab`,
    method: 'GET',
    url: `http://${app}.localhost/`,
    headers: [],
    body: new Uint8Array(0),
    deadline: Date.now() + 30_000,
    traceparent: '',
    requestId: id,
    attempt: 1,
  };
}

async function miss(transport: InProcessTransport, req: RenderRequest): Promise<RenderResult> {
  return decodeRenderResult(
    await transport.request(subjects.miss, encodeRenderRequest(req), { timeoutMs: 30_000 }),
  );
}

function until(check: () => boolean, message = 'condition not met'): Promise<number> {
  return waitFor(check, { intervalMs: 5, timeoutMs: 10_000, message });
}

/** Releases every render, those dispatched from the queue meanwhile too, until `misses` settle. */
async function settleAll(
  workers: HoldingWorkers,
  misses: Promise<RenderResult>[],
): Promise<RenderResult[]> {
  let settled = false;
  const all = Promise.all(misses).finally(() => {
    settled = true;
  });
  while (!settled) {
    workers.releaseAll();
    await new Promise((r) => setTimeout(r, 5));
  }
  return all;
}

const running: Array<{ scheduler: Scheduler; workers: HoldingWorkers }> = [];
afterEach(async () => {
  for (const { scheduler, workers } of running.splice(0)) {
    workers.releaseAll();
    await scheduler.drain();
  }
});

function region(capacityPerWorker = 4) {
  const transport = new InProcessTransport();
  const registry = new Registry();
  const scheduler = new Scheduler({
    transport,
    region: REGION,
    registry,
    maxQueueWaitMs: 20_000,
  });
  scheduler.start();
  const workers = new HoldingWorkers(transport, ['w-1', 'w-2'], capacityPerWorker);
  running.push({ scheduler, workers });
  return { transport, registry, scheduler, workers };
}

describe('Scheduler fair share', () => {
  it('an app flooding the region with slow renders leaves room for another app at once', async () => {
    const { transport, registry, scheduler, workers } = region();
    await scheduler.waitForWorkers(2, 1000);
    // A sends twice the region's 8 slots; its renders hold their slots.
    const flood = Array.from({ length: 16 }, (_, i) => miss(transport, request('a', `a${i}`)));
    await until(
      () => workers.heldOf('a') === 6 && scheduler.queued === 10,
      `a holds ${workers.heldOf('a')}`,
    );
    expect(
      (await registry.getSingleMetric('flotilla_scheduler_app_in_flight')?.get())?.values.find(
        (v) => v.labels.app === 'a',
      )?.value,
    ).toBe(6);
    // B's miss reaches a worker while A's are still held.
    const b = miss(transport, request('b', 'b0'));
    await until(() => workers.heldOf('b') === 1);
    workers.releaseFirstOf('b');
    expect(dec.decode(((await b) as { body: Uint8Array }).body)).toBe('b0');
    for (const r of await settleAll(workers, flood)) expect(r.ok).toBe(true);
  });

  it('while both apps wait, a freed slot goes to the app under its share', async () => {
    const { transport, scheduler, workers } = region();
    await scheduler.waitForWorkers(2, 1000);
    const a = Array.from({ length: 10 }, (_, i) => miss(transport, request('a', `a${i}`)));
    await until(() => workers.heldOf('a') === 6);
    const b = Array.from({ length: 6 }, (_, i) => miss(transport, request('b', `b${i}`)));
    // B takes the two reserved slots; the rest of B and A wait.
    await until(() => workers.heldOf('b') === 2);
    // A is over its share (3 of 6): each slot A frees goes to B until B holds 3.
    workers.releaseFirstOf('a');
    await until(() => workers.heldOf('b') === 3);
    expect(workers.heldOf('a')).toBe(5);
    const done = async () => {
      while (workers.held.length > 0 || scheduler.dispatching > 0) {
        workers.releaseAll();
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await Promise.all([done(), ...a, ...b]);
  });
});
