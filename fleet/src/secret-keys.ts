/**
 * The secrets keys of a fleet process: the embedded fleet makes its own
 * when it is given none, so it works with secrets and without an operator.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import {
  type ControlPlane,
  generateSecretsKeyPair,
  parsePrivateKeys,
  readSecretKeyring,
  SecretKeyring,
} from '@flotilla/deploy';
import type { LogFn } from './log.ts';

/**
 * The embedded fleet's secrets keys: the files given, or an ephemeral key
 * pair; its public half becomes the in-memory control plane's secrets key.
 */
export async function embeddedSecretKeys(
  controlPlane: ControlPlane,
  files: string[] | undefined,
): Promise<SecretKeyring> {
  const ring =
    files && files.length > 0
      ? await readSecretKeyring(files)
      : new SecretKeyring(parsePrivateKeys('ephemeral', generateSecretsKeyPair().privateKeyPem));
  const newest = ring.newestPublicKey;
  if (newest)
    await controlPlane.setSecretsKey(newest.export({ format: 'pem', type: 'spki' }) as string);
  return ring;
}

/**
 * A worker's secrets keys from `files` (newest first); logs their ids, and
 * warns about a key file that others than its owner may read.
 * @throws InvalidOptionError naming `--secrets-key` and the file
 */
export async function workerSecretKeys(
  files: string[] | undefined,
  log: LogFn,
): Promise<SecretKeyring> {
  const ring = await readSecretKeyring(files ?? []);
  for (const file of files ?? []) {
    const mode = (await stat(file)).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      log({
        msg: `secrets key ${file} is readable by others (mode ${mode.toString(8)}): chmod 600 it`,
        level: 'warn',
      });
    }
  }
  if (ring.kids.length > 0) log({ msg: 'secrets keys', kids: ring.kids });
  return ring;
}
