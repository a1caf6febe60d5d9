/**
 * `flotilla start`: the fleet, embedded in this process or one role of it
 * on NATS. It drains on SIGTERM / SIGINT (a second signal exits at once).
 *
 * @module
 */
import { openSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  createLogger,
  type EmbeddedSeed,
  type FleetOptions,
  type LogFormat,
  type LogLevel,
  logFormat,
  logLevel,
  type Role,
  type RunningFleet,
  startEmbedded,
  startRole,
} from '@flotilla/fleet';
import {
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
  type LogFn,
  SHIELD_TIERS,
  type ShieldTier,
} from '@flotilla/protocol';
import type { NatsSecurity } from '@flotilla/transport';
import type { CommandIo } from './context.ts';
import { booleanOptions, repeatedOptions, stringOptions } from './option-table.ts';
import { withConfig } from './start-config.ts';

/**
 * This CLI's script: the worker processes a local autoscaler starts run it
 * (`bin.ts` from source, `bin.js` in the installed package).
 */
const CLI_BIN = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? '../bin.ts' : '../bin.js', import.meta.url),
);

function int(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new InvalidOptionError(`--${name}`, `must be a whole number, got "${value}"`);
  }
  return n;
}

/** A value that is not blank. */
function nonEmpty(name: string, value: string): string {
  if (value.trim() === '') throw new InvalidOptionError(name, 'must not be empty');
  return value;
}

/** A share in (0, 1]. */
function share(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n > 0 && n <= 1)) {
    throw new InvalidOptionError(
      `--${name}`,
      `must be a number above 0 and at most 1, got "${value}"`,
    );
  }
  return n;
}

function fraction(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n < 1)) {
    throw new InvalidOptionError(`--${name}`, `must be a number from 0 to below 1, got "${value}"`);
  }
  return n;
}

/** Parsed `flotilla start` arguments. */
export interface StartCommand {
  nats: string | undefined;
  role: Role | undefined;
  /** The role's NATS credential file and TLS CA (`--creds` or `$FLOTILLA_CREDS`, `--tls-ca`). */
  security: NatsSecurity;
  /** The credential of the workers a local autoscaler starts (`--worker-creds`, and `--tls-ca`). */
  workerSecurity: NatsSecurity | undefined;
  logFormat: LogFormat;
  logLevel: LogLevel;
  /** Where the shield's access lines go (`--access-log`): `stdout`, `stderr` or a file appended to. */
  accessLog: string | undefined;
  options: FleetOptions;
}

