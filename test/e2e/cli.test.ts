import { type Fleet, runCli, startFleet } from '@flotilla/test-harness';
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

  it('refuses to host isolates without --no-node-snapshot, saying how to start it', async () => {
    const res = await runCli(
      ['start', '--nats', fleet.nats.url, '--role', 'worker', '--no-examples'],
      {
        nodeFlags: [],
      },
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('FLOTILLA_ERR_PROCESS_FLAGS');
    expect(res.stderr).toContain('--no-node-snapshot');
  });

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
