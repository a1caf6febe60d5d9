import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  CPU_BUCKETS,
  combinations,
  LATENCY_BUCKETS,
  metricSet,
  startAtZero,
} from './metric-set.ts';

describe('metricSet', () => {
  const metrics = metricSet((registers) => ({
    hits: new Counter({ name: 'test_hits_total', help: 'Hits.', labelNames: ['app'], registers }),
  }));

  it('creates the set once per registry and registers it there', async () => {
    const registry = new Registry();
    const a = metrics(registry);
    expect(metrics(registry)).toBe(a);
    a.hits.inc({ app: 'shop' });
    expect(await registry.getSingleMetricAsString('test_hits_total')).toContain(
      'test_hits_total{app="shop"} 1',
    );
  });

  it('gives every registry its own set', () => {
    const a = metrics(new Registry());
    const b = metrics(new Registry());
    expect(b).not.toBe(a);
    expect(b.hits).not.toBe(a.hits);
  });
});

describe('startAtZero and combinations', () => {
  it('lists every known label combination at 0 before the first event, and keeps counted ones', async () => {
    const registry = new Registry();
    const shed = new Counter({
      name: 'test_shed_total',
      help: 'Sheds.',
      labelNames: ['region', 'reason'],
      registers: [registry],
    });
    shed.inc({ region: 'eu', reason: 'queue_full' }, 3);
    startAtZero(
      shed,
      combinations({ region: ['eu', 'us'], reason: ['queue_full', 'queue_timeout'] }),
    );
    const text = await registry.getSingleMetricAsString('test_shed_total');
    expect(text).toContain('test_shed_total{region="eu",reason="queue_full"} 3');
    expect(text).toContain('test_shed_total{region="eu",reason="queue_timeout"} 0');
    expect(text).toContain('test_shed_total{region="us",reason="queue_full"} 0');
    expect(text).toContain('test_shed_total{region="us",reason="queue_timeout"} 0');
  });

  it('crosses label values', () => {
    expect(combinations({ a: ['1'], b: ['x', 'y'] })).toEqual([
      { a: '1', b: 'x' },
      { a: '1', b: 'y' },
    ]);
    expect(combinations({ a: [], b: ['x'] })).toEqual([]);
  });
});

describe('bucket sets', () => {
  it('resolve milliseconds (the latency targets) and reach the 10 s deadline', () => {
    const sorted = (b: readonly number[]) => b.every((v, i) => i === 0 || v > (b[i - 1] as number));
    expect(sorted(LATENCY_BUCKETS)).toBe(true);
    expect(sorted(CPU_BUCKETS)).toBe(true);
    // A 5 ms and a 10 ms target each sit on a bucket boundary, with finer buckets below them.
    for (const target of [0.001, 0.005, 0.01]) expect(LATENCY_BUCKETS).toContain(target);
    expect(LATENCY_BUCKETS.filter((b) => b < 0.01).length).toBeGreaterThanOrEqual(4);
    expect(LATENCY_BUCKETS.at(-1)).toBe(10);
    expect(Object.isFrozen(LATENCY_BUCKETS)).toBe(true);
  });
});
