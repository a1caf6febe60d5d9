/**
 * `flotilla publish`: builds (unless `--build-dir`) and uploads an app; `--env` also promotes it.
 *
 * @module
 */
import type { ControlApi, EnvironmentRecord } from '@flotilla/deploy';
import { buildProject } from '@flotilla/sdk/build';
import type { NatsConnection } from '@nats-io/transport-node';
import type { FleetPrerender } from '../prerender-fleet.ts';
import type { FleetPrewarm } from '../prewarm-fleet.ts';
import {
  appDir,
  type ControlCommand,
  type Ctx,
  envHost,
  hostUrl,
  out,
  progress,
  str,
  token,
} from './context.ts';
import {
  prerenderAfterSwitch,
  prerenderSummary,
  prewarmSummary,
  warmBeforeSwitch,
  withFleet,
} from './fleet-connection.ts';
import { booleanOptions, stringOptions } from './option-table.ts';
import { publicEnv } from './tables.ts';

async function publish(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  const env = token('--env', str(ctx.values, 'env'));
  let dir = str(ctx.values, 'build-dir');
  if (!dir) {
    const built = await buildProject({
      dir: appDir(ctx),
      onProgress: (p) => progress(ctx, `build: ${p.phase}${p.detail ? ` ${p.detail}` : ''}`),
    });
    dir = built.outDir;
  }
  let lastPercent = -1;
  const published = await cp.publish(
    { dir },
    {
      onProgress: (p) => {
        const percent = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 100;
        if (p.phase === 'upload' && percent === lastPercent) return;
        lastPercent = percent;
        progress(
          ctx,
          `publish: ${p.phase} ${p.done}/${p.total}${p.phase === 'upload' ? ` (${percent}%)` : ''}${p.file ? ` ${p.file}` : ''}`,
        );
      },
    },
  );
  // Switch the environment only once the new deployment is warm everywhere.
  let prewarm: FleetPrewarm | undefined;
  let environment: EnvironmentRecord | undefined;
  let prerender: FleetPrerender | undefined;
  if (env) {
    prewarm = await warmBeforeSwitch(ctx, nc, published.deployment.id, env);
    environment = await cp.promote(published.deployment.id, env);
    prerender = await prerenderAfterSwitch(ctx, nc, environment.app, env, published.deployment);
  }
  const result = { ...published, ...(environment ? { environment } : {}) };
  const d = result.deployment;
  const preview = hostUrl(ctx, result.previewHost);
  const lines = [
    `deployment ${d.id} ${result.created ? 'published' : 'already published (same content)'}`,
    `  preview: ${preview}`,
  ];
  if (result.environment) {
    lines.push(
      `  ${result.environment.env}: ${hostUrl(ctx, envHost(ctx, d.app, result.environment.env))} now serves ${d.id}`,
    );
  }
  return out(
    ctx,
    {
      deploymentId: d.id,
      created: result.created,
      previewUrl: preview,
      deployment: d,
      ...(result.environment ? { environment: publicEnv(result.environment) } : {}),
      ...(prewarm ? { prewarm: prewarmSummary(prewarm) } : {}),
      ...(prerender ? { prerender: prerenderSummary(prerender) } : {}),
    },
    `${lines.join('\n')}\n`,
  );
}

/** `flotilla publish`, for the command table. */
export const publishCommand: ControlCommand = {
  name: 'publish',
  usage: `  flotilla publish [--dir <app>] [--env <name>] [--build-dir <dir>]
      build (unless --build-dir), upload to the fleet, print the deployment id and preview URL;
      --env promotes it at once (then the shields store its prerender paths; --no-prerender skips it)
`,
  options: { ...stringOptions('build-dir'), ...booleanOptions('no-prewarm', 'no-prerender') },
  run: (ctx) => withFleet(ctx, (cp, nc) => publish(ctx, cp, nc)),
};
