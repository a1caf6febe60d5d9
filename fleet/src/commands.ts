/**
 * The app developer's commands: `flotilla build`, `publish`, `promote`,
 * `rollback`, `envs`, `deployments`, `status`, `region set`, `env set|unset`,
 * `purge`, `split set|clear`.
 *
 * Every command exits 0 on success and with a code a CI pipeline can test
 * otherwise ({@link EXIT}); `--json` prints one JSON document on stdout (and
 * errors as `{ "error": { code, message } }` on stderr). Progress goes to
 * stderr, so stdout stays parseable.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import {
  ControlPlane,
  type DeploymentRecord,
  type EnvironmentRecord,
  JetStreamControlStore,
} from '@flotilla/deploy';
import {
  decodeProbeResult,
  encodeProbeRequest,
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
  normalizePurgeUrl,
  PROBE_SUBJECT,
  type ProbeResult,
  type PurgeSelector,
  purgeSelectorProblem,
  SHIELD_HEARTBEAT_SUBJECT,
} from '@flotilla/protocol';
import { buildProject, loadProjectConfig } from '@flotilla/sdk/build';
import { environmentHost, purgeFleet } from '@flotilla/shield';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type FleetPrewarm, prewarmFleet } from './prewarm-fleet.ts';

/** Exit codes of the commands. */
export const EXIT = {
  ok: 0,
  /** The operation failed (build error, bad bundle, upload failed). */
  failed: 1,
  /** Bad command line or input (unknown option, malformed value). */
  usage: 2,
  /** The fleet (NATS) could not be reached. */
  unreachable: 3,
  /** The deployment, environment or app named does not exist. */
  notFound: 4,
  /** The change conflicts with the current state (e.g. nothing to roll back to). */
  conflict: 5,
} as const;

/** Where commands write. */
export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Environment variables (`FLOTILLA_NATS`, `FLOTILLA_SHIELD`). */
  env: Record<string, string | undefined>;
}

/** The commands this module runs. */
export const CONTROL_COMMANDS = [
  'build',
  'publish',
  'promote',
  'rollback',
  'envs',
  'deployments',
  'status',
  'region',
  'env',
  'purge',
  'split',
  'delete',
] as const;

export const COMMANDS_USAGE = `Commands for app developers:
  flotilla build [--dir <app>] [--out <dir>]
      bundle the app (flotilla.config.json in --dir) into bundle.js, manifest.json and assets
  flotilla publish [--dir <app>] [--env <name>] [--build-dir <dir>]
      build (unless --build-dir), upload to the fleet, print the deployment id and preview URL;
      --env promotes it at once
  flotilla promote <deployment-id> --env <name>
  flotilla rollback --env <name> [--app <name>]       back to the previous deployment, no rebuild
      publish --env, promote and rollback first have every region's workers load and pre-render
      the deployment (pre-warm), then switch the environment; --no-prewarm skips that
  flotilla envs [--app <name>]                         environments and what they serve
  flotilla deployments [--app <name>]                  published deployments
  flotilla delete <deployment-id>                      delete a deployment and its preview host
      (refused while an environment or split test serves it)
  flotilla status                                      environments, regions, schedulers and workers
  flotilla env set --env <name> [--app <name>] [--var KEY=VALUE]... [--backend NAME=ORIGIN]...
  flotilla env unset --env <name> [--app <name>] [--var KEY]... [--backend NAME]...
      environment variables/secrets the handler receives as fetch(request, env), and backend
      origins re-pointed for this environment (only names the deployment declares)
  flotilla region set --env <name> [--app <name>] (--near <api-url> | --primary <r> [--secondary <r>])
      --near: every region times round trips to the API; the two nearest become primary and secondary
  flotilla purge (--url <url> | --path <pattern> | --surrogate-key <key> | --all) [--app <name>] [--env <name>]
      remove cached responses from every shield: one URL, paths matching a route pattern
      (e.g. /p/:id*), responses tagged with a surrogate key, or --all of one environment;
      returns once every live shield acknowledged, and fails (exit 1) naming any that did not
      [--listen-ms <n>] how long to listen for shield heartbeats (default 1500)
      [--timeout-ms <n>] how long to wait for the acknowledgements (default 3000)
  flotilla split set --env <name> [--app <name>] <deployment-id>=<percent>...
      split test: spread visitors over deployments (whole percents adding up to 100, including
      the deployment the environment serves); each visitor stays on one through a cookie
  flotilla split clear --env <name> [--app <name>]      end the split test

Common options:
  --nats <url>           the fleet's NATS (default: $FLOTILLA_NATS or nats://127.0.0.1:4222)
  --shield <url>         the shield's URL, for printed links (default: $FLOTILLA_SHIELD or http://127.0.0.1:3000)
  --preview-domain <d>   domain of preview hosts (default: preview.localhost)
  --domain <d>           domain of environment hosts (default: localhost)
  --json                 machine-readable output
  --app <name>           app name (default: "name" of flotilla.config.json in --dir)

Exit codes: 0 ok, 1 failed (or a shield did not acknowledge a purge), 2 bad usage or input,
3 fleet unreachable, 4 not found (or no shield is running), 5 conflict.
`;

