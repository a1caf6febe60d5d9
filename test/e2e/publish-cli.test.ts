import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type CliResult,
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  type Fleet,
  type HttpReply,
  httpRequest,
  runCli,
  startFleet,
  waitFor,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelloApp, writeHelloApp } from '../support/apps.ts';

/**
 * The app developer's journey with the real `flotilla` CLI, each command its
 * own process, against a fleet of separate processes on a real nats-server
 * with JetStream: build, publish, preview, promote, roll back, configure.
 */

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

let fleet: Fleet;
const apps: HelloApp[] = [];

function cliEnv(): NodeJS.ProcessEnv {
  return { FLOTILLA_NATS: fleet.nats.url, FLOTILLA_SHIELD: fleet.shield.url };
}

/** Starts `flotilla <args>` as its own process (for a test that kills it midway). */
function spawnCli(args: string[]): ChildProcess {
  return spawn(process.execPath, [...FLEET_NODE_FLAGS, FLEET_BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NODE_OPTIONS: '', ...cliEnv() },
  });
}

/** Runs `flotilla <args>` to completion. */
function cli(args: string[]): Promise<CliResult> {
  return runCli(args, { env: cliEnv() });
}

async function json<T>(args: string[]): Promise<T> {
  const res = await cli([...args, '--json']);
  if (res.code !== 0)
    throw new Error(`flotilla ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}

async function app(options: Parameters<typeof writeHelloApp>[0]): Promise<HelloApp> {
  const a = await writeHelloApp(options);
  apps.push(a);
  return a;
}

/** GET through the shield with a Host header (fetch cannot set Host). */
function get(host: string, path = '/'): Promise<HttpReply> {
  return httpRequest(fleet.shield.url, path, { host });
}

/** Milliseconds from now until the page on `host` contains `text` (polling every 10 ms). */
function msUntil(host: string, text: string, timeoutMs = 5000): Promise<number> {
  return waitFor(
    async () => {
      const res = await get(host);
      return res.status === 200 && res.body.includes(text);
    },
    { timeoutMs, intervalMs: 10, message: `${host} never served "${text}" within ${timeoutMs} ms` },
  );
}

interface Published {
  deploymentId: string;
  created: boolean;
  previewUrl: string;
}

beforeAll(async () => {
  // Nothing published: the tests publish with the CLI.
  fleet = await startFleet({ schedulers: 1, workers: 1, cache: true });
}, 90_000);

afterAll(async () => {
  await fleet?.stop();
  await Promise.allSettled(apps.map((a) => a.remove()));
});

describe('flotilla build', () => {
  it('builds both example apps into bundle, manifest and hashed assets', async () => {
    for (const name of ['react-shop', 'vue-shop']) {
      const out = join(fleet.storeDir, `build-${name}`);
      const res = await cli(['build', '--dir', join(EXAMPLES, name), '--out', out]);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`^built ${name} into `));
      const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
      expect(manifest).toMatchObject({
        manifestVersion: 2,
        name,
        backends: { api: expect.any(String) },
      });
      expect(manifest.routes.length).toBeGreaterThanOrEqual(2);
      expect(manifest.routes.some((r: { cache?: unknown }) => r.cache)).toBe(true);
      expect(manifest.assets.some((a: { permanent: boolean }) => a.permanent)).toBe(true);
    }
  });
});

describe('publish, preview, promote, roll back', () => {
  let v1: Published;
  let v2: Published;
  let v1Css: string;

  it('publishes with progress, prints the deployment id and a preview URL that serves it', async () => {
    const hello = await app({ version: 'v1' });
    const res = await cli(['publish', '--dir', hello.dir, '--env', 'production']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/publish: upload/);
    const id = /deployment (hello-[0-9a-f]{12}) published/.exec(res.stdout)?.[1];
    expect(id, res.stdout).toBeDefined();
    const preview = `${id}.preview.localhost`;
    expect(res.stdout).toContain(`preview: http://${preview}:${new URL(fleet.shield.url).port}/`);
    v1 = { deploymentId: id as string, created: true, previewUrl: preview };

    await msUntil('hello.localhost', 'hello v1');
    expect((await get(preview)).body).toContain('hello v1');
    const page = (await get('hello.localhost')).body;
    v1Css = /href="([^"]+)"/.exec(page)?.[1] ?? '';
    expect(v1Css).toMatch(/^\/assets\/site\.[0-9a-f]{10}\.css$/);
    const css = await get('hello.localhost', v1Css);
    expect(css.status).toBe(200);
    expect(css.body).toContain('v1');
    expect(css.headers['cache-control']).toContain('immutable');
  });

  it('publishing the same content again gives the same deployment', async () => {
    const again = await app({ version: 'v1' });
    const res = await json<Published>(['publish', '--dir', again.dir]);
    expect(res).toMatchObject({ deploymentId: v1.deploymentId, created: false });
  });

  it('promote and rollback switch production fleet-wide within 1 s, with no rebuild', async () => {
    const hello = await app({ version: 'v2' });
    v2 = await json<Published>(['publish', '--dir', hello.dir]);
    expect(v2.deploymentId).not.toBe(v1.deploymentId);
    // Published without --env: only its preview host serves it.
    expect((await get(`${v2.deploymentId}.preview.localhost`)).body).toContain('hello v2');
    expect((await get('hello.localhost')).body).toContain('hello v1');

    const promote = await cli(['promote', v2.deploymentId, '--env', 'production']);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stdout).toContain(`now serves ${v2.deploymentId}`);
    expect(await msUntil('hello.localhost', 'hello v2')).toBeLessThan(1000);

    // Open tabs of v1 keep working: its hashed stylesheet is still served.
    const oldCss = await get('hello.localhost', v1Css);
    expect(oldCss.status).toBe(200);
    expect(oldCss.body).toContain('v1');
    // The unhashed path follows the environment.
    expect((await get('hello.localhost', '/site.css')).body).toContain('v2');
    // The v1 preview host still serves v1.
    expect((await get(`${v1.deploymentId}.preview.localhost`)).body).toContain('hello v1');

    const rollback = await cli(['rollback', '--env', 'production', '--dir', hello.dir]);
    expect(rollback.code, rollback.stderr).toBe(0);
    expect(rollback.stdout).toContain(`rolled back to ${v1.deploymentId}`);
    expect(await msUntil('hello.localhost', 'hello v1')).toBeLessThan(1000);
  });

  it('lists environments and deployments, for people and for scripts', async () => {
    const envs = await json<Array<{ app: string; env: string; deploymentId: string }>>([
      'envs',
      '--app',
      'hello',
    ]);
    expect(envs).toEqual([
      expect.objectContaining({ app: 'hello', env: 'production', deploymentId: v1.deploymentId }),
    ]);
    const deployments = await json<Array<{ id: string; serving: string[] }>>([
      'deployments',
      '--app',
      'hello',
    ]);
    expect(deployments.map((d) => d.id).sort()).toEqual([v1.deploymentId, v2.deploymentId].sort());
    expect(deployments.find((d) => d.id === v1.deploymentId)?.serving).toEqual(['production']);
    const table = await cli(['deployments', '--app', 'hello']);
    expect(table.stdout).toMatch(/^ID\s+APP\s+CREATED/);
    const status = await cli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/test\s+1\s+1/); // region test: 1 scheduler, 1 worker
  });

  it('gives the handler its environment’s variables, and only its own', async () => {
    const set = await cli([
      'env',
      'set',
      '--env',
      'production',
      '--app',
      'hello',
      '--var',
      'GREETING=hi-prod',
    ]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).not.toContain('hi-prod'); // values may be secrets
    expect(await msUntil('hello.localhost', 'greeting=hi-prod')).toBeLessThan(2000);
    // The same deployment on its preview host has no environment.
    expect((await get(`${v1.deploymentId}.preview.localhost`)).body).toContain('greeting=</p>');
    // Another environment of the same deployment has its own.
    expect((await cli(['promote', v1.deploymentId, '--env', 'staging'])).code).toBe(0);
    expect(await msUntil('staging.hello.localhost', 'hello v1')).toBeLessThan(1000);
    expect((await get('staging.hello.localhost')).body).toContain('greeting=</p>');
  });

  it('pins an environment to the region nearest its API (measured), or by name', async () => {
    const near = await cli([
      'region',
      'set',
      '--env',
      'production',
      '--app',
      'hello',
      '--near',
      fleet.shield.url,
    ]);
    expect(near.code, near.stderr).toBe(0);
    expect(near.stdout).toMatch(/REGION\s+RTT\s+ROLE/);
    expect(near.stdout).toMatch(/test\s+[\d.]+ ms\s+primary/);
    expect((await get('hello.localhost')).status).toBe(200);

    // Primary without schedulers: the secondary (test) renders it, and says so.
    const pinned = await cli([
      'region',
      'set',
      '--env',
      'production',
      '--app',
      'hello',
      '--primary',
      'mars',
      '--secondary',
      'test',
      // No scheduler of mars runs: that is the point here.
      '--force',
    ]);
    expect(pinned.code, pinned.stderr).toBe(0);
    await waitFor(
      async () =>
        (await get('hello.localhost')).headers['server-timing']?.includes('region;desc="test"') ??
        false,
      { timeoutMs: 2000, message: 'the shield never failed over to region test' },
    );
  });

  it('pre-warms a deployment on the workers before the environment switches to it', async () => {
    const [warm, cold] = await Promise.all([app({ version: 'v6' }), app({ version: 'v7' })]);
    const six = await json<Published>(['publish', '--dir', warm.dir]);
    const seven = await json<Published>(['publish', '--dir', cold.dir]);

    const promote = await cli(['promote', six.deploymentId, '--env', 'production']);
    expect(promote.code, promote.stderr).toBe(0);
    expect(promote.stderr).toMatch(/prewarm: warm on 1 worker\(s\) in 1 region\(s\)/);
    // Shields follow the environment through their watch: on a busy machine
    // the switch may reach them a moment after promote returned.
    let first = await get('hello.localhost');
    for (let i = 0; i < 100 && !first.body.includes('hello v6'); i++) {
      await new Promise((r) => setTimeout(r, 10));
      first = await get('hello.localhost');
    }
    expect(first.body).toContain('hello v6');
    // No cold start: the first request after the switch has no `load` stage.
    expect(first.headers['server-timing']).not.toMatch(/\bload;dur=/);

    // Without pre-warm, the first request pays the load.
    const unwarmed = await cli([
      'promote',
      seven.deploymentId,
      '--env',
      'production',
      '--no-prewarm',
    ]);
    expect(unwarmed.code, unwarmed.stderr).toBe(0);
    let firstSeven = await get('hello.localhost');
    for (let i = 0; i < 100 && !firstSeven.body.includes('hello v7'); i++) {
      await new Promise((r) => setTimeout(r, 10));
      firstSeven = await get('hello.localhost');
    }
    expect(firstSeven.body).toContain('hello v7');
    expect(firstSeven.headers['server-timing']).toMatch(/\bload;dur=/);
    const afterCold = await cli([
      'rollback',
      '--env',
      'production',
      '--app',
      'hello',
      '--no-prewarm',
    ]);
    expect(afterCold.code, afterCold.stderr).toBe(0);
    expect(await msUntil('hello.localhost', 'hello v6')).toBeLessThan(1000);
  });

  it('takes two concurrent publishes, both complete', async () => {
    const [a, b] = await Promise.all([app({ version: 'v3' }), app({ version: 'v4' })]);
    const [ra, rb] = await Promise.all([
      cli(['publish', '--dir', a.dir, '--json']),
      cli(['publish', '--dir', b.dir, '--json']),
    ]);
    expect([ra.code, rb.code], ra.stderr + rb.stderr).toEqual([0, 0]);
    const ids = [ra, rb].map((r) => (JSON.parse(r.stdout) as Published).deploymentId);
    expect(new Set(ids).size).toBe(2);
    for (const id of ids) {
      expect((await get(`${id}.preview.localhost`)).status).toBe(200);
    }
  });

  it('deletes a deployment on request (its preview host stops), never one that serves', async () => {
    const doomed = await app({ version: 'v8' });
    const { deploymentId } = await json<Published>(['publish', '--dir', doomed.dir]);
    const preview = `${deploymentId}.preview.localhost`;
    expect((await get(preview)).body).toContain('hello v8');
    const served = (await json<Array<{ deploymentId: string }>>(['envs', '--app', 'hello']))[0];
    const refused = await cli(['delete', served?.deploymentId ?? '']);
    expect(refused.code).toBe(5);
    const deleted = await cli(['delete', deploymentId]);
    expect(deleted.code, deleted.stderr).toBe(0);
    await waitFor(async () => (await get(preview)).status === 404, {
      timeoutMs: 5000,
      message: 'the preview host kept serving a deleted deployment',
    });
  });

  it('leaves nothing half-published when a publish is killed mid-upload', async () => {
    const before = await json<Array<{ id: string }>>(['deployments', '--app', 'hello']);
    const big = await app({ version: 'v5', bigAssetBytes: 24 * 1024 * 1024 });
    const child = spawnCli(['publish', '--dir', big.dir, '--env', 'production']);
    let stderr = '';
    const uploading = new Promise<void>((resolve) => {
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d;
        if (/publish: upload \d+\/\d+ \([1-9]/.test(stderr)) resolve();
      });
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await Promise.race([uploading, exited]);
    child.kill('SIGKILL');
    await exited;
    expect(stderr).toMatch(/publish: upload/);
    const after = await json<Array<{ id: string }>>(['deployments', '--app', 'hello']);
    expect(after.map((d) => d.id).sort()).toEqual(before.map((d) => d.id).sort());
    expect((await get('hello.localhost')).body).not.toContain('hello v5');
    // A new try completes.
    const retry = await cli(['publish', '--dir', big.dir, '--json']);
    expect(retry.code, retry.stderr).toBe(0);
  });
});

