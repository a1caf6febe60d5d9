import {
  decodeRenderRequest,
  decodeRenderResult,
  encodeHeartbeat,
  encodeRenderRequest,
  encodeRenderResult,
  type Heartbeat,
  type RenderRequest,
  type RenderResult,
  regionSubjects,
  WIRE_HEADERS,
} from '@flotilla/protocol';
import { InProcessTransport, type Subscription } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { Scheduler, type SchedulerOptions } from './scheduler.ts';

const REGION = 'test-region';
const subjects = regionSubjects(REGION);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Lets queued microtasks (in-process deliveries) and I/O callbacks run. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

type Answer = (req: RenderRequest) => RenderResult | Promise<RenderResult>;

/** A stand-in for a worker process: serves its render subject and heartbeats. */
class FakeWorker {
  readonly received: RenderRequest[] = [];
  answer: Answer = (req) => ({
    ok: true,
    status: 200,
    headers: [['x-worker', this.id]],
    body: enc.encode(`${this.id}:${req.method} ${req.url}`),
    timings: { worker: 5, render: 3 },
  });
  readonly transport: InProcessTransport;
  readonly id: string;
  readonly beat: Partial<Heartbeat>;
  #sub: Subscription;

  constructor(transport: InProcessTransport, id: string, beat: Partial<Heartbeat> = {}) {
    this.transport = transport;
    this.id = id;
    this.beat = beat;
    this.#sub = transport.serve(subjects.workerRender(id), async (msg) => {
      const req = decodeRenderRequest(msg);
      this.received.push(req);
      return encodeRenderResult(await this.answer(req));
    });
    this.heartbeat();
  }

  heartbeat(over: Partial<Heartbeat> = {}): void {
    const hb: Heartbeat = {
      workerId: this.id,
      inFlight: 0,
      capacity: 4,
      warm: [],
      draining: false,
      intervalMs: 1000,
      ...this.beat,
      ...over,
    };
    this.transport.publish(subjects.heartbeat, encodeHeartbeat(hb));
  }

  /** The process went away without telling anyone: its subject has no responders. */
  vanish(): Promise<void> {
    return this.#sub.drain();
  }
}

const running: Scheduler[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.drain()));
});

function startScheduler(transport: InProcessTransport, over: Partial<SchedulerOptions> = {}) {
  const registry = over.registry ?? new Registry();
  const logs: Array<Record<string, unknown>> = [];
  const scheduler = new Scheduler({
    transport,
    region: REGION,
    registry,
    log: (line) => logs.push(line),
    ...over,
  });
  scheduler.start();
  running.push(scheduler);
  return { scheduler, registry, logs };
}

function missRequest(over: Partial<RenderRequest> = {}): RenderRequest {
  return {
    deploymentId: 'dep-a',
    method: 'GET',
    url: 'http://shop.localhost/p/1',
    headers: [
      ['accept', 'text/html'],
      ['x-b', '2'],
      ['x-a', '1'],
    ],
    body: new Uint8Array(0),
    deadline: Date.now() + 10_000,
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    requestId: 'req-1',
    attempt: 1,
    ...over,
  };
}

async function miss(transport: InProcessTransport, req: RenderRequest): Promise<RenderResult> {
  const reply = await transport.request(subjects.miss, encodeRenderRequest(req), {
    timeoutMs: 5000,
  });
  return decodeRenderResult(reply);
}

async function counter(registry: Registry, name: string): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    // Known label sets start at 0; these tests count events.
    if (v.value === 0) continue;
    const key = Object.entries(v.labels)
      .filter(([k]) => k !== 'region')
      .map(([, value]) => String(value))
      .join(',');
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

function bodyOf(result: RenderResult): string {
  if (!result.ok)
    throw new Error(`expected a response, got ${result.error.code}: ${result.error.message}`);
  return dec.decode(result.body);
}

