/**
 * `flotilla split`: sets or clears a split test over deployments and their
 * router destinations, by percentage and by rules (cookie, header, device,
 * country; the first rule that matches wins).
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { InvalidOptionError, type SplitRule } from '@flotilla/protocol';
import { appName, type ControlCommand, type Ctx, needEnv, out, subcommand } from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { parseRule, parseTarget, ruleText, type TargetArg, targetsText } from './split-rules.ts';
import { publicEnv } from './tables.ts';

const USAGE =
  "usage: flotilla split set --env <name> [<deployment-id>[:<destination>]=<percent>...] [--rule '<criteria> -> <targets>']... | flotilla split clear --env <name>";

interface SplitRequest {
  app: string;
  env: string;
  /** The percentage split to set; `null` ends it. */
  split: TargetArg[] | null;
  /** The rules to set; `null` ends them. */
  splitRules: SplitRule[] | null;
}

/** The split change the command line asks for (checked before connecting). */
async function splitRequest(ctx: Ctx): Promise<SplitRequest> {
  const sub = subcommand(ctx, ['set', 'clear'], USAGE);
  const env = needEnv(ctx);
  const rules = (ctx.values.rule as string[] | undefined) ?? [];
  if (sub === 'clear') {
    if (ctx.positionals.length > 1 || rules.length > 0) {
      throw new InvalidOptionError('split clear', 'takes no deployments and no --rule');
    }
    return { app: await appName(ctx), env, split: null, splitRules: null };
  }
  const items = ctx.positionals.slice(1);
  if (items.length === 0 && rules.length === 0) {
    throw new InvalidOptionError(
      '<deployment-id>=<percent>',
      'or --rule is required (e.g. shop-3f2a1b9c0d1e=90 shop-77aa01bc22de=10, or --rule ' +
        "'cookie:beta=1 -> shop-77aa01bc22de=100')",
    );
  }
  return {
    app: await appName(ctx),
    env,
    split:
      items.length === 0 ? null : items.map((i) => parseTarget('<deployment-id>=<percent>', i)),
    splitRules: rules.length === 0 ? null : rules.map(parseRule),
  };
}

async function split(ctx: Ctx, cp: ControlApi, request: SplitRequest): Promise<number> {
  const { app, env } = request;
  const record = await cp.configure(app, env, {
    split: request.split,
    splitRules: request.splitRules,
  });
  const rules = record.splitRules ?? [];
  const cookie = `each visitor stays on one (cookie flotilla_split_${app}_${env})`;
  if (rules.length === 0) {
    return out(
      ctx,
      publicEnv(record),
      record.split === undefined
        ? `${app} ${env}: no split test; every visitor gets ${record.deploymentId}\n`
        : `${app} ${env}: split ${targetsText(record.split)}; ${cookie}\n`,
    );
  }
  const lines = [
    ...rules.map((r, i) => `  rule ${i + 1}: ${ruleText(r)}\n`),
    `  otherwise: ${record.split ? targetsText(record.split) : `${record.deploymentId} 100%`}\n`,
  ];
  return out(
    ctx,
    publicEnv(record),
    `${app} ${env}: split test, the first rule that matches wins; ${cookie}\n${lines.join('')}`,
  );
}

/** `flotilla split`, for the command table. */
export const splitCommand: ControlCommand = {
  name: 'split',
  usage: `  flotilla split set --env <name> [--app <name>] [<deployment-id>[:<destination>]=<percent>...]
                     [--rule '<criteria> -> <deployment-id>[:<destination>]=<percent>,...']...
      split test: spread visitors over deployments, or over the destinations of a deployment's
      router (whole percents adding up to 100, including the deployment the environment serves);
      rules first, in order, the first whose criteria all match wins: cookie:<name>[=<value>],
      header:<name>[=<value>], device:<smartphone|tablet|mobile|desktop>[|…], country:<CC>[|…],
      joined with &; each visitor stays on one through a cookie. Replaces the whole split test.
  flotilla split clear --env <name> [--app <name>]      end the split test (rules too)
`,
  options: { rule: { type: 'string', multiple: true } },
  run: async (ctx) => {
    // The command line is checked before connecting.
    const request = await splitRequest(ctx);
    return withFleet(ctx, (cp) => split(ctx, cp, request));
  },
};
