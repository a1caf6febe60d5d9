/**
 * The table of the app developer's commands (`build`, `publish`, `promote`,
 * …): each lives in its own file in `commands/` with its name, usage, options
 * and run function, and they share `commands/context.ts`. Every one exits 0 on success
 * and with a code a CI pipeline can test otherwise ({@link EXIT}); `--json`
 * prints one JSON document on stdout (and errors as
 * `{ "error": { code, message } }` on stderr). Progress goes to stderr, so
 * stdout stays parseable.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { FlotillaError } from '@flotilla/protocol';
import { authCommand, teamCommand } from './commands/auth.ts';
import { buildCommand } from './commands/build.ts';
import {
  type CommandIo,
  type ControlCommand,
  type Ctx,
  fail,
  type Values,
} from './commands/context.ts';
import { deleteCommand } from './commands/delete.ts';
import { deploymentsCommand } from './commands/deployments.ts';
import { envCommand } from './commands/env.ts';
import { envsCommand } from './commands/envs.ts';
import { initCommand } from './commands/init.ts';
import { logsCommand } from './commands/logs.ts';
import { booleanOptions, stringOptions } from './commands/option-table.ts';
import { promoteCommand } from './commands/promote.ts';
import { publishCommand } from './commands/publish.ts';
import { purgeCommand } from './commands/purge.ts';
import { redirectsCommand } from './commands/redirects.ts';
import { regionCommand } from './commands/region.ts';
import { rollbackCommand } from './commands/rollback.ts';
import { secretsKeyCommand } from './commands/secrets-key.ts';
import { splitCommand } from './commands/split.ts';
import { statusCommand } from './commands/status.ts';

export { type CommandIo, EXIT } from './commands/context.ts';

/** The app developer's commands, in the order `--help` lists them. */
const CONTROL: readonly ControlCommand[] = [
  initCommand,
  buildCommand,
  publishCommand,
  promoteCommand,
  rollbackCommand,
  envsCommand,
  deploymentsCommand,
  deleteCommand,
  statusCommand,
  logsCommand,
  envCommand,
  regionCommand,
  purgeCommand,
  splitCommand,
  redirectsCommand,
  secretsKeyCommand,
  authCommand,
  teamCommand,
];

/** Options every app developer's command takes. */
const COMMON = {
  ...stringOptions('nats', 'shield', 'preview-domain', 'domain', 'app', 'dir', 'env'),
  ...stringOptions('connect-timeout-ms', 'creds', 'tls-ca'),
  ...booleanOptions('json'),
};

/** Names of the app developer's commands. */
export const CONTROL_COMMANDS: readonly string[] = CONTROL.map((c) => c.name);

/** The options every app developer's command takes, and the exit codes, in every help. */
const COMMON_HELP = `Common options:
  --nats <url>           the fleet's NATS (default: $FLOTILLA_NATS or nats://127.0.0.1:4222)
  --shield <url>         the shield's URL, for printed links (default: $FLOTILLA_SHIELD or http://127.0.0.1:3000)
  --preview-domain <d>   domain of preview hosts (default: preview.localhost)
  --domain <d>           domain of environment hosts (default: localhost)
  --creds <file>         NKey seed file of your credential (default: $FLOTILLA_CREDS; none on an
                         unsecured NATS); with one, changes go through the fleet's control service
  --tls-ca <file>        CA of the NATS server's certificate (tls:// URLs use TLS with the system's CAs)
  --json                 machine-readable output
  --app <name>           app name (default: "name" of flotilla.config.json in --dir)
  -h, --help             this help

Exit codes: 0 ok, 1 failed (or refused to your credential, or a shield did not acknowledge a purge),
2 bad usage or input,
3 fleet unreachable, 4 not found (or no shield is running), 5 conflict.
`;

/** The app developer's commands in `flotilla --help`. */
export const COMMANDS_USAGE = `Commands for app developers:
${CONTROL.map((c) => c.usage).join('')}
${COMMON_HELP}`;

/** What `flotilla <command> --help` prints: that command's usage only; `undefined` for no such command. */
export function commandHelp(command: string): string | undefined {
  const spec = CONTROL.find((c) => c.name === command);
  return spec && `Usage:\n${spec.usage}\n${COMMON_HELP}`;
}

/** Runs the app developer's command `command`; resolves with the exit code. */
export async function runCommand(command: string, args: string[], io: CommandIo): Promise<number> {
  const json = args.includes('--json');
  const spec = CONTROL.find((c) => c.name === command);
  if (spec === undefined) {
    return fail(
      io,
      json,
      new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', `unknown command "${command}"`),
    );
  }
  let ctx: Ctx;
  try {
    const parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...COMMON, ...spec.options },
    });
    ctx = { command, values: parsed.values as Values, positionals: parsed.positionals, io, json };
  } catch (err) {
    return fail(io, json, new FlotillaError('FLOTILLA_ERR_INVALID_OPTION', (err as Error).message));
  }
  try {
    return await spec.run(ctx);
  } catch (err) {
    return fail(io, json, err);
  }
}