const COMMON = {
  nats: { type: 'string' },
  shield: { type: 'string' },
  'preview-domain': { type: 'string' },
  domain: { type: 'string' },
  json: { type: 'boolean' },
  app: { type: 'string' },
  dir: { type: 'string' },
  env: { type: 'string' },
  'connect-timeout-ms': { type: 'string' },
} as const;

const EXTRA = {
  build: { out: { type: 'string' } },
  publish: { 'build-dir': { type: 'string' }, 'no-prewarm': { type: 'boolean' } },
  promote: { 'no-prewarm': { type: 'boolean' } },
  rollback: { 'no-prewarm': { type: 'boolean' } },
  envs: {},
  deployments: {},
  status: {},
  env: {
    var: { type: 'string', multiple: true },
    backend: { type: 'string', multiple: true },
  },
  region: {
    near: { type: 'string' },
    primary: { type: 'string' },
    secondary: { type: 'string' },
    samples: { type: 'string' },
    'wait-ms': { type: 'string' },
  },
  purge: {
    url: { type: 'string' },
    path: { type: 'string' },
    'surrogate-key': { type: 'string' },
    all: { type: 'boolean' },
    'listen-ms': { type: 'string' },
    'timeout-ms': { type: 'string' },
  },
  split: {},
  delete: {},
} as const;

type Values = Record<string, string | boolean | string[] | undefined>;

interface Ctx {
  command: (typeof CONTROL_COMMANDS)[number];
  values: Values;
  positionals: string[];
  io: CommandIo;
  json: boolean;
}

function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function token(option: string, value: string | undefined): string | undefined {
  if (value !== undefined && !isSubjectToken(value)) {
    throw new InvalidOptionError(
      option,
      `"${value}" must be lower-case letters, digits and dashes`,
    );
  }
  return value;
}

function needEnv(ctx: Ctx): string {
  const env = token('--env', str(ctx.values, 'env'));
  if (env === undefined)
    throw new InvalidOptionError('--env', 'is required (e.g. --env production)');
  return env;
}

