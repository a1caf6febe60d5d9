/**
 * Two regions on two hosts (network namespaces), one nats-server, and one
 * API both regions call by the same name: from region `near` it is the API
 * itself, from region `far` a delaying TCP proxy in front of it (100 ms
 * each way, where `tc netem` is not available). `flotilla region set
 * --near` makes `near` the primary and `far` the secondary by measured
 * round trip; once `near` has no scheduler, the shield's misses fail over
 * to `far` and a page that makes one API call costs about one extra round
 * trip through the proxy.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { ISOLATE_HOST_FLAGS } from '@flotilla/runtime';
import {
  type ChildHandle,
  FLEET_BIN,
  httpRequest,
  publishBundle,
  runCli,
  waitFor,
} from '@flotilla/test-harness';
import { type DelayProxy, startDelayProxy } from '@flotilla/test-harness/delay-proxy';
import { createTopology, type NetnsHost, type NetnsTopology } from '@flotilla/test-harness/netns';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { percentile } from '../fault/load.ts';

const DELAY_MS = 100;
const API_NAME = 'api.flotilla.test';

let scratch: string;
let topology: NetnsTopology;
let nats: ChildHandle;
let natsUrl: string;
let api: Server;
let apiPort: number;
let proxy: DelayProxy;
let operator: NatsConnection;
const running = new Map<string, { child: ChildHandle; url: string }>();

async function start(host: NetnsHost, name: string, role: string, region: string): Promise<void> {
  const child = await topology.spawn(host, {
    command: process.execPath,
    args: [
      ...ISOLATE_HOST_FLAGS,
      FLEET_BIN,
      'start',
      '--nats',
      natsUrl,
      '--role',
      role,
      '--region',
      region,
      '--host',
      host.ip,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--store',
      join(scratch, name),
      ...(role === 'worker' ? ['--threads', '1'] : []),
    ],
    env: { NODE_OPTIONS: '' },
    name,
    readyPattern: /^flotilla \w+ ready: /,
    readyTimeoutMs: 120_000,
  });
  const line = await child.waitForLine(/^flotilla \w+ ready: /, 1000);
  const url = / on (http:\/\/\S+)$/.exec(line)?.[1];
  if (url === undefined) throw new Error(`no URL in ${line}`);
  running.set(name, { child, url });
}

/** Median latency (ms) of `n` misses (new paths: no cache) through the shield. */
async function medianMiss(n: number, tag: string): Promise<number> {
  const shield = running.get('shield')?.url as string;
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const reply = await httpRequest(shield, `/${tag}-${i}`, { host: 'hello.localhost' });
    ms.push(performance.now() - t);
    expect(`${reply.status} ${reply.body}`).toBe('200 api says ok');
  }
  return percentile(ms, 50);
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'flotilla-regions-'));
  topology = await createTopology({ hosts: 2 });
  const [h1, h2] = topology.hosts as [NetnsHost, NetnsHost];
  api = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => api.listen(0, topology.gateway, resolve));
  apiPort = (api.address() as { port: number }).port;
  const proxyAddress = await topology.addGatewayAddress();
  proxy = await startDelayProxy({
    target: { host: topology.gateway, port: apiPort },
    delayMs: DELAY_MS,
    host: proxyAddress,
    port: apiPort,
  });
  topology.setHosts(h1, { [API_NAME]: topology.gateway });
  topology.setHosts(h2, { [API_NAME]: proxyAddress });
  nats = await topology.spawn(h1, {
    command: process.env.NATS_SERVER_BIN || '/usr/sbin/nats-server',
    args: ['-a', h1.ip, '-p', '4222', '-js', '-sd', join(scratch, 'nats')],
    name: 'nats',
    readyPattern: /Server is ready/,
  });
  natsUrl = `nats://${h1.ip}:4222`;
  operator = await connect({ servers: natsUrl });
  const controlPlane = new ControlPlane({ store: await JetStreamControlStore.open(operator) });
  await publishBundle(controlPlane, join(scratch, 'build'), {
    name: 'hello',
    code: `Flotilla.serve(async () => {
      const answer = await fetch('backend://api/');
      return new Response('api says ' + (await answer.text()));
    });`,
    backends: { api: `http://${API_NAME}:${apiPort}` },
  });
  await Promise.all([
    start(h1, 'near-scheduler', 'scheduler', 'near'),
    start(h1, 'near-worker', 'worker', 'near'),
    start(h2, 'far-scheduler', 'scheduler', 'far'),
    start(h2, 'far-worker', 'worker', 'far'),
  ]);
  await start(h1, 'shield', 'shield', 'near');
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([...running.values()].map((r) => r.child.kill('SIGKILL')));
  await operator?.close().catch(() => {});
  await nats?.kill();
  await proxy?.close();
  await new Promise((resolve) => api?.close(resolve));
  await topology?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
}, 60_000);

describe('two regions, one behind a delaying proxy', () => {
  it('region set --near picks the nearer region as primary, the other as secondary', async () => {
    const result = await runCli(
      [
        'region',
        'set',
        '--env',
        'production',
        '--app',
        'hello',
        '--near',
        `http://${API_NAME}:${apiPort}/`,
        '--nats',
        natsUrl,
      ],
      { timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/primary near, secondary far/);
  }, 90_000);

  it('fails over to the secondary at the cost of about one extra round trip', async () => {
    await medianMiss(5, 'warm-near');
    const near = await medianMiss(15, 'near');
    // The primary loses its scheduler: misses go to the secondary.
    await running.get('near-scheduler')?.child.kill('SIGTERM');
    await waitFor(
      async () =>
        (
          await httpRequest(running.get('shield')?.url as string, '/probe', {
            host: 'hello.localhost',
          })
        ).status === 200,
      { timeoutMs: 30_000, message: 'the shield never failed over to the secondary' },
    );
    await medianMiss(5, 'warm-far');
    const far = await medianMiss(15, 'far');
    const extra = far - near;
    console.log(
      `[ops] miss through the primary (near) p50 ${near.toFixed(1)} ms, after failover to the secondary (far, ${2 * DELAY_MS} ms round trip away) p50 ${far.toFixed(1)} ms: +${extra.toFixed(1)} ms`,
    );
    // One round trip through the proxy is 2 × DELAY_MS; a second would be twice that.
    expect(extra).toBeGreaterThan(DELAY_MS);
    expect(extra).toBeLessThan(3 * DELAY_MS);
  }, 120_000);
});
