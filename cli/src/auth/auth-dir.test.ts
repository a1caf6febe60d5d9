import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PREWARM_SUBJECT,
  PROBE_SUBJECT,
  PURGE_SUBJECT,
  prewarmQueue,
  probeQueue,
  regionSubjects,
} from '@flotilla/protocol';
import { readUserSeed } from '@flotilla/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUTH_CONF_FILE,
  addRegion,
  addTeamApps,
  initAuthDir,
  loadAuthDir,
  REGISTRY_FILE,
  renderAuthConf,
} from './auth-dir.ts';
import { type Permissions, ROLES, rolePermissions, teamPermissions } from './permissions.ts';

let dir: string;
beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'flotilla-auth-test-')), 'auth');
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

describe('the credential directory', () => {
  it('holds one seed per credential, mode 0600, matching the registry’s public keys', async () => {
    const registry = await initAuthDir(dir);
    for (const c of [registry.operator, ...Object.values(registry.roles)]) {
      const file = join(dir, c.seedFile);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect((await readUserSeed(file)).publicKey).toBe(c.publicKey);
    }
    expect(Object.keys(registry.roles).sort()).toEqual([
      'control',
      'scheduler',
      'shield',
      'worker',
    ]);
    expect(await loadAuthDir(dir)).toEqual(registry);
  });

  it('refuses to initialise a directory twice', async () => {
    await initAuthDir(dir);
    await expect(initAuthDir(dir)).rejects.toMatchObject({ code: 'FLOTILLA_ERR_CONFLICT' });
  });

  it('gives each app to one team and regenerates auth.conf', async () => {
    let registry = await initAuthDir(dir);
    registry = await addTeamApps(dir, registry, 'shop', ['alpha'], false);
    await expect(addTeamApps(dir, registry, 'other', ['alpha'], false)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
      message: 'app alpha already belongs to team shop',
    });
    await expect(addTeamApps(dir, registry, 'shop', ['beta'], false)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_CONFLICT',
    });
    await expect(addTeamApps(dir, registry, 'nobody', ['beta'], true)).rejects.toMatchObject({
      code: 'FLOTILLA_ERR_NOT_FOUND',
    });
    registry = await addTeamApps(dir, registry, 'shop', ['beta'], true);
    expect(registry.teams.shop?.apps).toEqual(['alpha', 'beta']);
    const conf = await readFile(join(dir, AUTH_CONF_FILE), 'utf8');
    expect(conf).toBe(renderAuthConf(registry));
    expect(conf).toContain('"flotilla.control.beta.>"');
  });

  it('names the bad field of a tampered registry', async () => {
    await initAuthDir(dir);
    const path = join(dir, REGISTRY_FILE);
    const registry = JSON.parse(await readFile(path, 'utf8'));
    registry.teams = { shop: { ...registry.operator, apps: ['Not An App'] } };
    await writeFile(path, JSON.stringify(registry));
    await expect(loadAuthDir(dir)).rejects.toThrow(/teams\.shop\.apps\.0 must be an app name/);
  });
});

