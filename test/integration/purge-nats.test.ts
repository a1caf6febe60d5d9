import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { purgeFleet } from '@flotilla/cli';
import { ControlPlane, JetStreamControlStore } from '@flotilla/deploy';
import { encodeShieldBeat, type PurgeSelector, SHIELD_HEARTBEAT_SUBJECT } from '@flotilla/protocol';
import { PurgeResponder } from '@flotilla/shield';
import {
  type CliResult,
  type NatsServerHandle,
  publishBundle,
  runCli,
  startNatsServer,
} from '@flotilla/test-harness';
import { NatsTransport } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

/**
 * `flotilla purge` over a real nats-server: shields (each on its own
 * connection, as separate processes would be) answer a broadcast purge;
 * the purger knows who must answer from their heartbeats. Also the
 * `flotilla split` and `envs` commands against JetStream. The CLI runs as
 * its own process, as a user runs it.
 */

/** The CLI's exit codes (README: "Write and publish an app"). */
const EXIT = { ok: 0, failed: 1, usage: 2, notFound: 4 } as const;

let nats: NatsServerHandle;
let client: NatsConnection;
const connections: NatsConnection[] = [];
let shields: Array<{ responder: PurgeResponder; nc: NatsConnection }> = [];

beforeAll(async () => {
  nats = await startNatsServer({ jetstream: true });
  client = await connect({ servers: nats.url, name: 'purger' });
});

afterEach(async () => {
  // Crashed shields (connection closed) are not closed again: their handler may never finish.
  await Promise.all(shields.filter((s) => !s.nc.isClosed()).map((s) => s.responder.close()));
  shields = [];
  await Promise.all(connections.splice(0).map((nc) => nc.close().catch(() => {})));
});

afterAll(async () => {
  await client?.close();
  await nats?.stop();
});

interface ShieldSpec {
  shieldId: string;
  region?: string;
  /** The store's purge; default: counts the selectors and removes 2 entries each. */
  purge?: (selector: PurgeSelector, nc: NatsConnection) => number | Promise<number>;
}

/** A shield's purge responder on its own NATS connection, heartbeating every 100 ms. */
async function shield(spec: ShieldSpec) {
  const nc = await connect({ servers: nats.url, name: spec.shieldId });
  connections.push(nc);
  const seen: PurgeSelector[] = [];
  const responder = new PurgeResponder({
    transport: new NatsTransport({ connection: nc }),
    shieldId: spec.shieldId,
    region: spec.region ?? 'eu-west',
    heartbeatIntervalMs: 100,
    purge: (selector) => {
      seen.push(selector);
      return spec.purge ? spec.purge(selector, nc) : 2;
    },
  });
  responder.start();
  await nc.flush();
  shields.push({ responder, nc });
  return { responder, nc, seen };
}

const byKey: PurgeSelector = { kind: 'surrogate-key', key: 'product-42', app: 'shop' };

