import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalSupervisor, type LocalSupervisorOptions } from './local-supervisor.ts';
import {
  fleetWorkerCommand,
  processLauncher,
  type WorkerCommand,
  WorkerStartError,
} from './worker-launcher.ts';

/**
 * A stand-in worker process: prints the fleet's ready line after
 * READY_DELAY_MS, drains for DRAIN_MS on SIGTERM then exits 0; CRASH_AFTER_MS
 * makes it exit 3 on its own; NEVER_READY keeps it silent.
 */
const FAKE_WORKER = `
const env = process.env;
setInterval(() => {}, 1000);
if (env.NEVER_READY !== '1') {
  setTimeout(() => console.log('flotilla worker ready: worker w-0000000' + env.SERIAL + ' (region test) on http://127.0.0.1:' + (9000 + Number(env.SERIAL))), Number(env.READY_DELAY_MS ?? 10));
}
if (env.CRASH_AFTER_MS) setTimeout(() => { console.error('boom ' + env.SERIAL); process.exit(3); }, Number(env.CRASH_AFTER_MS));
process.on('SIGTERM', () => { console.log('draining ' + env.SERIAL); setTimeout(() => process.exit(0), Number(env.DRAIN_MS ?? 30)); });
`;

function fakeCommand(env: (serial: number) => NodeJS.ProcessEnv = () => ({})) {
  return (serial: number): WorkerCommand => ({
    command: process.execPath,
    args: ['-e', FAKE_WORKER],
    env: { SERIAL: String(serial), ...env(serial) },
  });
}

const supervisors: LocalSupervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.close()));
});

function supervisor(
  options: Partial<LocalSupervisorOptions> & { env?: (serial: number) => NodeJS.ProcessEnv } = {},
) {
  const lines: Array<Record<string, unknown>> = [];
  const { env, ...rest } = options;
  const s = new LocalSupervisor({
    launcher: processLauncher({ command: fakeCommand(env), readyTimeoutMs: 5_000 }),
    minWorkers: 1,
    maxWorkers: 4,
    restartDelayMs: 50,
    log: (l) => lines.push(l),
    ...rest,
  });
  supervisors.push(s);
  return { s, lines, msgs: (msg: string) => lines.filter((l) => l.msg === msg) };
}

