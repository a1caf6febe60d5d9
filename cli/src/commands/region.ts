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
  needEnv,
  out,
  progress,
  str,
  subcommand,
  token,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { stringOptions } from './option-table.ts';
import { publicEnv, table } from './tables.ts';

async function region(ctx: Ctx, cp: ControlApi, nc: NatsConnection): Promise<number> {
  subcommand(
    ctx,
    ['set'],
    'usage: flotilla region set --env <name> (--near <url> | --primary <r> [--secondary <r>])',
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
  const record = await cp.configure(app, env, {
    ...(primary ? { primaryRegion: primary } : {}),
    ...(secondary ? { secondaryRegion: secondary } : {}),
  });
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
    `${measured.length > 0 ? `${table(rows)}\n` : ''}${app} ${env}: primary ${primary}${secondary ? `, secondary ${secondary}` : ''}\n`,
  );
}

/** `flotilla region`, for the command table. */
export const regionCommand: ControlCommand = {
  name: 'region',
  usage: `  flotilla region set --env <name> [--app <name>] (--near <api-url> | --primary <r> [--secondary <r>])
      --near: every region times round trips to the API; the two nearest become primary and secondary
`,
  options: stringOptions('near', 'primary', 'secondary', 'samples', 'wait-ms'),
  run: (ctx) => withFleet(ctx, (cp, nc) => region(ctx, cp, nc)),
};
