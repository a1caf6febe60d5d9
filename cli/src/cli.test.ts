import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseStartArgs } from './commands/start.ts';

describe('flotilla start arguments', () => {
  it("defaults to the embedded fleet (the example apps are the demo's: examples/demo)", () => {
    const cmd = parseStartArgs([]);
    expect(cmd.role).toBeUndefined();
    expect(cmd.nats).toBeUndefined();
    expect(cmd.options.seed).toBeUndefined();
    expect(cmd.logFormat).toBe('text');
    expect(cmd.logLevel).toBe('info');
  });

  it('reads the shield cache and front door options', () => {
    const cmd = parseStartArgs([
      '--cache-mb',
      '64',
      '--follower-wait-ms',
      '2000',
      '--debug-token',
      's3cret',
      '--public-host',
      'www.example.com',
      '--https-redirect',
      '--trusted-proxies',
      '10.0.0.0/8, loopback',
      '--client-ip-header',
      'x-forwarded-for',
    ]);
    expect(cmd.options).toMatchObject({
      cache: { maxBytes: 64 * 1024 * 1024, followerWaitMs: 2000 },
      debugToken: 's3cret',
      frontDoor: {
        publicHost: 'www.example.com',
        httpsRedirect: true,
        trustedProxies: ['10.0.0.0/8', 'loopback'],
        clientIpHeader: 'x-forwarded-for',
      },
    });
    expect(parseStartArgs(['--no-cache']).options.cache).toBe(false);
    expect(() => parseStartArgs(['--no-cache', '--cache-mb', '8'])).toThrow(/--no-cache/);
    expect(() => parseStartArgs(['--cache-mb', '0'])).toThrow(/--cache-mb/);
  });

  it('reads the purge API token from --admin-token or the first line of --admin-token-file', () => {
    const token = 'a-token-of-24-characters';
    expect(parseStartArgs(['--admin-token', token]).options.adminToken).toBe(token);
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-admin-token-'));
    try {
      const file = join(dir, 'token');
      writeFileSync(file, `${token}\nignored\n`);
      expect(parseStartArgs(['--admin-token-file', file]).options.adminToken).toBe(token);
      expect(() => parseStartArgs(['--admin-token', token, '--admin-token-file', file])).toThrow(
        /--admin-token.*cannot be combined/,
      );
      expect(() => parseStartArgs(['--admin-token-file', join(dir, 'none')])).toThrow(
        /--admin-token-file.*cannot read/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => parseStartArgs(['--admin-token', 'short'])).toThrow(/at least 16 characters/);
  });

  it('reads the cache on disk from the command line, the environment and a config file', () => {
    expect(
      parseStartArgs(['--cache-dir', '/var/cache/fl', '--cache-disk-mb', '64'], {}).options.cache,
    ).toEqual({ disk: { dir: '/var/cache/fl', maxBytes: 64 * 1024 * 1024 } });
    expect(
      parseStartArgs(['--cache-mb', '8'], { FLOTILLA_CACHE_DIR: '/tmp/c' }).options.cache,
    ).toEqual({ maxBytes: 8 * 1024 * 1024, disk: { dir: '/tmp/c' } });
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-cache-config-'));
    try {
      const file = join(dir, 'fleet.yaml');
      writeFileSync(file, 'cache-dir: /srv/cache\ncache-disk-mb: 2048\n');
      expect(parseStartArgs(['--config', file], {}).options.cache).toEqual({
        disk: { dir: '/srv/cache', maxBytes: 2048 * 1024 * 1024 },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => parseStartArgs(['--cache-disk-mb', '64'], {})).toThrow(/needs --cache-dir/);
    expect(() => parseStartArgs(['--cache-dir', ' '], {})).toThrow(/--cache-dir/);
    expect(() => parseStartArgs(['--no-cache', '--cache-dir', '/x'], {})).toThrow(/--no-cache/);
  });

  it('reads the access log options: where lines go and the share of successes kept', () => {
    const cmd = parseStartArgs(['--access-log', 'stdout', '--access-log-sample', '0.1']);
    expect(cmd.accessLog).toBe('stdout');
    expect(cmd.options.accessLogSample).toBe(0.1);
    expect(parseStartArgs([]).accessLog).toBeUndefined();
    expect(() => parseStartArgs(['--access-log-sample', '0.5'])).toThrow(/needs --access-log/);
    expect(() => parseStartArgs(['--access-log', 'x', '--access-log-sample', '0'])).toThrow(
      /--access-log-sample/,
    );
    expect(() =>
      parseStartArgs([
        '--nats',
        'nats://127.0.0.1:4222',
        '--role',
        'worker',
        '--access-log',
        'stdout',
      ]),
    ).toThrow(/applies to the shield/);
  });

  it('takes options from a configuration file and FLOTILLA_* variables; the command line wins, then the variables', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    const file = join(dir, 'shield.yaml');
    writeFileSync(
      file,
      [
        'role: shield',
        'nats: nats://10.0.0.5:4222',
        'port: 8080',
        'admin-port: 9464',
        'trusted-proxies: [loopback, 10.0.0.0/8]',
        'no-cache: true',
        'timeout-ms: 5000',
        '',
      ].join('\n'),
    );
    const cmd = parseStartArgs(['--config', file, '--port', '3001'], {
      FLOTILLA_TIMEOUT_MS: '7000',
      FLOTILLA_LOG_FORMAT: 'json',
    });
    expect(cmd.role).toBe('shield');
    expect(cmd.nats).toBe('nats://10.0.0.5:4222');
    expect(cmd.logFormat).toBe('json');
    expect(cmd.options).toMatchObject({
      port: 3001,
      adminPort: 9464,
      cache: false,
      requestTimeoutMs: 7000,
      frontDoor: { trustedProxies: ['loopback', '10.0.0.0/8'] },
    });
    // The file named by $FLOTILLA_CONFIG; a variable turns the file's switch off.
    const fromEnv = parseStartArgs([], { FLOTILLA_CONFIG: file, FLOTILLA_NO_CACHE: 'false' });
    expect(fromEnv.role).toBe('shield');
    expect(fromEnv.options.cache).toBeUndefined();
    expect(parseStartArgs([], { FLOTILLA_NO_CACHE: 'true' }).options.cache).toBe(false);
    expect(() => parseStartArgs([], { FLOTILLA_NO_CACHE: 'yes' })).toThrow(/FLOTILLA_NO_CACHE/);
  });

  it('reads --header-names from the command line, a configuration file and $FLOTILLA_HEADER_NAMES', () => {
    expect(parseStartArgs(['--header-names', 'edgio']).options.headerNames).toBe('edgio');
    expect(parseStartArgs([], { FLOTILLA_HEADER_NAMES: 'edgio' }).options.headerNames).toBe(
      'edgio',
    );
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    const file = join(dir, 'shield.yaml');
    writeFileSync(file, 'header-names: edgio\n');
    expect(parseStartArgs(['--config', file]).options.headerNames).toBe('edgio');
    expect(parseStartArgs([]).options.headerNames).toBeUndefined();
    expect(() => parseStartArgs(['--header-names', 'layer0'])).toThrow(
      /--header-names.*must be flotilla or edgio, got "layer0"/,
    );
  });

  it('reads --tier from the command line, a configuration file and $FLOTILLA_TIER', () => {
    const nats = ['--nats', 'nats://127.0.0.1:4222', '--role', 'shield'];
    expect(parseStartArgs([...nats, '--tier', 'edge']).options.tier).toBe('edge');
    expect(parseStartArgs(nats, { FLOTILLA_TIER: 'global' }).options.tier).toBe('global');
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    const file = join(dir, 'shield.yaml');
    writeFileSync(file, 'tier: global\n');
    expect(parseStartArgs([...nats, '--config', file]).options.tier).toBe('global');
    expect(parseStartArgs([]).options.tier).toBeUndefined();
    expect(parseStartArgs(['--tier', 'both']).options.tier).toBe('both');
    expect(() => parseStartArgs([...nats, '--tier', 'middle'])).toThrow(
      /--tier.*must be both, edge, global, got "middle"/,
    );
    // The embedded fleet is one process: every tier in it.
    expect(() => parseStartArgs(['--tier', 'edge'])).toThrow(/--tier.*--role shield/);
    expect(() => parseStartArgs([...nats, '--tier', 'global', '--no-cache'])).toThrow(
      /--tier.*needs its cache/,
    );
    expect(parseStartArgs([...nats, '--shield-id', 'global-0']).options.shieldId).toBe('global-0');
    expect(parseStartArgs(nats, { FLOTILLA_SHIELD_ID: 'global-1' }).options.shieldId).toBe(
      'global-1',
    );
    expect(() => parseStartArgs([...nats, '--shield-id', 'G.0'])).toThrow(/--shield-id/);
    expect(() => parseStartArgs(['--shield-id', 'g-0'])).toThrow(/--shield-id.*--role shield/);
  });

  it("parses the README's example configuration file", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /# shield\.yaml[^\n]*\n([\s\S]*?)```/.exec(readme)?.[1];
    if (!block) throw new Error('README.md has no shield.yaml example');
    const file = join(mkdtempSync(join(tmpdir(), 'flotilla-config-')), 'shield.yaml');
    writeFileSync(file, block);
    const cmd = parseStartArgs(['--config', file], {});
    expect(cmd).toMatchObject({ role: 'shield', accessLog: 'stdout', logFormat: 'json' });
    expect(cmd.options).toMatchObject({ region: 'eu-west', adminPort: 9464 });
  });

  it('refuses a configuration file with an unknown key or a bad value, naming the file and the key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-config-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'role: worker\nthreadz: 4\n');
    expect(() => parseStartArgs(['--config', bad])).toThrow(
      /bad\.yaml: "threadz" is not an option/,
    );
    writeFileSync(bad, 'no-cache: maybe\n');
    expect(() => parseStartArgs(['--config', bad])).toThrow(/bad\.yaml: no-cache/);
    expect(() => parseStartArgs(['--config', join(dir, 'missing.yaml')])).toThrow(/cannot read/);
  });

  it('does not turn the embedded fleet into a role because $FLOTILLA_NATS is set for publishing', () => {
    const cmd = parseStartArgs([], { FLOTILLA_NATS: 'nats://127.0.0.1:4222' });
    expect(cmd.role).toBeUndefined();
    expect(cmd.nats).toBeUndefined();
    const role = parseStartArgs([], {
      FLOTILLA_NATS: 'nats://127.0.0.1:4222',
      FLOTILLA_ROLE: 'worker',
    });
    expect(role).toMatchObject({ role: 'worker', nats: 'nats://127.0.0.1:4222' });
  });

  it('reads a role against NATS with its options', () => {
    const cmd = parseStartArgs([
      '--nats',
      'nats://127.0.0.1:4222',
      '--role',
      'worker',
      '--region',
      'us-east',
      '--threads',
      '2',
      '--admin-port',
      '9100',
      '--no-examples',
    ]);
    expect(cmd).toMatchObject({
      nats: 'nats://127.0.0.1:4222',
      role: 'worker',
      options: { region: 'us-east', threads: 2, adminPort: 9100 },
    });
  });

  it('reads how long a scheduler lets a miss wait for a worker with room', () => {
    const cmd = parseStartArgs([
      '--nats',
      'nats://127.0.0.1:4222',
      '--role',
      'scheduler',
      '--queue-wait-ms',
      '2500',
    ]);
    expect(cmd.options.queueWaitMs).toBe(2500);
    expect(parseStartArgs([]).options.queueWaitMs).toBeUndefined();
    expect(() => parseStartArgs(['--queue-wait-ms', '0'])).toThrow(/--queue-wait-ms/);
  });

  it('reads the scheduler’s penalty box threshold, 0 turning it off', () => {
    expect(parseStartArgs(['--penalty-box-failures', '0']).options.penaltyBoxFailures).toBe(0);
    expect(parseStartArgs(['--penalty-box-failures', '12']).options.penaltyBoxFailures).toBe(12);
    expect(parseStartArgs([]).options.penaltyBoxFailures).toBeUndefined();
    expect(() => parseStartArgs(['--penalty-box-failures', 'x'])).toThrow(/--penalty-box-failures/);
  });

  it('reads the secrets key files, newest first, from --secrets-key or $FLOTILLA_SECRETS_KEY', () => {
    expect(
      parseStartArgs(['--secrets-key', 'new.pem', '--secrets-key', 'old.pem'], {}).options
        .secretsKeyFiles,
    ).toEqual(['new.pem', 'old.pem']);
    expect(
      parseStartArgs([], { FLOTILLA_SECRETS_KEY: 'new.pem, old.pem' }).options.secretsKeyFiles,
    ).toEqual(['new.pem', 'old.pem']);
    // The flag wins over the environment.
    expect(
      parseStartArgs(['--secrets-key', 'a.pem'], { FLOTILLA_SECRETS_KEY: 'b.pem' }).options
        .secretsKeyFiles,
    ).toEqual(['a.pem']);
    expect(parseStartArgs([], {}).options.secretsKeyFiles).toBeUndefined();
  });

  it('reads the operator limits of every render', () => {
    expect(
      parseStartArgs(['--cpu-ms', '250', '--wall-ms', '3000', '--heap-mb', '64']).options.limits,
    ).toEqual({ cpuMs: 250, wallMs: 3000, heapMb: 64 });
  });

  it('reads the role’s credential file from --creds, else $FLOTILLA_CREDS, and the TLS CA', () => {
    const role = ['--nats', 'tls://x:1', '--role', 'control'];
    expect(parseStartArgs([...role, '--creds', 'c.nk', '--tls-ca', 'ca.pem'], {}).security).toEqual(
      {
        credsFile: 'c.nk',
        tlsCaFile: 'ca.pem',
      },
    );
    expect(parseStartArgs(role, { FLOTILLA_CREDS: 'env.nk' }).security).toEqual({
      credsFile: 'env.nk',
    });
    expect(parseStartArgs(role, {}).security).toEqual({});
    expect(() => parseStartArgs(['--creds', 'c.nk'], {})).toThrow(/--creds.*--role/);
    const scheduler = ['--nats', 'nats://x:1', '--role', 'scheduler', '--autoscale', 'local'];
    expect(() => parseStartArgs([...scheduler, '--creds', 's.nk'], {})).toThrow(
      /--autoscale.*needs --worker-creds/,
    );
    expect(
      parseStartArgs([...scheduler, '--creds', 's.nk', '--worker-creds', 'w.nk'], {})
        .workerSecurity,
    ).toEqual({ credsFile: 'w.nk' });
    expect(() => parseStartArgs([...role, '--worker-creds', 'w.nk'], {})).toThrow(
      /--worker-creds.*--autoscale local/,
    );
  });

  it.each([
    [['--role', 'worker'], /--role.*needs --nats/],
    [['--nats', 'nats://x:1'], /--nats.*needs --role/],
    [
      ['--nats', 'nats://x:1', '--role', 'cache'],
      /--role.*shield, scheduler, worker or control.*"cache"/,
    ],
    [['--port', 'abc'], /--port.*whole number.*"abc"/],
    [['--port', '70000'], /--port.*at most 65535/],
    [['--log-format', 'xml'], /--log-format.*text or json/],
    [['--log-level', 'loud'], /--log-level.*trace, debug, info.*"loud"/],
    [['--api-port', '4001'], /api-port/],
    [['--bogus'], /bogus/],
    [['--cpu-ms', '0'], /--cpu-ms.*at least 1/],
  ])('rejects %j with a message naming the option', (args, message) => {
    expect(() => parseStartArgs(args)).toThrow(message);
  });

  it('reads the least time between two worker load updates (--load-update-ms, 0 allowed)', () => {
    const worker = ['--nats', 'nats://127.0.0.1:4222', '--role', 'worker'];
    expect(parseStartArgs([...worker, '--load-update-ms', '200']).options.loadUpdateMs).toBe(200);
    expect(parseStartArgs([...worker, '--load-update-ms', '0']).options.loadUpdateMs).toBe(0);
    expect(parseStartArgs(worker).options.loadUpdateMs).toBeUndefined();
    for (const bad of ['-1', '1.5', 'soon']) {
      expect(() => parseStartArgs([...worker, '--load-update-ms', bad])).toThrow(
        /--load-update-ms/,
      );
    }
  });
});
