/**
 * Secret environment variables, encrypted at rest: an envelope per value,
 * sealed to the fleet's secrets key (X25519) HPKE-style: an ephemeral
 * X25519 key agreement, HKDF-SHA256, AES-256-GCM. The additional data binds
 * the app, environment and variable name, so a ciphertext copied into
 * another app, environment or name does not open. Only the public key is
 * needed to seal (the CLI, on the user's machine); opening needs the private
 * key (workers and the embedded fleet).
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { FlotillaError, InvalidOptionError } from '@flotilla/protocol';
import * as v from 'valibot';

const B64URL = /^[A-Za-z0-9_-]+$/;

/** A key id: the first 16 hex digits of the sha256 of the raw X25519 public key. */
export const KEY_ID = /^[0-9a-f]{16}$/;

/** One secret value as stored: an envelope sealed to the fleet's secrets key. */
export const SecretEnvelopeSchema = v.object({
  /** Envelope format version. */
  v: v.literal(1),
  /** Id of the secrets key it is sealed to ({@link KEY_ID}). */
  kid: v.pipe(v.string(), v.regex(KEY_ID, 'must be 16 lower-case hex digits')),
  /** The ephemeral X25519 public key, raw, base64url. */
  epk: v.pipe(v.string(), v.length(43), v.regex(B64URL)),
  /** AES-GCM nonce (12 bytes), base64url. */
  iv: v.pipe(v.string(), v.length(16), v.regex(B64URL)),
  /** AES-256-GCM ciphertext followed by its 16-byte tag, base64url. */
  ct: v.pipe(v.string(), v.minLength(22), v.maxLength(100_000), v.regex(B64URL)),
});

/** One secret value as stored ({@link SecretEnvelopeSchema}). */
export type SecretEnvelope = v.InferOutput<typeof SecretEnvelopeSchema>;

/** Where a secret belongs: what the envelope's additional data binds. */
export interface SecretPlace {
  app: string;
  env: string;
  /** The variable name. */
  name: string;
}

/** A secrets key pair in PEM (PKCS#8 private key, SPKI public key), with its id. */
export interface SecretsKeyPair {
  kid: string;
  privateKeyPem: string;
  publicKeyPem: string;
}

const INFO = Buffer.from('flotilla secret envelope v1');

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.from(jwk.x as string, 'base64url');
}

/** The id of an X25519 public key. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256').update(rawPublic(publicKey)).digest('hex').slice(0, 16);
}

function aad(place: SecretPlace): Buffer {
  // NUL-separated: names and tokens cannot contain NUL, so the binding is unambiguous.
  return Buffer.from(`flotilla-secret\0${place.app}\0${place.env}\0${place.name}`);
}

function aesKey(shared: Buffer, epk: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, recipient]), INFO, 32));
}

/** A new X25519 secrets key pair. */
export function generateSecretsKeyPair(): SecretsKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return {
    kid: keyIdOf(publicKey),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }) as string,
  };
}

/**
 * The X25519 public key in `pem` (a public key, or the public half of a
 * private key).
 * @throws InvalidOptionError naming `option` when it is not an X25519 key
 */
