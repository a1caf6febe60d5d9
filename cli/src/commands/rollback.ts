/**
 * `flotilla rollback`: points an environment back at its previous deployment, pre-warmed first.
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import type { NatsConnection } from '@nats-io/transport-node';
import { appName, type ControlCommand, type Ctx, needEnv, out } from './context.ts';
import {
  prerenderAfterSwitch,
  prerenderSummary,
  prewarmSummary,
  warmBeforeSwitch,
  withFleet,
} from './fleet-connection.ts';
import { booleanOptions } from './option-table.ts';
import { publicEnv } from './tables.ts';

async function rollback(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const before = (await cp.environments(app)).find((e) => e.env === env);
  const target = before?.history[0];
  const prewarm = target ? await warmBeforeSwitch(ctx, nc, target, env) : undefined;
  const record = await cp.rollback(app, env);
  // Its record says whether it lists prerender paths (unknown if it is gone: then ask).
  const deployment = (await cp.deployment(record.deploymentId)) ?? { id: record.deploymentId };
  const prerender = await prerenderAfterSwitch(ctx, nc, app, env, deployment);
  return out(
    ctx,
    {
      ...publicEnv(record),
      ...(prewarm ? { prewarm: prewarmSummary(prewarm) } : {}),
      ...(prerender ? { prerender: prerenderSummary(prerender) } : {}),
    },
    `${app} ${env}: rolled back to ${record.deploymentId}${before ? ` (was ${before.deploymentId})` : ''}\n`,
  );
}

/** `flotilla rollback`, for the command table. */
export const rollbackCommand: ControlCommand = {
  name: 'rollback',
  usage: `  flotilla rollback --env <name> [--app <name>]       back to the previous deployment, no rebuild
      publish --env, promote and rollback first have every region's workers load and pre-render
      the deployment (pre-warm), then switch the environment; --no-prewarm skips that; then
      every shield stores the deployment's prerender paths (--no-prerender skips that)
`,
  options: booleanOptions('no-prewarm', 'no-prerender'),
  run: (ctx) => withFleet(ctx, (cp, nc) => rollback(ctx, cp, nc)),
};
