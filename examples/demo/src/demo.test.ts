import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RunningFleet, startEmbedded } from '@flotilla/fleet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoSeed, parseDemoArgs } from './demo.ts';

// `./run start`: the embedded fleet (everything in this process, on the
// in-process transport, with real piscina threads and real isolates) seeded
// with the example apps.
describe('embedded fleet with the demo', () => {
  let fleet: RunningFleet;
  let storeDir: string;

  beforeAll(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'flotilla-embedded-'));
    fleet = await startEmbedded({ port: 0, storeDir, seed: demoSeed({ apiPort: 0 }) });
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

  it('lists the apps at / and serves /metrics on its admin listener, /healthz on both', async () => {
    expect((await fetch(`${fleet.url}/`)).status).toBe(404);
    expect((await fetch(`${fleet.url}/metrics`)).status).toBe(404);
    const index = await (await fetch(`${fleet.adminUrl}/`)).text();
    expect(index).toContain('/react-shop/');
    expect(index).toContain('/vue-shop/');
    expect((await fetch(`${fleet.url}/livez`)).status).toBe(200);
    const health = await fetch(`${fleet.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', transport: 'in-process' });
    const metrics = await (await fetch(`${fleet.adminUrl}/metrics`)).text();
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

describe('./run start arguments', () => {
  it("defaults to the example apps; --no-examples and --api-port are the demo's, the rest is flotilla start's", () => {
    expect(parseDemoArgs([])).toEqual({ examples: true, apiPort: undefined, startArgs: [] });
    expect(
      parseDemoArgs(['--port', '0', '--no-examples', '--api-port', '4100', '--workers', '3']),
    ).toEqual({ examples: false, apiPort: 4100, startArgs: ['--port', '0', '--workers', '3'] });
    expect(parseDemoArgs(['--api-port=0']).apiPort).toBe(0);
  });

  it.each([[['--api-port']], [['--api-port', 'x']], [['--api-port', '70000']]])(
    'rejects %j naming --api-port',
    (args) => {
      expect(() => parseDemoArgs(args)).toThrow(/--api-port.*must be a port number/);
    },
  );
});
