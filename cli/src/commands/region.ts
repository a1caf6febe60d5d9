/**
 * `flotilla region`: sets an environment's primary and secondary regions, or measures them (`--near`).
 *
 * @module
 */
import type { ControlApi } from '@flotilla/deploy';
import {
  decodeProbeResult,
  encodeProbeRequest,
  FlotillaError,
  InvalidOptionError,
  PROBE_SUBJECT,
  type ProbeResult,
} from '@flotilla/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  appName,
  type ControlCommand,
  type Ctx,
  msOption,
  needEnv,
  out,
  progress,
  str,
  subcommand,
  token,
} from './context.ts';
import { commandSecurity, withFleet } from './fleet-connection.ts';
import { knownRegions } from './known-regions.ts';
import { booleanOptions, stringOptions } from './option-table.ts';
import { publicEnv, table } from './tables.ts';

async function region(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  subcommand(
    ctx,
    ['set'],
    'usage: flotilla region set --env <name> (--near <url> | --primary <r> [--secondary <r> | --no-secondary] [--force])',
  );
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const near = str(ctx.values, 'near');
  let primary = token('--primary', str(ctx.values, 'primary'));
  let secondary = token('--secondary', str(ctx.values, 'secondary'));
  if (near !== undefined && (primary || secondary)) {
    throw new InvalidOptionError('--near', 'cannot be combined with --primary/--secondary');
  }
  if (near === undefined && primary === undefined) {
    throw new InvalidOptionError('--primary', 'or --near <api-url> is required');
  }
  if (primary && secondary && primary === secondary) {
    throw new InvalidOptionError('--secondary', 'must differ from --primary');
  }
  let measured: ProbeResult[] = [];
  if (near !== undefined) {
    let url: URL;
    try {
      url = new URL(near);
    } catch {
      throw new InvalidOptionError('--near', `"${near}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new InvalidOptionError('--near', 'must be an http(s) URL');
    }
    const samples = Number(str(ctx.values, 'samples') ?? 3);
    const waitMs = Number(str(ctx.values, 'wait-ms') ?? 3000);
    progress(ctx, `region: asking every region to time ${url.href} (${samples} round trips)…`);
    const replies = await nc.requestMany(
      PROBE_SUBJECT,
      encodeProbeRequest({ url: url.href, samples, timeoutMs: 2000 }),
      { strategy: 'timer', maxWait: waitMs },
    );
    for await (const msg of replies) {
      try {
        measured.push(decodeProbeResult(msg.data));
      } catch {
        // a malformed answer is left out
      }
    }
    measured = measured.sort((a, b) => (a.rttMs ?? Infinity) - (b.rttMs ?? Infinity));
    const reachable = measured.filter((m) => m.rttMs !== null);
    if (reachable.length === 0) {
      throw new FlotillaError(
        'FLOTILLA_ERR_NOT_FOUND',
        measured.length === 0
          ? 'no region answered the probe: is a scheduler running?'
          : `no region could reach ${url.href}: ${measured.map((m) => `${m.region}: ${m.error}`).join('; ')}`,
      );
    }
    primary = reachable[0]?.region;
    secondary = reachable[1]?.region;
  }
  const dropSecondary = ctx.values['no-secondary'] === true;
  if (dropSecondary && secondary !== undefined) {
    throw new InvalidOptionError('--no-secondary', 'cannot be combined with --secondary');
  }
  if (near === undefined && ctx.values.force !== true) {
    await checkRegionsExist(ctx, cp, nc, app, [primary, secondary]);
  }
  const record = await cp.configure(app, env, {
    ...(primary ? { primaryRegion: primary } : {}),
    ...(secondary
      ? { secondaryRegion: secondary }
      : dropSecondary
        ? { secondaryRegion: null }
        : {}),
  });
  const kept =
    near === undefined && secondary === undefined && record.secondaryRegion !== undefined
      ? ' (kept from before; --no-secondary removes it)'
      : '';
  const rows = [
    ['REGION', 'RTT', 'ROLE'],
    ...measured.map((m) => [
      m.region,
      m.rttMs === null ? `unreachable (${m.error ?? '?'})` : `${m.rttMs.toFixed(1)} ms`,
      m.region === primary ? 'primary' : m.region === secondary ? 'secondary' : '',
    ]),
  ];
  return out(
    ctx,
    { environment: publicEnv(record), measured },
    `${measured.length > 0 ? `${table(rows)}\n` : ''}${app} ${env}: primary ${record.primaryRegion}, ` +
      `${record.secondaryRegion ? `secondary ${record.secondaryRegion}${kept}` : 'no secondary'}\n`,
  );
}

/**
 * Refuses a region nobody has heard of: it must have a scheduler or worker
 * heartbeating now, or be named by an environment already (a region down
 * for the moment stays settable).
 */
async function checkRegionsExist(
  ctx: Ctx,
  cp: ControlApi,
  nc: NatsConnection,
  app: string,
  regions: ReadonlyArray<string | undefined>,
): Promise<void> {
  const wanted = regions.filter((r): r is string => r !== undefined);
  const waitMs = msOption(ctx, 'wait-ms', 2500);
  const everyApp = commandSecurity(ctx).credsFile === undefined;
  const known = await knownRegions(nc, cp, app, wanted, waitMs, everyApp);
  const unknown = wanted.filter((r) => !known.heard.has(r) && !known.configured.has(r));
  if (unknown.length === 0) return;
  const all = [...new Set([...known.heard, ...known.configured])].sort();
  const where = known.listened
    ? `no scheduler or worker of it was heard within ${waitMs} ms and no environment names it`
    : 'this credential may not read heartbeats, and no environment of the app names it';
  throw new FlotillaError(
    'FLOTILLA_ERR_NOT_FOUND',
    `${unknown.length === 1 ? 'region' : 'regions'} ${unknown.map((r) => `"${r}"`).join(', ')} ` +
      `unknown: ${where} (known: ${all.length > 0 ? all.join(', ') : 'none'}). ` +
      'Start its schedulers first, or pass --force to set it anyway',
  );
}

/** `flotilla region`, for the command table. */
export const regionCommand: ControlCommand = {
  name: 'region',
  usage: `  flotilla region set --env <name> [--app <name>] (--near <api-url> | --primary <r> [--secondary <r> | --no-secondary] [--force])
      --near: every region times round trips to the API; the two nearest become primary and secondary.
      --primary/--secondary: regions whose schedulers or workers are heard (within --wait-ms, default
      2500) or that an environment names already; --force sets another (else exit 4). Prints the
      resulting primary and secondary (a secondary not given is kept; --no-secondary removes it).
`,
  options: {
    ...stringOptions('near', 'primary', 'secondary', 'samples', 'wait-ms'),
    ...booleanOptions('force', 'no-secondary'),
  },
  run: (ctx) => withFleet(ctx, (cp, nc) => region(ctx, cp, nc)),
};
