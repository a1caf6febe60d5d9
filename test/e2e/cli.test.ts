import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  FLEET_NODE_FLAGS,
  type NatsServerHandle,
  spawnProcess,
  startNatsServer,
  startRoleProcess,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PublishedFixtures, publishFixtures } from '../support/control-plane.ts';

const BIN = fileURLToPath(new URL('../../fleet/src/bin.ts', import.meta.url));

/** Runs the CLI to completion; returns its exit code and output. */
function runCli(
  nodeFlags: string[],
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('flotilla CLI as a user runs it', () => {
  let nats: NatsServerHandle;
  let storeDir: string;
  let fixtures: PublishedFixtures | undefined;

  beforeAll(async () => {
    nats = await startNatsServer({ jetstream: true });
    storeDir = await mkdtemp(join(tmpdir(), 'flotilla-cli-'));
    fixtures = await publishFixtures(nats.url, { dir: storeDir });
  }, 60_000);

  afterAll(async () => {
    await nats?.stop();
    await fixtures?.close();
    await rm(storeDir, { recursive: true, force: true });
  });

  it('gives itself the isolate-host Node flags when started without them: same PID, SIGTERM still drains', async () => {
    // Without the flags a worker would refuse to host isolates
    // (FLOTILLA_ERR_PROCESS_FLAGS): the CLI re-executes itself with them first.
    const child = await spawnProcess({
      command: process.execPath,
      args: [BIN, 'start', '--nats', nats.url, '--role', 'worker', '--store', storeDir],
      env: { NODE_OPTIONS: '' },
      name: 'worker-without-flags',
      readyPattern: /^flotilla worker ready: /,
      readyTimeoutMs: 30_000,
    });
    try {
      const cmdline = (await readFile(`/proc/${child.pid}/cmdline`, 'utf8')).split('\0');
      expect(cmdline).toEqual(expect.arrayContaining(['--no-node-snapshot']));
      expect(await child.kill('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(child.output()).toContain('drained');
      expect(child.output()).not.toContain('FLOTILLA_ERR_PROCESS_FLAGS');
    } finally {
      await child.kill('SIGKILL');
    }
  }, 60_000);

  it('shows usage for a missing or unknown command', async () => {
    const none = await runCli(FLEET_NODE_FLAGS, []);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('Usage: flotilla start');
    const unknown = await runCli(FLEET_NODE_FLAGS, ['launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "launch"');
  });

  it('exits 2 on bad options, naming the option', async () => {
    const res = await runCli(FLEET_NODE_FLAGS, ['start', '--role', 'worker']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--role.*needs --nats/);
  });

  it('exits 1 with a clear message when NATS is unreachable', async () => {
    const res = await runCli(FLEET_NODE_FLAGS, [
      'start',
      '--nats',
      'nats://127.0.0.1:1',
      '--role',
      'scheduler',
      '--no-examples',
    ]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('cannot connect to NATS at nats://127.0.0.1:1');
  });

  it('drains and exits 0 on SIGTERM', async () => {
    for (const role of ['shield', 'scheduler', 'worker'] as const) {
      const p = await startRoleProcess({ role, nats: nats.url, storeDir });
      const exit = await p.child.kill('SIGTERM');
      expect({ role, ...exit, output: exit.code === 0 ? '' : p.child.output() }).toEqual({
        role,
        code: 0,
        signal: null,
        output: '',
      });
      expect(p.child.output()).toContain('drained');
    }
  });
});