/** Runs one of {@link CONTROL_COMMANDS}; resolves with the exit code. */
export async function runCommand(
  command: (typeof CONTROL_COMMANDS)[number],
  args: string[],
  io: CommandIo,
): Promise<number> {
  const json = args.includes('--json');
  let ctx: Ctx;
  try {
    const parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...COMMON, ...EXTRA[command] },
    });
    ctx = { command, values: parsed.values as Values, positionals: parsed.positionals, io, json };
  } catch (err) {
    return fail(io, json, new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', (err as Error).message));
  }
  try {
    switch (command) {
      case 'build':
        return await build(ctx);
      case 'publish':
        return await withFleet(ctx, (cp, nc) => publish(ctx, cp, nc));
      case 'promote':
        return await withFleet(ctx, (cp, nc) => promote(ctx, cp, nc));
      case 'rollback':
        return await withFleet(ctx, (cp, nc) => rollback(ctx, cp, nc));
      case 'envs':
        return await withFleet(ctx, (cp) => envs(ctx, cp));
      case 'deployments':
        return await withFleet(ctx, (cp) => deployments(ctx, cp));
      case 'status':
        return await withFleet(ctx, (cp, nc) => status(ctx, cp, nc));
      case 'region':
        return await withFleet(ctx, (cp, nc) => region(ctx, cp, nc));
      case 'env':
        return await withFleet(ctx, (cp) => envSet(ctx, cp));
      case 'purge': {
        const request = await purgeRequest(ctx);
        return await withNats(ctx, (nc) => purge(ctx, nc, request));
      }
      case 'delete':
        return await withFleet(ctx, (cp) => deleteDeployment(ctx, cp));
      case 'split': {
        const request = await splitRequest(ctx);
        return await withFleet(ctx, (cp) => split(ctx, cp, request));
      }
    }
  } catch (err) {
    return fail(io, json, err);
  }
}

function exitCodeOf(code: string): number {
  switch (code) {
    case 'FLOTILLA_ERR_INVALID_OPTION':
      return EXIT.usage;
    case 'FLOTILLA_ERR_TRANSPORT_CLOSED':
    case 'FLOTILLA_ERR_TIMEOUT':
      return EXIT.unreachable;
    case 'FLOTILLA_ERR_NOT_FOUND':
      return EXIT.notFound;
    case 'FLOTILLA_ERR_CONFLICT':
      return EXIT.conflict;
    default:
      return EXIT.failed;
  }
}

function fail(io: CommandIo, json: boolean, err: unknown): number {
  const code = err instanceof FlotillaError ? err.code : 'FLOTILLA_ERR_INTERNAL';
  const message = (err as Error)?.message ?? String(err);
  if (json) io.stderr(`${JSON.stringify({ error: { code, message } })}\n`);
  else io.stderr(`flotilla: ${message}\n`);
  return exitCodeOf(code);
}

function out(ctx: Ctx, data: unknown, text: string): number {
  ctx.io.stdout(ctx.json ? `${JSON.stringify(data, null, 2)}\n` : text);
  return EXIT.ok;
}

function progress(ctx: Ctx, line: string): void {
  if (!ctx.json) ctx.io.stderr(`${line}\n`);
}

function appDir(ctx: Ctx): string {
  return str(ctx.values, 'dir') ?? process.cwd();
}

async function appName(ctx: Ctx): Promise<string> {
  const app = token('--app', str(ctx.values, 'app'));
  if (app) return app;
  try {
    return (await loadProjectConfig(appDir(ctx))).name;
  } catch (err) {
    throw new InvalidOptionError(
      '--app',
      `is required outside an app directory (${(err as Error).message})`,
    );
  }
}

function shieldUrl(ctx: Ctx): URL {
  const raw = str(ctx.values, 'shield') ?? ctx.io.env.FLOTILLA_SHIELD ?? 'http://127.0.0.1:3000';
  try {
    return new URL(raw);
  } catch {
    throw new InvalidOptionError('--shield', `"${raw}" is not a URL`);
  }
}

function hostUrl(ctx: Ctx, host: string): string {
  const shield = shieldUrl(ctx);
  return `${shield.protocol}//${host}${shield.port ? `:${shield.port}` : ''}/`;
}

