import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_BLOB_BUCKET, DEFAULT_CONTROL_BUCKET } from '@flotilla/deploy';
import {
  type CliResult,
  type Fleet,
  httpRequest,
  runCli,
  schedulerHealth,
  waitFor,
} from '@flotilla/test-harness';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HelloApp, writeHelloApp } from '../support/apps.ts';
import {
  connectAs as connectAsCreds,
  type SecuredFleet,
  startSecuredFleet,
} from './secured-fleet.ts';

/**
 * The control plane on a secured fleet (secured-fleet.ts): a real
 * nats-server started with the `auth.conf` that `flotilla auth init` /
 * `flotilla team create` generate, a role-mode fleet (control service,
 * scheduler, worker, shield) each with its own credential, and the real CLI. Team `shop` owns app `alpha`, team
 * `other` owns `beta`. Every forbidden action exits 1 or 3 naming what was
 * denied, and leaves the control plane's KV bucket and object store as they
 * were (their streams' last sequence unchanged). What each role may do on
 * the fleet's own subjects is subject-permissions.test.ts.
 */

let sf: SecuredFleet;
let authDir: string;
let fleet: Fleet;
const apps: HelloApp[] = [];
let alpha: HelloApp;
let beta: HelloApp;
let betaV1: string;
let betaV2: string;
let operator: NatsConnection;

const creds = (name: string) => sf.creds(name);

function cli(args: string[], credential?: string, input?: string): Promise<CliResult> {
  return runCli(args, {
    ...(input === undefined ? {} : { input }),
    env: {
      FLOTILLA_NATS: fleet.nats.url,
      FLOTILLA_SHIELD: fleet.shield.url,
      FLOTILLA_CREDS: credential === undefined ? '' : creds(credential),
    },
    timeoutMs: 120_000,
  });
}

async function ok(args: string[], credential: string, input?: string): Promise<CliResult> {
  const res = await cli(args, credential, input);
  if (res.code !== 0) {
    throw new Error(`flotilla ${args.join(' ')} (${credential}) exited ${res.code}: ${res.stderr}`);
  }
  return res;
}

/** The last sequence and message count of the control plane's two streams. */
async function controlPlaneState(): Promise<Record<string, unknown>> {
  const state: Record<string, unknown> = {};
  for (const stream of [`KV_${DEFAULT_CONTROL_BUCKET}`, `OBJ_${DEFAULT_BLOB_BUCKET}`]) {
    const info = (await operator.request(`$JS.API.STREAM.INFO.${stream}`, '')).json<{
      state: { messages: number; last_seq: number };
    }>();
    state[stream] = { messages: info.state.messages, lastSeq: info.state.last_seq };
  }
  return state;
}

/** Runs a forbidden command: exit 1 or 3, `denied` in the message, nothing written. */
async function refused(
  args: string[],
  credential: string | undefined,
  denied: RegExp,
  input?: string,
) {
  const before = await controlPlaneState();
  const res = await cli(args, credential, input);
  expect([1, 3], `${args.join(' ')}: ${res.stdout}${res.stderr}`).toContain(res.code);
  expect(res.stderr).toMatch(denied);
  expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  expect(await controlPlaneState()).toEqual(before);
  return res;
}

/** A connection as `credential`, its replies under its own inbox. */
function connectAs(credential: string): Promise<NatsConnection> {
  return connectAsCreds(fleet, creds(credential));
}

/** A raw JetStream write with `credential`'s connection: NATS must refuse it. */
async function rawWriteRefused(credential: string, subject: string): Promise<void> {
  const before = await controlPlaneState();
  const nc = await connectAs(credential);
  try {
    await expect(nc.request(subject, '{"vars":{"X":"1"}}', { timeout: 5000 })).rejects.toThrow(
      /Permissions Violation for Publish/,
    );
  } finally {
    await nc.close();
  }
  expect(await controlPlaneState()).toEqual(before);
}

function get(host: string) {
  return httpRequest(fleet.shield.url, '/', { host });
}

function deploymentIdOf(res: CliResult): string {
  const id = /deployment ([a-z0-9-]+-[0-9a-f]{12}) /.exec(res.stdout)?.[1];
  if (!id) throw new Error(`no deployment id in ${res.stdout}`);
  return id;
}