/** Parses `flotilla start` arguments; throws InvalidOptionError naming the bad one. */
export function parseStartArgs(
  args: string[],
  env: Record<string, string | undefined> = process.env,
): StartCommand {
  const merged = withConfig(args, env, START_OPTIONS);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(merged);
  } catch (err) {
    throw new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', (err as Error).message);
  }
  const v = parsed.values;
  const role = v.role;
  if (
    role !== undefined &&
    role !== 'shield' &&
    role !== 'scheduler' &&
    role !== 'worker' &&
    role !== 'control'
  ) {
    throw new InvalidOptionError(
      '--role',
      `must be shield, scheduler, worker or control, got "${role}"`,
    );
  }
  if (role !== undefined && v.nats === undefined) {
    throw new InvalidOptionError('--role', 'needs --nats <url>: roles talk over NATS');
  }
  if (v.nats !== undefined && role === undefined) {
    throw new InvalidOptionError('--nats', 'needs --role shield|scheduler|worker|control');
  }
  const credsFile = v.creds ?? env.FLOTILLA_CREDS;
  if ((credsFile !== undefined || v['tls-ca'] !== undefined) && role === undefined) {
    throw new InvalidOptionError('--creds', 'and --tls-ca apply to a role on NATS (--role)');
  }
  const tls = v['tls-ca'] !== undefined ? { tlsCaFile: v['tls-ca'] } : {};
  const security: NatsSecurity = { ...(credsFile ? { credsFile } : {}), ...tls };
  const workerCreds = v['worker-creds'];
  if (workerCreds !== undefined && v.autoscale !== 'local') {
    throw new InvalidOptionError('--worker-creds', 'applies to --autoscale local');
  }
  if (v.autoscale === 'local' && credsFile && workerCreds === undefined) {
    throw new InvalidOptionError(
      '--autoscale',
      'local with a credential needs --worker-creds <file>: the workers it starts get their own',
    );
  }
  const workerSecurity = workerCreds ? { credsFile: workerCreds, ...tls } : undefined;
  const format = logFormat('--log-format', v['log-format']);
  const level = logLevel('--log-level', v['log-level']);
  const port = int('port', v.port);
  const adminPort = int('admin-port', v['admin-port']);
  for (const [name, p] of [
    ['port', port],
    ['admin-port', adminPort],
  ] as const) {
    if (p !== undefined && p > 65535)
      throw new InvalidOptionError(`--${name}`, 'must be at most 65535');
  }
  const autoscale = v.autoscale;
  if (
    autoscale !== undefined &&
    autoscale !== 'off' &&
    autoscale !== 'local' &&
    autoscale !== 'kubernetes'
  ) {
    throw new InvalidOptionError(
      '--autoscale',
      `must be off, local or kubernetes, got "${autoscale}"`,
    );
  }
  if (autoscale !== undefined && autoscale !== 'off' && role !== 'scheduler') {
    throw new InvalidOptionError('--autoscale', 'applies to --role scheduler');
  }
  const positive = (name: string): number => {
    const n = int(name, v[name as 'cpu-ms']);
    if (n === undefined) throw new InvalidOptionError(`--${name}`, 'needs a value');
    if (n === 0) throw new InvalidOptionError(`--${name}`, 'must be at least 1');
    return n;
  };
  const limits = {
    ...(v['cpu-ms'] !== undefined ? { cpuMs: positive('cpu-ms') } : {}),
    ...(v['wall-ms'] !== undefined ? { wallMs: positive('wall-ms') } : {}),
    ...(v['heap-mb'] !== undefined ? { heapMb: positive('heap-mb') } : {}),
  };
  const list = (value: string | undefined) =>
    value === undefined
      ? undefined
      : value
          .split(',')
          .map((x) => x.trim())
          .filter((x) => x !== '');
  const cacheOptions = {
    ...(v['cache-mb'] !== undefined ? { maxBytes: positive('cache-mb') * 1024 * 1024 } : {}),
    ...(v['cache-dir'] !== undefined
      ? {
          disk: {
            dir: nonEmpty('--cache-dir', v['cache-dir']),
            ...(v['cache-disk-mb'] !== undefined
              ? { maxBytes: positive('cache-disk-mb') * 1024 * 1024 }
              : {}),
          },
        }
      : {}),
    ...(v['follower-wait-ms'] !== undefined
      ? { followerWaitMs: positive('follower-wait-ms') }
      : {}),
  };
  if (v['cache-disk-mb'] !== undefined && v['cache-dir'] === undefined) {
    throw new InvalidOptionError('--cache-disk-mb', 'needs --cache-dir');
  }
  if (v['no-cache'] && Object.keys(cacheOptions).length > 0) {
    throw new InvalidOptionError(
      '--no-cache',
      'cannot be combined with --cache-mb, --cache-dir or --follower-wait-ms',
    );
  }
  const trustedProxies = list(v['trusted-proxies']);
  const geoHeaders = list(v['geo-headers']);
  const frontDoor = {
    ...(v['public-host'] !== undefined ? { publicHost: v['public-host'] } : {}),
    ...(v['https-redirect'] ? { httpsRedirect: true } : {}),
    ...(trustedProxies ? { trustedProxies } : {}),
    ...(v['client-ip-header'] !== undefined ? { clientIpHeader: v['client-ip-header'] } : {}),
    ...(geoHeaders ? { geoHeaders } : {}),
  };
  const options: FleetOptions = {
    ...(v['no-cache']
      ? { cache: false as const }
      : Object.keys(cacheOptions).length > 0
        ? { cache: cacheOptions }
        : {}),
    ...(v['debug-token'] !== undefined ? { debugToken: v['debug-token'] } : {}),
    ...adminToken(v['admin-token'], v['admin-token-file']),
    ...(v['header-names'] !== undefined ? { headerNames: headerNames(v['header-names']) } : {}),
    ...(v.tier !== undefined ? { tier: shieldTier(v.tier, role, v['no-cache'] === true) } : {}),
    ...(v['shield-id'] !== undefined ? { shieldId: shieldIdOption(v['shield-id'], role) } : {}),
    ...(Object.keys(frontDoor).length > 0 ? { frontDoor } : {}),
    ...(Object.keys(limits).length > 0 ? { limits } : {}),
    ...(v['heartbeat-ms'] !== undefined ? { heartbeatMs: positive('heartbeat-ms') } : {}),
    ...(v['queue-wait-ms'] !== undefined ? { queueWaitMs: positive('queue-wait-ms') } : {}),
    ...(v['fair-share-reserve'] !== undefined
      ? { fairShareReserve: fraction('fair-share-reserve', v['fair-share-reserve']) }
      : {}),
    ...(v['penalty-box-failures'] !== undefined
      ? { penaltyBoxFailures: int('penalty-box-failures', v['penalty-box-failures']) }
      : {}),
    ...(v['secondary-region'] !== undefined ? { secondaryRegion: v['secondary-region'] } : {}),
    ...(autoscale !== undefined ? { autoscale } : {}),
    ...(v['min-workers'] !== undefined ? { minWorkers: positive('min-workers') } : {}),
    ...(v['max-workers'] !== undefined ? { maxWorkers: positive('max-workers') } : {}),
    ...(v['exit-with-parent'] ? { exitWithParent: true } : {}),
    ...(v.region !== undefined ? { region: v.region } : {}),
    ...(v.host !== undefined ? { host: v.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(adminPort !== undefined ? { adminPort } : {}),
    ...(v.store !== undefined ? { storeDir: v.store } : {}),
    ...(v.domain !== undefined ? { domain: v.domain } : {}),
    ...(v['preview-domain'] !== undefined ? { previewDomain: v['preview-domain'] } : {}),
    ...(v.workers !== undefined ? { workers: int('workers', v.workers) } : {}),
    ...(v.threads !== undefined ? { threads: int('threads', v.threads) } : {}),
    ...(v.nice !== undefined ? { workerNice: int('nice', v.nice) } : {}),
    ...(v['tasks-per-thread'] !== undefined
      ? { tasksPerThread: positive('tasks-per-thread') }
      : {}),
    ...(v['io-slots'] !== undefined ? { ioSlots: positive('io-slots') } : {}),
    ...(v['load-update-ms'] !== undefined
      ? { loadUpdateMs: int('load-update-ms', v['load-update-ms']) }
      : {}),
    ...(v['timeout-ms'] !== undefined
      ? { requestTimeoutMs: int('timeout-ms', v['timeout-ms']) }
      : {}),
    ...(v['access-log-sample'] !== undefined
      ? { accessLogSample: share('access-log-sample', v['access-log-sample']) }
      : {}),
  };
  const accessLog = v['access-log'];
  if (accessLog !== undefined) {
    if (accessLog.trim() === '') {
      throw new InvalidOptionError('--access-log', 'must be stdout, stderr or a file path');
    }
    if (role !== undefined && role !== 'shield') {
      throw new InvalidOptionError(
        '--access-log',
        'applies to the shield (--role shield, or no --role)',
      );
    }
  } else if (v['access-log-sample'] !== undefined) {
    throw new InvalidOptionError('--access-log-sample', 'needs --access-log');
  }
  // Newest first; $FLOTILLA_SECRETS_KEY is a comma-separated list of files.
  const secretsKeyFiles =
    v['secrets-key'] ??
    env.FLOTILLA_SECRETS_KEY?.split(',')
      .map((f) => f.trim())
      .filter((f) => f !== '');
  if (secretsKeyFiles && secretsKeyFiles.length > 0) options.secretsKeyFiles = secretsKeyFiles;
  return {
    nats: v.nats,
    role,
    security,
    workerSecurity,
    logFormat: format,
    logLevel: level,
    accessLog,
    options,
  };
}

/** `--header-names`: `flotilla` or `edgio`. */
/**
 * The purge API's token: `--admin-token`, or the first line of
 * `--admin-token-file` (kept out of the process list), never both.
 */
function adminToken(token: string | undefined, file: string | undefined): { adminToken?: string } {
  if (token !== undefined && file !== undefined) {
    throw new InvalidOptionError('--admin-token', 'cannot be combined with --admin-token-file');
  }
  let value = token;
  if (file !== undefined) {
    try {
      value = (readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '').trim();
    } catch (err) {
      throw new InvalidOptionError(
        '--admin-token-file',
        `cannot read ${file}: ${(err as Error).message}`,
      );
    }
  }
  if (value === undefined) return {};
  if (value.trim().length < 16) {
    throw new InvalidOptionError(
      file !== undefined ? '--admin-token-file' : '--admin-token',
      'must be at least 16 characters',
    );
  }
  return { adminToken: value.trim() };
}

function headerNames(value: string): 'flotilla' | 'edgio' {
  if (value !== 'flotilla' && value !== 'edgio') {
    throw new InvalidOptionError(
      '--header-names',
      `must be flotilla or edgio, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `--tier`: `both`, or `edge` / `global` on a shield role with its cache. */
function shieldTier(value: string, role: string | undefined, noCache: boolean): ShieldTier {
  if (!SHIELD_TIERS.includes(value as ShieldTier)) {
    throw new InvalidOptionError(
      '--tier',
      `must be ${SHIELD_TIERS.join(', ')}, got ${JSON.stringify(value)}`,
    );
  }
  const tier = value as ShieldTier;
  if (tier !== 'both' && role !== 'shield') {
    throw new InvalidOptionError(
      '--tier',
      `${tier} applies to --role shield (one tier per process)`,
    );
  }
  if (tier !== 'both' && noCache) {
    throw new InvalidOptionError('--tier', `an ${tier} shield needs its cache (not --no-cache)`);
  }
  return tier;
}

/** `--shield-id`: a subject token, on a shield role. */
function shieldIdOption(value: string, role: string | undefined): string {
  if (role !== 'shield') throw new InvalidOptionError('--shield-id', 'applies to --role shield');
  if (!isSubjectToken(value)) {
    throw new InvalidOptionError(
      '--shield-id',
      `must be lower-case letters, digits and dashes, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The options of `flotilla start` (the command line, `--config` files and `FLOTILLA_*` variables). */
export const START_OPTIONS = {
  ...stringOptions('nats', 'role', 'region', 'host', 'port', 'admin-port', 'store'),
  ...stringOptions('domain', 'preview-domain', 'workers', 'threads', 'heartbeat-ms'),
  ...stringOptions('timeout-ms', 'cpu-ms', 'wall-ms', 'heap-mb', 'queue-wait-ms'),
  ...stringOptions('fair-share-reserve', 'tasks-per-thread', 'io-slots', 'nice'),
  ...stringOptions('penalty-box-failures'),
  ...stringOptions('autoscale', 'min-workers', 'max-workers', 'load-update-ms'),
  ...stringOptions('secondary-region', 'cache-mb', 'follower-wait-ms', 'debug-token'),
  ...stringOptions('cache-dir', 'cache-disk-mb'),
  ...stringOptions('public-host', 'trusted-proxies', 'client-ip-header', 'geo-headers'),
  ...stringOptions('log-format', 'log-level', 'creds', 'tls-ca', 'worker-creds'),
  ...stringOptions('access-log', 'access-log-sample', 'config', 'header-names', 'tier'),
  ...stringOptions('shield-id'),
  ...stringOptions('admin-token', 'admin-token-file'),
  ...repeatedOptions('secrets-key'),
  ...booleanOptions('no-examples', 'exit-with-parent', 'no-cache', 'https-redirect'),
};

function parse(args: string[]) {
  return parseArgs({ args, strict: true, allowPositionals: false, options: START_OPTIONS });
}

/** What a program embedding `flotilla start` adds to it (`./run start` adds the example apps). */
export interface StartExtras {
  /** Seeds the embedded fleet before it serves (ignored for a role on NATS). */
  seed?: EmbeddedSeed;
  /** Lines printed under the ready line of an embedded fleet, e.g. URLs to try. */
  readyHint?: (url: string, adminUrl: string) => string;
}

/**
 * Runs `flotilla start` with `args` (the arguments after `start`). Resolves
 * with the exit code once the process should exit: 2 for bad options, 1 when
 * it could not start, else after draining on SIGTERM / SIGINT.
 */
export async function runStart(
  args: string[],
  io: Pick<CommandIo, 'stdout' | 'stderr'>,
  extras: StartExtras = {},
): Promise<number> {
  let cmd: StartCommand;
  try {
    cmd = parseStartArgs(args);
  } catch (err) {
    io.stderr(`flotilla: ${(err as Error).message}\n(see flotilla start --help)\n`);
    return 2;
  }
  const roleName = cmd.role ?? 'fleet';
  const log = createLogger({
    role: roleName,
    region: cmd.options.region ?? 'local',
    format: cmd.logFormat,
    level: cmd.logLevel,
  });
  let accessLog: LogFn | undefined;
  try {
    accessLog = accessLogger(cmd, roleName);
  } catch (err) {
    io.stderr(`flotilla: --access-log: cannot open ${cmd.accessLog}: ${(err as Error).message}\n`);
    return 2;
  }
  if (accessLog) cmd.options.accessLog = accessLog;
  // Signal handlers go in before anything starts: a SIGTERM during start-up
  // must still drain, never kill the process half-started.
  let signalled: NodeJS.Signals | undefined;
  let onSignal: (signal: NodeJS.Signals) => void = (signal) => {
    signalled = signal;
  };
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  let fleet: RunningFleet;
  try {
    fleet =
      cmd.role && cmd.nats
        ? await startRole({
            ...cmd.options,
            role: cmd.role,
            nats: cmd.nats,
            security: cmd.security,
            ...(cmd.workerSecurity ? { workerSecurity: cmd.workerSecurity } : {}),
            log,
            cliBin: CLI_BIN,
          })
        : await startEmbedded({
            ...cmd.options,
            log,
            ...(extras.seed ? { seed: extras.seed } : {}),
          });
  } catch (err) {
    const code = err instanceof FlotillaError ? `${err.code}: ` : '';
    io.stderr(`flotilla: could not start ${roleName}: ${code}${(err as Error).message}\n`);
    return 1;
  }
  io.stdout(`flotilla ${roleName} ready: ${fleet.description} on ${fleet.url}\n`);
  if (!cmd.role && extras.readyHint) io.stdout(extras.readyHint(fleet.url, fleet.adminUrl));
  const running = fleet;
  return new Promise<number>((resolve) => {
    let stopping = false;
    onSignal = (signal) => {
      if (stopping) {
        log({ msg: `second ${signal}: exiting without draining` });
        resolve(1);
        return;
      }
      stopping = true;
      log({ msg: `${signal}: draining` });
      const started = Date.now();
      running.drain().then(
        () => {
          log({ msg: 'drained', ms: Date.now() - started });
          resolve(0);
        },
        (err: unknown) => {
          log({ msg: 'drain failed', error: (err as Error).message });
          resolve(1);
        },
      );
    };
    if (signalled) onSignal(signalled);
    if (cmd.options.exitWithParent) {
      // The supervisor holds our stdin: when it dies the pipe closes, and we drain.
      const parentGone = () => {
        if (!stopping) onSignal('SIGTERM');
      };
      process.stdin.on('end', parentGone);
      process.stdin.on('error', parentGone);
      process.stdin.resume();
    }
  });
}

/**
 * The access log of `--access-log`: the fleet's logger (same format) on
 * stdout, stderr, or a file opened for appending.
 */
function accessLogger(cmd: StartCommand, role: string): LogFn | undefined {
  const target = cmd.accessLog;
  if (target === undefined) return undefined;
  const destination = target === 'stdout' ? 1 : target === 'stderr' ? 2 : openSync(target, 'a');
  return createLogger({
    role,
    region: cmd.options.region ?? 'local',
    format: cmd.logFormat,
    level: 'info',
    destination,
    // One line per request, however alike.
    repeats: false,
  });
}
