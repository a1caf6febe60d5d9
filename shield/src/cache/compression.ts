/**
 * The compressed variants of stored responses: which ones are worth
 * compressing, and the `br` / `gzip` encoders with their levels.
 *
 * @module
 */
import { brotliCompressSync, gzipSync, constants as zlibConstants } from 'node:zlib';
import { InvalidOptionError, nonNegativeInt } from '@flotilla/protocol';
import { headerValues, parseCacheControl } from './cacheability.ts';
import type { CacheEntry } from './types.ts';

const COMPRESSIBLE_TYPES = new Set([
  'application/json',
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/xml',
  'application/wasm',
  'application/x-ndjson',
  'application/vnd.ms-fontobject',
  'font/ttf',
  'font/otf',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
]);

/** Whether the `content-type` is worth compressing (text, JSON, XML, JS, SVG, wasm, some fonts). */
export function isCompressibleType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  if (type === 'text/event-stream') return false;
  return (
    type.startsWith('text/') ||
    type.endsWith('+json') ||
    type.endsWith('+xml') ||
    COMPRESSIBLE_TYPES.has(type)
  );
}

/** Options of {@link Compressor}. */
export interface CompressorOptions {
  /** Smallest identity body that gets compressed variants, in bytes. @default 1024 */
  compressMinBytes?: number;
  /** Brotli quality of the `br` variant (0–11). @default 5 */
  brotliQuality?: number;
  /** Gzip level of the `gzip` variant (0–9; -1: zlib's default). @default -1 */
  gzipLevel?: number;
}

/**
 * Compresses stored bodies: only compressible content types, bodies of at
 * least `compressMinBytes`, no upstream `content-encoding`, no
 * `content-range` and no `cache-control: no-transform`. Synchronous (brotli
 * quality 5 costs about a millisecond per 100 KB).
 */
export class Compressor {
  readonly #compressMinBytes: number;
  readonly #brotliQuality: number;
  readonly #gzipLevel: number;

  constructor(options: CompressorOptions = {}) {
    this.#compressMinBytes = nonNegativeInt('compressMinBytes', options.compressMinBytes, 1024);
    this.#brotliQuality = nonNegativeInt('brotliQuality', options.brotliQuality, 5);
    if (this.#brotliQuality > 11) {
      throw new InvalidOptionError('brotliQuality', `must be 0–11, got ${this.#brotliQuality}`);
    }
    const gzipLevel = options.gzipLevel ?? -1;
    if (!Number.isInteger(gzipLevel) || gzipLevel < -1 || gzipLevel > 9) {
      throw new InvalidOptionError(
        'gzipLevel',
        `must be an integer from -1 to 9, got ${String(gzipLevel)}`,
      );
    }
    this.#gzipLevel = gzipLevel;
  }

  /** Whether `entry` gets compressed variants. */
  compressible(entry: CacheEntry): boolean {
    if (entry.body.byteLength < this.#compressMinBytes || entry.body.byteLength === 0) return false;
    const encoding = headerValues(entry.headers, 'content-encoding').join(',').trim().toLowerCase();
    if (encoding !== '' && encoding !== 'identity') return false;
    if (headerValues(entry.headers, 'content-range').length > 0) return false;
    if (parseCacheControl(headerValues(entry.headers, 'cache-control')).has('no-transform')) {
      return false;
    }
    return isCompressibleType(headerValues(entry.headers, 'content-type')[0]);
  }

  /** `body` compressed with `encoding`, in a buffer of its exact size. */
  compress(body: Uint8Array, encoding: 'br' | 'gzip'): Uint8Array {
    const out =
      encoding === 'br'
        ? brotliCompressSync(body, {
            params: {
              [zlibConstants.BROTLI_PARAM_QUALITY]: this.#brotliQuality,
              [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
              // A window no larger than the body: the encoder's buffers (4 MiB at the default
              // 22 bits) are sized from it, and their churn is what the process keeps as RSS.
              [zlibConstants.BROTLI_PARAM_LGWIN]: windowBits(body.byteLength),
            },
          })
        : gzipSync(body, { level: this.#gzipLevel });
    // Copy to an exact-size buffer: zlib may hand back a view of a larger chunk.
    return new Uint8Array(out);
  }
}

/** Brotli window bits that cover `n` bytes (16–24). */
function windowBits(n: number): number {
  return Math.min(24, Math.max(16, Math.ceil(Math.log2(n + 1))));
}
