/**
 * The operator's credential directory: one NKey seed file per credential
 * (mode 0600), the registry of credentials, teams and their apps
 * (`flotilla-auth.json`, schema-checked), and the `auth.conf` nats-server
 * includes, regenerated from the registry after every change.
 *
 * @module
 */
import { chmod, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FlotillaError, isSubjectToken } from '@flotilla/protocol';
import { APP_NAME } from '@flotilla/protocol/patterns';
import { createUser } from '@nats-io/nkeys';
import * as v from 'valibot';
import {
  operatorPermissions,
  type Permissions,
  REGION_ROLES,
  type RegionRole,
  ROLES,
  rolePermissions,
  teamPermissions,
} from './permissions.ts';

/** The registry's file name in the credential directory. */
export const REGISTRY_FILE = 'flotilla-auth.json';

/** The nats-server configuration file the registry generates. */
export const AUTH_CONF_FILE = 'auth.conf';

/** The nats-server account every credential belongs to (one account, JetStream enabled). */
export const ACCOUNT = 'FLOTILLA';

const PublicKey = v.pipe(v.string(), v.regex(/^U[A-Z2-7]{55}$/, 'must be an NKey user public key'));
const Credential = v.strictObject({ publicKey: PublicKey, seedFile: v.string() });
const AppName = v.pipe(v.string(), v.regex(APP_NAME, 'must be an app name'));
const RegionName = v.custom<string>(
  (r) => isSubjectToken(r) && r !== 'control',
  'region names must be subject tokens, not "control"',
);

/** A region's own role credentials, and the regions its shields fail over to. */
const RegionCredentials = v.strictObject({
  secondary: v.array(RegionName),
  roles: v.strictObject(
    Object.fromEntries(REGION_ROLES.map((r) => [r, Credential])) as {
      [R in RegionRole]: typeof Credential;
    },
  ),
});

/** `flotilla-auth.json`: every credential's public key and seed file, and each team's apps. */
export const AuthRegistrySchema = v.strictObject({
  version: v.literal(1),
  operator: Credential,
  roles: v.strictObject(
    Object.fromEntries(ROLES.map((r) => [r, Credential])) as {
      [R in (typeof ROLES)[number]]: typeof Credential;
    },
  ),
  teams: v.record(
    v.custom<string>(isSubjectToken, 'team names must be subject tokens'),
    v.strictObject({ ...Credential.entries, apps: v.array(AppName) }),
  ),
  /** Region-bound role credentials (`flotilla auth region`), by region. */
  regions: v.optional(v.record(RegionName, RegionCredentials), {}),
});

/** The registry ({@link AuthRegistrySchema}). */
export type AuthRegistry = v.InferOutput<typeof AuthRegistrySchema>;

/** A fresh NKey user: writes its seed to `<dir>/<name>.nk` (mode 0600). */
async function newCredential(dir: string, name: string) {
  const user = createUser();
  const seedFile = `${name}.nk`;
  const path = join(dir, seedFile);
  await writeFile(path, `${new TextDecoder().decode(user.getSeed())}\n`, {
    mode: 0o600,
    flag: 'wx',
  });
  await chmod(path, 0o600);
  return { publicKey: user.getPublicKey(), seedFile };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Creates the directory's operator and role credentials, the registry and
 * `auth.conf`.
 * @throws FlotillaError `FLOTILLA_ERR_CONFLICT` when the directory already has a registry
 */
export async function initAuthDir(dir: string): Promise<AuthRegistry> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (await exists(join(dir, REGISTRY_FILE))) {
    throw new FlotillaError(
      'FLOTILLA_ERR_CONFLICT',
      `${join(dir, REGISTRY_FILE)} exists: this directory already holds credentials`,
    );
  }
  const roles = {} as AuthRegistry['roles'];
  for (const role of ROLES) roles[role] = await newCredential(dir, role);
  const registry: AuthRegistry = {
    version: 1,
    operator: await newCredential(dir, 'operator'),
    roles,
    teams: {},
    regions: {},
  };
  await saveAuthDir(dir, registry);
  return registry;
}

/**
 * The directory's registry, checked.
 * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` without one, `FLOTILLA_ERR_INVALID_OPTION` naming a bad field
 */
export async function loadAuthDir(dir: string): Promise<AuthRegistry> {
  const path = join(dir, REGISTRY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `no ${path}: run \`flotilla auth init --dir ${dir}\` first`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `${path}: ${(err as Error).message}`);
  }
  const parsed = v.safeParse(AuthRegistrySchema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue.path?.map((p) => String(p.key)).join('.') ?? '';
    throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `${path}: ${field} ${issue.message}`);
  }
  return parsed.output;
}