beforeAll(async () => {
  sf = await startSecuredFleet({ shop: ['alpha'], other: ['beta'] });
  ({ authDir, fleet, operator } = sf);
  alpha = await writeHelloApp({ name: 'alpha', version: 'a1' });
  beta = await writeHelloApp({ name: 'beta', version: 'b1' });
  const betaNext = await writeHelloApp({ name: 'beta', version: 'b2' });
  apps.push(alpha, beta, betaNext);
  // Team other publishes beta twice (so there is something to roll back to) and sets a secret.
  betaV1 = deploymentIdOf(
    await ok(['publish', '--dir', beta.dir, '--env', 'production'], 'team-other'),
  );
  betaV2 = deploymentIdOf(
    await ok(['publish', '--dir', betaNext.dir, '--env', 'production'], 'team-other'),
  );
  await ok(
    ['env', 'set', '--app', 'beta', '--env', 'production', '--var', 'GREETING=secret-b'],
    'team-other',
  );
}, 300_000);

afterAll(async () => {
  await sf?.stop();
  await Promise.allSettled(apps.map((a) => a.remove()));
});

describe('a team', () => {
  it('publishes and promotes its own app, and the shield serves it', async () => {
    const res = await ok(['publish', '--dir', alpha.dir, '--env', 'production'], 'team-shop');
    expect(res.stdout).toMatch(/deployment alpha-[0-9a-f]{12} published/);
    await waitFor(async () => (await get('alpha.localhost')).body.includes('hello a1'), {
      timeoutMs: 30_000,
      message: 'the shield never served alpha',
    });
    await waitFor(async () => (await get('beta.localhost')).body.includes('greeting=secret-b'), {
      timeoutMs: 30_000,
      message: 'the shield never served beta with its variable',
    });
  }, 120_000);

  it.each([
    ['publish', ['publish', '--dir', '<beta>', '--env', 'production'], /may not publish app beta/],
    ['promote', ['promote', '<betaV1>', '--env', 'production'], /may not .*app beta/],
    ['roll back', ['rollback', '--app', 'beta', '--env', 'production'], /may not .* app beta/],
    [
      'set env on',
      ['env', 'set', '--app', 'beta', '--env', 'production', '--var', 'GREETING=pwned'],
      /may not configure the environments of app beta/,
    ],
    [
      'split',
      ['split', 'set', '--app', 'beta', '--env', 'production', '<betaV1>=50', '<betaV2>=50'],
      /may not configure the environments of app beta/,
    ],
    ['delete a deployment of', ['delete', '<betaV1>'], /may not .*app beta/],
    [
      'read the variables of',
      ['envs', '--app', 'beta', '--json'],
      /may not list the environments of app beta/,
    ],
    ['list every app of', ['envs'], /may not list the environments of every app/],
  ])(
    'cannot %s another team’s app',
    async (_what, template, denied) => {
      const args = template.map((a) =>
        a === '<beta>' ? beta.dir : a.replace('<betaV1>', betaV1).replace('<betaV2>', betaV2),
      );
      const res = await refused(args, 'team-shop', denied);
      expect(res.stdout).not.toContain('secret-b');
      expect(res.stderr).toContain('flotilla.control.');
    },
    120_000,
  );

  it('purges its own app’s cache on every shield, through the control service', async () => {
    const res = await ok(['purge', '--app', 'alpha', '--env', 'production', '--all'], 'team-shop');
    expect(res.stdout).toMatch(/removed on 1 shield/);
  }, 60_000);

  it.each([
    [
      ['purge', '--app', 'beta', '--env', 'production', '--all'],
      /may not purge the cache of app beta/,
    ],
    [['purge', '--surrogate-key', 'k'], /may not purge the cache of every app/],
  ])(
    'cannot purge %j',
    async (args, denied) => {
      await refused(args, 'team-shop', denied);
    },
    60_000,
  );

  it('gets an app added by the operator once nats-server reloads auth.conf', async () => {
    await refused(
      ['envs', '--app', 'gamma'],
      'team-shop',
      /may not list the environments of app gamma/,
    );
    const add = await runCli(['team', 'add-app', 'shop', '--app', 'gamma', '--dir', authDir]);
    expect(add.code, add.stderr).toBe(0);
    expect(add.stdout).toMatch(/reload nats-server/);
    await fleet.nats.reload();
    const res = await ok(['envs', '--app', 'gamma'], 'team-shop');
    expect(res.stdout).toMatch(/no environments yet/);
    const list = await runCli(['team', 'list', '--dir', authDir, '--json']);
    expect(JSON.parse(list.stdout)).toEqual(
      expect.arrayContaining([expect.objectContaining({ team: 'shop', apps: ['alpha', 'gamma'] })]),
    );
  }, 120_000);
});

