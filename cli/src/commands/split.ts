/**
 * `flotilla split`: sets or clears a split test over deployments.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { InvalidOptionError } from '@flotilla/protocol';
import { appName, type ControlCommand, type Ctx, needEnv, out, subcommand } from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { publicEnv, splitText } from './tables.ts';

/** `<deployment-id>=<percent>` arguments of `flotilla split set`. */
function splitEntries(items: string[]): Array<{ deploymentId: string; percent: number }> {
  if (items.length === 0) {
    throw new InvalidOptionError(
      '<deployment-id>=<percent>',
      'is required, at least twice (e.g. shop-3f2a1b9c0d1e=90 shop-77aa01bc22de=10)',
    );
  }
  return items.map((item) => {
    const match = /^([^=]+)=(\d+)%?$/.exec(item);
    if (!match) {
      throw new InvalidOptionError(
        '<deployment-id>=<percent>',
        `"${item}" must be <deployment-id>=<whole percent>, e.g. shop-3f2a1b9c0d1e=90`,
      );
    }
    return { deploymentId: match[1] as string, percent: Number(match[2]) };
  });
}

interface SplitRequest {
  app: string;
  env: string;
  /** The split to set; `null` ends it. */
  split: Array<{ deploymentId: string; percent: number }> | null;
}

/** The split change the command line asks for (checked before connecting). */
async function splitRequest(ctx: Ctx): Promise<SplitRequest> {
  const sub = subcommand(
    ctx,
    ['set', 'clear'],
    'usage: flotilla split set --env <name> <deployment-id>=<percent>... | flotilla split clear --env <name>',
  );
  const env = needEnv(ctx);
  if (sub === 'clear' && ctx.positionals.length > 1) {
    throw new InvalidOptionError('split clear', 'takes no deployments');
  }
  const entries = sub === 'clear' ? null : splitEntries(ctx.positionals.slice(1));
  return { app: await appName(ctx), env, split: entries };
}

async function split(ctx: Ctx, cp: ControlApi, request: SplitRequest): Promise<number> {
  const { app, env } = request;
  const record = await cp.configure(app, env, { split: request.split });
  return out(
    ctx,
    publicEnv(record),
    record.split === undefined
      ? `${app} ${env}: no split test; every visitor gets ${record.deploymentId}\n`
      : `${app} ${env}: split ${splitText(record.split)}; each visitor stays on one ` +
          `(cookie flotilla_split_${app}_${env})\n`,
  );
}

/** `flotilla split`, for the command table. */
export const splitCommand: ControlCommand = {
  name: 'split',
  usage: `  flotilla split set --env <name> [--app <name>] <deployment-id>=<percent>...
      split test: spread visitors over deployments (whole percents adding up to 100, including
      the deployment the environment serves); each visitor stays on one through a cookie
  flotilla split clear --env <name> [--app <name>]      end the split test
`,
  options: {},
  run: async (ctx) => {
    // The command line is checked before connecting.
    const request = await splitRequest(ctx);
    return withFleet(ctx, (cp) => split(ctx, cp, request));
  },
};
