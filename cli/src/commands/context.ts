/**
 * What every app-developer command shares: the exit codes, where it writes,
 * its parsed command line, and the helpers that read options and print
 * results or errors.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import {
  environmentHost,
  FlotillaError,
  InvalidOptionError,
  isSubjectToken,
} from '@flotilla/protocol';
import { loadProjectConfig } from '@flotilla/sdk/build';

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
  /** Everything on standard input, read to its end (`env set --secret`). @default none: an empty string */
  stdin?: () => Promise<string>;
}

/** Parsed option values (`node:util` parseArgs). */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** An option of a command, as `node:util` parseArgs takes it. */
export type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean };

/** A command's parsed command line and where it writes. */
export interface Ctx {
  command: string;
  values: Values;
  positionals: string[];
  io: CommandIo;
  json: boolean;
}

/**
 * An app developer's command (`flotilla publish`, …), as the command table
 * lists it. Every one takes the common options (`--nats`, `--json`, …).
 */
export interface ControlCommand {
  name: string;
  /** Its lines in `flotilla --help`. */
  usage: string;
  /** Its options besides the common ones. */
  options: Readonly<Record<string, OptionSpec>>;
  /** Runs it; resolves with the exit code, throws a {@link FlotillaError} when it fails. */
  run(ctx: Ctx): Promise<number>;
}

/** The string value of option `name`, if given. */
/** The text of the file `path` that option `option` names; a failed read names both (and `forWhat`). */
export async function readOptionFile(
  option: string,
  path: string,
  forWhat?: string,
): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new InvalidOptionError(
      option,
      `cannot read ${path}${forWhat ? ` for ${forWhat}` : ''}: ${(err as Error).message}`,
    );
  }
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** Every value of a repeatable option. */
export function list(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

/** `value` when it is a subject token (app, environment, region names). */
export function token(option: string, value: string | undefined): string | undefined {
  if (value !== undefined && !isSubjectToken(value)) {
    throw new InvalidOptionError(
      option,
      `"${value}" must be lower-case letters, digits and dashes`,
    );
  }
  return value;
}

/**
 * The subcommand (the first positional, e.g. `set` of `flotilla env set`):
 * one of `names`, else a usage error that shows `usage`.
 */
export function subcommand<const N extends string>(
  ctx: Ctx,
  names: readonly N[],
  usage: string,
): N {
  const sub = ctx.positionals[0];
  if (!names.some((name) => name === sub)) throw new InvalidOptionError(ctx.command, usage);
  return sub as N;
}

/** The required `--env`. */
export function needEnv(ctx: Ctx): string {
  const env = token('--env', str(ctx.values, 'env'));
  if (env === undefined)
    throw new InvalidOptionError('--env', 'is required (e.g. --env production)');
  return env;
}

/** A positive whole number of milliseconds from option `--<name>`. */
export function msOption(ctx: Ctx, name: string, fallback: number): number {
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

/**
 * Prints `err` (as `{ error: { code, message } }` with `--json`) behind one
 * prefix: `flotilla: `, unless the message already names its step
 * (`flotilla build: …`, as the SDK's build errors do); returns its exit code.
 */
export function fail(io: CommandIo, json: boolean, err: unknown): number {
  const code = err instanceof FlotillaError ? err.code : 'FLOTILLA_ERR_INTERNAL';
  const message = (err as Error)?.message ?? String(err);
  if (json) io.stderr(`${JSON.stringify({ error: { code, message } })}\n`);
  else io.stderr(`${/^flotilla [a-z-]+: /.test(message) ? '' : 'flotilla: '}${message}\n`);
  return exitCodeOf(code);
}

/** Prints the result: `data` as JSON with `--json`, else `text`. */
export function out(ctx: Ctx, data: unknown, text: string): number {
  ctx.io.stdout(ctx.json ? `${JSON.stringify(data, null, 2)}\n` : text);
  return EXIT.ok;
}

/** A progress line on stderr (none with `--json`). */
export function progress(ctx: Ctx, line: string): void {
  if (!ctx.json) ctx.io.stderr(`${line}\n`);
}

/** The app directory (`--dir`, default the current one). */
export function appDir(ctx: Ctx): string {
  return str(ctx.values, 'dir') ?? process.cwd();
}

/** `--app`, or the name in the app directory's `flotilla.config.json`. */
export async function appName(ctx: Ctx): Promise<string> {
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

/** The URL of `host` on the shield (`--shield`: its scheme and port). */
export function hostUrl(ctx: Ctx, host: string): string {
  const shield = shieldUrl(ctx);
  return `${shield.protocol}//${host}${shield.port ? `:${shield.port}` : ''}/`;
}

/** The host of an app's environment under `--domain`. */
export function envHost(ctx: Ctx, app: string, env: string): string {
  return environmentHost(app, env, str(ctx.values, 'domain') ?? 'localhost');
}
