import { setTimeout as delay } from 'node:timers/promises';
import { encodeHeartbeat, type Heartbeat, regionSubjects } from '@flotilla/protocol';
import { InProcessTransport } from '@flotilla/transport';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { Actuator } from './actuator.ts';
import { Autoscaler, type AutoscalerOptions } from './autoscaler.ts';
import { KubernetesActuator } from './kubernetes-actuator.ts';
import { LeaderLease } from './lease.ts';
import { MemoryLeaseStore } from './memory-lease-store.ts';

const REGION = 'test';
const HB = regionSubjects(REGION).heartbeat;

/** Records what the autoscaler tells it. */
class RecordingActuator implements Actuator {
  readonly kind = 'recording';
  readonly calls: Array<number | 'standby' | 'close'> = [];
  scale(desired: number): void {
    this.calls.push(desired);
  }
  standby(): void {
    this.calls.push('standby');
  }
  async close(): Promise<void> {
    this.calls.push('close');
  }
  get scales(): number[] {
    return this.calls.filter((c): c is number => typeof c === 'number');
  }
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

function setup(options: Partial<AutoscalerOptions> = {}) {
  const transport = (options.transport as InProcessTransport) ?? new InProcessTransport();
  const registry = new Registry();
  const actuator = new RecordingActuator();
  let now = 0;
  const lines: Array<Record<string, unknown>> = [];
  const autoscaler = new Autoscaler({
    transport,
    region: REGION,
    actuator,
    registry,
    tickMs: 3_600_000, // ticks are driven by the test
    warmupMs: 0,
    clock: () => now,
    log: (l) => lines.push(l),
    kpa: { stableWindowMs: 10_000, panicWindowMs: 2_000, minWorkers: 2, maxWorkers: 6 },
    ...options,
  });
  closers.push(async () => {
    await autoscaler.close();
    await transport.drain();
  });
  const beat = (hb: Partial<Heartbeat> & { workerId: string }) =>
    transport.publish(
      HB,
      encodeHeartbeat({
        inFlight: 0,
        capacity: 4,
        warm: [],
        draining: false,
        intervalMs: 1000,
        ...hb,
      }),
    );
  return {
    transport,
    registry,
    actuator,
    autoscaler,
    lines,
    beat,
    advance: (ms: number) => {
      now += ms;
    },
    metric: async (name: string, labels = '') => {
      const text = await registry.metrics();
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`${name}{`) && l.includes(labels) && !l.startsWith('#'));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
  };
}