describe('purgeFleet and PurgeResponder over NATS', () => {
  it('purges every live shield and returns as soon as all of them acknowledged', async () => {
    const a = await shield({ shieldId: 'shield-a' });
    const b = await shield({ shieldId: 'shield-b', region: 'us-east', purge: () => 5 });
    const result = await purgeFleet(client, byKey, { timeoutMs: 5000 });
    expect(result.live).toEqual([
      { shieldId: 'shield-a', region: 'eu-west' },
      { shieldId: 'shield-b', region: 'us-east' },
    ]);
    expect(result.acked).toEqual([
      { shieldId: 'shield-a', region: 'eu-west', removed: 2 },
      { shieldId: 'shield-b', region: 'us-east', removed: 5 },
    ]);
    expect(result.missing).toEqual([]);
    expect(result.failed).toEqual([]);
    expect(a.seen).toEqual([byKey]);
    expect(b.seen).toEqual([byKey]);
    // Heartbeats every 100 ms: listening ends after ~175 ms, not the 1500 ms bound, and the
    // acks end the wait long before the 5 s timeout.
    expect(result.ms).toBeLessThan(1500);
  });

  it('reports a shield that stops acknowledging (it died while purging) as missing', async () => {
    await shield({ shieldId: 'shield-a' });
    await shield({
      shieldId: 'shield-b',
      purge: async (_selector, nc) => {
        await nc.close(); // the process dies before it can answer
        return 1;
      },
    });
    const started = performance.now();
    const result = await purgeFleet(client, byKey, { timeoutMs: 1000 });
    expect(result.acked).toEqual([{ shieldId: 'shield-a', region: 'eu-west', removed: 2 }]);
    expect(result.missing).toEqual(['shield-b']);
    expect(result.live.map((l) => l.shieldId)).toEqual(['shield-a', 'shield-b']);
    // It waited for shield-b up to the timeout, no longer.
    expect(performance.now() - started).toBeGreaterThanOrEqual(1000);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('reports a shield whose purge hangs past the timeout as missing', async () => {
    await shield({ shieldId: 'shield-a' });
    await shield({
      shieldId: 'shield-b',
      purge: () => new Promise((resolve) => setTimeout(() => resolve(1), 1200)),
    });
    const result = await purgeFleet(client, byKey, { timeoutMs: 600 });
    expect(result.acked.map((a) => a.shieldId)).toEqual(['shield-a']);
    expect(result.missing).toEqual(['shield-b']);
  });

  it('reports a shield whose store failed', async () => {
    await shield({ shieldId: 'shield-a' });
    await shield({
      shieldId: 'shield-b',
      purge: () => {
        throw new Error('store is closed');
      },
    });
    const result = await purgeFleet(client, byKey);
    expect(result.failed).toEqual([
      { shieldId: 'shield-b', region: 'eu-west', error: 'store is closed' },
    ]);
    expect(result.acked.map((a) => a.shieldId)).toEqual(['shield-a']);
    expect(result.missing).toEqual([]);
  });

  it('does not wait for a shield that stopped (its cache went with it)', async () => {
    await shield({ shieldId: 'shield-a' });
    const b = await shield({ shieldId: 'shield-b' });
    await b.responder.close(); // says goodbye
    await b.nc.flush();
    const result = await purgeFleet(client, byKey, { listenMs: 400, timeoutMs: 3000 });
    expect(result.live.map((l) => l.shieldId)).toEqual(['shield-a']);
    expect(result.acked.map((a) => a.shieldId)).toEqual(['shield-a']);
    expect(result.missing).toEqual([]);
    expect(b.seen).toEqual([]);
  });

  it('stops waiting for a shield that leaves while the purge is out', async () => {
    await shield({ shieldId: 'shield-a' });
    await shield({
      shieldId: 'shield-b',
      purge: (_selector, nc) => {
        // Shutting down: the goodbye goes out, the answer would come late.
        nc.publish(
          SHIELD_HEARTBEAT_SUBJECT,
          encodeShieldBeat({
            shieldId: 'shield-b',
            region: 'eu-west',
            intervalMs: 100,
            leaving: true,
          }),
        );
        return new Promise((resolve) => setTimeout(() => resolve(1), 1500));
      },
    });
    const result = await purgeFleet(client, byKey, { timeoutMs: 5000 });
    expect(result.acked.map((a) => a.shieldId)).toEqual(['shield-a']);
    expect(result.missing).toEqual([]);
    expect(result.ms).toBeLessThan(1200);
  });

  it('finds no shield when none is running, quickly', async () => {
    const result = await purgeFleet(client, byKey, { listenMs: 300 });
    expect(result).toMatchObject({ live: [], acked: [], failed: [], missing: [] });
    expect(result.ms).toBeLessThan(1000);
  });

  it('hears a shield that heartbeats rarely for as long as listenMs', async () => {
    const nc = await connect({ servers: nats.url });
    connections.push(nc);
    const responder = new PurgeResponder({
      transport: new NatsTransport({ connection: nc }),
      shieldId: 'shield-slow',
      region: 'eu-west',
      heartbeatIntervalMs: 60_000,
      purge: () => 0,
    });
    const result = purgeFleet(client, byKey, { listenMs: 500 });
    await new Promise((r) => setTimeout(r, 100));
    responder.start(); // its first heartbeat comes while the purger listens
    shields.push({ responder, nc });
    expect((await result).acked).toEqual([
      { shieldId: 'shield-slow', region: 'eu-west', removed: 0 },
    ]);
  });

  it('rejects a bad selector or option, naming it', async () => {
    await expect(
      purgeFleet(client, { kind: 'path', pattern: 'p' } as PurgeSelector),
    ).rejects.toThrow(/option "selector" pattern must be a path pattern/);
    await expect(purgeFleet(client, byKey, { timeoutMs: 0 })).rejects.toThrow(
      /option "timeoutMs" must be a positive integer/,
    );
    await expect(purgeFleet(client, byKey, { purgeId: 'a b' })).rejects.toThrow(/purgeId/);
  });
});

/** Runs `flotilla <command> <args>` as its own process against the suite's nats-server. */
function cli(command: 'purge' | 'split' | 'envs', args: string[]): Promise<CliResult> {
  return runCli([command, ...args], { env: { FLOTILLA_NATS: nats.url } });
}

// Each CLI run is a process of its own (~2 s to start on a busy machine).
describe('flotilla purge', { timeout: 60_000 }, () => {
  it('prints what every shield removed and exits 0', async () => {
    const a = await shield({ shieldId: 'shield-a' });
    await shield({ shieldId: 'shield-b', region: 'us-east', purge: () => 7 });
    const res = await cli('purge', ['--path', '/p/:id*', '--app', 'shop', '--env', 'production']);
    expect(res.stderr).toMatch(/listening for shields/);
    expect(res.code).toBe(EXIT.ok);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^SHIELD\s+REGION\s+REMOVED$/);
    expect(lines[1]).toMatch(/^shield-a\s+eu-west\s+2$/);
    expect(lines[2]).toMatch(/^shield-b\s+us-east\s+7$/);
    expect(lines[3]).toMatch(
      /^purged paths matching \/p\/:id\* \(app shop, environment production\): 9 entries removed on 2 shields \(\d+ ms\)$/,
    );
    expect(a.seen).toEqual([
      { kind: 'path', pattern: '/p/:id*', app: 'shop', environment: 'production' },
    ]);
  });

  it('sends URLs in the form the shields key them', async () => {
    const a = await shield({ shieldId: 'shield-a' });
    const res = await cli('purge', ['--url', 'https://Shop.Example.com:8443/p/1?color=red#x']);
    expect(res.code).toBe(EXIT.ok);
    expect(a.seen).toEqual([{ kind: 'url', url: 'shop.example.com/p/1?color=red' }]);
  });

  it('purges a whole environment with --all', async () => {
    const a = await shield({ shieldId: 'shield-a' });
    const res = await cli('purge', ['--all', '--app', 'shop', '--env', 'staging', '--json']);
    expect(res.code).toBe(EXIT.ok);
    expect(JSON.parse(res.stdout)).toMatchObject({
      selector: { kind: 'environment', app: 'shop', environment: 'staging' },
      acked: [{ shieldId: 'shield-a', region: 'eu-west', removed: 2 }],
      missing: [],
      removed: 2,
    });
    expect(a.seen).toHaveLength(1);
  });

  it('exits 1 naming the shields that did not acknowledge', async () => {
    await shield({ shieldId: 'shield-a' });
    await shield({
      shieldId: 'shield-b',
      region: 'us-east',
      purge: async (_s, nc) => {
        await nc.close();
        return 1;
      },
    });
    const res = await cli('purge', ['--surrogate-key', 'product-42', '--timeout-ms', '800']);
    expect(res.code).toBe(EXIT.failed);
    expect(res.stdout).toMatch(/^shield-a\s+eu-west\s+2$/m);
    expect(res.stdout).toMatch(/^shield-b\s+us-east\s+no answer$/m);
    expect(res.stderr).toMatch(
      /purge incomplete: shield-b \(us-east\) did not acknowledge within 800 ms/,
    );
  });

  it('exits 1 with a JSON error too, the result still on stdout', async () => {
    await shield({
      shieldId: 'shield-a',
      purge: () => {
        throw new Error('store is closed');
      },
    });
    const res = await cli('purge', ['--surrogate-key', 'k', '--json']);
    expect(res.code).toBe(EXIT.failed);
    expect(JSON.parse(res.stdout)).toMatchObject({
      failed: [{ shieldId: 'shield-a', error: 'store is closed' }],
    });
    expect(JSON.parse(res.stderr)).toMatchObject({
      error: { message: expect.stringMatching(/shield-a \(eu-west\) failed: store is closed/) },
    });
  });

  it('exits 4 when no shield is running', async () => {
    const res = await cli('purge', ['--surrogate-key', 'k', '--listen-ms', '300']);
    expect(res.code).toBe(EXIT.notFound);
    expect(res.stderr).toMatch(/no shield is running/);
  });

  it('exits 4 for a path purge too when no shield is running', async () => {
    const res = await runCli(['purge', '--path', '/', '--listen-ms', '300'], {
      env: { FLOTILLA_NATS: nats.url },
    });
    expect(res.stderr).toMatch(/no shield is running/);
    expect(res.code).toBe(EXIT.notFound);
  });
});

describe('flotilla split', { timeout: 60_000 }, () => {
  let dir: string;
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'flotilla-split-cli-'));
    const nc = await connect({ servers: nats.url });
    try {
      const plane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
      const code = (v: string) => `export default { fetch: () => new Response('${v}') };\n`;
      v1 = await publishBundle(plane, join(dir, 'v1'), { name: 'splitshop', code: code('v1') });
      v2 = await publishBundle(plane, join(dir, 'v2'), { name: 'splitshop', code: code('v2') });
    } finally {
      await nc.close();
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const app = ['--env', 'production', '--app', 'splitshop'];

  it('sets a split, shows it in envs, and clears it', async () => {
    const set = await cli('split', ['set', ...app, `${v2}=80`, `${v1}=20%`]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(EXIT.ok);
    expect(set.stdout).toBe(
      `splitshop production: split ${v2} 80%, ${v1} 20%; each visitor stays on one (cookie flotilla_split_splitshop_production)\n`,
    );

    const envs = await cli('envs', ['--app', 'splitshop']);
    expect(envs.stdout).toMatch(/^APP\s+ENV\s+DEPLOYMENT\s+SPLIT\s+REGIONS/);
    expect(envs.stdout).toContain(`${v2} 80%, ${v1} 20%`);
    const json = await cli('envs', ['--app', 'splitshop', '--json']);
    expect(JSON.parse(json.stdout)[0].split).toEqual([
      { deploymentId: v2, percent: 80 },
      { deploymentId: v1, percent: 20 },
    ]);

    const cleared = await cli('split', ['clear', ...app]);
    expect(cleared.code).toBe(EXIT.ok);
    expect(cleared.stdout).toBe(`splitshop production: no split test; every visitor gets ${v2}\n`);
    const after = await cli('envs', ['--app', 'splitshop', '--json']);
    expect(JSON.parse(after.stdout)[0].split).toBeUndefined();
  });

  it('sets rules with --rule, first match first, shows them, and clears them with the split', async () => {
    const set = await cli('split', [
      'set',
      ...app,
      `${v2}=80`,
      `${v1}=20`,
      '--rule',
      `cookie:beta=1 -> ${v1}=100`,
      '--rule',
      `device:smartphone|tablet & country:de -> ${v1}=50,${v2}=50`,
    ]);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(EXIT.ok);
    expect(set.stdout).toBe(
      'splitshop production: split test, the first rule that matches wins; each visitor stays on one (cookie flotilla_split_splitshop_production)\n' +
        `  rule 1: cookie:beta=1 -> ${v1}=100\n` +
        `  rule 2: device:smartphone|tablet&country:DE -> ${v1}=50,${v2}=50\n` +
        `  otherwise: ${v2} 80%, ${v1} 20%\n`,
    );
    const json = await cli('envs', ['--app', 'splitshop', '--json']);
    expect(JSON.parse(json.stdout)[0].splitRules).toEqual([
      {
        when: { cookie: { name: 'beta', value: '1' } },
        split: [{ deploymentId: v1, percent: 100 }],
      },
      {
        when: { device: ['smartphone', 'tablet'], country: ['DE'] },
        split: [
          { deploymentId: v1, percent: 50 },
          { deploymentId: v2, percent: 50 },
        ],
      },
    ]);
    const bad = await cli('split', ['set', ...app, '--rule', `device:phone -> ${v1}=100`]);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(
      /splitRules\[0\]\.when\.device\[0\].*must be one of smartphone, tablet, mobile, desktop/,
    );
    const cleared = await cli('split', ['clear', ...app]);
    expect(cleared.stdout).toBe(`splitshop production: no split test; every visitor gets ${v2}\n`);
    expect(
      JSON.parse((await cli('envs', ['--app', 'splitshop', '--json'])).stdout)[0].splitRules,
    ).toBeUndefined();
  });

  it('refuses a split whose percents do not add up (exit 2)', async () => {
    const res = await cli('split', ['set', ...app, `${v2}=80`, `${v1}=30`]);
    expect(res.code).toBe(EXIT.usage);
    expect(res.stderr).toMatch(/percents must add up to 100, got 80 \+ 30 = 110/);
  });

  it('refuses a deployment that does not exist (exit 4)', async () => {
    const res = await cli('split', ['set', ...app, `${v2}=50`, 'splitshop-000000000000=50']);
    expect(res.code).toBe(EXIT.notFound);
    expect(res.stderr).toMatch(/deployment splitshop-000000000000 of the split does not exist/);
  });

  it('refuses a split without the served deployment (exit 2)', async () => {
    const v3 = await (async () => {
      const nc = await connect({ servers: nats.url });
      try {
        const plane = new ControlPlane({ store: await JetStreamControlStore.open(nc) });
        const id = await publishBundle(plane, join(dir, 'v3'), {
          name: 'splitshop',
          code: "export default { fetch: () => new Response('v3') };\n",
        });
        await plane.rollback('splitshop', 'production'); // back to v2
        return id;
      } finally {
        await nc.close();
      }
    })();
    const res = await cli('split', ['set', ...app, `${v1}=50`, `${v3}=50`]);
    expect(res.code).toBe(EXIT.usage);
    expect(res.stderr).toMatch(
      new RegExp(`option "split" must include ${v2}, the deployment environment production`),
    );
  });
});
