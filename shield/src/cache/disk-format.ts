/**
 * The file one cache entry is kept in on disk: its metadata (key, status,
 * headers, freshness windows, purge fields, which compressed variants it
 * has), its bodies, and a SHA-256 over all of it, so a corrupt or truncated
 * file is recognised and never served.
 *
 * Layout (integers big-endian):
 *
 * | bytes | what |
 * | ----- | ---- |
 * | 4     | magic `FLC1` |
 * | 4     | length M of the metadata |
 * | M     | metadata, UTF-8 JSON ({@link DiskMeta}) |
 * | …     | identity body, then `br`, then `gzip` (lengths in the metadata) |
 * | 32    | SHA-256 of everything before it |
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { validateEntry } from './entry.ts';
import type { CacheEntry } from './types.ts';

const MAGIC = 0x464c4331; // "FLC1"
const HASH_BYTES = 32;
const HEAD_BYTES = 8;
/** Version of {@link DiskMeta}; a file of another version is dropped. */
const VERSION = 1;

/**
 * A stored entry with its compressed variants: `undefined` when not made yet,
 * `null` when compression did not make the body smaller.
 */
export interface StoredEntry {
  entry: CacheEntry;
  br?: Uint8Array | null;
  gzip?: Uint8Array | null;
}

/** The metadata of an entry file: the entry without its body, and the bodies' lengths. */
interface DiskMeta extends Omit<CacheEntry, 'body'> {
  v: number;
  bodyBytes: number;
  /** Length of the variant, `null`: not smaller, absent: not made. */
  br?: number | null;
  gzip?: number | null;
}

/** Why an entry file was refused. */
export class CorruptEntryError extends Error {}

/** The bytes of the file that keeps `stored`. */
export function encodeEntry(stored: StoredEntry): Uint8Array {
  const { body, ...rest } = stored.entry;
  const meta: DiskMeta = {
    ...rest,
    v: VERSION,
    bodyBytes: body.byteLength,
    ...variantMeta('br', stored.br),
    ...variantMeta('gzip', stored.gzip),
  };
  const metaBytes = Buffer.from(JSON.stringify(meta), 'utf8');
  const parts = [body, stored.br, stored.gzip].filter(
    (p): p is Uint8Array => p instanceof Uint8Array,
  );
  const size =
    HEAD_BYTES + metaBytes.byteLength + parts.reduce((n, p) => n + p.byteLength, 0) + HASH_BYTES;
  const out = Buffer.allocUnsafeSlow(size);
  out.writeUInt32BE(MAGIC, 0);
  out.writeUInt32BE(metaBytes.byteLength, 4);
  let at = HEAD_BYTES;
  for (const p of [metaBytes, ...parts]) {
    out.set(p, at);
    at += p.byteLength;
  }
  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return out;
}

function variantMeta(name: 'br' | 'gzip', v: Uint8Array | null | undefined) {
  if (v === undefined) return {};
  return { [name]: v === null ? null : v.byteLength };
}

/**
 * The entry kept in `file` (the whole file's bytes). Bodies are exact copies, not views of
 * `file`. @throws CorruptEntryError when the file is truncated, altered or not an entry file.
 */
export function decodeEntry(file: Uint8Array): StoredEntry {
  if (file.byteLength < HEAD_BYTES + HASH_BYTES) throw new CorruptEntryError('truncated');
  const buf = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (buf.readUInt32BE(0) !== MAGIC) throw new CorruptEntryError('not an entry file');
  const end = buf.byteLength - HASH_BYTES;
  const hash = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!hash.equals(buf.subarray(end))) throw new CorruptEntryError('checksum mismatch');
  const metaBytes = buf.readUInt32BE(4);
  if (HEAD_BYTES + metaBytes > end) throw new CorruptEntryError('metadata past the end');
  let meta: DiskMeta;
  try {
    meta = JSON.parse(buf.toString('utf8', HEAD_BYTES, HEAD_BYTES + metaBytes)) as DiskMeta;
  } catch {
    throw new CorruptEntryError('metadata is not JSON');
  }
  if (typeof meta !== 'object' || meta === null || meta.v !== VERSION) {
    throw new CorruptEntryError('unknown version');
  }
  let at = HEAD_BYTES + metaBytes;
  const take = (n: unknown): Uint8Array => {
    if (!Number.isInteger(n) || (n as number) < 0 || at + (n as number) > end) {
      throw new CorruptEntryError('lengths do not match the file');
    }
    const part = new Uint8Array(buf.subarray(at, at + (n as number)));
    at += n as number;
    return part;
  };
  const { v: _v, bodyBytes, br, gzip, ...rest } = meta;
  const entry = { ...rest, body: take(bodyBytes) } as CacheEntry;
  const stored: StoredEntry = { entry };
  if (br !== undefined) stored.br = br === null ? null : take(br);
  if (gzip !== undefined) stored.gzip = gzip === null ? null : take(gzip);
  if (at !== end) throw new CorruptEntryError('lengths do not match the file');
  try {
    validateEntry(entry);
  } catch (err) {
    throw new CorruptEntryError(`malformed entry: ${(err as Error).message}`);
  }
  return stored;
}