describe('Scheduler', () => {
  it('dispatches a miss to a worker and returns its answer with a scheduler timing', async () => {
    const t = new InProcessTransport();
    const { scheduler } = startScheduler(t);
    const w = new FakeWorker(t, 'w-1');
    await tick();
    expect(scheduler.liveWorkers()).toBe(1);
    const req = missRequest({
      method: 'POST',
      body: new Uint8Array([0, 255, 7]),
      headers: [['content-type', 'application/octet-stream']],
    });
    const result = await miss(t, req);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.status).toBe(200);
    expect(result.headers).toEqual([['x-worker', 'w-1']]);
    expect(dec.decode(result.body)).toBe('w-1:POST http://shop.localhost/p/1');
    expect(result.timings.worker).toBe(5);
    expect(result.timings.render).toBe(3);
    expect(result.timings.scheduler).toBeGreaterThanOrEqual(0);
    expect(result.timings.transport).toBeGreaterThanOrEqual(0);
    expect(w.received).toHaveLength(1);
    expect(w.received[0]).toEqual({ ...req, attempt: 1 });
  });

  it('sends a deployment to the worker holding it warm', async () => {
    const t = new InProcessTransport();
    startScheduler(t);
    const cold = new FakeWorker(t, 'w-cold');
    const warm = new FakeWorker(t, 'w-warm', { warm: ['dep-a'], inFlight: 1 });
    await tick();
    for (let i = 0; i < 5; i++) expect(bodyOf(await miss(t, missRequest()))).toMatch(/^w-warm:/);
    expect(warm.received).toHaveLength(5);
    expect(cold.received).toHaveLength(0);
  });

  for (const method of ['GET', 'POST']) {
    it(`drops a worker that vanished and renders the ${method} on another (it never started)`, async () => {
      const t = new InProcessTransport();
      const { scheduler, registry } = startScheduler(t);
      const gone = new FakeWorker(t, 'w-gone', { warm: ['dep-a'] });
      const other = new FakeWorker(t, 'w-other');
      await tick();
      await gone.vanish();
      expect(scheduler.liveWorkers()).toBe(2);
      const result = await miss(
        t,
        missRequest({ method, body: method === 'POST' ? enc.encode('{}') : new Uint8Array(0) }),
      );
      expect(bodyOf(result)).toBe(`w-other:${method} http://shop.localhost/p/1`);
      expect(other.received.map((r) => r.attempt)).toEqual([2]);
      expect(scheduler.liveWorkers()).toBe(1);
      expect(await counter(registry, 'flotilla_scheduler_retries_total')).toEqual({
        FLOTILLA_ERR_NO_RESPONDERS: 1,
      });
      // Later misses go straight to the live worker.
      await miss(t, missRequest());
      expect(other.received.map((r) => r.attempt)).toEqual([2, 1]);
    });
  }

  it('renders elsewhere when a worker answers FLOTILLA_ERR_DRAINING', async () => {
    const t = new InProcessTransport();
    const { registry } = startScheduler(t);
    const draining = new FakeWorker(t, 'w-draining', { warm: ['dep-a'] });
    draining.answer = () => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_DRAINING', message: 'worker is draining' },
      timings: {},
    });
    const other = new FakeWorker(t, 'w-other');
    await tick();
    const result = await miss(t, missRequest({ method: 'POST', body: enc.encode('x=1') }));
    expect(bodyOf(result)).toBe('w-other:POST http://shop.localhost/p/1');
    expect(draining.received).toHaveLength(1);
    expect(other.received.map((r) => r.attempt)).toEqual([2]);
    expect(await counter(registry, 'flotilla_scheduler_retries_total')).toEqual({
      FLOTILLA_ERR_DRAINING: 1,
    });
  });

  it('does not retry a render error: the bundle failed, another worker would fail too', async () => {
    const t = new InProcessTransport();
    const { registry } = startScheduler(t);
    const failing = new FakeWorker(t, 'w-failing', { warm: ['dep-a'] });
    failing.answer = () => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_RENDER', message: 'handler threw: boom' },
      timings: { worker: 2 },
    });
    const other = new FakeWorker(t, 'w-other');
    await tick();
    const result = await miss(t, missRequest());
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'FLOTILLA_ERR_RENDER', message: 'handler threw: boom' },
    });
    expect(result.timings.worker).toBe(2);
    expect(result.timings.scheduler).toBeGreaterThanOrEqual(0);
    expect(other.received).toHaveLength(0);
    expect(await counter(registry, 'flotilla_scheduler_retries_total')).toEqual({});
  });

  it('answers FLOTILLA_ERR_NO_WORKERS when no worker heartbeats', async () => {
    const t = new InProcessTransport();
    startScheduler(t);
    const result = await miss(t, missRequest());
    expect(result).toMatchObject({ ok: false, error: { code: 'FLOTILLA_ERR_NO_WORKERS' } });
    if (!result.ok) expect(result.error.message).toContain(REGION);
  });

  it('answers with the last error when every worker it tried was gone', async () => {
    const t = new InProcessTransport();
    const { scheduler } = startScheduler(t);
    const a = new FakeWorker(t, 'w-a');
    const b = new FakeWorker(t, 'w-b');
    await tick();
    await Promise.all([a.vanish(), b.vanish()]);
    const result = await miss(t, missRequest());
    expect(result).toMatchObject({ ok: false, error: { code: 'FLOTILLA_ERR_NO_RESPONDERS' } });
    expect(scheduler.liveWorkers()).toBe(0);
  });

  it('answers FLOTILLA_ERR_DEADLINE without reaching a worker when the deadline already passed', async () => {
    const t = new InProcessTransport();
    startScheduler(t);
    const w = new FakeWorker(t, 'w-1');
    await tick();
    const result = await miss(t, missRequest({ deadline: Date.now() - 1 }));
    expect(result).toMatchObject({ ok: false, error: { code: 'FLOTILLA_ERR_DEADLINE' } });
    expect(w.received).toHaveLength(0);
  });

  it('sends the worker the remaining deadline, trace and request id unchanged', async () => {
    const t = new InProcessTransport();
    startScheduler(t);
    const w = new FakeWorker(t, 'w-1');
    await tick();
    const req = missRequest({
      deadline: Date.now() + 7000,
      requestId: 'abc',
      traceparent: '00-11111111111111111111111111111111-2222222222222222-01',
    });
    await miss(t, req);
    expect(w.received[0]).toMatchObject({
      deadline: req.deadline,
      requestId: 'abc',
      traceparent: req.traceparent,
    });
  });

  it('skips a worker that announced it is draining', async () => {
    const t = new InProcessTransport();
    const { scheduler } = startScheduler(t);
    const leaving = new FakeWorker(t, 'w-leaving', { warm: ['dep-a'] });
    const staying = new FakeWorker(t, 'w-staying');
    await tick();
    leaving.heartbeat({ draining: true });
    await tick();
    expect(scheduler.liveWorkers()).toBe(1);
    expect(bodyOf(await miss(t, missRequest()))).toMatch(/^w-staying:/);
    expect(leaving.received).toHaveLength(0);
    expect(staying.received).toHaveLength(1);
  });

  it('forgets workers whose heartbeats stopped (injected clock)', async () => {
    let clock = Date.now();
    const t = new InProcessTransport();
    const { scheduler } = startScheduler(t, { clock: () => clock, workerStaleAfterMs: 3000 });
    const w = new FakeWorker(t, 'w-1');
    await tick();
    expect(scheduler.liveWorkers()).toBe(1);
    clock += 3001;
    expect(scheduler.liveWorkers()).toBe(0);
    const result = await miss(t, missRequest({ deadline: clock + 5000 }));
    expect(result).toMatchObject({ ok: false, error: { code: 'FLOTILLA_ERR_NO_WORKERS' } });
    w.heartbeat();
    await tick();
    expect(bodyOf(await miss(t, missRequest({ deadline: clock + 5000 })))).toMatch(/^w-1:/);
  });

  it('ignores malformed heartbeats, including a worker id that is not a subject token', async () => {
    const t = new InProcessTransport();
    const { scheduler, logs } = startScheduler(t);
    const good = new FakeWorker(t, 'w-good');
    t.publish(subjects.heartbeat, {
      headers: { [WIRE_HEADERS.version]: '1' },
      body: enc.encode('nope'),
    });
    const poisoned = encodeHeartbeat({
      workerId: 'w.*',
      inFlight: 0,
      capacity: 100,
      warm: ['dep-a'],
      draining: false,
      intervalMs: 1000,
    });
    t.publish(subjects.heartbeat, poisoned);
    await tick();
    expect(scheduler.liveWorkers()).toBe(1);
    expect(logs.filter((l) => l.msg === 'bad heartbeat')).toHaveLength(2);
    expect(bodyOf(await miss(t, missRequest()))).toMatch(/^w-good:/);
    expect(good.received).toHaveLength(1);
  });

  it('answers a malformed miss with a protocol error and keeps working', async () => {
    const t = new InProcessTransport();
    startScheduler(t);
    new FakeWorker(t, 'w-1');
    await tick();
    const bad = await t.request(
      subjects.miss,
      { headers: { [WIRE_HEADERS.version]: '99' }, body: new Uint8Array(0) },
      { timeoutMs: 5000 },
    );
    expect(decodeRenderResult(bad)).toMatchObject({
      ok: false,
      error: { code: 'FLOTILLA_ERR_PROTOCOL' },
    });
    const noHeaders = await t.request(
      subjects.miss,
      { headers: {}, body: enc.encode('GET /') },
      { timeoutMs: 5000 },
    );
    expect(decodeRenderResult(noHeaders)).toMatchObject({
      ok: false,
      error: { code: 'FLOTILLA_ERR_PROTOCOL' },
    });
    expect(bodyOf(await miss(t, missRequest()))).toMatch(/^w-1:/);
  });

  it('shares the misses between two schedulers in the same queue group', async () => {
    const t = new InProcessTransport();
    const one = startScheduler(t, { schedulerId: 's-one' });
    const two = startScheduler(t, { schedulerId: 's-two' });
    new FakeWorker(t, 'w-1', { capacity: 1000 });
    await tick();
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => miss(t, missRequest({ requestId: `r${i}` }))),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    const a = (await counter(one.registry, 'flotilla_scheduler_dispatches_total')).ok ?? 0;
    const b = (await counter(two.registry, 'flotilla_scheduler_dispatches_total')).ok ?? 0;
    expect(a + b).toBe(60);
    expect(a).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
  });

  it('counts dispatches by outcome in the registry it was given', async () => {
    const t = new InProcessTransport();
    const { registry } = startScheduler(t);
    await miss(t, missRequest());
    new FakeWorker(t, 'w-1');
    await tick();
    await miss(t, missRequest());
    await miss(t, missRequest());
    expect(await counter(registry, 'flotilla_scheduler_dispatches_total')).toEqual({
      ok: 2,
      FLOTILLA_ERR_NO_WORKERS: 1,
    });
    const text = await registry.metrics();
    expect(text).toContain('flotilla_scheduler_dispatch_seconds_count{region="test-region"} 3');
  });

  it('drain() answers the miss in flight, then takes no more', async () => {
    const t = new InProcessTransport();
    const { scheduler } = startScheduler(t);
    const w = new FakeWorker(t, 'w-1');
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inWorker = new Promise<void>((r) => {
      entered = r;
    });
    const answer = w.answer;
    w.answer = async (req) => {
      entered();
      await held;
      return answer(req);
    };
    const pending = miss(t, missRequest());
    await inWorker;
    const drained = scheduler.drain();
    release();
    expect(bodyOf(await pending)).toMatch(/^w-1:/);
    await drained;
    await expect(
      t.request(subjects.miss, encodeRenderRequest(missRequest()), { timeoutMs: 5000 }),
    ).rejects.toMatchObject({ code: 'FLOTILLA_ERR_NO_RESPONDERS' });
    expect(scheduler.drain()).toBe(drained);
  });

  it('validates its options, naming the option', () => {
    const t = new InProcessTransport();
    expect(() => new Scheduler({ region: REGION } as SchedulerOptions)).toThrow(
      /option "transport" is required/,
    );
    expect(() => new Scheduler({ transport: t, region: 'US.EAST' })).toThrow(/option "region"/);
    expect(() => new Scheduler({ transport: t, region: REGION, workerStaleAfterMs: 0 })).toThrow(
      /option "workerStaleAfterMs"/,
    );
  });
});

