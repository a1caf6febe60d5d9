/**
 * `flotilla promote`: points an environment at a deployment, pre-warmed first.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import { FlotillaError, InvalidOptionError, isSubjectToken } from '@flotilla/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import { type ControlCommand, type Ctx, envHost, hostUrl, needEnv, out } from './context.ts';
import {
  prerenderAfterSwitch,
  prerenderSummary,
  prewarmSummary,
  warmBeforeSwitch,
  withFleet,
} from './fleet-connection.ts';
import { booleanOptions } from './option-table.ts';
import { publicEnv } from './tables.ts';

async function promote(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  const id = ctx.positionals[0];
  if (!id)
    throw new InvalidOptionError(
      '<deployment-id>',
      'is required: flotilla promote <id> --env <name>',
    );
  if (!isSubjectToken(id))
    throw new InvalidOptionError('<deployment-id>', `"${id}" is not a deployment id`);
  const env = needEnv(ctx);
  const deployment = await cp.deployment(id);
  if (!deployment) {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `no deployment ${id} (see flotilla deployments)`,
    );
  }
  const prewarm = await warmBeforeSwitch(ctx, nc, id, env);
  const record = await cp.promote(id, env);
  const prerender = await prerenderAfterSwitch(ctx, nc, record.app, env, deployment);
  return out(
    ctx,
    {
      ...publicEnv(record),
      ...(prewarm ? { prewarm: prewarmSummary(prewarm) } : {}),
      ...(prerender ? { prerender: prerenderSummary(prerender) } : {}),
    },
    `${record.app} ${env}: now serves ${record.deploymentId} at ${hostUrl(ctx, envHost(ctx, record.app, env))}` +
      `${record.history[0] ? ` (was ${record.history[0]})` : ''}\n`,
  );
}

/** `flotilla promote`, for the command table. */
export const promoteCommand: ControlCommand = {
  name: 'promote',
  usage: `  flotilla promote <deployment-id> --env <name> [--no-prewarm] [--no-prerender]
      then every shield renders and stores the deployment's prerender paths (router.prerender(),
      prerenderRequests), reporting each path that could not be stored
`,
  options: booleanOptions('no-prewarm', 'no-prerender'),
  run: (ctx) => withFleet(ctx, (cp, nc) => promote(ctx, cp, nc)),
};
