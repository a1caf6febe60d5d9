/**
 * A secured fleet for the security suites: a real nats-server started with
 * the `auth.conf` that `flotilla auth init` / `flotilla team create`
 * generate, a role-mode fleet (control service, scheduler, worker, shield)
 * each with its own credential, and connections as any credential.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Fleet, runCli, startFleet } from '@flotilla/test-harness';
import { natsSecurityOptions, readUserSeed } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';

/** What {@link startSecuredFleet} started. */
export interface SecuredFleet {
  /** The credential directory (`flotilla auth init --dir`). */
  authDir: string;
  fleet: Fleet;
  /** A connection with the operator's credential. */
  operator: NatsConnection;
  /** The seed file of credential `name` (`operator`, `shield`, `team-shop`, `worker-eu-west`, …). */
  creds(name: string): string;
  /** Stops the fleet and removes the credential directory. */
  stop(): Promise<void>;
}

/**
 * Issues the credentials (and a team per entry of `teams`, owning its
 * apps), then starts a fleet in region `test` whose nats-server requires
 * them, each role with its own.
 */
export async function startSecuredFleet(teams: Record<string, string[]>): Promise<SecuredFleet> {
  const authDir = await mkdtemp(join(tmpdir(), 'flotilla-auth-'));
  const creds = (name: string) => join(authDir, `${name}.nk`);
  const init = await runCli(['auth', 'init', '--dir', authDir]);
  expect(init.code, init.stderr).toBe(0);
  for (const [team, apps] of Object.entries(teams)) {
    const args = ['team', 'create', team, ...apps.flatMap((a) => ['--app', a])];
    const res = await runCli([...args, '--dir', authDir]);
    expect(res.code, res.stderr).toBe(0);
  }
  const fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true, // shields with a cache answer purges
    auth: {
      include: join(authDir, 'auth.conf'),
      creds: {
        control: creds('control'),
        shield: creds('shield'),
        scheduler: creds('scheduler'),
        worker: creds('worker'),
      },
    },
  });
  const operator = await connectAs(fleet, creds('operator'));
  return {
    authDir,
    fleet,
    operator,
    creds,
    async stop() {
      await operator.close();
      await fleet.stop();
      await rm(authDir, { recursive: true, force: true });
    },
  };
}

/** A connection with the seed in `credsFile`, its replies under its own inbox (as the roles' and the CLI's are). */
export async function connectAs(fleet: Fleet, credsFile: string): Promise<NatsConnection> {
  return connect({
    servers: fleet.nats.url,
    ...(await natsSecurityOptions({ credsFile }, true)),
    maxReconnectAttempts: 0,
  });
}

/** The public key of the seed in `credsFile`. */
export async function publicKeyOf(credsFile: string): Promise<string> {
  return (await readUserSeed(credsFile)).publicKey;
}

/**
 * Subscribes to `subject` (in queue group `queue`) as `credential`:
 * resolves with the server's refusal, or with the first message the
 * operator publishes there (over and over, once the subscription is in
 * place).
 */
export async function trySubscribe(
  sf: SecuredFleet,
  credential: string,
  subject: string,
  queue?: string,
): Promise<{ refused?: string; received?: string }> {
  const nc = await connectAs(sf.fleet, sf.creds(credential));
  try {
    const outcome = new Promise<{ refused?: string; received?: string }>((resolve) => {
      nc.subscribe(subject, {
        ...(queue === undefined ? {} : { queue }),
        callback: (err, msg) => resolve(err ? { refused: err.message } : { received: msg.subject }),
      });
    });
    // The server answers SUB with -ERR before the PONG of this flush.
    await nc.flush();
    const pub = setInterval(() => sf.operator.publish(subject, 'probe'), 100);
    try {
      return await outcome;
    } finally {
      clearInterval(pub);
    }
  } finally {
    await nc.close();
  }
}

/** NATS refuses `credential` a subscription to `subject` (in queue group `queue`), naming it. */
export async function subscribeRefused(
  sf: SecuredFleet,
  credential: string,
  subject: string,
  queue?: string,
): Promise<void> {
  const outcome = await trySubscribe(sf, credential, subject, queue);
  expect(outcome.received, `${credential} received a message on ${subject}`).toBeUndefined();
  expect(outcome.refused).toMatch(/Permissions Violation for Subscription/);
  expect(outcome.refused).toContain(subject);
}

/** NATS refuses `credential` a request (a publish) on `subject`. */
export async function publishRefused(
  sf: SecuredFleet,
  credential: string,
  subject: string,
  body = 'x',
): Promise<void> {
  const nc = await connectAs(sf.fleet, sf.creds(credential));
  try {
    await expect(nc.request(subject, body, { timeout: 5000 })).rejects.toThrow(
      /Permissions Violation for Publish/,
    );
  } finally {
    await nc.close();
  }
}
