/**
 * `flotilla env`: sets or unsets an environment's variables and backend origins.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { InvalidOptionError } from '@flotilla/protocol';
import {
  appName,
  type ControlCommand,
  type Ctx,
  list,
  needEnv,
  out,
  subcommand,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { repeatedOptions } from './option-table.ts';
import { publicEnv } from './tables.ts';

/** `KEY=VALUE` pairs (set) or bare keys (unset, value null). */
function pairs(option: string, items: string[], unset: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of items) {
    if (unset) {
      out[item] = null;
      continue;
    }
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidOptionError(option, `"${item}" must be NAME=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

async function envSet(ctx: Ctx, cp: ControlApi): Promise<number> {
  const sub = subcommand(
    ctx,
    ['set', 'unset'],
    'usage: flotilla env set|unset --env <name> [--var KEY=VALUE]... [--backend NAME=ORIGIN]...',
  );
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const unset = sub === 'unset';
  const vars = pairs('--var', list(ctx.values, 'var'), unset);
  const backends = pairs('--backend', list(ctx.values, 'backend'), unset);
  if (Object.keys(vars).length === 0 && Object.keys(backends).length === 0) {
    throw new InvalidOptionError('--var', 'or --backend is required');
  }
  const record = await cp.configure(app, env, {
    ...(Object.keys(vars).length > 0 ? { vars } : {}),
    ...(Object.keys(backends).length > 0 ? { backends } : {}),
  });
  // Values may be secrets: show names only.
  return out(
    ctx,
    publicEnv(record),
    `${app} ${env}: variables ${Object.keys(record.vars).join(', ') || '(none)'}; backends ${
      Object.entries(record.backends)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(manifest defaults)'
    }\n`,
  );
}

/** `flotilla env`, for the command table. */
export const envCommand: ControlCommand = {
  name: 'env',
  usage: `  flotilla env set --env <name> [--app <name>] [--var KEY=VALUE]... [--backend NAME=ORIGIN]...
  flotilla env unset --env <name> [--app <name>] [--var KEY]... [--backend NAME]...
      environment variables/secrets the handler receives as fetch(request, env), and backend
      origins re-pointed for this environment (only names the deployment declares)
`,
  options: repeatedOptions('var', 'backend'),
  run: (ctx) => withFleet(ctx, (cp) => envSet(ctx, cp)),
};