describe('permissions', () => {
  it('let a team send control requests and tail logs about its own apps only, and read only its own inbox and its apps’ log lines', () => {
    const p = teamPermissions(['alpha'], 'UKEY');
    expect(p.publish.allow).toContain('flotilla.control.alpha.>');
    expect(p.publish.allow.some((s) => s.startsWith('$') || s === '>')).toBe(false);
    expect(p.publish.allow.filter((s) => s.startsWith('flotilla.control.'))).toEqual([
      'flotilla.control.alpha.>',
    ]);
    expect(p.publish.allow.filter((s) => s.startsWith('flotilla.logs.'))).toEqual([
      'flotilla.logs.tail.alpha',
    ]);
    expect(p.subscribe.allow).toEqual(['flotilla.logs.lines.alpha', '_INBOX.UKEY.>']);
    expect(p.publish.allow.filter((s) => s.startsWith('flotilla.shields.prerender.'))).toEqual([
      'flotilla.shields.prerender.alpha',
    ]);
  });

  it('let shields, and no other role, take prerender requests', () => {
    expect(rolePermissions('shield', 'UROLE').subscribe.allow).toContain(
      'flotilla.shields.prerender.*',
    );
    for (const role of ['worker', 'scheduler', 'control'] as const) {
      expect(rolePermissions(role, 'UROLE').subscribe.allow).not.toContain(
        'flotilla.shields.prerender.*',
      );
    }
  });

  it.each(['shield', 'worker', 'scheduler'] as const)(
    'let a %s neither write the control plane nor call the control service',
    (role) => {
      const p = rolePermissions(role, 'UROLE');
      expect(p.publish.deny).toEqual(
        expect.arrayContaining([
          'flotilla.control.>',
          '$KV.flotilla_control.>',
          '$O.flotilla_blobs.>',
          '$JS.API.STREAM.PURGE.KV_flotilla_control',
          '$JS.API.STREAM.DELETE.OBJ_flotilla_blobs',
        ]),
      );
      expect(p.publish.allow).not.toContain('>');
      expect(p.subscribe.deny).toContain('flotilla.control.>');
    },
  );

  it('let only schedulers write the autoscaler’s leases', () => {
    expect(rolePermissions('scheduler', 'UROLE').publish.deny).not.toContain(
      '$KV.flotilla_leases.>',
    );
    expect(rolePermissions('scheduler', 'UROLE').publish.allow).toContain('$KV.flotilla_leases.>');
    expect(rolePermissions('worker', 'UROLE').publish.deny).toContain('$KV.flotilla_leases.>');
    expect(rolePermissions('control', 'UROLE').publish.deny).toContain('$KV.flotilla_leases.>');
  });
});

/** nats-server's subject matching: `*` one token, `>` the rest (at least one). */
function matches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * Whether `permissions` let its user `direction` `subject` (in queue group
 * `queue`); deny wins. An entry `"<subject> <queue>"` covers only queue
 * subscriptions of a group it matches.
 */
function may(
  permissions: Permissions,
  direction: 'publish' | 'subscribe',
  subject: string,
  queue?: string,
) {
  const covers = (entry: string) => {
    const [pattern, group] = entry.split(' ') as [string, string | undefined];
    if (!matches(pattern, subject)) return false;
    return group === undefined || (queue !== undefined && matches(group, queue));
  };
  const rule = permissions[direction];
  return rule.allow.some(covers) && !(rule.deny ?? []).some(covers);
}

