import { describe, expect, it } from 'vitest';
import { EventLoopWatch } from './liveness.ts';

describe('liveness', () => {
  it('reports the event-loop delay and goes not-live when the loop stalls', async () => {
    const watch = new EventLoopWatch(50, 10_000);
    try {
      await new Promise((r) => setTimeout(r, 60));
      expect(watch.check().ok).toBe(true);
      const until = Date.now() + 120;
      while (Date.now() < until) {
        // stall the event loop
      }
      await new Promise((r) => setTimeout(r, 60));
      const after = watch.check();
      expect(after.ok).toBe(false);
      expect(after.eventLoopDelayMs).toBeGreaterThanOrEqual(50);
    } finally {
      watch.close();
    }
  });
});