describe('flotilla auth regenerate', () => {
  it('rewrites auth.conf from the registry (after an upgrade changes the permissions)', async () => {
    const conf = join(authDir, 'auth.conf');
    const current = await readFile(conf, 'utf8');
    await writeFile(conf, '# a stale auth.conf\n');
    const res = await runCli(['auth', 'regenerate', '--dir', authDir]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/auth\.conf regenerated: reload nats-server/);
    expect(await readFile(conf, 'utf8')).toBe(current);
  }, 60_000);
});

describe('secrets on a secured fleet', () => {
  const SECRET = 'beta-db-password-7f3a9c';

  it('the operator sets the fleet’s secrets key; a team seals a secret to it through the control service, and the KV holds no plaintext', async () => {
    const key = join(authDir, 'secrets.key');
    const gen = await runCli(['secrets-key', 'generate', '--out', key]);
    expect(gen.code, gen.stderr).toBe(0);
    // A team may not change the fleet's key.
    await refused(
      ['secrets-key', 'set', '--secrets-key', `${key}.pub`],
      'team-shop',
      /may not set the secrets key/,
    );
    await ok(['secrets-key', 'set', '--secrets-key', `${key}.pub`], 'operator');
    // A team may not set a secret on another team's app.
    await refused(
      ['env', 'set', '--app', 'beta', '--env', 'production', '--secret', 'DB_PASSWORD'],
      'team-shop',
      /may not .*app beta/,
      'pwned',
    );
    await ok(
      ['env', 'set', '--app', 'beta', '--env', 'production', '--secret', 'DB_PASSWORD'],
      'team-other',
      SECRET,
    );
    const listed = await ok(['envs', '--app', 'beta', '--json'], 'team-other');
    expect(listed.stdout).toContain('DB_PASSWORD');
    expect(listed.stdout).not.toContain(SECRET);
    // Every message of the KV stream, as the operator reads it: sealed only.
    const info = (
      await operator.request(`$JS.API.STREAM.INFO.KV_${DEFAULT_CONTROL_BUCKET}`, '')
    ).json<{
      state: { first_seq: number; last_seq: number };
    }>();
    let sawSealed = false;
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const reply = (
        await operator.request(
          `$JS.API.STREAM.MSG.GET.KV_${DEFAULT_CONTROL_BUCKET}`,
          JSON.stringify({ seq }),
        )
      ).json<{ message?: { data?: string } }>();
      const data = Buffer.from(reply.message?.data ?? '', 'base64').toString('utf8');
      expect(data).not.toContain(SECRET);
      if (data.includes('DB_PASSWORD')) sawSealed = true;
    }
    expect(sawSealed).toBe(true);
    // This fleet's workers hold no secrets key: leave beta renderable for the tests after.
    await ok(
      ['env', 'unset', '--app', 'beta', '--env', 'production', '--secret', 'DB_PASSWORD'],
      'team-other',
    );
  }, 120_000);
});

