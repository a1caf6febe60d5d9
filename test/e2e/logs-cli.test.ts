import {
  decodeTailAnswer,
  encodeTailRequest,
  logLinesSubject,
  logTailSubject,
} from '@flotilla/protocol';
import {
  type ChildHandle,
  FLEET_BIN,
  FLEET_NODE_FLAGS,
  type Fleet,
  freePort,
  httpRequest,
  publishBundle,
  runCli,
  spawnProcess,
  startFleet,
  type TestBundle,
  waitFor,
} from '@flotilla/test-harness';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

/**
 * `flotilla logs` on a real fleet over NATS (a shield with its cache, a
 * scheduler, a worker): the shield's access lines and the app's console
 * lines on the worker, recent ones and followed ones, filtered, in text and
 * JSON; and nothing published on NATS for an app once nobody tails it.
 */

/** App `logapp`: logs a line per render; `/fail/*` answers 500, `/cached/*` may be cached. */
const LOG_APP: TestBundle = {
  name: 'logapp',
  code: `Flotilla.serve((req) => {
    const path = new URL(req.url).pathname;
    if (path.startsWith('/fail/')) {
      console.error('failing ' + path);
      return new Response('boom', { status: 500 });
    }
    console.warn('rendering ' + path);
    return new Response('ok ' + path, { headers: { 'cache-control': 'public, s-maxage=60' } });
  });`,
};

/** Another app, whose lines must never show up in logapp's. */
const OTHER_APP: TestBundle = {
  name: 'otherapp',
  code: `Flotilla.serve((req) => { console.log('other ' + new URL(req.url).pathname); return new Response('other'); });`,
};

let fleet: Fleet;
let nc: NatsConnection;

type Line = Record<string, unknown>;

beforeAll(async () => {
  fleet = await startFleet({
    schedulers: 1,
    workers: 1,
    cache: true,
    publish: async (natsUrl, dir) => {
      const p = await openControlPlane(natsUrl);
      try {
        await publishBundle(p.controlPlane, dir, LOG_APP);
        await publishBundle(p.controlPlane, dir, OTHER_APP);
      } finally {
        await p.close();
      }
      return undefined;
    },
  });
  nc = await connect({ servers: fleet.nats.url });
}, 120_000);

afterAll(async () => {
  await nc?.close();
  await fleet?.stop();
});

/** GET `path` of `app` through the shield (by host). */
async function get(path: string, app = 'logapp') {
  return httpRequest(fleet.shield.url, path, { host: `${app}.localhost`, timeoutMs: 30_000 });
}

/** `flotilla logs --app logapp <args> --json`: its lines. */
async function logs(...args: string[]): Promise<Line[]> {
  const res = await runCli([
    'logs',
    '--app',
    'logapp',
    '--nats',
    fleet.nats.url,
    '--json',
    ...args,
  ]);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Line);
}

/** Runs `flotilla logs … --json` until `done(lines)`; resolves with the last lines. */
async function logsUntil(args: string[], done: (lines: Line[]) => boolean): Promise<Line[]> {
  let lines: Line[] = [];
  await waitFor(
    async () => {
      lines = await logs(...args);
      return done(lines);
    },
    { timeoutMs: 60_000, message: 'flotilla logs never showed the lines' },
  );
  return lines;
}

const hasPath = (path: string) => (l: Line) => l.path === path || l.msg === `rendering ${path}`;