export function parsePublicKey(option: string, pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes('PRIVATE KEY')
      ? createPublicKey(createPrivateKey(pem))
      : createPublicKey(pem);
  } catch (err) {
    throw new InvalidOptionError(
      option,
      `is not a PEM public key: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (key.asymmetricKeyType !== 'x25519') {
    throw new InvalidOptionError(
      option,
      `must be an X25519 key (flotilla secrets-key generate), got ${key.asymmetricKeyType}`,
    );
  }
  return key;
}

/**
 * Every X25519 private key of a PEM text (one or more `PRIVATE KEY` blocks).
 * @throws InvalidOptionError naming `option` when there is none or one is not X25519
 */
export function parsePrivateKeys(option: string, pem: string): KeyObject[] {
  const blocks = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/g) ?? [];
  if (blocks.length === 0) {
    throw new InvalidOptionError(option, 'holds no PEM private key (BEGIN PRIVATE KEY)');
  }
  return blocks.map((block) => {
    let key: KeyObject;
    try {
      key = createPrivateKey(block);
    } catch (err) {
      throw new InvalidOptionError(
        option,
        `holds a bad private key: ${(err as Error).message.split('\n')[0]}`,
      );
    }
    if (key.asymmetricKeyType !== 'x25519') {
      throw new InvalidOptionError(
        option,
        `must hold X25519 keys (flotilla secrets-key generate), got ${key.asymmetricKeyType}`,
      );
    }
    return key;
  });
}

/** Seals `value` for `place` to `publicKey` (an X25519 public key). */
export function sealSecret(
  publicKey: KeyObject,
  place: SecretPlace,
  value: string,
): SecretEnvelope {
  const ephemeral = generateKeyPairSync('x25519');
  const epk = rawPublic(ephemeral.publicKey);
  const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey });
  const key = aesKey(shared, epk, rawPublic(publicKey));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(place));
  const ct = Buffer.concat([cipher.update(value, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return {
    v: 1,
    kid: keyIdOf(publicKey),
    epk: epk.toString('base64url'),
    iv: iv.toString('base64url'),
    ct: ct.toString('base64url'),
  };
}

/**
 * The private secrets keys a process holds, newest first (during a rotation
 * a worker holds the new key and the old one), found by key id.
 */
export class SecretKeyring {
  readonly #keys = new Map<string, { privateKey: KeyObject; publicKey: KeyObject }>();
  /** Key ids, newest first. */
  readonly kids: readonly string[];

  /** @param privateKeys X25519 private keys, newest first */
  constructor(privateKeys: readonly KeyObject[]) {
    for (const privateKey of privateKeys) {
      if (privateKey.asymmetricKeyType !== 'x25519' || privateKey.type !== 'private') {
        throw new InvalidOptionError('secretKeys', 'must be X25519 private keys');
      }
      const publicKey = createPublicKey(privateKey);
      const kid = keyIdOf(publicKey);
      if (!this.#keys.has(kid)) this.#keys.set(kid, { privateKey, publicKey });
    }
    this.kids = [...this.#keys.keys()];
  }

  /** The newest key's public half (what new secrets are sealed to), if any. */
  get newestPublicKey(): KeyObject | undefined {
    const kid = this.kids[0];
    return kid === undefined ? undefined : this.#keys.get(kid)?.publicKey;
  }

  /**
   * The value of `envelope`, for `place`.
   * @throws FlotillaError `FLOTILLA_ERR_SECRET` when no key of the ring has
   *   its id, or it does not open (wrong key, or moved from another place);
   *   the message names the place and key ids, never a value.
   */
  open(place: SecretPlace, envelope: SecretEnvelope): string {
    const where = `secret ${place.name} of ${place.app} ${place.env}`;
    const entry = this.#keys.get(envelope.kid);
    if (entry === undefined) {
      throw new FlotillaError(
        'FLOTILLA_ERR_SECRET',
        `cannot decrypt ${where}: it is sealed to secrets key ${envelope.kid}, and this process holds ${
          this.kids.length === 0 ? 'no secrets key (--secrets-key)' : `only ${this.kids.join(', ')}`
        }`,
      );
    }
    try {
      const epkRaw = Buffer.from(envelope.epk, 'base64url');
      const epk = createPublicKey({
        key: { kty: 'OKP', crv: 'X25519', x: epkRaw.toString('base64url') },
        format: 'jwk',
      });
      const shared = diffieHellman({ privateKey: entry.privateKey, publicKey: epk });
      const key = aesKey(shared, epkRaw, rawPublic(entry.publicKey));
      const ct = Buffer.from(envelope.ct, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(envelope.iv, 'base64url'));
      decipher.setAAD(aad(place));
      decipher.setAuthTag(ct.subarray(ct.length - 16));
      return Buffer.concat([
        decipher.update(ct.subarray(0, ct.length - 16)),
        decipher.final(),
      ]).toString('utf8');
    } catch (err) {
      throw new FlotillaError(
        'FLOTILLA_ERR_SECRET',
        `cannot decrypt ${where} with secrets key ${envelope.kid}: the envelope does not open (corrupt, or sealed for another app, environment or name)`,
        { cause: err },
      );
    }
  }
}

/**
 * A keyring of the private keys in `files` (each holds one or more PEM
 * private keys), newest first: the first file's first key is the newest.
 * @throws InvalidOptionError naming `--secrets-key` and the file
 */
export async function readSecretKeyring(files: readonly string[]): Promise<SecretKeyring> {
  const keys: KeyObject[] = [];
  for (const file of files) {
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (err) {
      throw new InvalidOptionError(
        '--secrets-key',
        `cannot read ${file}: ${(err as Error).message}`,
      );
    }
    keys.push(...parsePrivateKeys(`--secrets-key ${file}`, pem));
  }
  return new SecretKeyring(keys);
}