describe('fleet roles', () => {
  it.each([
    ['shield', 'promote', ['promote', '<betaV1>', '--env', 'production'], /may not .* app beta/],
    [
      'shield',
      'set env',
      ['env', 'set', '--app', 'beta', '--env', 'production', '--var', 'X=1'],
      /may not configure the environments of app beta/,
    ],
    [
      'worker',
      'set env',
      ['env', 'set', '--app', 'beta', '--env', 'production', '--var', 'X=1'],
      /may not configure the environments of app beta/,
    ],
    [
      'scheduler',
      'roll back',
      ['rollback', '--app', 'beta', '--env', 'production'],
      /may not .* app beta/,
    ],
  ])(
    'a %s cannot %s through the control service',
    async (role, _what, template, denied) => {
      const args = template.map((a) => a.replace('<betaV1>', betaV1));
      await refused(args, role, denied);
    },
    120_000,
  );

  it.each([
    ['shield', `$KV.${DEFAULT_CONTROL_BUCKET}.deployment.beta-000000000000`],
    ['shield', `$KV.${DEFAULT_CONTROL_BUCKET}.env.beta.production`],
    ['shield', `$O.${DEFAULT_BLOB_BUCKET}.C.forged`],
    ['worker', `$KV.${DEFAULT_CONTROL_BUCKET}.env.beta.production`],
    ['worker', `$JS.API.STREAM.PURGE.KV_${DEFAULT_CONTROL_BUCKET}`],
    ['scheduler', `$KV.${DEFAULT_CONTROL_BUCKET}.env.beta.production`],
    ['team-shop', `$KV.${DEFAULT_CONTROL_BUCKET}.env.beta.production`],
    ['team-shop', `$JS.API.DIRECT.GET.KV_${DEFAULT_CONTROL_BUCKET}`],
  ])(
    'NATS refuses the %s a raw write or read of %s',
    async (credential, subject) => {
      await rawWriteRefused(credential, subject);
    },
    60_000,
  );
});

describe('the operator', () => {
  it('changes any team’s app', async () => {
    await ok(
      ['env', 'set', '--app', 'beta', '--env', 'production', '--var', 'GREETING=op'],
      'operator',
    );
    await waitFor(async () => (await get('beta.localhost')).body.includes('greeting=op'), {
      timeoutMs: 30_000,
      message: 'the operator’s change never reached the shield',
    });
    await ok(['rollback', '--app', 'beta', '--env', 'production'], 'operator');
    expect((await ok(['purge', '--surrogate-key', 'k'], 'operator')).stdout).toMatch(
      /removed on 1 shield/,
    );
    const envs = JSON.parse((await ok(['envs', '--json'], 'operator')).stdout) as {
      app: string;
      deploymentId: string;
    }[];
    expect(envs.find((e) => e.app === 'beta')?.deploymentId).toBe(betaV1);
  }, 120_000);
});

describe('without a valid credential', () => {
  it('a command without one is refused by NATS, naming what to pass', async () => {
    await refused(['envs', '--app', 'beta'], undefined, /requires credentials.*--creds/);
  }, 60_000);

  it('a missing credentials file is named', async () => {
    const res = await runCli(['envs', '--app', 'beta', '--creds', join(authDir, 'nope.nk')], {
      env: { FLOTILLA_NATS: fleet.nats.url },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(join(authDir, 'nope.nk'));
  }, 60_000);

  it('a file without a seed is named', async () => {
    const res = await runCli(['envs', '--creds', join(authDir, 'flotilla-auth.json')], {
      env: { FLOTILLA_NATS: fleet.nats.url },
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/flotilla-auth\.json holds no NKey user seed/);
  }, 60_000);

  it('a role started without one exits 1 naming what to pass', async () => {
    await expect(
      fleet.add('shield', { args: ['--creds', join(authDir, 'missing.nk')] }),
    ).rejects.toThrow(/missing\.nk/);
  }, 60_000);
});

describe('a scheduler’s local autoscaler', () => {
  it('starts its workers with the workers’ credential (--worker-creds)', async () => {
    const scheduler = await fleet.add('scheduler', {
      args: [
        ...['--autoscale', 'local', '--min-workers', '1', '--max-workers', '1'],
        ...['--threads', '1', '--worker-creds', creds('worker')],
      ],
    });
    // The fleet's worker and the one this scheduler started.
    await waitFor(async () => (await schedulerHealth(scheduler)).liveWorkers === 2, {
      timeoutMs: 90_000,
      message: 'the autoscaler’s worker never joined the secured fleet',
    }).catch((err: Error) => {
      throw new Error(`${err.message}; the scheduler said:\n${scheduler.child.output()}`);
    });
  }, 120_000);
});