describe('a worker lost mid-render', () => {
  /** A worker that takes the render and never answers: it died after receiving it. */
  function dyingWorker(transport: InProcessTransport, id: string): FakeWorker {
    const w = new FakeWorker(transport, id, { intervalMs: 40, warm: ['dep-a'] });
    w.answer = () => new Promise<RenderResult>(() => {});
    return w;
  }

  it('retries a GET once on another worker when the first stops heartbeating', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport);
    const dying = dyingWorker(transport, 'w-dying');
    const healthy = new FakeWorker(transport, 'w-ok', { intervalMs: 40 });
    // Keep the healthy worker's heartbeats coming; the dying one has gone silent.
    const beat = setInterval(() => healthy.heartbeat(), 20);
    try {
      await scheduler.waitForWorkers(2, 1000);
      const result = await miss(transport, missRequest());
      expect(bodyOf(result)).toBe('w-ok:GET http://shop.localhost/p/1');
      expect(dying.received).toHaveLength(1);
      expect(healthy.received[0]?.attempt).toBe(2);
      expect(await counter(registry, 'flotilla_scheduler_retries_total')).toEqual({
        FLOTILLA_ERR_WORKER_LOST: 1,
      });
    } finally {
      clearInterval(beat);
    }
  });

  it('never retries a POST silently: it fails with FLOTILLA_ERR_WORKER_LOST', async () => {
    const transport = new InProcessTransport();
    const { scheduler } = startScheduler(transport);
    const dying = dyingWorker(transport, 'w-dying');
    const healthy = new FakeWorker(transport, 'w-ok', { intervalMs: 40 });
    const beat = setInterval(() => healthy.heartbeat(), 20);
    try {
      await scheduler.waitForWorkers(2, 1000);
      const result = await miss(
        transport,
        missRequest({ method: 'POST', body: enc.encode('order') }),
      );
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.error.code).toBe('FLOTILLA_ERR_WORKER_LOST');
      expect(dying.received).toHaveLength(1);
      expect(healthy.received).toHaveLength(0);
    } finally {
      clearInterval(beat);
    }
  });

  it('keeps waiting on a slow worker that still heartbeats', async () => {
    const transport = new InProcessTransport();
    const { scheduler } = startScheduler(transport);
    const slow = new FakeWorker(transport, 'w-slow', { intervalMs: 40 });
    slow.answer = async (req) => {
      await new Promise((r) => setTimeout(r, 300));
      return {
        ok: true,
        status: 200,
        headers: [],
        body: enc.encode(`slow ${req.attempt}`),
        timings: {},
      };
    };
    const beat = setInterval(() => slow.heartbeat(), 20);
    try {
      await scheduler.waitForWorkers(1, 1000);
      expect(bodyOf(await miss(transport, missRequest()))).toBe('slow 1');
    } finally {
      clearInterval(beat);
    }
  });
});