describe('flotilla logs (recent lines)', () => {
  beforeAll(async () => {
    expect((await get('/cached/1')).status).toBe(200);
    expect((await get('/cached/1')).status).toBe(200);
    expect((await get('/fail/1')).status).toBe(500);
    expect((await get('/x/1', 'otherapp')).status).toBe(200);
  }, 60_000);

  it('shows the shield’s access lines and the app’s console lines, with their levels', async () => {
    const lines = await logsUntil(
      [],
      (l) =>
        l.some((x) => x.source === 'app' && x.msg === 'failing /fail/1') &&
        l.some((x) => x.source === 'access' && x.path === '/fail/1'),
    );
    const access = lines.filter((l) => l.source === 'access');
    expect(access.map((l) => [l.path, l.status, l.cache])).toEqual([
      ['/cached/1', 200, 'miss'],
      ['/cached/1', 200, 'hit'],
      ['/fail/1', 500, 'miss'],
    ]);
    expect(access[0]).toMatchObject({
      role: 'shield',
      app: 'logapp',
      environment: 'production',
      method: 'GET',
      region: 'test',
      id: expect.stringMatching(/^h-/),
    });
    const app = lines.filter((l) => l.source === 'app');
    expect(app).toEqual([
      expect.objectContaining({
        role: 'worker',
        level: 'warn',
        msg: 'rendering /cached/1',
        app: 'logapp',
        environment: 'production',
        deployment: expect.stringMatching(/^logapp-/),
      }),
      expect.objectContaining({ role: 'worker', level: 'error', msg: 'failing /fail/1' }),
    ]);
    // Nothing of the other app.
    expect(lines.every((l) => l.app === 'logapp')).toBe(true);
  }, 90_000);

  it('prints one readable line per log line by default', async () => {
    await logsUntil([], (l) => l.some((x) => x.msg === 'failing /fail/1'));
    const res = await runCli(['logs', '--app', 'logapp', '--nats', fleet.nats.url]);
    expect(res.code, res.stderr).toBe(0);
    const text = res.stdout.split('\n');
    expect(text).toContainEqual(
      expect.stringMatching(
        /^\d{4}-\d\d-\d\dT[\d:.]+Z shield\/h-\w+ 200 GET \/cached\/1 hit [\d.]+ms \[production\]$/,
      ),
    );
    expect(text).toContainEqual(
      expect.stringMatching(/^\S+Z shield\/h-\w+ 500 GET \/fail\/1 miss [\d.]+ms \[production\]$/),
    );
    expect(text).toContainEqual(
      expect.stringMatching(/^\S+Z worker\/\S+ WARN {2}rendering \/cached\/1 \[production\]$/),
    );
    expect(text).toContainEqual(expect.stringMatching(/^\S+Z worker\/\S+ ERROR failing \/fail\/1/));
  }, 90_000);

  it.each([
    [['--status', '5xx'], [['access', '/fail/1']]],
    [
      ['--status', '200'],
      [
        ['access', '/cached/1'],
        ['access', '/cached/1'],
      ],
    ],
    [['--cache', 'hit'], [['access', '/cached/1']]],
    [['--path', '/fail/'], [['access', '/fail/1']]],
    [
      ['--path', '/c*/*'],
      [
        ['access', '/cached/1'],
        ['access', '/cached/1'],
      ],
    ],
    [
      ['--source', 'app'],
      [
        ['app', 'rendering /cached/1'],
        ['app', 'failing /fail/1'],
      ],
    ],
    [['--source', 'access', '--cache', 'miss,hit', '--status', '4xx,500'], [['access', '/fail/1']]],
  ])(
    'filters: %j',
    async (args, expected) => {
      await logsUntil([], (l) => l.some((x) => x.msg === 'failing /fail/1'));
      const lines = await logs(...args, '--env', 'production');
      expect(lines.map((l) => [l.source, l.source === 'app' ? l.msg : l.path])).toEqual(expected);
    },
    90_000,
  );

  it('answers --lines recent lines per process at most', async () => {
    await logsUntil([], (l) => l.some((x) => x.msg === 'failing /fail/1'));
    const lines = await logs('--lines', '1', '--source', 'access');
    expect(lines.map((l) => l.path)).toEqual(['/fail/1']);
  }, 60_000);

  it('refuses an unknown app or environment (exit 4) and bad filters (exit 2)', async () => {
    const nats = ['--nats', fleet.nats.url];
    const unknown = await runCli(['logs', '--app', 'nosuchapp', ...nats]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/^flotilla: app "nosuchapp" has no environments/);
    const env = await runCli(['logs', '--app', 'logapp', '--env', 'staging', ...nats]);
    expect(env.code).toBe(4);
    expect(env.stderr).toContain('has no environment "staging"');
    for (const [option, value] of [
      ['--status', '9xx'],
      ['--path', 'no-slash'],
      ['--source', 'everything'],
      ['--lines', '-1'],
    ] as const) {
      const bad = await runCli(['logs', '--app', 'logapp', option, value, ...nats]);
      expect(bad.code, `${option} ${value}: ${bad.stderr}`).toBe(2);
      expect(bad.stderr).toContain(option);
    }
  }, 90_000);

  it('fails fast when no fleet is reachable (exit 3)', async () => {
    const port = await freePort();
    const res = await runCli(['logs', '--app', 'logapp', '--nats', `nats://127.0.0.1:${port}`]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('cannot reach the fleet');
  }, 30_000);

  it('has a --help of its own', async () => {
    const res = await runCli(['logs', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('flotilla logs [--app <name>] [--env <name>] [--follow]');
    expect(res.stdout).not.toContain('flotilla publish');
  }, 30_000);
});

/** Counts the messages on logapp's lines subject (what the fleet publishes for tails). */
function countLines(): { sub: Subscription; count: () => number } {
  let n = 0;
  const sub = nc.subscribe(logLinesSubject('logapp'), {
    callback: () => {
      n++;
    },
  });
  return { sub, count: () => n };
}

/** Until a recent-mode `flotilla logs` shows `path`: the shield has handled that request. */
async function recorded(path: string): Promise<void> {
  await logsUntil(['--source', 'access', '--path', path], (l) => l.some(hasPath(path)));
}

describe('flotilla logs --follow', () => {
  let follower: ChildHandle | undefined;

  afterAll(async () => {
    await follower?.kill('SIGKILL');
  });

  it('streams new lines as they happen, exits 0 on Ctrl-C, and the fleet stops publishing', async () => {
    const published = countLines();
    await nc.flush();
    follower = await spawnProcess({
      command: process.execPath,
      args: [...FLEET_NODE_FLAGS, FLEET_BIN, 'logs', '--app', 'logapp', '--follow', '--json'],
      env: { FLOTILLA_NATS: fleet.nats.url, NODE_OPTIONS: '' },
      name: 'flotilla-logs',
      // Recent lines come first, once the lease is in place on every process.
      readyPattern: /"msg":"failing \/fail\/1"/,
      readyTimeoutMs: 60_000,
    });
    expect((await get('/cached/follow-1')).status).toBe(200);
    expect((await get('/x/follow-1', 'otherapp')).status).toBe(200);
    const accessLine = await follower.waitForLine(/"path":"\/cached\/follow-1"/, 30_000);
    expect(JSON.parse(accessLine)).toMatchObject({ source: 'access', status: 200, cache: 'miss' });
    const appLine = await follower.waitForLine(/"msg":"rendering \/cached\/follow-1"/, 30_000);
    expect(JSON.parse(appLine)).toMatchObject({ source: 'app', level: 'warn', role: 'worker' });
    expect(follower.output()).not.toContain('otherapp');
    expect(published.count()).toBeGreaterThan(0);

    const exit = await follower.kill('SIGINT');
    expect(exit).toEqual({ code: 0, signal: null });

    // Nobody tails logapp any more: its lines are kept, not published.
    const before = published.count();
    expect((await get('/cached/after-1')).status).toBe(200);
    await recorded('/cached/after-1');
    expect(published.count()).toBe(before);
    published.sub.unsubscribe();
  }, 120_000);

  it('says what it follows, prints new lines as text, and ends on SIGTERM too', async () => {
    const text = await spawnProcess({
      command: process.execPath,
      args: [
        ...FLEET_NODE_FLAGS,
        FLEET_BIN,
        'logs',
        '--app',
        'logapp',
        '--follow',
        '--source',
        'access',
      ],
      env: { FLOTILLA_NATS: fleet.nats.url, NODE_OPTIONS: '' },
      name: 'flotilla-logs-text',
      readyPattern:
        /^flotilla logs: following logapp on 1 shield\(s\) and 1 worker\(s\); Ctrl-C to stop$/,
      readyTimeoutMs: 60_000,
    });
    try {
      expect((await get('/cached/text-1')).status).toBe(200);
      await text.waitForLine(
        /^\S+Z shield\/h-\w+ 200 GET \/cached\/text-1 miss [\d.]+ms \[production\]$/,
        30_000,
      );
      expect(await text.kill('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(text.output()).not.toContain('WARN');
    } finally {
      await text.kill('SIGKILL');
    }
  }, 90_000);

  it('a shield started while someone follows joins at the next lease renewal', async () => {
    const late = await spawnProcess({
      command: process.execPath,
      args: [...FLEET_NODE_FLAGS, FLEET_BIN, 'logs', '--app', 'logapp', '--follow', '--json'],
      env: { FLOTILLA_NATS: fleet.nats.url, NODE_OPTIONS: '' },
      name: 'flotilla-logs-late',
      readyPattern: /"msg":"failing \/fail\/1"/,
      readyTimeoutMs: 60_000,
    });
    try {
      const shield = await fleet.add('shield');
      let n = 0;
      // Until the new shield has the lease (renewed every 5 s), its lines are only kept.
      await waitFor(
        async () => {
          n++;
          const res = await httpRequest(shield.url, `/cached/late-${n}`, {
            host: 'logapp.localhost',
            timeoutMs: 30_000,
          });
          expect(res.status).toBe(200);
          return /"path":"\/cached\/late-\d+"/.test(late.output());
        },
        { timeoutMs: 60_000, intervalMs: 500, message: 'the new shield’s lines never arrived' },
      );
      const line = await late.waitForLine(/"path":"\/cached\/late-\d+"/);
      expect(JSON.parse(line)).toMatchObject({ role: 'shield', source: 'access' });
      // Another shield than the first (whose recent line /fail/1 came first).
      const first = JSON.parse(await late.waitForLine(/"path":"\/fail\/1"/));
      expect(JSON.parse(line).id).not.toBe(first.id);
      expect(await late.kill('SIGINT')).toEqual({ code: 0, signal: null });
    } finally {
      await late.kill('SIGKILL');
    }
  }, 120_000);

  it('publishes for the lease only: once it runs out without renewal, nothing more is sent', async () => {
    const published = countLines();
    const answers = await nc.requestMany(
      logTailSubject('logapp'),
      encodeTailRequest({ tailId: 'lease-test', filter: {}, leaseMs: 1500, recent: 0 }),
      { strategy: 'timer', maxWait: 1000 },
    );
    const roles: string[] = [];
    for await (const m of answers) roles.push(decodeTailAnswer(m.data).role);
    // Every shield (one more was started above) and the worker.
    expect([...new Set(roles)].sort()).toEqual(['shield', 'worker']);
    expect(roles).toHaveLength(fleet.live('shield').length + fleet.live('worker').length);
    expect((await get('/cached/lease-1')).status).toBe(200);
    await waitFor(() => published.count() > 0, { timeoutMs: 30_000 });
    // Past the lease (renewed by nobody).
    await new Promise((r) => setTimeout(r, 2000));
    const before = published.count();
    expect((await get('/cached/lease-2')).status).toBe(200);
    await recorded('/cached/lease-2');
    expect(published.count()).toBe(before);
    published.sub.unsubscribe();
  }, 90_000);
});
