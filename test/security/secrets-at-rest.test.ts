/**
 * Secret variables are encrypted at rest and never printed back, against a
 * real nats-server (JetStream) and a role-mode fleet of separate processes:
 * the real `flotilla` CLI seals a secret read from stdin to the fleet's
 * secrets key; neither the KV stream's raw messages nor the server's files
 * on disk hold the value; a worker holding the key hands it to the isolate;
 * `secrets-key rotate` re-encrypts it to a new key; a worker with the wrong
 * key (or none) fails the render with `FLOTILLA_ERR_SECRET`, logged without
 * the value; listings show names and key ids only; a value on the command
 * line is refused before anything connects.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type CliResult,
  type Fleet,
  httpGet,
  publishBundle,
  type RoleProcess,
  runCli,
  startFleet,
  type TestBundle,
  waitFor,
} from '@flotilla/test-harness';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

const SECRET = `s3cr3t-${randomUUID()}`;
const APP: TestBundle = {
  name: 'vault-app',
  code: `Flotilla.serve((req, env) => new Response('token=' + env.API_TOKEN + ';plain=' + env.PLAIN_VAR));`,
};

let fleet: Fleet;
let dir: string;
let nc: NatsConnection;
const keys = { k1: '', k2: '' };
const kids = { k1: '', k2: '' };

function cli(args: string[], input?: string): Promise<CliResult> {
  return runCli(args, {
    env: { FLOTILLA_NATS: fleet.nats.url },
    ...(input === undefined ? {} : { input }),
  });
}

async function ok(args: string[], input?: string): Promise<string> {
  const res = await cli(args, input);
  expect(res.code, `flotilla ${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout;
}

/** Every message of every JetStream stream, as the server stores them (subject, headers, data). */
async function rawStreamBytes(): Promise<Buffer> {
  const api = async (subject: string, body: unknown = {}): Promise<Record<string, unknown>> =>
    (await nc.request(subject, JSON.stringify(body), { timeout: 5000 })).json();
  const names = ((await api('$JS.API.STREAM.NAMES')).streams as string[] | null) ?? [];
  const parts: Buffer[] = [];
  for (const name of names) {
    const info = await api(`$JS.API.STREAM.INFO.${name}`);
    const state = info.state as { first_seq: number; last_seq: number };
    for (let seq = state.first_seq; seq <= state.last_seq && seq > 0; seq++) {
      const reply = await api(`$JS.API.STREAM.MSG.GET.${name}`, { seq });
      const message = reply.message as
        | { subject: string; data?: string; hdrs?: string }
        | undefined;
      if (message === undefined) continue; // deleted
      parts.push(Buffer.from(message.subject));
      if (message.hdrs) parts.push(Buffer.from(message.hdrs, 'base64'));
      if (message.data) parts.push(Buffer.from(message.data, 'base64'));
    }
  }
  return Buffer.concat(parts);
}

/** Every file under the nats-server's JetStream store directory, concatenated. */
async function diskBytes(): Promise<Buffer> {
  const root = fleet.nats.storeDir as string;
  const files = (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) =>
    e.isFile(),
  );
  return Buffer.concat(
    await Promise.all(
      files.map((f) => readFile(join(f.parentPath, f.name)).catch(() => Buffer.alloc(0))),
    ),
  );
}

/** The plaintext in any form a careless store might keep it: as is, base64 or base64url. */
function holdsSecret(bytes: Buffer): boolean {
  return [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('base64url')]
    .map((form) => form.slice(0, 24))
    .some((form) => bytes.includes(form));
}

async function environment(): Promise<{
  vars: string[];
  secrets: Array<{ name: string; kid: string }>;
}> {
  const list = JSON.parse(await ok(['envs', '--app', APP.name, '--json']));
  return list[0];
}

/** Replaces the fleet's live workers by one started with `args`. */
async function onlyWorker(args: string[]): Promise<RoleProcess> {
  const old = fleet.live('worker');
  const worker = await fleet.add('worker', { args });
  await Promise.all(old.map((w) => w.child.kill('SIGTERM')));
  await fleet.settled(30_000);
  return worker;
}

function render() {
  return httpGet(`${fleet.shield.url}/${APP.name}/`, { timeoutMs: 20_000 });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-secrets-'));
  keys.k1 = join(dir, 'k1.pem');
  keys.k2 = join(dir, 'k2.pem');
  for (const k of ['k1', 'k2'] as const) {
    const res = await runCli(['secrets-key', 'generate', '--out', keys[k], '--json']);
    expect(res.code, res.stderr).toBe(0);
    kids[k] = JSON.parse(res.stdout).kid;
  }
  fleet = await startFleet({
    schedulers: 1,
    // Each test starts the worker it needs (fleet-wide worker args would go to every one).
    workers: 0,
    publish: async (natsUrl, buildDir) => {
      const publisher = await openControlPlane(natsUrl);
      try {
        await publishBundle(publisher.controlPlane, buildDir, APP);
      } finally {
        await publisher.close();
      }
      return undefined;
    },
  });
  await fleet.add('worker', { args: ['--secrets-key', keys.k1] });
  await fleet.settled(30_000);
  nc = await connect({ servers: fleet.nats.url, name: 'secrets-test' });
}, 120_000);

