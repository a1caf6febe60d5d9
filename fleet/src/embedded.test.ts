import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningFleet, startEmbedded } from './fleet.ts';

// `flotilla start` without a broker: everything in this process, on the
// in-process transport, with real piscina threads and real isolates.
describe('embedded fleet', () => {
  let fleet: RunningFleet;
  let storeDir: string;

  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'flotilla-embedded-'));
    fleet = await startEmbedded({ port: 0, storeDir, examplesApiPort: 0 });
  }, 60_000);

  afterAll(async () => {
    await fleet?.drain();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('serves both example apps rendered in isolates', async () => {
    const react = await fetch(`${fleet.url}/react-shop/`);
    expect(react.status).toBe(200);
    const reactHtml = await react.text();
    expect(reactHtml.match(/class="product-card"/g)?.length).toBe(120);
    expect(react.headers.get('server-timing')).toMatch(/render;dur=/);

    const vue = await fetch(`${fleet.url}/vue-shop/p/3`);
    expect(vue.status).toBe(200);
    expect(await vue.text()).toMatch(/No\. 3\b/);
  });

  it('lists the apps at / and exposes /healthz and /metrics', async () => {
    const index = await (await fetch(`${fleet.url}/`)).text();
    expect(index).toContain('/react-shop/');
    expect(index).toContain('/vue-shop/');
    expect((await fetch(`${fleet.url}/livez`)).status).toBe(200);
    const health = await fetch(`${fleet.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', transport: 'in-process' });
    const metrics = await (await fetch(`${fleet.url}/metrics`)).text();
    expect(metrics).toMatch(/flotilla_shield_requests_total\{app="react-shop",status="200"/);
    expect(metrics).toMatch(/flotilla_worker_renders_total\{[^}]*outcome="ok"/);
    expect(metrics).toMatch(/flotilla_scheduler_live_workers|flotilla_scheduler_dispatches_total/);
  });

  it('answers unknown paths with a short 404', async () => {
    const res = await fetch(`${fleet.url}/nowhere`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe(
      'FLOTILLA_ERR_NOT_FOUND: no app serves 127.0.0.1/nowhere\n'.replace(
        '127.0.0.1',
        new URL(fleet.url).host,
      ),
    );
  });
});

describe('liveness', () => {
  it('reports the event-loop delay and goes not-live when the loop stalls', async () => {
    const { EventLoopWatch } = await import('./liveness.ts');
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