function envHost(ctx: Ctx, app: string, env: string): string {
  return environmentHost(app, env, str(ctx.values, 'domain') ?? 'localhost');
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / 1024 / 1024).toFixed(1)} MiB`
    : `${(bytes / 1024).toFixed(1)} KiB`;
}

async function build(ctx: Ctx): Promise<number> {
  const started = performance.now();
  const outDir = str(ctx.values, 'out');
  const result = await buildProject({
    dir: appDir(ctx),
    ...(outDir ? { outDir } : {}),
    onProgress: (p) => progress(ctx, `build: ${p.phase}${p.detail ? ` ${p.detail}` : ''}`),
  });
  const m = result.manifest;
  return out(
    ctx,
    { outDir: result.outDir, manifest: m, ms: Math.round(performance.now() - started) },
    `built ${m.name} into ${result.outDir}: bundle ${kib(m.bundleBytes)}, ${m.routes.length} routes, ` +
      `${m.assets.length} assets, content ${m.contentHash.slice(0, 12)} ` +
      `(${Math.round(performance.now() - started)} ms)\n`,
  );
}

/** Connects to the fleet's NATS (failing fast), runs `run`, closes. */
async function withNats(ctx: Ctx, run: (nc: NatsConnection) => Promise<number>): Promise<number> {
  const servers = str(ctx.values, 'nats') ?? ctx.io.env.FLOTILLA_NATS ?? 'nats://127.0.0.1:4222';
  const timeout = Number(str(ctx.values, 'connect-timeout-ms') ?? 3000);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: servers.split(',').map((s) => s.trim()),
      name: `flotilla-cli-${ctx.command}`,
      timeout: Number.isFinite(timeout) && timeout > 0 ? timeout : 3000,
      maxReconnectAttempts: 0,
    });
  } catch (err) {
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

/** Connects to the fleet's NATS (failing fast) and opens the control plane. */
async function withFleet(
  ctx: Ctx,
  run: (cp: ControlPlane, nc: NatsConnection) => Promise<number>,
): Promise<number> {
  const servers = str(ctx.values, 'nats') ?? ctx.io.env.FLOTILLA_NATS ?? 'nats://127.0.0.1:4222';
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
    const previewDomain = str(ctx.values, 'preview-domain');
    const cp = new ControlPlane({ store, ...(previewDomain ? { previewDomain } : {}) });
    return await run(cp, nc);
  });
}

/**
 * Pre-warm on promote: unless `--no-prewarm`, every region's workers load
 * and pre-render `deploymentId` before the environment switches to it.
 */
async function warmBeforeSwitch(
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

function prewarmSummary(warm: FleetPrewarm | undefined) {
  return warm === undefined
    ? undefined
    : {
        warmed: warm.warmed,
        failed: warm.failed,
        ms: warm.ms,
        regions: warm.regions.map((r) => r.region),
      };
}

async function publish(ctx: Ctx, cp: ControlPlane, nc: NatsConnection): Promise<number> {
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
  if (env) {
    prewarm = await warmBeforeSwitch(ctx, nc, published.deployment.id, env);
    environment = await cp.promote(published.deployment.id, env);
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
    },
    `${lines.join('\n')}\n`,
  );
}

async function promote(ctx: Ctx, cp: ControlPlane, nc: NatsConnection): Promise<number> {
  const id = ctx.positionals[0];
  if (!id)
    throw new InvalidOptionError(
      '<deployment-id>',
      'is required: flotilla promote <id> --env <name>',
    );
  if (!isSubjectToken(id))
    throw new InvalidOptionError('<deployment-id>', `"${id}" is not a deployment id`);
  const env = needEnv(ctx);
  if (!(await cp.deployment(id))) {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `no deployment ${id} (see flotilla deployments)`,
    );
  }
  const prewarm = await warmBeforeSwitch(ctx, nc, id, env);
  const record = await cp.promote(id, env);
  return out(
    ctx,
    { ...publicEnv(record), ...(prewarm ? { prewarm: prewarmSummary(prewarm) } : {}) },
    `${record.app} ${env}: now serves ${record.deploymentId} at ${hostUrl(ctx, envHost(ctx, record.app, env))}` +
      `${record.history[0] ? ` (was ${record.history[0]})` : ''}\n`,
  );
}

async function rollback(ctx: Ctx, cp: ControlPlane, nc: NatsConnection): Promise<number> {
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const before = (await cp.environments(app)).find((e) => e.env === env);
  const target = before?.history[0];
  const prewarm = target ? await warmBeforeSwitch(ctx, nc, target, env) : undefined;
  const record = await cp.rollback(app, env);
  return out(
    ctx,
    { ...publicEnv(record), ...(prewarm ? { prewarm: prewarmSummary(prewarm) } : {}) },
    `${app} ${env}: rolled back to ${record.deploymentId}${before ? ` (was ${before.deploymentId})` : ''}\n`,
  );
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function envRows(ctx: Ctx, list: EnvironmentRecord[]): string[][] {
  return [
    ['APP', 'ENV', 'DEPLOYMENT', 'SPLIT', 'REGIONS', 'URL', 'UPDATED'],
    ...list.map((e) => [
      e.app,
      e.env,
      e.deploymentId,
      e.split ? splitText(e.split) : '-',
      e.primaryRegion
        ? `${e.primaryRegion}${e.secondaryRegion ? ` > ${e.secondaryRegion}` : ''}`
        : '(shield default)',
      hostUrl(ctx, envHost(ctx, e.app, e.env)),
      e.updatedAt,
    ]),
  ];
}

/** An environment record as printed: variable names only, never their (secret) values. */
function publicEnv(e: EnvironmentRecord): Omit<EnvironmentRecord, 'vars'> & { vars: string[] } {
  return { ...e, vars: Object.keys(e.vars) };
}

async function envs(ctx: Ctx, cp: ControlPlane): Promise<number> {
  const app = token('--app', str(ctx.values, 'app'));
  const list = await cp.environments(app);
  return out(
    ctx,
    list.map(publicEnv),
    list.length === 0
      ? 'no environments yet (flotilla publish --env production)\n'
      : `${table(envRows(ctx, list))}\n`,
  );
}

async function deployments(ctx: Ctx, cp: ControlPlane): Promise<number> {
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

/** Region → live schedulers and workers, from the heartbeats heard during `ms`. */
async function listenToFleet(
  nc: NatsConnection,
  ms: number,
): Promise<Map<string, { schedulers: Set<string>; workers: Set<string> }>> {
  const regions = new Map<string, { schedulers: Set<string>; workers: Set<string> }>();
  const at = (region: string) => {
    let r = regions.get(region);
    if (!r) {
      r = { schedulers: new Set(), workers: new Set() };
      regions.set(region, r);
    }
    return r;
  };
  const decoder = new TextDecoder();
  const idOf = (data: Uint8Array, field: string): string => {
    try {
      const v = JSON.parse(decoder.decode(data)) as Record<string, unknown>;
      return String(v[field] ?? '?');
    } catch {
      return '?';
    }
  };
  const subs = [
    nc.subscribe('flotilla.*.scheduler.heartbeat', {
      callback: (_err, msg) => {
        at(msg.subject.split('.')[1] ?? '?').schedulers.add(idOf(msg.data, 'schedulerId'));
      },
    }),
    nc.subscribe('flotilla.*.heartbeat', {
      callback: (_err, msg) => {
        at(msg.subject.split('.')[1] ?? '?').workers.add(idOf(msg.data, 'workerId'));
      },
    }),
  ];
  await new Promise((r) => setTimeout(r, ms));
  for (const s of subs) s.unsubscribe();
  return regions;
}

async function status(ctx: Ctx, cp: ControlPlane, nc: NatsConnection): Promise<number> {
  const [environments, list, regions] = await Promise.all([
    cp.environments(),
    cp.deployments(),
    listenToFleet(nc, 1500),
  ]);
  const regionRows = [
    ['REGION', 'SCHEDULERS', 'WORKERS'],
    ...[...regions]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, r]) => [name, String(r.schedulers.size), String(r.workers.size)]),
  ];
  const data = {
    nats: nc.getServer(),
    regions: Object.fromEntries(
      [...regions].map(([k, r]) => [k, { schedulers: r.schedulers.size, workers: r.workers.size }]),
    ),
    environments: environments.map(publicEnv),
    deployments: list.length,
  };
  const text = [
    `fleet at ${nc.getServer()}: ${list.length} deployments, ${environments.length} environments`,
    '',
    regions.size === 0 ? 'no scheduler or worker heartbeats heard in 1.5 s' : table(regionRows),
    '',
    environments.length === 0 ? 'no environments yet' : table(envRows(ctx, environments)),
  ].join('\n');
  return out(ctx, data, `${text}\n`);
}

async function region(ctx: Ctx, cp: ControlPlane, nc: NatsConnection): Promise<number> {
  if (ctx.positionals[0] !== 'set') {
    throw new InvalidOptionError(
      'region',
      'usage: flotilla region set --env <name> (--near <url> | --primary <r> [--secondary <r>])',
    );
  }
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

function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** `KEY=VALUE` pairs (set) or bare keys (unset, value null). */
function pairs(option: string, items: string[], unset: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of items) {
    if (unset) {
      out[item] = null;
      continue;
    }
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidOptionError(option, `"${item}" must be NAME=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