describe('Autoscaler', () => {
  it('observes heartbeats: in-flight of all live workers, ready = not draining, mean capacity', async () => {
    const t = setup();
    t.autoscaler.start();
    t.beat({ workerId: 'w1', inFlight: 3, capacity: 4 });
    t.beat({ workerId: 'w2', inFlight: 1, capacity: 8 });
    t.beat({ workerId: 'w3', inFlight: 2, capacity: 4, draining: true });
    await delay(0);
    expect(t.autoscaler.observe()).toEqual({
      time: 0,
      inFlight: 6,
      readyWorkers: 2,
      capacityPerWorker: 6,
    });
    // w1 keeps beating, the others fall silent for > 2.5 intervals.
    t.advance(2_000);
    t.beat({ workerId: 'w1', inFlight: 1, capacity: 4 });
    await delay(0);
    t.advance(1_000);
    expect(t.autoscaler.observe()).toMatchObject({
      inFlight: 1,
      readyWorkers: 1,
      capacityPerWorker: 4,
    });
    expect(t.autoscaler.status().liveWorkers).toBe(1);
  });

  it('adds queued demand and ignores broken queuedDemand callbacks', async () => {
    let queued: number | (() => never) = 5;
    const t = setup({
      queuedDemand: () => (typeof queued === 'number' ? queued : queued()),
    });
    t.autoscaler.start();
    t.beat({ workerId: 'w1', inFlight: 2 });
    await delay(0);
    expect(t.autoscaler.observe().inFlight).toBe(7);
    queued = () => {
      throw new Error('boom');
    };
    expect(t.autoscaler.observe().inFlight).toBe(2);
    expect(t.lines.some((l) => l.msg === 'queuedDemand failed')).toBe(true);
  });

  it('scales up in panic on a load step and exports the metrics', async () => {
    const t = setup();
    t.autoscaler.start();
    const tick = async (inFlight: number, workers = 2) => {
      for (let i = 1; i <= workers; i++) t.beat({ workerId: `w${i}`, inFlight, capacity: 4 });
      await delay(0);
      t.advance(250);
      return t.autoscaler.tick();
    };
    for (let i = 0; i < 20; i++) await tick(1);
    expect(t.actuator.scales.every((d) => d === 2)).toBe(true);
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBe(2);
    expect(await t.metric('flotilla_autoscaler_panic')).toBe(0);
    expect(await t.metric('flotilla_autoscaler_ready_workers')).toBe(2);
    expect(
      await t.metric('flotilla_autoscaler_leader', `scheduler="${t.autoscaler.schedulerId}"`),
    ).toBe(1);

    // 10× step: 10 in flight per worker at target 2.8.
    const step = [];
    for (let i = 0; i < 8; i++) step.push(await tick(10)); // 8 × 250 ms = the panic window
    // Panic (and a scale-up) within the first half of the panic window.
    const firstPanic = step.findIndex((d) => d?.panic);
    expect(firstPanic).toBeGreaterThanOrEqual(0);
    expect(firstPanic).toBeLessThan(4);
    expect(step[firstPanic]?.desired).toBeGreaterThan(2);
    expect(t.actuator.scales.at(-1)).toBe(6); // ⌈20 / 2.8⌉ = 8 → max 6
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBe(6);
    expect(await t.metric('flotilla_autoscaler_panic')).toBe(1);
    expect(
      await t.metric('flotilla_autoscaler_scale_events_total', 'direction="up"'),
    ).toBeGreaterThanOrEqual(1);
    expect(t.lines.some((l) => l.msg === 'scale up' && l.from === 2)).toBe(true);
    expect(await t.metric('flotilla_autoscaler_in_flight_average', 'window="panic"')).toBe(20);
  });

  it('puts the panic gauge back to 0 once demand falls, while the peak count is held', async () => {
    const t = setup();
    t.autoscaler.start();
    const tick = async (inFlight: number, workers: number) => {
      for (let i = 1; i <= workers; i++) t.beat({ workerId: `w${i}`, inFlight, capacity: 4 });
      await delay(0);
      t.advance(250);
      return t.autoscaler.tick();
    };
    for (let i = 0; i < 8; i++) await tick(1, 2);
    for (let i = 0; i < 8; i++) await tick(10, 2);
    expect(await t.metric('flotilla_autoscaler_panic')).toBe(1);
    const peak = await t.metric('flotilla_autoscaler_desired_workers');
    expect(peak).toBe(6);
    // Traffic stops (the six workers now heartbeat idle). Within one panic
    // window (2 s = 8 ticks) plus a tick, the gauge reads 0 again, long
    // before the 10 s stable window that holds the count ends.
    const idle = [];
    for (let i = 0; i < 9; i++) idle.push(await tick(0, 6));
    expect(await t.metric('flotilla_autoscaler_panic')).toBe(0);
    expect(idle.at(-1)).toMatchObject({ panic: false, holdingPeak: true, desired: peak });
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBe(peak);
    // After the stable window the hold ends and the count comes down.
    for (let i = 0; i < 40; i++) await tick(0, 6);
    expect(await t.metric('flotilla_autoscaler_panic')).toBe(0);
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBeLessThan(peak as number);
  });

  it('does not actuate during the warm-up', async () => {
    const t = setup({ warmupMs: 2_000 });
    t.autoscaler.start();
    t.autoscaler.tick();
    t.advance(1_000);
    t.autoscaler.tick();
    expect(t.actuator.scales).toEqual([]);
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBeUndefined();
    t.advance(1_000);
    t.autoscaler.tick();
    expect(t.actuator.scales).toEqual([2]);
  });

  it('only the lease holder actuates; the other takes over when it closes', async () => {
    const store = new MemoryLeaseStore();
    const transport = new InProcessTransport();
    const lease = (id: string) =>
      new LeaderLease({
        store,
        key: 'autoscaler.test',
        holderId: id,
        ttlMs: 600,
        retryEveryMs: 20,
      });
    const a = setup({ transport, lease: lease('s-a') });
    const b = setup({ transport, lease: lease('s-b') });
    a.autoscaler.start();
    await delay(50);
    b.autoscaler.start();
    await delay(50);
    expect(a.autoscaler.isLeader).toBe(true);
    expect(b.autoscaler.isLeader).toBe(false);
    a.autoscaler.tick();
    b.autoscaler.tick();
    expect(a.actuator.scales).toEqual([2, 2]); // once on acquiring, once on the tick
    expect(b.actuator.scales).toEqual([]);
    expect(await a.metric('flotilla_autoscaler_leader')).toBe(1);
    expect(await b.metric('flotilla_autoscaler_leader')).toBe(0);
    expect(await b.metric('flotilla_autoscaler_desired_workers')).toBeUndefined();
    // b still decides (warm state for a takeover) and exports what it sees.
    expect(b.autoscaler.status().decision?.desired).toBe(2);

    await a.autoscaler.close();
    expect(a.actuator.calls.at(-1)).toBe('close');
    expect(await a.metric('flotilla_autoscaler_leader')).toBe(0);
    expect(await a.metric('flotilla_autoscaler_desired_workers')).toBeUndefined();
    await delay(100); // b polls every 20 ms; a released the key
    expect(b.autoscaler.isLeader).toBe(true);
    expect(b.actuator.scales).toEqual([2]);
    expect(await b.metric('flotilla_autoscaler_desired_workers')).toBe(2);
  });

  it('stands the actuator by when the lease is lost', async () => {
    const store = new MemoryLeaseStore();
    const lease = new LeaderLease({ store, key: 'autoscaler.test', holderId: 's-a', ttlMs: 600 });
    const t = setup({ lease });
    t.autoscaler.start();
    await delay(30);
    expect(t.autoscaler.isLeader).toBe(true);
    // Someone else overwrites the lease: the next renewal's CAS fails.
    store.put('autoscaler.test', new TextEncoder().encode('{"holder":"s-x","ttlMs":60000}'));
    await delay(300);
    expect(t.autoscaler.isLeader).toBe(false);
    expect(t.actuator.calls.at(-1)).toBe('standby');
    expect(await t.metric('flotilla_autoscaler_leader')).toBe(0);
    expect(await t.metric('flotilla_autoscaler_desired_workers')).toBeUndefined();
    const before = t.actuator.scales.length;
    t.autoscaler.tick();
    expect(t.actuator.scales.length).toBe(before);
  });

  it('logs malformed heartbeats and keeps going', async () => {
    const t = setup();
    t.autoscaler.start();
    t.transport.publish(HB, { headers: {}, body: new Uint8Array([1, 2]) });
    await delay(0);
    expect(t.lines.some((l) => l.msg === 'bad heartbeat')).toBe(true);
    expect(t.autoscaler.tick()?.desired).toBe(2);
  });

  it('validates its options, naming the bad one', () => {
    const transport = new InProcessTransport();
    const actuator = new RecordingActuator();
    const base = { transport, region: REGION, actuator };
    expect(() => new Autoscaler({ ...base, transport: undefined as never })).toThrow(
      /option "transport" is required/,
    );
    expect(() => new Autoscaler({ ...base, actuator: undefined as never })).toThrow(
      /option "actuator" is required/,
    );
    expect(() => new Autoscaler({ ...base, actuator: {} as never })).toThrow(
      /option "actuator" must implement scale\(\), standby\(\) and close\(\)/,
    );
    expect(() => new Autoscaler({ ...base, region: 'Bad Region' })).toThrow(/option "region"/);
    expect(() => new Autoscaler({ ...base, tickMs: 0 })).toThrow(/option "tickMs"/);
    expect(() => new Autoscaler({ ...base, warmupMs: -1 })).toThrow(/option "warmupMs"/);
    expect(() => new Autoscaler({ ...base, kpa: { maxWorkers: 1 } })).toThrow(
      /option "maxWorkers" must be at least minWorkers \(2\)/,
    );
    expect(() => new Autoscaler({ ...base, queuedDemand: 4 as never })).toThrow(
      /option "queuedDemand" must be a function/,
    );
  });
});

describe('KubernetesActuator', () => {
  it('remembers the exported count, and forgets it on standby and close', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const k8s = new KubernetesActuator({ log: (l) => lines.push(l) });
    expect(k8s.kind).toBe('kubernetes');
    k8s.scale(3);
    k8s.scale(3);
    k8s.scale(5);
    expect(k8s.desired).toBe(5);
    expect(lines).toEqual([
      { msg: 'desired workers exported', from: null, to: 3 },
      { msg: 'desired workers exported', from: 3, to: 5 },
    ]);
    k8s.standby();
    expect(k8s.desired).toBeUndefined();
    k8s.scale(2);
    await k8s.close();
    expect(k8s.desired).toBeUndefined();
  });

  it('drives the desired-workers metric through the autoscaler', async () => {
    const t = setup({ actuator: new KubernetesActuator() });
    t.autoscaler.start();
    t.autoscaler.tick();
    expect(await t.metric('flotilla_autoscaler_desired_workers', 'region="test"')).toBe(2);
  });
});