describe('LocalSupervisor (fake worker processes)', () => {
  it('starts workers up to the desired count and waits for their ready line', async () => {
    const { s, msgs } = supervisor();
    s.scale(3);
    expect(s.status()).toMatchObject({ target: 3, starting: 3, ready: 0 });
    await s.whenSettled(10_000);
    expect(s.status()).toMatchObject({ target: 3, starting: 0, ready: 3, draining: 0, crashes: 0 });
    expect(msgs('worker starting')).toHaveLength(3);
    expect(msgs('worker ready')).toHaveLength(3);
    expect(msgs('scaling workers')).toEqual([{ msg: 'scaling workers', from: 0, to: 3 }]);
    // Idempotent: the same decision again changes nothing.
    s.scale(3);
    expect(msgs('worker starting')).toHaveLength(3);
  });

  it('lists the admin URL and id of every running worker for scraping, draining ones too', async () => {
    const { s } = supervisor({ env: () => ({ DRAIN_MS: '2000' }) });
    s.scale(2);
    expect(s.scrapeTargets()).toEqual([]); // none ready yet
    await s.whenSettled(10_000);
    expect(s.scrapeTargets()).toEqual([
      {
        adminUrl: 'http://127.0.0.1:9001',
        workerId: 'w-00000001',
        label: expect.stringMatching(/^#1 /),
        state: 'ready',
      },
      {
        adminUrl: 'http://127.0.0.1:9002',
        workerId: 'w-00000002',
        label: expect.stringMatching(/^#2 /),
        state: 'ready',
      },
    ]);
    s.scale(1);
    // The newest drains: still scraped until it has exited.
    expect(s.scrapeTargets().map((t) => [t.workerId, t.state])).toEqual([
      ['w-00000001', 'ready'],
      ['w-00000002', 'draining'],
    ]);
    await s.whenSettled(10_000);
    expect(s.scrapeTargets().map((t) => t.workerId)).toEqual(['w-00000001']);
  });

  it('scales down by SIGTERMing the newest workers and waiting for them to exit 0', async () => {
    const { s, msgs } = supervisor();
    s.scale(3);
    await s.whenSettled(10_000);
    const before = s.readyWorkers();
    s.scale(1);
    expect(s.status()).toMatchObject({ target: 1, ready: 1, draining: 2 });
    await s.whenSettled(10_000);
    // The oldest survives.
    expect(s.readyWorkers()).toEqual([before[0]]);
    const exits = msgs('worker exited');
    expect(exits).toHaveLength(2);
    expect(exits.every((l) => l.exit === 'code 0')).toBe(true);
    expect(exits.map((l) => l.worker).sort()).toEqual([before[1], before[2]].sort());
  });

  it('never goes below minWorkers nor above maxWorkers', async () => {
    const { s } = supervisor({ minWorkers: 2, maxWorkers: 3 });
    s.scale(0);
    expect(s.status().target).toBe(2);
    s.scale(50);
    expect(s.status().target).toBe(3);
    await s.whenSettled(10_000);
    expect(s.status().ready).toBe(3);
    expect(() => s.scale(Number.NaN)).toThrow(/option "desired" must be a number/);
  });

  it('replaces a crashed worker, with a growing delay while crashes continue', async () => {
    // Worker 1 crashes 150 ms after start; later ones behave.
    const { s, msgs } = supervisor({
      env: (serial) => (serial === 1 ? { CRASH_AFTER_MS: '150' } : {}),
      restartDelayMs: 100,
    });
    s.scale(2);
    await s.whenSettled(10_000);
    await delay(300);
    await s.whenSettled(10_000);
    const crash = msgs('worker crashed');
    expect(crash).toHaveLength(1);
    expect(crash[0]).toMatchObject({ exit: 'code 3' });
    expect(String(crash[0]?.output)).toContain('boom 1');
    expect(s.status()).toMatchObject({ ready: 2, crashes: 1 });
    expect(msgs('worker starting')).toHaveLength(3);
  });

  it('kills a worker that never gets ready and tries again', async () => {
    const { s, msgs } = supervisor({
      launcher: processLauncher({
        command: fakeCommand((serial) => (serial === 1 ? { NEVER_READY: '1' } : {})),
        readyTimeoutMs: 300,
      }),
    });
    s.scale(1);
    await s.whenSettled(10_000);
    expect(msgs('worker failed to start')).toHaveLength(1);
    expect(String(msgs('worker failed to start')[0]?.error)).toMatch(/not ready within 300 ms/);
    expect(msgs('worker crashed')[0]).toMatchObject({ exit: 'SIGKILL' });
    expect(s.status()).toMatchObject({ ready: 1, crashes: 1 });
  });

  it('backs off exponentially when workers keep crashing', async () => {
    const { s, msgs } = supervisor({
      env: () => ({ CRASH_AFTER_MS: '1' }),
      restartDelayMs: 100,
      maxRestartDelayMs: 400,
    });
    s.scale(1);
    await delay(1_300);
    const starts = msgs('worker starting').length;
    // Immediate, +100, +200, +400, +400 … → about 4–5 starts in 1.3 s, not dozens.
    expect(starts).toBeGreaterThanOrEqual(3);
    expect(starts).toBeLessThanOrEqual(6);
  });

  it('close() drains every worker and is idempotent; scale() after close is ignored', async () => {
    const { s, msgs } = supervisor();
    s.scale(3);
    await s.whenSettled(10_000);
    const closing = s.close();
    expect(s.close()).toBe(closing);
    await closing;
    expect(s.status()).toMatchObject({ target: 0, ready: 0, starting: 0, draining: 0 });
    expect(msgs('worker exited')).toHaveLength(3);
    s.scale(2);
    expect(s.status().starting).toBe(0);
  });

  it('close() while workers are still starting stops them too', async () => {
    const { s } = supervisor({ env: () => ({ READY_DELAY_MS: '200' }) });
    s.scale(2);
    await s.close();
    expect(s.status()).toMatchObject({ ready: 0, starting: 0, draining: 0 });
  });

  it('standby keeps the workers for the grace period, then drains them; scale() cancels it', async () => {
    const { s } = supervisor({ standbyGraceMs: 200 });
    s.scale(2);
    await s.whenSettled(10_000);
    s.standby();
    expect(s.status()).toMatchObject({ standby: true, ready: 2 });
    s.scale(2); // leadership came back in time
    await delay(300);
    expect(s.status()).toMatchObject({ standby: false, ready: 2 });

    s.standby();
    await delay(300);
    await s.whenSettled(10_000);
    expect(s.status()).toMatchObject({ standby: true, target: 0, ready: 0 });
  });

  it('starts initialWorkers at once', async () => {
    const { s } = supervisor({ initialWorkers: 2 });
    await s.whenSettled(10_000);
    expect(s.status().ready).toBe(2);
  });

  it('reports a worker command that cannot start', async () => {
    const launch = processLauncher({
      command: () => ({ command: '/nonexistent/worker', args: [] }),
    });
    const w = launch(1);
    await expect(w.ready).rejects.toThrow(WorkerStartError);
    await expect(w.ready).rejects.toThrow(/could not start \(spawn \/nonexistent\/worker ENOENT\)/);
    expect(await w.exited).toEqual({ code: null, signal: null });
  });

  it('builds the fleet worker command', () => {
    const build = fleetWorkerCommand({
      nats: 'nats://127.0.0.1:4222',
      bin: '/repo/cli/src/bin.ts',
      region: 'us-east',
      storeDir: '/tmp/store',
      threads: 2,
      extraArgs: ['--heartbeat-ms', '500'],
    });
    expect(build()).toEqual({
      command: process.execPath,
      args: [
        '--no-node-snapshot',
        '--max-semi-space-size=16',
        '--initial-old-space-size=64',
        '/repo/cli/src/bin.ts',
        'start',
        '--nats',
        'nats://127.0.0.1:4222',
        '--role',
        'worker',
        '--region',
        'us-east',
        '--store',
        '/tmp/store',
        '--threads',
        '2',
        '--heartbeat-ms',
        '500',
      ],
    });
  });

  it('validates its options, naming the bad one', () => {
    expect(() => new LocalSupervisor({})).toThrow(/option "fleet" is required when no launcher/);
    expect(() => new LocalSupervisor({ launcher: 3 as never })).toThrow(
      /option "launcher" must be a function/,
    );
    const launcher = processLauncher({ command: fakeCommand() });
    expect(() => new LocalSupervisor({ launcher, minWorkers: 0 })).toThrow(/option "minWorkers"/);
    expect(() => new LocalSupervisor({ launcher, minWorkers: 3, maxWorkers: 2 })).toThrow(
      /option "maxWorkers" must be at least minWorkers \(3\)/,
    );
    expect(
      () => new LocalSupervisor({ launcher, restartDelayMs: 500, maxRestartDelayMs: 100 }),
    ).toThrow(/option "maxRestartDelayMs"/);
    expect(() => processLauncher({ command: undefined as never })).toThrow(
      /option "command" is required/,
    );
    expect(() => fleetWorkerCommand({ nats: '' })).toThrow(/option "nats"/);
    expect(() => fleetWorkerCommand({ nats: 'nats://x', region: 'US' })).toThrow(/option "region"/);
  });
});
