import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readUserSeed } from '@flotilla/transport';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AUTH_CONF_FILE,
  addTeamApps,
  initAuthDir,
  loadAuthDir,
  REGISTRY_FILE,
  renderAuthConf,
} from './auth-dir.ts';
import { rolePermissions, teamPermissions } from './permissions.ts';

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
  it('let a team send control requests about its own apps only, and read only its own inbox', () => {
    const p = teamPermissions(['alpha'], 'UKEY');
    expect(p.publish.allow).toContain('flotilla.control.alpha.>');
    expect(p.publish.allow.some((s) => s.startsWith('$') || s === '>')).toBe(false);
    expect(p.publish.allow.filter((s) => s.startsWith('flotilla.control.'))).toEqual([
      'flotilla.control.alpha.>',
    ]);
    expect(p.subscribe.allow).toEqual(['_INBOX.UKEY.>']);
  });

  it.each(['shield', 'worker', 'scheduler'] as const)(
    'let a %s neither write the control plane nor call the control service',
    (role) => {
      const p = rolePermissions(role);
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
    expect(rolePermissions('scheduler').publish.deny).not.toContain('$KV.flotilla_leases.>');
    expect(rolePermissions('scheduler').publish.allow).toContain('$KV.flotilla_leases.>');
    expect(rolePermissions('worker').publish.deny).toContain('$KV.flotilla_leases.>');
    expect(rolePermissions('control').publish.deny).toContain('$KV.flotilla_leases.>');
  });
});