describe('least privilege per role', () => {
  const KEY = 'UROLEKEY';
  const role = Object.fromEntries(ROLES.map((r) => [r, rolePermissions(r, KEY)])) as Record<
    (typeof ROLES)[number],
    Permissions
  >;
  const east = regionSubjects('us-east');
  const west = regionSubjects('eu-west');

  it('allows each role the subjects its code uses, in any region', () => {
    for (const r of [east, west]) {
      expect(may(role.shield, 'publish', r.miss)).toBe(true);
      expect(may(role.shield, 'subscribe', r.schedulerHeartbeat)).toBe(true);
      expect(may(role.shield, 'subscribe', r.ack('shield-1'))).toBe(true);
      expect(may(role.scheduler, 'subscribe', r.miss, r.schedulerQueue)).toBe(true);
      // Only in the schedulers' queue group: never every miss.
      expect(may(role.scheduler, 'subscribe', r.miss)).toBe(false);
      expect(may(role.scheduler, 'subscribe', r.heartbeat)).toBe(true);
      expect(may(role.scheduler, 'publish', r.workerRender('w-1'))).toBe(true);
      expect(may(role.scheduler, 'publish', r.workerPrewarm('w-1'))).toBe(true);
      expect(may(role.scheduler, 'publish', r.ack('shield-1'))).toBe(true);
      expect(may(role.scheduler, 'publish', r.schedulerHeartbeat)).toBe(true);
      expect(may(role.worker, 'subscribe', r.workerRender('w-1'))).toBe(true);
      expect(may(role.worker, 'subscribe', r.workerPrewarm('w-1'))).toBe(true);
      expect(may(role.worker, 'publish', r.heartbeat)).toBe(true);
      // Streamed bodies: shields pull them from the workers, which serve them.
      expect(may(role.shield, 'publish', r.workerStream('w-1'))).toBe(true);
      expect(may(role.worker, 'subscribe', r.workerStream('w-1'))).toBe(true);
      expect(may(role.shield, 'subscribe', r.workerStream('w-1'))).toBe(false);
      expect(may(role.worker, 'publish', r.workerStream('w-2'))).toBe(false);
    }
    expect(may(role.shield, 'subscribe', PURGE_SUBJECT)).toBe(true);
    expect(may(role.shield, 'publish', PURGE_SUBJECT)).toBe(true);
    expect(may(role.scheduler, 'subscribe', PREWARM_SUBJECT, prewarmQueue('us-east'))).toBe(true);
    expect(may(role.scheduler, 'subscribe', PROBE_SUBJECT, probeQueue('us-east'))).toBe(true);
    expect(may(role.scheduler, 'subscribe', PREWARM_SUBJECT)).toBe(false);
    expect(may(role.control, 'publish', PURGE_SUBJECT)).toBe(true);
    for (const r of ROLES) expect(may(role[r], 'subscribe', `_INBOX.${KEY}.abc.1`), r).toBe(true);
  });

  it('never lets a shield or a worker take renders meant for others', () => {
    for (const r of [east, west]) {
      for (const s of [r.miss, r.workerRender('w-1'), r.workerPrewarm('w-1'), r.heartbeat]) {
        expect(may(role.shield, 'subscribe', s), s).toBe(false);
        expect(may(role.control, 'subscribe', s), s).toBe(false);
      }
      expect(may(role.worker, 'subscribe', r.miss)).toBe(false);
      expect(may(role.worker, 'subscribe', r.ack('shield-1'))).toBe(false);
      expect(may(role.worker, 'publish', r.miss)).toBe(false);
      expect(may(role.worker, 'publish', r.workerRender('w-2'))).toBe(false);
      expect(may(role.shield, 'publish', r.workerRender('w-1'))).toBe(false);
      expect(may(role.shield, 'publish', r.ack('shield-2'))).toBe(false);
    }
    expect(may(role.shield, 'subscribe', PREWARM_SUBJECT)).toBe(false);
    expect(may(role.worker, 'subscribe', PURGE_SUBJECT)).toBe(false);
    // Purges are not renders: a shield sends them for its admin API (guarded by the admin token).
    expect(may(role.worker, 'publish', PURGE_SUBJECT)).toBe(false);
    expect(may(role.scheduler, 'publish', PURGE_SUBJECT)).toBe(false);
  });

  it('lets no role read replies but its own, nor touch a control request', () => {
    for (const r of ROLES) {
      expect(may(role[r], 'subscribe', '_INBOX.>'), r).toBe(false);
      expect(may(role[r], 'subscribe', '_INBOX.UOTHER.abc.1'), r).toBe(false);
      expect(may(role[r], 'publish', '_INBOX.UOTHER.abc.1'), r).toBe(false);
    }
    for (const r of ['shield', 'scheduler', 'worker'] as const) {
      // `flotilla.*.ack.*` would match the control verbs of an app named "ack".
      for (const s of ['flotilla.control.ack.promote', 'flotilla.control.worker.x.render']) {
        expect(may(role[r], 'publish', s), `${r} ${s}`).toBe(false);
        expect(may(role[r], 'subscribe', s), `${r} ${s}`).toBe(false);
      }
    }
  });
});