async function envSet(ctx: Ctx, cp: ControlPlane): Promise<number> {
  const sub = ctx.positionals[0];
  if (sub !== 'set' && sub !== 'unset') {
    throw new InvalidOptionError(
      'env',
      'usage: flotilla env set|unset --env <name> [--var KEY=VALUE]... [--backend NAME=ORIGIN]...',
    );
  }
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const unset = sub === 'unset';
  const vars = pairs('--var', list(ctx.values, 'var'), unset);
  const backends = pairs('--backend', list(ctx.values, 'backend'), unset);
  if (Object.keys(vars).length === 0 && Object.keys(backends).length === 0) {
    throw new InvalidOptionError('--var', 'or --backend is required');
  }
  const record = await cp.configure(app, env, {
    ...(Object.keys(vars).length > 0 ? { vars } : {}),
    ...(Object.keys(backends).length > 0 ? { backends } : {}),
  });
  // Values may be secrets: show names only.
  return out(
    ctx,
    publicEnv(record),
    `${app} ${env}: variables ${Object.keys(record.vars).join(', ') || '(none)'}; backends ${
      Object.entries(record.backends)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(manifest defaults)'
    }\n`,
  );
}

/** `shop-aaa 90%, shop-bbb 10%`. */
function splitText(entries: ReadonlyArray<{ deploymentId: string; percent: number }>): string {
  return entries.map((e) => `${e.deploymentId} ${e.percent}%`).join(', ');
}