describe('load shedding', () => {
  function slowWorker(transport: InProcessTransport, id: string, ms: number, capacity = 1) {
    const w = new FakeWorker(transport, id, { capacity, warm: ['dep-a'] });
    w.answer = async (req) => {
      await new Promise((r) => setTimeout(r, ms));
      return { ok: true, status: 200, headers: [], body: enc.encode(req.requestId), timings: {} };
    };
    return w;
  }

  it('queues misses past capacity and serves them in turn', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport, { maxQueue: 10 });
    slowWorker(transport, 'w-1', 40);
    await scheduler.waitForWorkers(1, 1000);
    const results = await Promise.all(
      ['a', 'b', 'c'].map((id) => miss(transport, missRequest({ requestId: id }))),
    );
    expect(results.map(bodyOf)).toEqual(['a', 'b', 'c']);
    const waits = registry.getSingleMetric('flotilla_scheduler_queue_wait_seconds');
    const count = (await waits?.get())?.values.find(
      (v) =>
        (v as { metricName?: string }).metricName === 'flotilla_scheduler_queue_wait_seconds_count',
    );
    expect(count?.value).toBe(2);
  });

  it('refuses at once with FLOTILLA_ERR_OVERLOADED when the queue is full', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport, { maxQueue: 0 });
    slowWorker(transport, 'w-1', 200);
    await scheduler.waitForWorkers(1, 1000);
    const first = miss(transport, missRequest({ requestId: 'first' }));
    await tick();
    const started = Date.now();
    const second = await miss(transport, missRequest({ requestId: 'second' }));
    // At once: not after the 200 ms render nor the 1 s queue wait.
    expect(Date.now() - started).toBeLessThan(180);
    expect(second.ok).toBe(false);
    if (!second.ok) expect(second.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
    expect(bodyOf(await first)).toBe('first');
    expect(await counter(registry, 'flotilla_scheduler_shed_total')).toEqual({ queue_full: 1 });
  });

  it('refuses with FLOTILLA_ERR_OVERLOADED when no worker has room within maxQueueWaitMs', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport, { maxQueueWaitMs: 50 });
    slowWorker(transport, 'w-1', 400);
    await scheduler.waitForWorkers(1, 1000);
    const first = miss(transport, missRequest({ requestId: 'first' }));
    await tick();
    const second = await miss(transport, missRequest({ requestId: 'second' }));
    expect(second.ok).toBe(false);
    if (!second.ok) {
      expect(second.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
      expect(second.error.message).toMatch(/no worker with room/);
    }
    expect(bodyOf(await first)).toBe('first');
    expect(await counter(registry, 'flotilla_scheduler_shed_total')).toEqual({ queue_timeout: 1 });
  });

  it('refuses at once a miss that could not start before its deadline, rather than queue it in vain', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport, { maxQueue: 10 });
    slowWorker(transport, 'w-1', 200);
    await scheduler.waitForWorkers(1, 1000);
    // The scheduler learns that a miss holds the slot about 200 ms.
    expect(bodyOf(await miss(transport, missRequest({ requestId: 'learn' })))).toBe('learn');
    let firstDone = false;
    const first = miss(transport, missRequest({ requestId: 'first' })).then((r) => {
      firstDone = true;
      return r;
    });
    await tick();
    const second = miss(transport, missRequest({ requestId: 'second' }));
    await tick();
    // Behind the one in flight and the one queued it would start in ~400 ms: past its deadline.
    const third = await miss(
      transport,
      missRequest({ requestId: 'third', deadline: Date.now() + 300 }),
    );
    expect(firstDone).toBe(false);
    expect(third.ok).toBe(false);
    if (!third.ok) expect(third.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
    expect([bodyOf(await first), bodyOf(await second)]).toEqual(['first', 'second']);
    expect(await counter(registry, 'flotilla_scheduler_shed_total')).toEqual({ queue_full: 1 });
  });

  it('gives up a queued miss once, at its place, it could no longer start within its wait', async () => {
    const transport = new InProcessTransport();
    const { scheduler, registry } = startScheduler(transport, {
      maxQueue: 10,
      maxQueueWaitMs: 1500,
    });
    // Fast renders first (the hold time learned), then slow ones.
    const w = new FakeWorker(transport, 'w-1', { capacity: 1, warm: ['dep-a'] });
    w.answer = async (req) => {
      await new Promise((r) => setTimeout(r, req.requestId.startsWith('fast') ? 5 : 400));
      return { ok: true, status: 200, headers: [], body: enc.encode(req.requestId), timings: {} };
    };
    await scheduler.waitForWorkers(1, 1000);
    for (let i = 0; i < 3; i++) await miss(transport, missRequest({ requestId: `fast-${i}` }));
    // One slow render in flight, eight queued behind it: the queue took them at a 5 ms hold time.
    const order: string[] = [];
    const sent = Array.from({ length: 9 }, (_, i) =>
      miss(transport, missRequest({ requestId: `slow-${i}` })).then((r) => {
        order.push(r.ok ? `ok ${bodyOf(r)}` : `shed slow-${i}`);
        return r;
      }),
    );
    const results = await Promise.all(sent);
    // Renders end at 400, 800, 1200, 1600 ms. Once the hold time learned the
    // slow renders (the average moves a tenth of the way per render), the
    // back of the queue was given up at once, at its place, before the third
    // render ended (1200 ms): not each after waiting its whole 1.5 s.
    const thirdDone = order.indexOf('ok slow-2');
    const shed = order.filter((o) => o.startsWith('shed'));
    expect(shed.length).toBeGreaterThan(0);
    expect(thirdDone).toBeGreaterThan(-1);
    expect(order.indexOf(shed[0] ?? '')).toBeLessThan(thirdDone);
    for (const r of results.filter((x) => !x.ok)) {
      if (!r.ok) expect(r.error.code).toBe('FLOTILLA_ERR_OVERLOADED');
    }
    expect(await counter(registry, 'flotilla_scheduler_shed_total')).toEqual({
      queue_timeout: shed.length,
    });
  });

  it('sends a miss refused by an overloaded worker to another one', async () => {
    const transport = new InProcessTransport();
    const { scheduler } = startScheduler(transport);
    const full = new FakeWorker(transport, 'w-full', { warm: ['dep-a'] });
    full.answer = () => ({
      ok: false,
      error: { code: 'FLOTILLA_ERR_OVERLOADED', message: 'full' },
      timings: {},
    });
    new FakeWorker(transport, 'w-ok');
    await scheduler.waitForWorkers(2, 1000);
    expect(bodyOf(await miss(transport, missRequest()))).toMatch(/^w-ok:/);
  });

  it('spreads picks over equally loaded workers (power of two choices)', () => {
    const transport = new InProcessTransport();
    // One app and no reserve: every slot is the app's, and 80 misses fit the queue.
    const { scheduler } = startScheduler(transport, { fairShareReserve: 0 });
    void scheduler;
    const seen = new Map<string, number>();
    // Drive the registry through heartbeats only: four idle workers, none warm.
    for (const id of ['w-1', 'w-2', 'w-3', 'w-4']) new FakeWorker(transport, id);
    return scheduler.waitForWorkers(4, 1000).then(async () => {
      const results = await Promise.all(
        Array.from({ length: 80 }, (_, i) => miss(transport, missRequest({ requestId: `r${i}` }))),
      );
      for (const r of results) {
        const id = bodyOf(r).split(':')[0] ?? '';
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
      expect([...seen.keys()].sort()).toEqual(['w-1', 'w-2', 'w-3', 'w-4']);
    });
  });
});
