/**
 * `flotilla deployments`: lists the published deployments.
 *
 * @module
 */
import type { ControlApi, DeploymentRecord } from '@flotilla/deploy';
import { type ControlCommand, type Ctx, out, str, token } from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { kib, table } from './tables.ts';

async function deployments(ctx: Ctx, cp: ControlApi): Promise<number> {
  const app = token('--app', str(ctx.values, 'app'));
  const [list, environments] = await Promise.all([cp.deployments(app), cp.environments(app)]);
  const serving = (d: DeploymentRecord) =>
    environments
      .filter((e) => e.deploymentId === d.id)
      .map((e) => e.env)
      .join(',');
  const rows = [
    ['ID', 'APP', 'CREATED', 'BUNDLE', 'ASSETS', 'SERVING'],
    ...list.map((d) => [
      d.id,
      d.app,
      d.createdAt,
      kib(d.bundleBytes),
      String(d.assetCount),
      serving(d) || '-',
    ]),
  ];
  return out(
    ctx,
    list.map((d) => ({ ...d, serving: serving(d).split(',').filter(Boolean) })),
    list.length === 0 ? 'no deployments yet (flotilla publish)\n' : `${table(rows)}\n`,
  );
}

/** `flotilla deployments`, for the command table. */
export const deploymentsCommand: ControlCommand = {
  name: 'deployments',
  usage: `  flotilla deployments [--app <name>]                  published deployments
`,
  options: {},
  run: (ctx) => withFleet(ctx, (cp) => deployments(ctx, cp)),
};
