import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLEET_BIN, type Fleet, runCli, spawnProcess, startFleet } from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtures } from '../support/control-plane.ts';

describe('flotilla CLI as a script runs it', () => {
  it('prints its version alone with --version and -V', async () => {
    const pkg = JSON.parse(
      await readFile(new URL('../../cli/package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    for (const flag of ['--version', '-V']) {
      expect(await runCli([flag])).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
  });

  it('exits 2 with the command list on stderr when no command is given; an unknown one exits 2', async () => {
    const none = await runCli([]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toContain('Usage: flotilla <command> [options]');
    expect(none.stderr).toMatch(/Commands: start and dev .*init, build, publish, promote/s);
    const unknown = await runCli(['launch']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(
      'flotilla: unknown command "launch" (flotilla --help lists them)\n',
    );
    const all = await runCli(['--help']);
    expect(all.code).toBe(0);
    expect(all.stdout).toContain('Usage: flotilla start');
    expect(all.stdout).toContain('Usage: flotilla dev');
    expect(all.stdout).toContain('flotilla publish');
  });

  it("prints one command's help only for <command> --help and help <command>", async () => {
    for (const args of [
      ['promote', '--help'],
      ['help', 'promote'],
      ['promote', '-h'],
    ]) {
      const res = await runCli(args);
      expect(res.code, args.join(' ')).toBe(0);
      expect(res.stdout).toMatch(
        /^Usage:\n {2}flotilla promote <deployment-id> --env <name> \[--no-prewarm\] \[--no-prerender\]\n/,
      );
      expect(res.stdout).toContain('Common options:');
      for (const other of [
        'flotilla publish',
        'flotilla start',
        'flotilla region',
        'flotilla dev',
      ]) {
        expect(res.stdout, args.join(' ')).not.toContain(other);
      }
    }
    const region = await runCli(['region', '--help']);
    expect(region.stdout).toContain('--no-secondary');
    expect(region.stdout).not.toContain('flotilla promote');
    const start = await runCli(['start', '--help']);
    expect(start.stdout).toMatch(/^Usage: flotilla start/);
    expect(start.stdout).not.toContain('Commands for app developers');
  });

  it('prints an error with one prefix', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-cli-prefix-'));
    try {
      await writeFile(join(dir, 'flotilla.config.json'), '{"name":"Not A Name"}\n');
      const build = await runCli(['build', '--dir', dir]);
      expect(build.code).toBe(2);
      expect(build.stderr).toMatch(/^flotilla build: .*flotilla\.config\.json: field "name"/m);
      expect(build.stderr).not.toMatch(/flotilla: flotilla/);
      const usage = await runCli(['promote', 'x']);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toBe('flotilla: option "--env" is required (e.g. --env production)\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

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

  it('refuses a region nobody has heard of, and prints the primary and secondary that result', async () => {
    await Promise.all([fleet.add('scheduler'), fleet.add('scheduler', { region: 'eu' })]);
    const env = { FLOTILLA_NATS: fleet.nats.url };
    const set = (...args: string[]) =>
      runCli(['region', 'set', '--env', 'production', '--app', 'react-shop', ...args], { env });

    const nowhere = await set('--primary', 'nowhere');
    expect(nowhere.code).toBe(4);
    expect(nowhere.stderr).toMatch(
      /^flotilla: region "nowhere" unknown: .*\(known: eu, test\).*--force/,
    );
    const unchanged = await runCli(['envs', '--app', 'react-shop', '--json'], { env });
    expect(unchanged.stdout).not.toContain('nowhere');

    const both = await set('--primary', 'eu', '--secondary', 'test');
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toBe('react-shop production: primary eu, secondary test\n');
    // A secondary not given is kept, and the output says so.
    const kept = await set('--primary', 'eu');
    expect(kept.stdout).toBe(
      'react-shop production: primary eu, secondary test (kept from before; --no-secondary removes it)\n',
    );
    const dropped = await set('--primary', 'eu', '--no-secondary');
    expect(dropped.stdout).toBe('react-shop production: primary eu, no secondary\n');
    // --force sets a region that is not running (yet); named by an environment, it is known then.
    const forced = await set('--primary', 'mars', '--secondary', 'eu', '--force');
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe('react-shop production: primary mars, secondary eu\n');
    const again = await set('--primary', 'mars');
    expect(again.code, again.stderr).toBe(0);
  }, 60_000);

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