describe('bad input gets a clear message and a non-zero exit', () => {
  it('an unknown environment (4)', async () => {
    const res = await cli(['rollback', '--env', 'nowhere', '--app', 'hello']);
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/nowhere/);
  });

  it('a malformed config (2), naming the file', async () => {
    const bad = await app({ version: 'x', rawConfig: '{ "name": "hello", ' });
    const res = await cli(['build', '--dir', bad.dir]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('flotilla.config.json');
  });

  it('an app importing a Node built-in (1), naming the import chain', async () => {
    const bad = await app({ version: 'x', importNodeBuiltin: true });
    const res = await cli(['publish', '--dir', bad.dir]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/app\.ts.*disk\.ts.*node:fs/s);
  });

  it('an over-size bundle (1), with its size and the cap', async () => {
    const bad = await app({ version: 'x', maxBundleBytes: 1000 });
    const res = await cli(['build', '--dir', bad.dir]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/over the .* cap/);
  });

  it('an unreachable fleet (3)', async () => {
    const hello = await app({ version: 'x' });
    const res = await cli(['publish', '--dir', hello.dir, '--nats', 'nats://127.0.0.1:1']);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('cannot reach the fleet at nats://127.0.0.1:1');
  });

  it('an unknown option or deployment (2, 4), as JSON for scripts', async () => {
    const option = await cli(['promote', '--bogus', '--json']);
    expect(option.code).toBe(2);
    expect(JSON.parse(option.stderr)).toMatchObject({
      error: { code: 'FLOTILLA_ERR_INVALID_OPTION' },
    });
    const missing = await cli(['promote', 'hello-ffffffffffff', '--env', 'production', '--json']);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stderr)).toMatchObject({ error: { code: 'FLOTILLA_ERR_NOT_FOUND' } });
  });
});
