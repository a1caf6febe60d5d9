import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  type NatsServerHandle,
  type RoleProcess,
  runCli,
  startNatsServer,
  startRoleProcess,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A secured fleet's NATS over TLS with a private CA: a read-only role started
 * before the control service says to start that first; the control role and
 * the CLI connect with `tls://` and `--tls-ca`; without the CA the server's
 * certificate is refused, with a message, not a stack trace.
 */

const run = promisify(execFile);

let dir: string;
let nats: NatsServerHandle;
let control: RoleProcess | undefined;
let tlsUrl: string;

/** A CA and a certificate for 127.0.0.1 signed by it (openssl). */
async function certificates(): Promise<void> {
  const o = (...args: string[]) => run('openssl', args, { cwd: dir });
  const key = ['-newkey', 'rsa:2048', '-nodes', '-days', '1'];
  await o('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=test-ca');
  await o('req', ...key, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await o(
    ...['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'],
    ...['-CAcreateserial', '-out', 'server.pem', '-days', '1', '-extfile', 'san.ext'],
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'flotilla-tls-'));
  await certificates();
  const auth = join(dir, 'auth');
  const init = await runCli(['auth', 'init', '--dir', auth]);
  expect(init.code, init.stderr).toBe(0);
  await writeFile(
    join(dir, 'secure.conf'),
    [
      `tls { cert_file: ${JSON.stringify(join(dir, 'server.pem'))}, key_file: ${JSON.stringify(join(dir, 'server.key'))} }`,
      'include ./auth/auth.conf',
      '',
    ].join('\n'),
  );
  nats = await startNatsServer({ jetstream: true, include: join(dir, 'secure.conf') });
  // A host name: nats.js checks the certificate against it (for an IP it checks "localhost").
  tlsUrl = `tls://localhost:${nats.port}`;
}, 120_000);

afterAll(async () => {
  await control?.child.kill('SIGTERM');
  await nats?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a secured fleet on NATS over TLS', () => {
  it('a read-only role started before the control service says to start that first', async () => {
    await expect(
      startRoleProcess({
        role: 'shield',
        nats: tlsUrl,
        storeDir: join(dir, 'store'),
        creds: join(dir, 'auth', 'shield.nk'),
        args: ['--tls-ca', join(dir, 'ca.pem'), '--port', '0'],
      }),
    ).rejects.toThrow(
      /FLOTILLA_ERR_FORBIDDEN: the control plane's buckets do not exist yet.*--role control/,
    );
  }, 60_000);

  it('a role and the CLI connect with tls:// and --tls-ca', async () => {
    control = await startRoleProcess({
      role: 'control',
      nats: tlsUrl,
      storeDir: join(dir, 'store'),
      creds: join(dir, 'auth', 'control.nk'),
      args: ['--tls-ca', join(dir, 'ca.pem')],
    });
    const res = await runCli([
      'envs',
      '--nats',
      tlsUrl,
      '--tls-ca',
      join(dir, 'ca.pem'),
      '--creds',
      join(dir, 'auth', 'operator.nk'),
    ]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/no environments yet/);
  }, 120_000);

  it('without the CA the server’s certificate is refused, with a message', async () => {
    const res = await runCli([
      'envs',
      '--nats',
      tlsUrl,
      '--creds',
      join(dir, 'auth', 'operator.nk'),
    ]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(
      /cannot reach the fleet at tls:\/\/localhost:\d+: .*(certificate|self.signed)/i,
    );
    expect(res.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);

  it('a CA file that does not exist is named', async () => {
    const missing = join(dir, 'missing-ca.pem');
    const res = await runCli(['envs', '--nats', tlsUrl, '--tls-ca', missing]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(missing);
  }, 60_000);
});
