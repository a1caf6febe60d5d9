/**
 * How the app-developer commands reach the fleet: its NATS (failing fast),
 * the control plane on it, and pre-warm before an environment switches.
 *
 * @module
 */
import {
  type ControlApi,
  ControlClient,
  ControlPlane,
  type DeploymentRecord,
  JetStreamControlStore,
} from '@flotilla/deploy';
import { FlotillaError } from '@flotilla/protocol';
import { connectError, type NatsSecurity, natsSecurityOptions } from '@flotilla/transport';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type FleetPrerender, prerenderFleet } from '../prerender-fleet.ts';
import { type FleetPrewarm, prewarmFleet } from '../prewarm-fleet.ts';
import { type Ctx, progress, str } from './context.ts';

/** The credential file (`--creds` or `$FLOTILLA_CREDS`) and TLS CA (`--tls-ca`) of a command. */
export function commandSecurity(ctx: Ctx): NatsSecurity {
  const credsFile = str(ctx.values, 'creds') ?? ctx.io.env.FLOTILLA_CREDS;
  const tlsCaFile = str(ctx.values, 'tls-ca');
  return { ...(credsFile ? { credsFile } : {}), ...(tlsCaFile ? { tlsCaFile } : {}) };
}

/** Connects to the fleet's NATS (failing fast), runs `run`, closes. */
export async function withNats(
  ctx: Ctx,
  run: (nc: NatsConnection) => Promise<number>,
): Promise<number> {
  const servers = str(ctx.values, 'nats') ?? ctx.io.env.FLOTILLA_NATS ?? 'nats://127.0.0.1:4222';
  const timeout = Number(str(ctx.values, 'connect-timeout-ms') ?? 3000);
  const security = commandSecurity(ctx);
  const auth = await natsSecurityOptions(security, true);
  let nc: NatsConnection;
  try {
    nc = await connect({
      ...auth,
      servers: servers.split(',').map((s) => s.trim()),
      name: `flotilla-cli-${ctx.command}`,
      timeout: Number.isFinite(timeout) && timeout > 0 ? timeout : 3000,
      maxReconnectAttempts: 0,
    });
  } catch (err) {
    const failed = connectError(err, servers, security);
    if (failed.code === 'FLOTILLA_ERR_CREDENTIALS') throw failed;
    throw new FlotillaError(
      'FLOTILLA_ERR_TRANSPORT_CLOSED',
      `cannot reach the fleet at ${servers}: ${(err as Error).message} ` +
        '(start it with `flotilla start --nats …`, or pass --nats / set FLOTILLA_NATS)',
      { cause: err },
    );
  }
  try {
    return await run(nc);
  } finally {
    await nc.close().catch(() => {});
  }
}

/**
 * Connects to the fleet's NATS (failing fast) and opens the control plane:
 * with a credential, through the control service (`flotilla start --role
 * control`), so nats-server decides which apps it may change; without one
 * (an unsecured development NATS), directly on JetStream.
 */
export async function withFleet(
  ctx: Ctx,
  run: (cp: ControlApi, nc: NatsConnection) => Promise<number>,
): Promise<number> {
  const servers = str(ctx.values, 'nats') ?? ctx.io.env.FLOTILLA_NATS ?? 'nats://127.0.0.1:4222';
  const previewDomain = str(ctx.values, 'preview-domain');
  if (commandSecurity(ctx).credsFile !== undefined) {
    return withNats(ctx, (nc) =>
      run(new ControlClient({ connection: nc, ...(previewDomain ? { previewDomain } : {}) }), nc),
    );
  }
  return withNats(ctx, async (nc) => {
    let store: JetStreamControlStore;
    try {
      store = await JetStreamControlStore.open(nc);
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_TRANSPORT_CLOSED',
        `the NATS server at ${servers} has no usable JetStream (run nats-server with -js): ${(err as Error).message}`,
        { cause: err },
      );
    }
    const cp = new ControlPlane({ store, ...(previewDomain ? { previewDomain } : {}) });
    return await run(cp, nc);
  });
}

/**
 * Pre-warm on promote: unless `--no-prewarm`, every region's workers load
 * and pre-render `deploymentId` before the environment switches to it.
 */
export async function warmBeforeSwitch(
  ctx: Ctx,
  nc: NatsConnection,
  deploymentId: string,
  env: string,
): Promise<FleetPrewarm | undefined> {
  if (ctx.values['no-prewarm']) return undefined;
  progress(ctx, `prewarm: loading ${deploymentId} on every region's workers…`);
  const warm = await prewarmFleet(nc, deploymentId, env);
  const failures = warm.regions.flatMap((r) =>
    r.workers
      .filter((w) => !w.ok)
      .map((w) => `${r.region}/${w.workerId}: ${w.error?.message ?? '?'}`),
  );
  progress(
    ctx,
    `prewarm: warm on ${warm.warmed} worker(s) in ${warm.regions.length} region(s) (${warm.ms} ms)` +
      (failures.length > 0 ? `; failed on ${failures.join('; ')}` : ''),
  );
  return warm;
}

/**
 * Prerender after a switch: unless `--no-prerender`, every shield renders
 * and stores the `prerender` paths of the deployment the environment now
 * serves; progress and failures go to stderr. A deployment whose record
 * says it lists none is not asked of the shields (nor said anything of).
 */
export async function prerenderAfterSwitch(
  ctx: Ctx,
  nc: NatsConnection,
  app: string,
  env: string,
  deployment: Pick<DeploymentRecord, 'id' | 'prerenderPaths'>,
): Promise<FleetPrerender | undefined> {
  if (ctx.values['no-prerender']) return undefined;
  // Nothing declared: asking would only wait out the shields' answers (~0.5 s).
  if (deployment.prerenderPaths === 0) return undefined;
  let done: FleetPrerender;
  try {
    done = await prerenderFleet(nc, app, env, deployment.id);
  } catch (err) {
    // The environment has switched already: say so, do not fail the command.
    progress(
      ctx,
      `prerender: not sent (${(err as Error).message}); an auth.conf from before prerendering needs \`flotilla auth regenerate\``,
    );
    return undefined;
  }
  const paths = new Set(done.shields.flatMap((s) => s.results.map((r) => r.path)));
  if (paths.size === 0 && done.failed === 0) return done;
  const failures = done.shields.flatMap((s) => [
    ...(s.error ? [`${s.region}/${s.shieldId}: ${s.error}`] : []),
    ...s.results
      .filter((r) => !r.stored)
      .map((r) => `${s.region}/${s.shieldId} ${r.path}: ${r.status || 'no answer'} ${r.detail}`),
  ]);
  progress(
    ctx,
    `prerender: ${paths.size} path(s) on ${done.shields.length} shield(s): ${done.stored} stored, ${done.failed} failed (${done.ms} ms)` +
      failures.map((f) => `\nprerender: failed ${f}`).join(''),
  );
  return done;
}

/** What `--json` shows of a prerender. */
export function prerenderSummary(done: FleetPrerender | undefined) {
  return done === undefined
    ? undefined
    : {
        stored: done.stored,
        failed: done.failed,
        ms: done.ms,
        shields: done.shields.map((s) => ({
          shieldId: s.shieldId,
          region: s.region,
          ...(s.error ? { error: s.error } : {}),
          results: s.results,
        })),
      };
}

/** What `--json` shows of a pre-warm. */
export function prewarmSummary(warm: FleetPrewarm | undefined) {
  return warm === undefined
    ? undefined
    : {
        warmed: warm.warmed,
        failed: warm.failed,
        ms: warm.ms,
        regions: warm.regions.map((r) => r.region),
      };
}
