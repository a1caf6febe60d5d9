/**
 * `node:crypto` over the isolate's web crypto (`getRandomValues`,
 * `randomUUID`): random bytes and ids. Hashes, HMACs, ciphers and keys are
 * not given (the isolate has no `crypto.subtle`): they throw, naming the
 * function.
 *
 * @module
 */
import { Buffer } from './buffer.ts';

interface WebCrypto {
  getRandomValues<T>(view: T): T;
  randomUUID(): string;
}

const web = (): WebCrypto => (globalThis as unknown as { crypto: WebCrypto }).crypto;

function unavailable(name: string): () => never {
  return () => {
    throw new Error(
      `node:crypto ${name}() is not available in Flotilla's sandbox (the isolate has random bytes only, no hashes, ciphers or keys)`,
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
    timingSafeEqual: (a: Uint8Array, b: Uint8Array) => {
      if (a.byteLength !== b.byteLength)
        throw new RangeError('Input buffers must have the same byte length');
      let diff = 0;
      for (let i = 0; i < a.byteLength; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
      return diff === 0;
    },
  };
  for (const name of [
    'createHash',
    'createHmac',
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
    'hash',
  ]) {
    module[name] = unavailable(name);
  }
  module.default = module;
  return module;
}
