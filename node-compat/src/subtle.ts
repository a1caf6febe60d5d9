/**
 * `crypto.subtle.digest` (SHA-1, SHA-256, SHA-384, SHA-512) for an isolate
 * whose web crypto has no `subtle`: Next.js's Node runtime hashes cache keys
 * and request URLs with it. Plain JavaScript
 * ([`@noble/hashes`](https://www.npmjs.com/package/@noble/hashes)); the
 * other SubtleCrypto methods (keys, encryption, signatures) throw, naming
 * themselves.
 *
 * @module
 */
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';

const DIGESTS: Readonly<Record<string, (bytes: Uint8Array) => Uint8Array>> = Object.freeze({
  'SHA-1': sha1,
  'SHA-256': sha256,
  'SHA-384': sha384,
  'SHA-512': sha512,
});

function bytesOf(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
  }
  throw new TypeError('crypto.subtle.digest: data must be an ArrayBuffer or a view of one');
}

/** A SubtleCrypto with `digest` only. */
export function subtleWithDigest(): Record<string, unknown> {
  const subtle: Record<string, unknown> = {
    async digest(algorithm: unknown, data: unknown): Promise<ArrayBuffer> {
      const name = String(
        typeof algorithm === 'object' && algorithm !== null
          ? (algorithm as { name?: unknown }).name
          : algorithm,
      ).toUpperCase();
      const digest = DIGESTS[name];
      if (digest === undefined) {
        throw new Error(
          `crypto.subtle.digest: ${name} is not available in Flotilla's sandbox (SHA-1, SHA-256, SHA-384, SHA-512 are)`,
        );
      }
      const out = digest(bytesOf(data));
      return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
    },
  };
  for (const name of [
    'encrypt',
    'decrypt',
    'sign',
    'verify',
    'generateKey',
    'deriveKey',
    'deriveBits',
    'importKey',
    'exportKey',
    'wrapKey',
    'unwrapKey',
  ]) {
    subtle[name] = async () => {
      throw new Error(
        `crypto.subtle.${name}() is not available in Flotilla's sandbox (the isolate's web crypto has random values and digests only)`,
      );
    };
  }
  return subtle;
}
