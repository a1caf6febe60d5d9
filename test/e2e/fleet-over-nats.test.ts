import { type Fleet, httpGet, httpRequest, metricValue, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

// Shield, two schedulers (one queue group) and two workers, each its own OS
// process, on a real nats-server.
describe('fleet over NATS, one process per role', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    fleet = await startFleet({ schedulers: 2, workers: 2, publish: fixtures() });
  }, 90_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('renders the React listing page inside an isolate', async () => {
    const res = await httpGet(`${fleet.shield.url}/react-shop/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.body.slice(0, 15).toLowerCase()).toBe('<!doctype html>');
    expect(res.body).toMatch(/<h1>(<a [^>]*>)?React Shop(<\/a>)?<\/h1>/);
    expect(res.body.match(/class="product-card"/g)?.length ?? 0).toBeGreaterThanOrEqual(100);
    // Links carry the path prefix the shield routed by.
    expect(res.body.includes('href="/react-shop/p/1"')).toBe(true);
    // The render ran in a worker thread's isolate: the stages say so.
    const timing = res.headers.get('server-timing') ?? '';
    for (const stage of ['shield', 'transport', 'scheduler', 'worker', 'render']) {
      expect(timing).toMatch(new RegExp(`\\b${stage};dur=\\d`));
    }
  });

  it('renders the Vue listing and detail pages', async () => {
    const list = await httpGet(`${fleet.shield.url}/vue-shop/`);
    expect(list.status).toBe(200);
    expect(list.body).toMatch(/<h1>(<a [^>]*>)?Vue Shop(<\/a>)?<\/h1>/);
    expect(list.body.match(/class="product-card"/g)?.length ?? 0).toBeGreaterThanOrEqual(100);
    const detail = await httpGet(`${fleet.shield.url}/vue-shop/p/7`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatch(/No\. 7\b/);
  });

  it('routes by host as well as by path prefix', async () => {
    const res = await httpRequest(fleet.shield.url, '/p/42', { host: 'react-shop.localhost:3000' });
    expect(res.status).toBe(200);
    expect(res.body).toMatch(/No\. 42\b/);
    expect(res.body.includes('href="/p/1"')).toBe(true);
  });

  it('answers an unknown path with a short 404 naming the code', async () => {
    const unknownApp = await httpGet(`${fleet.shield.url}/no-such-app/x`);
    expect(unknownApp.status).toBe(404);
    expect(unknownApp.body).toMatch(/^FLOTILLA_ERR_NOT_FOUND: /);
    expect(unknownApp.body.length).toBeLessThan(200);
    const unknownPage = await httpGet(`${fleet.shield.url}/react-shop/p/99999`);
    expect(unknownPage.status).toBe(404);
  });

  it('keeps /metrics and the fleet index off the traffic port: only its admin listener has them', async () => {
    for (const host of ['localhost', 'attacker.example', '127.0.0.1']) {
      for (const path of ['/metrics', '/']) {
        const res = await httpRequest(fleet.shield.url, path, { host });
        expect(res.status, `${host}${path}`).toBe(404);
        expect(res.body).toBe(`FLOTILLA_ERR_NOT_FOUND: no app serves ${host}${path}\n`);
        expect(res.body).not.toMatch(/flotilla_|react-shop/);
      }
    }
    // Probes still find the traffic port's /healthz and /livez.
    expect((await httpGet(`${fleet.shield.url}/livez`)).status).toBe(200);
    expect(fleet.shield.adminUrl).not.toBe(fleet.shield.url);
    const index = await httpGet(`${fleet.shield.adminUrl}/`);
    expect(index.status).toBe(200);
    expect(index.body).toMatch(/react-shop production: .*deployment react-shop-[0-9a-f]{12}/);
    expect((await httpGet(`${fleet.shield.adminUrl}/metrics`)).body).toMatch(
      /^flotilla_shield_requests_total\{/m,
    );
  });

  it('counts requests in /metrics and reports health on every process', async () => {
    const served = await metricValue(fleet.shield.adminUrl, 'flotilla_shield_requests_total');
    expect(served).toBeGreaterThan(0);
    const health = await httpGet(`${fleet.shield.url}/healthz`);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', transport: 'nats' });
    for (const p of [...fleet.started.scheduler, ...fleet.started.worker]) {
      expect((await httpGet(`${p.url}/healthz`)).status).toBe(200);
    }
    const rendered = () =>
      Promise.all(
        fleet.started.worker.map((w) => metricValue(w.url, 'flotilla_worker_renders_total')),
      ).then((counts) => counts.reduce((a, b) => a + b, 0));
    const before = await rendered();
    for (let i = 1; i <= 3; i++) await httpGet(`${fleet.shield.url}/vue-shop/p/${i}`);
    expect((await rendered()) - before).toBe(3);
  });

  it('spreads concurrent misses over both schedulers of the queue group', async () => {
    const before = await Promise.all(
      fleet.started.scheduler.map((s) => metricValue(s.url, 'flotilla_scheduler_dispatches_total')),
    );
    // Enough to reach both schedulers (all on one: 2 × 0.5^16), few enough that
    // two workers never shed them on a loaded machine (each render fetches the API).
    const responses = await Promise.all(
      Array.from({ length: 16 }, (_, i) => httpGet(`${fleet.shield.url}/react-shop/p/${i + 1}`)),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(16).fill(200));
    const after = await Promise.all(
      fleet.started.scheduler.map((s) => metricValue(s.url, 'flotilla_scheduler_dispatches_total')),
    );
    const delta = after.map((a, i) => a - (before[i] ?? 0));
    expect(delta.reduce((a, b) => a + b, 0)).toBe(16);
    for (const d of delta) expect(d).toBeGreaterThan(0);
  });
});
