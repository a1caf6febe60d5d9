import { InvalidOptionError } from '@flotilla/protocol';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Revalidator } from './revalidator.ts';
import { deferred, ManualClock, settle } from './test-timing.ts';
import type { CacheTimers } from './timers.ts';

async function outcomes(registry: Registry): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('flotilla_shield_revalidations_total');
  if (!metric) throw new Error('metric is not registered');
  const out: Record<string, number> = {};
  for (const v of (await metric.get()).values) {
    // Every outcome starts at 0; these tests count events.
    if (v.value !== 0) out[String(v.labels.outcome)] = v.value;
  }
  return out;
}

function setup(opts: { timeoutMs?: number; maxConcurrent?: number } = {}) {
  const clock = new ManualClock();
  const registry = new Registry();
  const logs: Array<Record<string, unknown>> = [];
  const revalidator = new Revalidator({
    registry,
    timers: clock.timers,
    timeoutMs: opts.timeoutMs ?? 1000,
    maxConcurrent: opts.maxConcurrent,
    log: (line) => logs.push(line),
  });
  return { clock, registry, logs, revalidator };
}

describe('Revalidator', () => {
  it('runs exactly one revalidation for 100 concurrent stale hits on one key', async () => {
    const { revalidator, registry } = setup();
    let runs = 0;
    const gate = deferred<void>();
    const fn = async () => {
      runs++;
      await gate.promise;
    };
    const starts = Array.from({ length: 100 }, () => revalidator.revalidate('k', fn));
    expect(starts.filter((s) => s === 'started')).toHaveLength(1);
    expect(starts.filter((s) => s === 'duplicate')).toHaveLength(99);
    await settle();
    expect(runs).toBe(1);
    expect(revalidator.isRunning('k')).toBe(true);
    gate.resolve();
    await settle();
    expect(revalidator.isRunning('k')).toBe(false);
    expect(runs).toBe(1);
    expect(await outcomes(registry)).toEqual({ ok: 1, duplicate: 99 });
    // Once finished, the next stale hit may revalidate again.
    expect(revalidator.revalidate('k', fn)).toBe('started');
    await settle();
    expect(runs).toBe(2);
  });

  it('never blocks the caller: the function starts after revalidate returns', async () => {
    const { revalidator } = setup();
    let started = false;
    revalidator.revalidate('k', async () => {
      started = true;
    });
    expect(started).toBe(false);
    await settle();
    expect(started).toBe(true);
  });

  it('keeps keys apart', async () => {
    const { revalidator } = setup();
    const gate = deferred<void>();
    expect(revalidator.revalidate('a', () => gate.promise)).toBe('started');
    expect(revalidator.revalidate('b', () => gate.promise)).toBe('started');
    expect(revalidator.running).toBe(2);
    gate.resolve();
    await settle();
    expect(revalidator.running).toBe(0);
  });

  it('swallows errors (rejections and synchronous throws), counting and logging them', async () => {
    const { revalidator, registry, logs } = setup();
    expect(revalidator.revalidate('a', () => Promise.reject(new Error('render failed')))).toBe(
      'started',
    );
    expect(
      revalidator.revalidate('b', () => {
        throw new Error('sync failure');
      }),
    ).toBe('started');
    await settle();
    expect(revalidator.running).toBe(0);
    expect(await outcomes(registry)).toEqual({ error: 2 });
    expect(logs.map((l) => l.error).sort()).toEqual(['render failed', 'sync failure']);
    expect(logs[0]).toMatchObject({ msg: 'revalidation failed', outcome: 'error' });
  });

  it('frees the key after timeoutMs even when the function hangs, aborting its signal', async () => {
    const { revalidator, registry, clock } = setup({ timeoutMs: 40 });
    let signal: AbortSignal | undefined;
    revalidator.revalidate('k', (s) => {
      signal = s;
      return new Promise(() => {});
    });
    await clock.advance(39);
    expect(revalidator.isRunning('k')).toBe(true);
    expect(revalidator.revalidate('k', async () => {})).toBe('duplicate');
    await clock.advance(1);
    expect(signal?.aborted).toBe(true);
    expect(revalidator.isRunning('k')).toBe(false);
    expect(revalidator.revalidate('k', async () => {})).toBe('started');
    await settle();
    expect(await outcomes(registry)).toEqual({ timeout: 1, duplicate: 1, ok: 1 });
  });

  it('starts nothing past maxConcurrent', async () => {
    const { revalidator, registry } = setup({ maxConcurrent: 2 });
    const gate = deferred<void>();
    expect(revalidator.revalidate('a', () => gate.promise)).toBe('started');
    expect(revalidator.revalidate('b', () => gate.promise)).toBe('started');
    expect(revalidator.revalidate('c', () => gate.promise)).toBe('saturated');
    gate.resolve();
    await settle();
    expect(revalidator.revalidate('c', () => gate.promise)).toBe('started');
    await settle();
    expect(await outcomes(registry)).toEqual({ ok: 3, saturated: 1 });
  });

  it('drain waits for running revalidations and refuses new ones', async () => {
    const { revalidator, registry } = setup();
    const a = deferred<void>();
    const b = deferred<void>();
    revalidator.revalidate('a', () => a.promise);
    revalidator.revalidate('b', () => b.promise);
    let drained = false;
    const draining = revalidator.drain().then(() => {
      drained = true;
    });
    expect(revalidator.revalidate('c', async () => {})).toBe('draining');
    a.resolve();
    await settle();
    expect(drained).toBe(false);
    b.reject(new Error('failed while draining'));
    await draining;
    expect(drained).toBe(true);
    expect(revalidator.running).toBe(0);
    expect(await outcomes(registry)).toEqual({ ok: 1, error: 1, draining: 1 });
  });

  it('drain is bounded by timeoutMs when a revalidation hangs', async () => {
    const { revalidator, clock } = setup({ timeoutMs: 30 });
    revalidator.revalidate('k', () => new Promise(() => {}));
    let drained = false;
    void revalidator.drain().then(() => {
      drained = true;
    });
    await clock.advance(29);
    expect(drained).toBe(false);
    await clock.advance(1);
    expect(drained).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it('drain resolves at once when nothing runs', async () => {
    const { revalidator } = setup();
    await expect(revalidator.drain()).resolves.toBeUndefined();
  });

  it('reuses its metric when two revalidators share a registry', () => {
    const registry = new Registry();
    new Revalidator({ registry });
    expect(() => new Revalidator({ registry })).not.toThrow();
  });

  it('validates its options, naming the bad one', () => {
    expect(() => new Revalidator({ timeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => new Revalidator({ timeoutMs: -5 })).toThrow(/timeoutMs/);
    expect(() => new Revalidator({ maxConcurrent: 0 })).toThrow(/maxConcurrent/);
    expect(() => new Revalidator({ timers: {} as CacheTimers })).toThrow(/timers/);
    expect(() => new Revalidator({ log: 'x' as never })).toThrow(/log/);
  });
});
