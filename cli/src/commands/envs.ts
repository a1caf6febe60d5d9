/**
 * `flotilla envs`: lists the environments and what they serve.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { type ControlCommand, type Ctx, out, str, token } from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { envRows, publicEnv, table } from './tables.ts';

async function envs(ctx: Ctx, cp: ControlApi): Promise<number> {
  const app = token('--app', str(ctx.values, 'app'));
  const list = await cp.environments(app);
  return out(
    ctx,
    list.map(publicEnv),
    list.length === 0
      ? 'no environments yet (flotilla publish --env production)\n'
      : `${table(envRows(ctx, list))}\n`,
  );
}

/** `flotilla envs`, for the command table. */
export const envsCommand: ControlCommand = {
  name: 'envs',
  usage: `  flotilla envs [--app <name>]                         environments and what they serve
`,
  options: {},
  run: (ctx) => withFleet(ctx, (cp) => envs(ctx, cp)),
};
