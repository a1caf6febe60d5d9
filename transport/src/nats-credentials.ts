/**
 * How a process proves who it is to a secured NATS: an NKey seed read from
 * a file (never from argv), the inbox prefix its permissions allow, and TLS
 * options for `tls://` servers or a private CA.
 *
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { FlotillaError } from '@flotilla/protocol';
import { fromSeed } from '@nats-io/nkeys';
import { type ConnectionOptions, nkeyAuthenticator } from '@nats-io/transport-node';

/** Where a process finds its NATS credential and the CA it trusts. */
export interface NatsSecurity {
  /**
   * File holding the user's NKey seed (`SU…`, the file `nats --nkey` takes).
   * @default none: connect without credentials (an unsecured development NATS)
   */
  credsFile?: string | undefined;
  /**
   * PEM file of the CA that signed the server's certificate (implies TLS).
   * @default none: the system's CAs, TLS only for `tls://` URLs
   */
  tlsCaFile?: string | undefined;
}

/** The connection options {@link natsSecurityOptions} adds. */
export type NatsSecurityOptions = Pick<ConnectionOptions, 'authenticator' | 'inboxPrefix' | 'tls'>;

/**
 * The inbox prefix of the user `publicKey`: a user may subscribe only to
 * replies under it, so no credential reads another's replies.
 */
export function userInboxPrefix(publicKey: string): string {
  return `_INBOX.${publicKey}`;
}

/**
 * Reads an NKey user seed file. The seed is the first line that starts with
 * `SU` (so a file with comments, as `nsc` writes them, works too).
 *
 * @throws FlotillaError `FLOTILLA_ERR_CREDENTIALS` naming the file when it is
 *   missing, unreadable or holds no valid user seed
 */
export async function readUserSeed(file: string): Promise<{ seed: Uint8Array; publicKey: string }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new FlotillaError(
      'FLOTILLA_ERR_CREDENTIALS',
      `cannot read the credentials file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      { cause: err },
    );
  }
  const line = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .find((l) => l.startsWith('SU'));
  try {
    if (line === undefined) throw new Error('no line starts with SU');
    const seed = new TextEncoder().encode(line);
    const publicKey = fromSeed(seed).getPublicKey();
    return { seed, publicKey };
  } catch (err) {
    throw new FlotillaError(
      'FLOTILLA_ERR_CREDENTIALS',
      `the credentials file ${file} holds no NKey user seed (${(err as Error).message}); ` +
        'issue one with `flotilla auth init` or `flotilla team create`',
      { cause: err },
    );
  }
}

/**
 * Connection options for `security`: an NKey authenticator, the user's own
 * inbox prefix, and TLS with the CA given. Empty for an unsecured NATS.
 *
 * @param useUserInbox put replies (JetStream's included) under
 *   {@link userInboxPrefix}: what the fleet's roles and the CLI do, since
 *   their permissions let them read no other inbox
 * @throws FlotillaError `FLOTILLA_ERR_CREDENTIALS` naming the file that is
 *   missing or malformed
 */
export async function natsSecurityOptions(
  security: NatsSecurity,
  useUserInbox = false,
): Promise<NatsSecurityOptions> {
  const options: NatsSecurityOptions = {};
  if (security.credsFile !== undefined) {
    const { seed, publicKey } = await readUserSeed(security.credsFile);
    options.authenticator = nkeyAuthenticator(seed);
    if (useUserInbox) options.inboxPrefix = userInboxPrefix(publicKey);
  }
  if (security.tlsCaFile !== undefined) {
    try {
      if (!(await stat(security.tlsCaFile)).isFile()) throw new Error('not a file');
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_CREDENTIALS',
        `cannot read the TLS CA file ${security.tlsCaFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        { cause: err },
      );
    }
    options.tls = { caFile: security.tlsCaFile };
  }
  return options;
}

/**
 * A connection error as a {@link FlotillaError}: an authorization failure
 * becomes `FLOTILLA_ERR_CREDENTIALS` naming the credential, anything else
 * `FLOTILLA_ERR_TRANSPORT_CLOSED`.
 */
export function connectError(err: unknown, servers: string, security: NatsSecurity): FlotillaError {
  const message = (err as Error).message ?? String(err);
  if (/authori[sz]ation|authentication|permissions? violation/i.test(message)) {
    return new FlotillaError(
      'FLOTILLA_ERR_CREDENTIALS',
      security.credsFile === undefined
        ? `NATS at ${servers} requires credentials (${message}): pass --creds <file> or set FLOTILLA_CREDS`
        : `NATS at ${servers} refused the credential in ${security.credsFile} (${message})`,
      { cause: err },
    );
  }
  return new FlotillaError(
    'FLOTILLA_ERR_TRANSPORT_CLOSED',
    `cannot connect to NATS at ${servers}: ${message}`,
    { cause: err },
  );
}
