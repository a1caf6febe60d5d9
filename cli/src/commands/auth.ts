/**
 * The operator's commands: `flotilla auth init` issues the fleet's
 * credentials, `flotilla team create|add-app|list` gives teams credentials
 * that may change only their own apps. Both (re)write `auth.conf` for
 * nats-server to include.
 *
 * @module
 */
import { join, resolve } from 'node:path';
import { InvalidOptionError } from '@flotilla/protocol';
import { APP_NAME } from '@flotilla/protocol/patterns';
import {
  AUTH_CONF_FILE,
  type AuthRegistry,
  addRegion,
  addTeamApps,
  initAuthDir,
  loadAuthDir,
  REGISTRY_FILE,
  saveAuthDir,
} from '../auth/auth-dir.ts';
import { type ControlCommand, type Ctx, list, out, str, subcommand, token } from './context.ts';
import { repeatedOptions } from './option-table.ts';

/** The required `--dir` of the credential directory. */
function authDir(ctx: Ctx): string {
  const dir = str(ctx.values, 'dir');
  if (dir === undefined) {
    throw new InvalidOptionError('--dir', 'is required: the directory of the fleet’s credentials');
  }
  return resolve(dir);
}

function reloadHint(dir: string): string {
  return (
    `${join(dir, AUTH_CONF_FILE)} regenerated: reload nats-server to apply it ` +
    '(nats-server --signal reload, or kill -HUP <pid>)\n'
  );
}

async function authInit(ctx: Ctx): Promise<number> {
  const sub = subcommand(
    ctx,
    ['init', 'regenerate', 'region'],
    'usage: flotilla auth init|regenerate --dir <dir>, or flotilla auth region <region> [--secondary <region>]... --dir <dir>',
  );
  const dir = authDir(ctx);
  if (sub === 'region') return authRegion(ctx, dir);
  if (sub === 'regenerate') {
    // The permissions follow the code's subjects: a new version may change them.
    await saveAuthDir(dir, await loadAuthDir(dir));
    return out(ctx, { dir, authConf: join(dir, AUTH_CONF_FILE) }, reloadHint(dir));
  }
  const registry = await initAuthDir(dir);
  const seed = (file: string) => join(dir, file);
  return out(
    ctx,
    { dir, authConf: join(dir, AUTH_CONF_FILE), registry },
    [
      `credentials written to ${dir} (seed files mode 0600):`,
      `  operator   ${seed(registry.operator.seedFile)}   (every command, every app)`,
      ...Object.entries(registry.roles).map(
        ([role, c]) =>
          `  ${role.padEnd(10)} ${seed(c.seedFile)}   (flotilla start --role ${role} --creds …)`,
      ),
      `nats-server: include ${join(dir, AUTH_CONF_FILE)} in its configuration (\`include <path>\`, relative to that`,
      '  file; with a jetstream {} block) and restart it;',
      `then start each role with --creds <its file>, the control role first.`,
      '',
    ].join('\n'),
  );
}

async function authRegion(ctx: Ctx, dir: string): Promise<number> {
  const region = ctx.positionals[1];
  if (region === undefined) {
    throw new InvalidOptionError(
      '<region>',
      'is required: flotilla auth region <region> --dir <dir>',
    );
  }
  const next = await addRegion(dir, await loadAuthDir(dir), region, list(ctx.values, 'secondary'));
  const r = next.regions[region];
  const seeds = Object.entries(r?.roles ?? {}).map(([role, c]) => ({
    role,
    creds: join(dir, c.seedFile),
  }));
  return out(
    ctx,
    { region, secondary: r?.secondary ?? [], creds: seeds },
    [
      `region ${region}: credentials bound to its subjects${r?.secondary.length ? ` (shields may fail over to ${r.secondary.join(', ')})` : ''}:`,
      ...seeds.map(
        (s) =>
          `  ${s.role.padEnd(10)} ${s.creds}   (flotilla start --role ${s.role} --region ${region} --creds …)`,
      ),
      reloadHint(dir),
    ].join('\n'),
  );
}

function teamSummary(registry: AuthRegistry, dir: string) {
  return Object.entries(registry.teams).map(([team, t]) => ({
    team,
    apps: t.apps,
    creds: join(dir, t.seedFile),
    publicKey: t.publicKey,
  }));
}

async function team(ctx: Ctx): Promise<number> {
  const sub = subcommand(
    ctx,
    ['create', 'add-app', 'list'],
    'usage: flotilla team create|add-app <team> --app <name>... --dir <dir>, or flotilla team list --dir <dir>',
  );
  const dir = authDir(ctx);
  const registry = await loadAuthDir(dir);
  if (sub === 'list') {
    const teams = teamSummary(registry, dir);
    return out(
      ctx,
      teams,
      teams.length === 0
        ? 'no teams yet (flotilla team create <team> --app <name> --dir …)\n'
        : `${teams.map((t) => `${t.team}: ${t.apps.join(', ')}   creds ${t.creds}`).join('\n')}\n`,
    );
  }
  const name = token('<team>', ctx.positionals[1]);
  if (name === undefined)
    throw new InvalidOptionError('<team>', `is required: flotilla team ${sub} <team> --app <name>`);
  const apps = list(ctx.values, 'app');
  if (apps.length === 0)
    throw new InvalidOptionError('--app', 'is required (repeat it for several apps)');
  for (const app of apps) {
    if (!APP_NAME.test(app)) throw new InvalidOptionError('--app', `"${app}" is not an app name`);
  }
  const next = await addTeamApps(dir, registry, name, apps, sub === 'add-app');
  const t = next.teams[name];
  const creds = join(dir, t?.seedFile ?? '');
  return out(
    ctx,
    { team: name, apps: t?.apps ?? [], creds, registry: join(dir, REGISTRY_FILE) },
    `team ${name}: apps ${(t?.apps ?? []).join(', ')}; give the team ${creds} (FLOTILLA_CREDS=${creds})\n${reloadHint(dir)}`,
  );
}

/** `flotilla auth`, for the command table. */
export const authCommand: ControlCommand = {
  name: 'auth',
  usage: `  flotilla auth init --dir <dir>
      operator: NKey credentials (operator, shield, scheduler, worker, control) and the auth.conf
      nats-server includes; the registry of teams and apps lives in <dir>/flotilla-auth.json
  flotilla auth regenerate --dir <dir>
      rewrite auth.conf from the registry with this version's permissions (after an upgrade)
  flotilla auth region <region> [--secondary <region>]... --dir <dir>
      shield, scheduler and worker credentials bound to one region's subjects (<role>-<region>.nk);
      --secondary: every other region its shields may send misses to (their --secondary-region,
      regions environments name with flotilla region set); run it again to change them
`,
  options: repeatedOptions('secondary'),
  run: (ctx) => authInit(ctx),
};

/** `flotilla team`, for the command table. */
export const teamCommand: ControlCommand = {
  name: 'team',
  usage: `  flotilla team create <team> --app <name>... --dir <dir>
  flotilla team add-app <team> --app <name>... --dir <dir>
  flotilla team list --dir <dir>
      operator: a team's credential may publish, promote, roll back, configure, delete and purge
      only its apps; regenerates <dir>/auth.conf (then reload nats-server)
`,
  options: repeatedOptions('app'),
  run: (ctx) => team(ctx),
};
