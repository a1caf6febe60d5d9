/**
 * The secrets keys of a fleet process: the embedded fleet makes its own
 * when it is given none, so it works with secrets and without an operator.
 *
 * @module
 */
import {
  type ControlPlane,
  generateSecretsKeyPair,
  parsePrivateKeys,
  readSecretKeyring,
  SecretKeyring,
} from '@flotilla/deploy';

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
