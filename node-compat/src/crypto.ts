/**
 * `node:crypto` over the isolate's web crypto (`getRandomValues`,
 * `randomUUID`): random bytes and ids; hashes and HMACs (`createHash`,
 * `createHmac`: md5, sha1, sha224, sha256, sha384, sha512) from
 * [`@noble/hashes`](https://www.npmjs.com/package/@noble/hashes) (audited,
 * plain JavaScript). Ciphers, signatures and keys are not given (the
 * isolate has no `crypto.subtle`): they throw, naming the function.
 *
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { md5, sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { Buffer } from './buffer.ts';

/** A running hash (noble's `Hash`, `HMAC`). */
interface HashState {
  update(bytes: Uint8Array): unknown;
  digest(): Uint8Array;
  clone(): HashState;
}

/** A hash function of noble's: what `hmac` takes, with `create()`. */
type NobleHash = Parameters<typeof hmac.create>[0] & { create(): HashState };

const HASHES = Object.freeze({ md5, sha1, sha224, sha256, sha384, sha512 }) as unknown as Readonly<
  Record<string, NobleHash>
>;

function hashOf(algorithm: unknown): NobleHash {
  const name = String(algorithm).toLowerCase().replace('-', '');
  const hash = HASHES[name];
  if (hash === undefined) {
    throw new Error(
      `node:crypto: digest ${String(algorithm)} is not available in Flotilla's sandbox (md5, sha1, sha224, sha256, sha384, sha512 are)`,
    );
  }
  return hash;
}

const toBytes = (data: unknown, encoding?: string): Uint8Array =>
  typeof data === 'string'
    ? Buffer.from(data, (encoding ?? 'utf8') as 'utf8')
    : new Uint8Array(
        (data as ArrayBufferView).buffer as ArrayBuffer,
        (data as ArrayBufferView).byteOffset,
        (data as ArrayBufferView).byteLength,
      );

/** Node's `Hash` / `Hmac`: `update` (chained), `digest(encoding?)`, `copy`. */
class Digest {
  readonly #state: HashState;
  constructor(state: HashState) {
    this.#state = state;
  }
  update(data: unknown, encoding?: string): this {
    this.#state.update(toBytes(data, encoding));
    return this;
  }
  digest(encoding?: string): unknown {
    const bytes = Buffer.from(this.#state.digest());
    return encoding === undefined ? bytes : bytes.toString(encoding as 'hex');
  }
  copy(): Digest {
    return new Digest(this.#state.clone());
  }
}

interface WebCrypto {
  getRandomValues<T>(view: T): T;
  randomUUID(): string;
}

const web = (): WebCrypto => (globalThis as unknown as { crypto: WebCrypto }).crypto;

function unavailable(name: string): () => never {
  return () => {
    throw new Error(
      `node:crypto ${name}() is not available in Flotilla's sandbox (the isolate has random bytes and hashes, no ciphers or keys)`,
    );
  };
}

/** Fills `bytes` with random values, 65536 at a time (Web Crypto's quota). */
function fill(bytes: Uint8Array): Uint8Array {
  for (let at = 0; at < bytes.byteLength; at += 65_536) {
    web().getRandomValues(bytes.subarray(at, Math.min(at + 65_536, bytes.byteLength)));
  }
  return bytes;
}

/** `node:crypto` (see the module documentation). */
export function crypto(): Record<string, unknown> {
  const randomBytes = (size: number, callback?: (error: unknown, bytes?: Uint8Array) => void) => {
    const bytes = fill(Buffer.alloc(size));
    if (callback) queueMicrotask(() => callback(null, bytes));
    return bytes;
  };
  const randomInt = (min: number, max?: number): number => {
    const [lo, hi] = max === undefined ? [0, min] : [min, max];
    const [word] = fill(new Uint8Array(4)).reduce((n, b) => [n[0] * 256 + b], [0]);
    return lo + ((word ?? 0) % (hi - lo));
  };
  const module: Record<string, unknown> = {
    randomBytes,
    randomFillSync: (view: Uint8Array) => fill(view),
    randomInt,
    randomUUID: () => web().randomUUID(),
    getRandomValues: <T>(view: T) => web().getRandomValues(view),
    webcrypto: web(),
    createHash: (algorithm: unknown) => new Digest(hashOf(algorithm).create()),
    createHmac: (algorithm: unknown, key: unknown) =>
      new Digest(hmac.create(hashOf(algorithm), toBytes(key)) as unknown as HashState),
    getHashes: () => Object.keys(HASHES),
    hash: (algorithm: unknown, data: unknown, encoding = 'hex') =>
      new Digest(hashOf(algorithm).create()).update(data).digest(encoding),
    timingSafeEqual: (a: Uint8Array, b: Uint8Array) => {
      if (a.byteLength !== b.byteLength)
        throw new RangeError('Input buffers must have the same byte length');
      let diff = 0;
      for (let i = 0; i < a.byteLength; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
      return diff === 0;
    },
  };
  for (const name of [
    'createCipheriv',
    'createDecipheriv',
    'createSign',
    'createVerify',
    'createPublicKey',
    'createPrivateKey',
    'createSecretKey',
    'generateKeyPair',
    'generateKeyPairSync',
    'pbkdf2',
    'pbkdf2Sync',
    'scrypt',
    'scryptSync',
  ]) {
    module[name] = unavailable(name);
  }
  module.default = module;
  return module;
}