describe('region-bound credentials', () => {
  it('issue a shield, scheduler and worker credential per region, kept when run again', async () => {
    let registry = await initAuthDir(dir);
    registry = await addRegion(dir, registry, 'us-east', ['eu-west']);
    const east = registry.regions['us-east'];
    expect(east?.secondary).toEqual(['eu-west']);
    for (const [role, c] of Object.entries(east?.roles ?? {})) {
      expect(c.seedFile).toBe(`${role}-us-east.nk`);
      expect((await stat(join(dir, c.seedFile))).mode & 0o777).toBe(0o600);
      expect((await readUserSeed(join(dir, c.seedFile))).publicKey).toBe(c.publicKey);
    }
    const again = await addRegion(dir, registry, 'us-east', []);
    expect(again.regions['us-east']?.roles).toEqual(east?.roles);
    expect(again.regions['us-east']?.secondary).toEqual([]);
    expect(await loadAuthDir(dir)).toEqual(again);
    const conf = await readFile(join(dir, AUTH_CONF_FILE), 'utf8');
    expect(conf).toContain(east?.roles.worker.publicKey);
    expect(conf).toContain('"flotilla.us-east.worker.*.render"');
  });

  it('refuse a bad region name, "control", or a region its own secondary', async () => {
    const registry = await initAuthDir(dir);
    for (const [region, secondary] of [
      ['US East', []],
      ['control', []],
      ['us-east', ['us-east']],
      ['us-east', ['a.b']],
    ] as const) {
      await expect(addRegion(dir, registry, region, secondary)).rejects.toMatchObject({
        code: 'FLOTILLA_ERR_INVALID_OPTION',
      });
    }
  });

  it('read a registry written before regions existed', async () => {
    const registry = await initAuthDir(dir);
    const { regions: _, ...old } = registry;
    await writeFile(join(dir, REGISTRY_FILE), JSON.stringify(old));
    expect((await loadAuthDir(dir)).regions).toEqual({});
  });

  it('bind each role to its region’s subjects (shields also reach their secondary regions)', () => {
    const KEY = 'UREGIONKEY';
    const scope = { region: 'us-east', secondary: ['eu-west'] };
    const shield = rolePermissions('shield', KEY, scope);
    const scheduler = rolePermissions('scheduler', KEY, scope);
    const worker = rolePermissions('worker', KEY, scope);
    const [east, west, south] = ['us-east', 'eu-west', 'ap-south'].map(regionSubjects) as [
      ReturnType<typeof regionSubjects>,
      ReturnType<typeof regionSubjects>,
      ReturnType<typeof regionSubjects>,
    ];
    for (const r of [east, west]) {
      expect(may(shield, 'publish', r.miss)).toBe(true);
      expect(may(shield, 'subscribe', r.schedulerHeartbeat)).toBe(true);
      expect(may(shield, 'subscribe', r.ack('s-1'))).toBe(true);
    }
    expect(may(shield, 'publish', south.miss)).toBe(false);
    expect(may(shield, 'subscribe', south.ack('s-1'))).toBe(false);
    expect(may(scheduler, 'subscribe', east.miss, east.schedulerQueue)).toBe(true);
    expect(may(scheduler, 'subscribe', PREWARM_SUBJECT, prewarmQueue('us-east'))).toBe(true);
    expect(may(scheduler, 'subscribe', PROBE_SUBJECT, probeQueue('us-east'))).toBe(true);
    expect(may(scheduler, 'subscribe', PREWARM_SUBJECT, prewarmQueue('eu-west'))).toBe(false);
    expect(may(scheduler, 'subscribe', PROBE_SUBJECT, probeQueue('eu-west'))).toBe(false);
    expect(may(scheduler, 'publish', east.workerRender('w-1'))).toBe(true);
    for (const r of [west, south]) {
      expect(may(scheduler, 'subscribe', r.miss, r.schedulerQueue)).toBe(false);
      expect(may(scheduler, 'subscribe', r.heartbeat)).toBe(false);
      expect(may(scheduler, 'publish', r.workerRender('w-1'))).toBe(false);
      expect(may(scheduler, 'publish', r.ack('s-1'))).toBe(false);
      expect(may(worker, 'subscribe', r.workerRender('w-1'))).toBe(false);
      expect(may(worker, 'publish', r.heartbeat)).toBe(false);
    }
    expect(may(worker, 'subscribe', east.workerRender('w-1'))).toBe(true);
    expect(may(worker, 'publish', east.heartbeat)).toBe(true);
  });
});