/** A positive whole number of milliseconds from option `--<name>`. */
function msOption(ctx: Ctx, name: string, fallback: number): number {
  const raw = str(ctx.values, name);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    throw new InvalidOptionError(
      `--${name}`,
      `must be a positive whole number of ms, got "${raw}"`,
    );
  }
  return n;
}

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
  const result = await purgeFleet(nc, request.selector, {
    listenMs: request.listenMs,
    timeoutMs: request.timeoutMs,
  });
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
  const sub = ctx.positionals[0];
  if (sub !== 'set' && sub !== 'clear') {
    throw new InvalidOptionError(
      'split',
      'usage: flotilla split set --env <name> <deployment-id>=<percent>... | flotilla split clear --env <name>',
    );
  }
  const env = needEnv(ctx);
  if (sub === 'clear' && ctx.positionals.length > 1) {
    throw new InvalidOptionError('split clear', 'takes no deployments');
  }
  const entries = sub === 'clear' ? null : splitEntries(ctx.positionals.slice(1));
  return { app: await appName(ctx), env, split: entries };
}

async function split(ctx: Ctx, cp: ControlPlane, request: SplitRequest): Promise<number> {
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

async function deleteDeployment(ctx: Ctx, cp: ControlPlane): Promise<number> {
  const id = ctx.positionals[0];
  if (!id || ctx.positionals.length > 1) {
    throw new InvalidOptionError('<deployment-id>', 'is required: flotilla delete <deployment-id>');
  }
  if (!isSubjectToken(id))
    throw new InvalidOptionError('<deployment-id>', `"${id}" is not a deployment id`);
  await cp.deleteDeployment(id);
  return out(
    ctx,
    { deleted: id },
    `deleted ${id}: its preview host ${hostUrl(ctx, cp.previewHost(id))} no longer serves it\n`,
  );
}
