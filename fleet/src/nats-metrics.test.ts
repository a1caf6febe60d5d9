import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { exportNatsConnected } from './nats-metrics.ts';

describe('exportNatsConnected', () => {
  it('reads the connection at every scrape, per role', async () => {
    const registry = new Registry();
    let up = true;
    exportNatsConnected(registry, 'scheduler', () => up);
    exportNatsConnected(registry, 'worker', () => {
      throw new Error('closed');
    });
    const read = () => registry.getSingleMetricAsString('flotilla_nats_connected');
    expect(await read()).toContain('flotilla_nats_connected{role="scheduler"} 1');
    // A reader that throws counts as disconnected.
    expect(await read()).toContain('flotilla_nats_connected{role="worker"} 0');
    up = false;
    expect(await read()).toContain('flotilla_nats_connected{role="scheduler"} 0');
  });
});
