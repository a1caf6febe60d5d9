/**
 * `flotilla env`: sets or unsets an environment's variables, secrets and
 * backend origins. Secret values are read from stdin or a file (never from
 * the command line), sealed here to the fleet's secrets public key, and only
 * the envelope leaves this machine.
 *
 * @module
 */

import type { KeyObject } from 'node:crypto';
import { type ControlApi, parsePublicKey, type SecretEnvelope, sealSecret } from '@flotilla/deploy';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import {
  appName,
  type ControlCommand,
  type Ctx,
  list,
  needEnv,
  out,
  readOptionFile,
  str,
  subcommand,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { repeatedOptions, stringOptions } from './option-table.ts';
import { publicEnv } from './tables.ts';

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

/** A value as read from stdin or a file: one trailing newline dropped (`echo` adds it). */
function withoutTrailingNewline(text: string): string {
  return text.replace(/\r?\n$/, '');
}

/** Refuses `--secret NAME=VALUE`: a secret value never goes on the command line. */
function refuseSecretOnArgv(ctx: Ctx): void {
  for (const name of list(ctx.values, 'secret')) {
    if (name.includes('=')) {
      throw new InvalidOptionError(
        '--secret',
        `takes a name only ("${name.slice(0, name.indexOf('='))}"): a secret value never goes on the command line, where shell history and ps would keep it; pipe it on stdin (printf %s "$VALUE" | flotilla env set --secret NAME …) or use --secret-file NAME=<path>`,
      );
    }
  }
}

/**
 * The secret values to set, name → value: `--secret NAME` from stdin (one
 * at most), `--secret-file NAME=<path>` from files. A value on the command
 * line is refused, before anything is read or sent.
 */
async function secretValues(ctx: Ctx): Promise<Record<string, string>> {
  const names = list(ctx.values, 'secret');
  refuseSecretOnArgv(ctx);
  if (names.length > 1) {
    throw new InvalidOptionError(
      '--secret',
      `reads one value from stdin, got ${names.length} names (${names.join(', ')}): use --secret-file NAME=<path> for the others`,
    );
  }
  const files = pairs('--secret-file', list(ctx.values, 'secret-file'), false);
  const values: Record<string, string> = {};
  for (const [name, path] of Object.entries(files)) {
    values[name] = withoutTrailingNewline(
      await readOptionFile('--secret-file', path as string, name),
    );
  }
  const [fromStdin] = names;
  if (fromStdin !== undefined) {
    if (Object.hasOwn(values, fromStdin)) {
      throw new InvalidOptionError('--secret', `${fromStdin} is also given with --secret-file`);
    }
    values[fromStdin] = withoutTrailingNewline((await ctx.io.stdin?.()) ?? '');
  }
  return values;
}

/** The key new secrets are sealed to: `--secrets-public-key <file>`, else the fleet's. */
async function sealingKey(ctx: Ctx, cp: ControlApi, app: string): Promise<KeyObject> {
  const file = str(ctx.values, 'secrets-public-key');
  if (file !== undefined) {
    const pem = await readOptionFile('--secrets-public-key', file);
    return parsePublicKey('--secrets-public-key', pem);
  }
  // Asked on the app's own subject: a team's credential may not ask fleet-wide.
  const record = await cp.secretsKey(app);
  if (record === undefined) {
    throw new FlotillaError(
      'FLOTILLA_ERR_SECRET',
      'the fleet has no secrets key to seal secrets to: an operator creates one with `flotilla secrets-key generate --out <file>` and `flotilla secrets-key set --secrets-key <file>.pub` (or pass --secrets-public-key <file>)',
    );
  }
  return parsePublicKey('secrets key of the fleet', record.publicKey);
}

async function envSet(ctx: Ctx, cp: ControlApi): Promise<number> {
  const sub = subcommand(
    ctx,
    ['set', 'unset'],
    'usage: flotilla env set|unset --env <name> [--var KEY=VALUE]... [--secret NAME] [--secret-file NAME=PATH]... [--backend NAME=ORIGIN]...',
  );
  const env = needEnv(ctx);
  const app = await appName(ctx);
  const unset = sub === 'unset';
  const vars = pairs('--var', list(ctx.values, 'var'), unset);
  const backends = pairs('--backend', list(ctx.values, 'backend'), unset);
  let secrets: Record<string, SecretEnvelope | null> = {};
  if (unset) {
    if (list(ctx.values, 'secret-file').length > 0) {
      throw new InvalidOptionError('--secret-file', 'is for set; unset takes --secret NAME');
    }
    // A name unsets the variable of either kind.
    for (const name of [...Object.keys(vars), ...list(ctx.values, 'secret')]) {
      vars[name] = null;
      secrets[name] = null;
    }
  } else {
    const values = await secretValues(ctx);
    for (const name of Object.keys(values)) {
      if (Object.hasOwn(vars, name)) {
        throw new InvalidOptionError('--secret', `${name} is also given as a plain --var`);
      }
    }
    if (Object.keys(values).length > 0) {
      const key = await sealingKey(ctx, cp, app);
      secrets = Object.fromEntries(
        Object.entries(values).map(([name, value]) => [
          name,
          sealSecret(key, { app, env, name }, value),
        ]),
      );
    }
  }
  if (
    Object.keys(vars).length === 0 &&
    Object.keys(backends).length === 0 &&
    Object.keys(secrets).length === 0
  ) {
    throw new InvalidOptionError('--var', 'or --secret, --secret-file or --backend is required');
  }
  const record = await cp.configure(app, env, {
    ...(Object.keys(vars).length > 0 ? { vars } : {}),
    ...(Object.keys(secrets).length > 0 ? { secrets } : {}),
    ...(Object.keys(backends).length > 0 ? { backends } : {}),
  });
  // Names only, never values.
  const shown = publicEnv(record);
  return out(
    ctx,
    shown,
    `${app} ${env}: variables ${shown.vars.join(', ') || '(none)'}; secrets ${
      shown.secrets.map((s) => `${s.name} (key ${s.kid})`).join(', ') || '(none)'
    }; backends ${
      Object.entries(record.backends)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(manifest defaults)'
    }\n`,
  );
}

/** `flotilla env`, for the command table. */
export const envCommand: ControlCommand = {
  name: 'env',
  usage: `  flotilla env set --env <name> [--app <name>] [--var KEY=VALUE]... [--backend NAME=ORIGIN]...
  printf %s "$VALUE" | flotilla env set --env <name> [--app <name>] --secret NAME
  flotilla env set --env <name> [--app <name>] --secret-file NAME=<path>... [--secrets-public-key <file>]
  flotilla env unset --env <name> [--app <name>] [--var KEY]... [--secret NAME]... [--backend NAME]...
      variables the handler receives as fetch(request, env), and backend origins re-pointed for
      this environment (only names the deployment declares). A secret is read from stdin or a
      file (one trailing newline dropped), never from the command line; it is encrypted here
      to the fleet's secrets key and stored only encrypted; listings show its name, never its value
`,
  options: {
    ...repeatedOptions('var', 'backend', 'secret', 'secret-file'),
    ...stringOptions('secrets-public-key'),
  },
  run: (ctx) => {
    // Refused before connecting: nothing of the value goes anywhere.
    refuseSecretOnArgv(ctx);
    return withFleet(ctx, (cp) => envSet(ctx, cp));
  },
};