/** Writes the registry and regenerates `auth.conf` (each written whole, then renamed into place). */
export async function saveAuthDir(dir: string, registry: AuthRegistry): Promise<void> {
  const write = async (name: string, text: string) => {
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, join(dir, name));
  };
  await write(REGISTRY_FILE, `${JSON.stringify(registry, null, 2)}\n`);
  await write(AUTH_CONF_FILE, renderAuthConf(registry));
}

/**
 * Adds team `team` with `apps` and a credential of its own (or, with
 * `existing`, adds `apps` to it).
 * @throws FlotillaError `FLOTILLA_ERR_CONFLICT` when the team exists (or not,
 *   with `existing`) or an app already belongs to a team
 */
export async function addTeamApps(
  dir: string,
  registry: AuthRegistry,
  team: string,
  apps: readonly string[],
  existing: boolean,
): Promise<AuthRegistry> {
  const current = registry.teams[team];
  if (existing && current === undefined) {
    throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `no team ${team} (see flotilla team list)`);
  }
  if (!existing && current !== undefined) {
    throw new FlotillaError(
      'FLOTILLA_ERR_CONFLICT',
      `team ${team} exists (add apps with flotilla team add-app)`,
    );
  }
  for (const app of apps) {
    for (const [other, t] of Object.entries(registry.teams)) {
      if (t.apps.includes(app) && !(other === team && existing)) {
        throw new FlotillaError(
          'FLOTILLA_ERR_CONFLICT',
          `app ${app} already belongs to team ${other}`,
        );
      }
    }
  }
  const credential = current ?? (await newCredential(dir, `team-${team}`));
  const merged = [...new Set([...(current?.apps ?? []), ...apps])].sort();
  const next: AuthRegistry = {
    ...registry,
    teams: { ...registry.teams, [team]: { ...credential, apps: merged } },
  };
  await saveAuthDir(dir, next);
  return next;
}

/**
 * Issues region `region`'s own shield, scheduler and worker credentials
 * (`<role>-<region>.nk`), whose permissions cover only that region's
 * subjects (and, for shields, the misses and scheduler messages of the
 * `secondary` regions they fail over to). For a region that has them,
 * replaces its secondary regions and keeps its credentials.
 */
export async function addRegion(
  dir: string,
  registry: AuthRegistry,
  region: string,
  secondary: readonly string[],
): Promise<AuthRegistry> {
  for (const r of [region, ...secondary]) {
    if (!isSubjectToken(r) || r === 'control') {
      throw new FlotillaError(
        'FLOTILLA_ERR_INVALID_OPTION',
        `"${r}" is not a region name (lower-case letters, digits and dashes; not "control")`,
      );
    }
  }
  if (secondary.includes(region)) {
    throw new FlotillaError(
      'FLOTILLA_ERR_INVALID_OPTION',
      `region ${region} cannot be its own secondary region`,
    );
  }
  const current = registry.regions[region];
  let roles = current?.roles;
  if (roles === undefined) {
    roles = {} as AuthRegistry['regions'][string]['roles'];
    for (const role of REGION_ROLES) roles[role] = await newCredential(dir, `${role}-${region}`);
  }
  const next: AuthRegistry = {
    ...registry,
    regions: {
      ...registry.regions,
      [region]: { secondary: [...new Set(secondary)].sort(), roles },
    },
  };
  await saveAuthDir(dir, next);
  return next;
}

/** One `users` entry of `auth.conf`. */
function user(publicKey: string, permissions: Permissions) {
  return { nkey: publicKey, permissions };
}

/**
 * `auth.conf`: one account with JetStream, a user per credential with its
 * permissions. nats-server's configuration format reads JSON values, so the
 * blocks are written as JSON.
 */
export function renderAuthConf(registry: AuthRegistry): string {
  const users = [
    user(registry.operator.publicKey, operatorPermissions()),
    ...Object.entries(registry.roles).map(([role, c]) =>
      user(c.publicKey, rolePermissions(role as (typeof ROLES)[number], c.publicKey)),
    ),
    ...Object.values(registry.teams).map((t) =>
      user(t.publicKey, teamPermissions(t.apps, t.publicKey)),
    ),
    ...Object.entries(registry.regions).flatMap(([region, r]) =>
      REGION_ROLES.map((role) =>
        user(
          r.roles[role].publicKey,
          rolePermissions(role, r.roles[role].publicKey, { region, secondary: r.secondary }),
        ),
      ),
    ),
  ];
  const accounts = { [ACCOUNT]: { jetstream: 'enabled', users } };
  return [
    '# Generated by `flotilla auth init` / `flotilla team …` from flotilla-auth.json: do not edit.',
    '# Include it from nats-server.conf (`include ./auth.conf`); reload with `nats-server --signal reload`.',
    `accounts: ${JSON.stringify(accounts, null, 2)}`,
    '',
  ].join('\n');
}