afterAll(async () => {
  await nc?.close().catch(() => {});
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('secrets at rest', { timeout: 120_000 }, () => {
  it('generates a key pair: the private key mode 0600, never overwritten', async () => {
    expect((await stat(keys.k1)).mode & 0o777).toBe(0o600);
    expect(await readFile(`${keys.k1}.pub`, 'utf8')).toMatch(/BEGIN PUBLIC KEY/);
    expect(kids.k1).toMatch(/^[0-9a-f]{16}$/);
    expect(kids.k1).not.toBe(kids.k2);
    const again = await runCli(['secrets-key', 'generate', '--out', keys.k1]);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/exists/);
  });

  it('refuses a secret value on the command line, before connecting anywhere', async () => {
    const res = await runCli(
      ['env', 'set', '--env', 'production', '--app', APP.name, '--secret', `API_TOKEN=${SECRET}`],
      // Nothing listens there: exit 2 (usage), not 3 (unreachable), proves it never connected.
      { env: { FLOTILLA_NATS: 'nats://127.0.0.1:1' } },
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--secret.*never goes on the command line.*stdin.*--secret-file/);
    expect(res.stderr + res.stdout).not.toContain(SECRET);
  });

  it('asks for a secrets key before sealing anything', async () => {
    const res = await cli(
      ['env', 'set', '--env', 'production', '--app', APP.name, '--secret', 'API_TOKEN'],
      `${SECRET}\n`,
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no secrets key.*secrets-key generate/);
    expect((await environment()).secrets).toEqual([]);
    expect(await ok(['secrets-key', 'set', '--secrets-key', `${keys.k1}.pub`])).toContain(kids.k1);
  });

  it('stores a secret read from stdin only sealed: no plaintext in the raw KV messages or on disk', async () => {
    const out = await ok(
      ['env', 'set', '--env', 'production', '--app', APP.name, '--secret', 'API_TOKEN'],
      `${SECRET}\n`,
    );
    expect(out).toContain(`API_TOKEN (key ${kids.k1})`);
    expect(out).not.toContain(SECRET);
    await ok([
      'env',
      'set',
      '--env',
      'production',
      '--app',
      APP.name,
      '--var',
      'PLAIN_VAR=plain-value',
    ]);
    const raw = await rawStreamBytes();
    // The record is there, with its envelope and the plain variable...
    expect(raw.includes('env.vault-app.production')).toBe(true);
    expect(raw.includes('"API_TOKEN":{"v":1')).toBe(true);
    expect(raw.includes('plain-value')).toBe(true);
    // ...and the secret is not, in any revision of the record.
    expect(holdsSecret(raw)).toBe(false);
    // The server writes its files behind the acknowledgement: wait until the record is there.
    let disk: Buffer = Buffer.alloc(0);
    await waitFor(
      async () => {
        disk = await diskBytes();
        return disk.includes('plain-value');
      },
      {
        timeoutMs: 30_000,
        message: 'the environment record never reached the JetStream files',
      },
    );
    expect(holdsSecret(disk)).toBe(false);
  });

  it('a worker holding the key hands the value to the isolate', async () => {
    const res = await render();
    expect(res.status, res.body).toBe(200);
    expect(res.body).toBe(`token=${SECRET};plain=plain-value`);
  });

  it('listings show secret names and key ids, never values', async () => {
    const env = await environment();
    expect(env.vars).toEqual(['PLAIN_VAR']);
    expect(env.secrets).toEqual([{ name: 'API_TOKEN', kid: kids.k1 }]);
    for (const args of [
      ['envs', '--app', APP.name],
      ['envs', '--app', APP.name, '--json'],
      ['status', '--json'],
      ['secrets-key', 'show', '--json'],
    ]) {
      const res = await cli(args);
      expect(res.stdout + res.stderr, args.join(' ')).not.toContain(SECRET);
    }
  });

  it('rotation: re-encrypts every secret to the new key; a worker holding both serves throughout', async () => {
    await onlyWorker(['--secrets-key', keys.k2, '--secrets-key', keys.k1]);
    expect((await render()).body).toBe(`token=${SECRET};plain=plain-value`);
    const rotated = JSON.parse(
      await ok([
        'secrets-key',
        'rotate',
        '--secrets-key',
        keys.k2,
        '--secrets-key',
        keys.k1,
        '--json',
      ]),
    );
    expect(rotated).toEqual({ kid: kids.k2, reencrypted: 1 });
    expect((await environment()).secrets).toEqual([{ name: 'API_TOKEN', kid: kids.k2 }]);
    const shown = JSON.parse(await ok(['secrets-key', 'show', '--json']));
    expect(shown.key.kid).toBe(kids.k2);
    expect(shown.sealed).toEqual({ [kids.k2]: 1 });
    // Only the new key now.
    await onlyWorker(['--secrets-key', keys.k2]);
    const res = await render();
    expect(res.status, res.body).toBe(200);
    expect(res.body).toBe(`token=${SECRET};plain=plain-value`);
    expect(holdsSecret(await rawStreamBytes())).toBe(false);
  });

  it('a worker with the wrong key fails the render with FLOTILLA_ERR_SECRET, logged without the value', async () => {
    const worker = await onlyWorker(['--secrets-key', keys.k1]);
    const res = await render();
    expect(res.status).toBe(500);
    expect(res.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_SECRET');
    expect(res.body).toMatch(/API_TOKEN of vault-app production.*sealed to secrets key/);
    expect(res.body).not.toContain(SECRET);
    const line = await worker.child.waitForLine(/secret not decrypted/);
    expect(line).toContain('vault-app');
    expect(line).toContain('API_TOKEN');
    expect(worker.child.output()).not.toContain(SECRET);
  });

  it('a worker without any key fails the same way', async () => {
    const worker = await onlyWorker([]);
    const res = await render();
    expect(res.headers.get('x-flotilla-error')).toBe('FLOTILLA_ERR_SECRET');
    expect(res.body).toMatch(/holds no secrets key/);
    expect(worker.child.output()).not.toContain(SECRET);
  });
});
