import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { metricSet } from './metric-set.ts';

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
