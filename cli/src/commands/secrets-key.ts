/**
 * `flotilla secrets-key`: the operator's commands for the fleet's secrets
 * key pair. `generate` writes a new X25519 key pair (private key mode 0600,
 * for workers' `--secrets-key`); `set` stores the public key in the control
 * plane, where `flotilla env set --secret` finds it; `show` prints it and how
 * many secrets are sealed to each key; `rotate` re-encrypts every secret to
 * the newest of the private keys given (the operator holds them).
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import {
  type ControlApi,
  generateSecretsKeyPair,
  readSecretKeyring,
  type SecretEnvelope,
  sealSecret,
} from '@flotilla/deploy';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import {
  type ControlCommand,
  type Ctx,
  list,
  out,
  progress,
  readOptionFile,
  str,
  subcommand,
} from './context.ts';
import { withFleet } from './fleet-connection.ts';
import { repeatedOptions, stringOptions } from './option-table.ts';

async function generate(ctx: Ctx): Promise<number> {
  const file = str(ctx.values, 'out');
  if (file === undefined) {
    throw new InvalidOptionError('--out', 'is required (the private key file to write)');
  }
  const pair = generateSecretsKeyPair();
  try {
    // `wx`: never overwrite a key (its secrets would no longer open).
    await writeFile(file, pair.privateKeyPem, { mode: 0o600, flag: 'wx' });
    await writeFile(`${file}.pub`, pair.publicKeyPem, { mode: 0o644, flag: 'wx' });
  } catch (err) {
    throw new FlotillaError(
      (err as { code?: unknown }).code === 'EEXIST'
        ? 'FLOTILLA_ERR_CONFLICT'
        : 'FLOTILLA_ERR_INTERNAL',
      `cannot write ${file} / ${file}.pub: ${(err as Error).message}`,
    );
  }
  return out(
    ctx,
    { kid: pair.kid, privateKey: file, publicKey: `${file}.pub` },
    `secrets key ${pair.kid}: private key ${file} (mode 0600: give it to workers, --secrets-key), public key ${file}.pub (flotilla secrets-key set --secrets-key ${file}.pub)\n`,
  );
}

/** Secrets per key id, over every environment. */
async function sealedCounts(cp: ControlApi): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const e of await cp.environments()) {
    for (const s of Object.values(e.secrets)) counts[s.kid] = (counts[s.kid] ?? 0) + 1;
  }
  return counts;
}

async function set(ctx: Ctx, cp: ControlApi): Promise<number> {
  const [file, ...more] = list(ctx.values, 'secrets-key');
  if (file === undefined || more.length > 0) {
    throw new InvalidOptionError('--secrets-key', 'names one key file (public or private)');
  }
  const record = await cp.setSecretsKey(await readOptionFile('--secrets-key', file));
  return out(
    ctx,
    { kid: record.kid, updatedAt: record.updatedAt },
    `secrets key set: ${record.kid}\n`,
  );
}

async function show(ctx: Ctx, cp: ControlApi): Promise<number> {
  const record = await cp.secretsKey();
  const sealed = await sealedCounts(cp);
  const counts = Object.entries(sealed)
    .map(([kid, n]) => `${kid}: ${n}`)
    .join(', ');
  return out(
    ctx,
    { key: record ?? null, sealed },
    `${record ? `secrets key ${record.kid} (set ${record.updatedAt})\n${record.publicKey}` : 'no secrets key set\n'}secrets sealed per key: ${counts || '(none)'}\n`,
  );
}

async function rotate(ctx: Ctx, cp: ControlApi): Promise<number> {
  const files = list(ctx.values, 'secrets-key');
  if (files.length === 0) {
    throw new InvalidOptionError(
      '--secrets-key',
      'is required: the new private key first, then the ones the secrets are sealed to now',
    );
  }
  const ring = await readSecretKeyring(files);
  const newest = ring.newestPublicKey;
  const kid = ring.kids[0];
  if (newest === undefined || kid === undefined) {
    throw new InvalidOptionError('--secrets-key', 'holds no key');
  }
  // New secrets are sealed to the new key from now on.
  await cp.setSecretsKey(newest.export({ format: 'pem', type: 'spki' }) as string);
  let rewrapped = 0;
  for (const e of await cp.environments()) {
    const rewraps: Record<string, { from: SecretEnvelope; to: SecretEnvelope }> = {};
    for (const [name, envelope] of Object.entries(e.secrets)) {
      if (envelope.kid === kid) continue;
      const place = { app: e.app, env: e.env, name };
      rewraps[name] = { from: envelope, to: sealSecret(newest, place, ring.open(place, envelope)) };
    }
    if (Object.keys(rewraps).length === 0) continue;
    const { replaced } = await cp.rewrapSecrets(e.app, e.env, rewraps);
    rewrapped += replaced.length;
    progress(
      ctx,
      `${e.app} ${e.env}: re-encrypted ${replaced.join(', ') || 'nothing (set again meanwhile)'}`,
    );
  }
  return out(
    ctx,
    { kid, reencrypted: rewrapped },
    `secrets key ${kid} set; ${rewrapped} secret(s) re-encrypted to it. Once every worker runs with --secrets-key for it, the old keys can go.\n`,
  );
}

/** `flotilla secrets-key`, for the command table. */
export const secretsKeyCommand: ControlCommand = {
  name: 'secrets-key',
  usage: `  flotilla secrets-key generate --out <file>     new key pair: <file> (private, mode 0600) and <file>.pub
  flotilla secrets-key set --secrets-key <file>  the fleet's key new secrets are sealed to (its public half)
  flotilla secrets-key show                      the fleet's key, and how many secrets each key seals
  flotilla secrets-key rotate --secrets-key <new> --secrets-key <old>...
      sets <new> as the fleet's key and re-encrypts every secret sealed to an older key to it
`,
  options: { ...stringOptions('out'), ...repeatedOptions('secrets-key') },
  run: (ctx) => {
    const sub = subcommand(
      ctx,
      ['generate', 'set', 'show', 'rotate'],
      'usage: flotilla secrets-key generate|set|show|rotate (see flotilla --help)',
    );
    if (sub === 'generate') return generate(ctx);
    return withFleet(ctx, (cp) =>
      sub === 'set' ? set(ctx, cp) : sub === 'show' ? show(ctx, cp) : rotate(ctx, cp),
    );
  },
};
