import { readFile } from 'node:fs/promises';
import { FLEET_BIN, type Fleet, runCli, spawnProcess, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

describe('flotilla CLI as a user runs it', () => {
  let fleet: Fleet;

  beforeAll(async () => {
    // NATS and the published examples only: the tests start the processes they need.
    fleet = await startFleet({
      schedulers: 0,
      workers: 0,
      shields: 0,
      cache: true,
      publish: fixtures(),
    });
  }, 60_000);

  afterAll(async () => {
    await fleet?.stop();
  });

  it('gives itself the isolate-host Node flags when started without them: same PID, SIGTERM still drains', async () => {
    // Without the flags a worker would refuse to host isolates
    // (FLOTILLA_ERR_PROCESS_FLAGS): the CLI re-executes itself with them first.
    const child = await spawnProcess({
      command: process.execPath,
      args: [
        FLEET_BIN,
        'start',
        '--nats',
        fleet.nats.url,
        '--role',
        'worker',
        '--store',
        fleet.storeDir,
      ],
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
    const none = await runCli([]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('Usage: flotilla start');
    const unknown = await runCli(['launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "launch"');
  });

  it('exits 2 on bad options, naming the option', async () => {
    const res = await runCli(['start', '--role', 'worker']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--role.*needs --nats/);
  });

  it('exits 1 with a clear message when NATS is unreachable', async () => {
    const res = await runCli([
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
      const p = await fleet.add(role);
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
