/**
 * `flotilla purge`: removes cached responses from every shield and waits for their acknowledgements.
 *
 * @module
 */

import { ControlClient, purgeFleet } from '@flotilla/deploy';
import {
  FlotillaError,
  InvalidOptionError,
  normalizePurgeUrl,
  type PurgeSelector,
  purgeSelectorProblem,
  SHIELD_HEARTBEAT_SUBJECT,
} from '@flotilla/protocol';
import type { NatsConnection } from '@nats-io/transport-node';

import {
  appName,
  type ControlCommand,
  type Ctx,
  EXIT,
  fail,
  msOption,
  needEnv,
  out,
  progress,
  str,
  token,
} from './context.ts';
import { commandSecurity, withNats } from './fleet-connection.ts';
import { booleanOptions, stringOptions } from './option-table.ts';
import { table } from './tables.ts';

interface PurgeRequestOptions {
  selector: PurgeSelector;
  /** What is purged, in words. */
  what: string;
  listenMs: number;
  timeoutMs: number;
}

/** The purge the command line asks for (checked before connecting). */
async function purgeRequest(ctx: Ctx): Promise<PurgeRequestOptions> {
  const url = str(ctx.values, 'url');
  const path = str(ctx.values, 'path');
  const key = str(ctx.values, 'surrogate-key');
  const all = ctx.values.all === true;
  const chosen = [url, path, key].filter((v) => v !== undefined).length + (all ? 1 : 0);
  if (chosen !== 1) {
    throw new InvalidOptionError(
      '--url | --path | --surrogate-key | --all',
      chosen === 0 ? 'is required: say what to purge' : `takes exactly one of them, got ${chosen}`,
    );
  }
  if (ctx.positionals.length > 0) {
    throw new InvalidOptionError('purge', `takes no arguments, got "${ctx.positionals.join(' ')}"`);
  }
  const app = token('--app', str(ctx.values, 'app'));
  const env = token('--env', str(ctx.values, 'env'));
  let selector: PurgeSelector;
  let what: string;
  const scope = (a: string | undefined, e: string | undefined) =>
    a === undefined && e === undefined
      ? ' (every app)'
      : ` (${a === undefined ? 'every app' : `app ${a}`}${e === undefined ? '' : `, environment ${e}`})`;
  if (url !== undefined) {
    if (app !== undefined || env !== undefined) {
      throw new InvalidOptionError(
        app !== undefined ? '--app' : '--env',
        "does not apply to --url (the URL's host names the site)",
      );
    }
    let normalized: string;
    try {
      normalized = normalizePurgeUrl(url);
    } catch (err) {
      throw new InvalidOptionError('--url', (err as Error).message);
    }
    selector = { kind: 'url', url: normalized };
    what = `URL ${normalized}`;
  } else if (path !== undefined) {
    selector = {
      kind: 'path',
      pattern: path,
      ...(app === undefined ? {} : { app }),
      ...(env === undefined ? {} : { environment: env }),
    };
    what = `paths matching ${path}${scope(app, env)}`;
  } else if (key !== undefined) {
    if (env !== undefined) {
      throw new InvalidOptionError('--env', 'does not apply to --surrogate-key (use --app)');
    }
    selector = { kind: 'surrogate-key', key, ...(app === undefined ? {} : { app }) };
    what = `surrogate key ${key}${scope(app, undefined)}`;
  } else {
    const environment = needEnv(ctx);
    const allOf = await appName(ctx);
    selector = { kind: 'environment', app: allOf, environment };
    what = `everything cached for ${allOf} ${environment}`;
  }
  const problem = purgeSelectorProblem(selector);
  if (problem !== undefined) {
    const option =
      selector.kind === 'path' ? '--path' : selector.kind === 'url' ? '--url' : '--surrogate-key';
    throw new InvalidOptionError(option, problem.replace(/^\w+ must/, 'must'));
  }
  return {
    selector,
    what,
    listenMs: msOption(ctx, 'listen-ms', 1500),
    timeoutMs: msOption(ctx, 'timeout-ms', 3000),
  };
}

async function purge(ctx: Ctx, nc: NatsConnection, request: PurgeRequestOptions): Promise<number> {
  progress(ctx, `purge: listening for shields (up to ${request.listenMs} ms)…`);
  const options = { listenMs: request.listenMs, timeoutMs: request.timeoutMs };
  // With a credential the control service purges, so a team purges only its apps.
  const result =
    commandSecurity(ctx).credsFile !== undefined
      ? await new ControlClient({ connection: nc }).purge(request.selector, options)
      : await purgeFleet(nc, request.selector, options);
  const answered = result.acked.length + result.failed.length;
  if (result.live.length === 0 && answered === 0) {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `no shield is running: none heartbeated on ${SHIELD_HEARTBEAT_SUBJECT} within ${request.listenMs} ms, ` +
        'so there is no cache to purge (start one with `flotilla start --nats … --role shield`)',
    );
  }
  const regionOf = new Map(result.live.map((l) => [l.shieldId, l.region]));
  const removed = result.acked.reduce((sum, a) => sum + a.removed, 0);
  const rows = [
    ['SHIELD', 'REGION', 'REMOVED'],
    ...result.acked.map((a) => [a.shieldId, a.region, String(a.removed)]),
    ...result.failed.map((f) => [f.shieldId, f.region, `failed: ${f.error}`]),
    ...result.missing.map((id) => [id, regionOf.get(id) ?? '?', 'no answer']),
  ];
  const text =
    `${table(rows)}\n` +
    `purged ${request.what}: ${removed} entr${removed === 1 ? 'y' : 'ies'} removed on ` +
    `${result.acked.length} shield${result.acked.length === 1 ? '' : 's'} (${result.ms} ms)\n`;
  out(ctx, { ...result, selector: request.selector, removed }, text);
  if (result.missing.length === 0 && result.failed.length === 0) return EXIT.ok;
  const problems = [
    ...result.missing.map(
      (id) =>
        `${id} (${regionOf.get(id) ?? '?'}) did not acknowledge within ${request.timeoutMs} ms`,
    ),
    ...result.failed.map((f) => `${f.shieldId} (${f.region}) failed: ${f.error}`),
  ];
  return fail(
    ctx.io,
    ctx.json,
    new FlotillaError(
      'FLOTILLA_ERR_NO_RESPONDERS',
      `purge incomplete: ${problems.join('; ')}; their caches may still serve the purged content`,
    ),
  );
}

/** `flotilla purge`, for the command table. */
export const purgeCommand: ControlCommand = {
  name: 'purge',
  usage: `  flotilla purge (--url <url> | --path <pattern> | --surrogate-key <key> | --all) [--app <name>] [--env <name>]
      remove cached responses from every shield: one URL, paths matching a route pattern
      (e.g. /p/:id*), responses tagged with a surrogate key, or --all of one environment;
      returns once every live shield acknowledged, and fails (exit 1) naming any that did not
      [--listen-ms <n>] how long to listen for shield heartbeats (default 1500)
      [--timeout-ms <n>] how long to wait for the acknowledgements (default 3000)
`,
  options: {
    ...stringOptions('url', 'path', 'surrogate-key', 'listen-ms', 'timeout-ms'),
    ...booleanOptions('all'),
  },
  run: async (ctx) => {
    // The command line is checked before connecting.
    const request = await purgeRequest(ctx);
    return withNats(ctx, (nc) => purge(ctx, nc, request));
  },
};
