/**
 * One stored entry of the shield's cache: how usable it is at an instant,
 * how many bytes it is accounted for, and what a well-formed one holds.
 *
 * @module
 */
import { InvalidOptionError } from '@flotilla/protocol';
import type { CacheEntry, Freshness } from './types.ts';

/**
 * Fixed bytes counted per entry: its objects, the views of its bodies, LRU bookkeeping and index
 * sets. bench/src/cache-memory.ts measures about 1.9 KB of V8 heap per entry besides strings.
 */
const ENTRY_OVERHEAD = 2048;
/** Fixed bytes counted per header pair and per surrogate key. */
const ITEM_OVERHEAD = 32;

/**
 * How usable `entry` is at `now`: `fresh` before `freshUntil`, `stale` before
 * `staleWhileRevalidateUntil`, `stale-if-error-only` before `staleIfErrorUntil`, else undefined
 * (expired).
 */
export function freshnessOf(entry: CacheEntry, now: number): Freshness | undefined {
  if (now < entry.freshUntil) return 'fresh';
  if (now < entry.staleWhileRevalidateUntil) return 'stale';
  if (now < entry.staleIfErrorUntil) return 'stale-if-error-only';
  return undefined;
}

/**
 * Bytes an entry is accounted for (without variants): body, header names and values, the strings
 * it is indexed by, and fixed overheads. Strings count one byte per UTF-16 unit.
 */
export function entrySize(entry: CacheEntry): number {
  let n =
    ENTRY_OVERHEAD +
    entry.body.byteLength +
    entry.key.length +
    entry.url.length +
    entry.path.length +
    entry.app.length +
    entry.environment.length;
  for (const [name, value] of entry.headers) n += ITEM_OVERHEAD + name.length + value.length;
  for (const s of entry.surrogateKeys) n += ITEM_OVERHEAD + s.length;
  return n + replaySize(entry);
}

/** Bytes of an entry's {@link CacheEntry.replay}, counted as its headers are. */
function replaySize(entry: CacheEntry): number {
  const replay = entry.replay;
  if (replay === undefined) return 0;
  let n = ITEM_OVERHEAD + (replay.unreplayable?.length ?? 0);
  for (const [name, value] of replay.headers) n += ITEM_OVERHEAD + name.length + value.length;
  return n;
}

/**
 * Throws {@link InvalidOptionError} naming the malformed field (`entry.key`,
 * `entry.freshUntil`, …) of `entry`.
 */
export function validateEntry(entry: CacheEntry): void {
  if (typeof entry !== 'object' || entry === null) {
    throw new InvalidOptionError('entry', 'must be a cache entry object');
  }
  requireString('entry.key', entry.key);
  if (!(entry.body instanceof Uint8Array)) {
    throw new InvalidOptionError('entry.body', 'must be a Uint8Array');
  }
  if (!Number.isInteger(entry.status) || entry.status < 100 || entry.status > 999) {
    throw new InvalidOptionError(
      'entry.status',
      `must be an HTTP status, got ${String(entry.status)}`,
    );
  }
  if (!Array.isArray(entry.headers)) {
    throw new InvalidOptionError('entry.headers', 'must be an array of [name, value] pairs');
  }
  for (const field of [
    'storedAt',
    'freshUntil',
    'staleWhileRevalidateUntil',
    'staleIfErrorUntil',
  ] as const) {
    if (!Number.isFinite(entry[field])) {
      throw new InvalidOptionError(
        `entry.${field}`,
        `must be a finite number of ms, got ${String(entry[field])}`,
      );
    }
  }
  for (const field of ['app', 'environment', 'path', 'url'] as const) {
    if (typeof entry[field] !== 'string') {
      throw new InvalidOptionError(`entry.${field}`, 'must be a string');
    }
  }
  if (
    !Array.isArray(entry.surrogateKeys) ||
    entry.surrogateKeys.some((s) => typeof s !== 'string')
  ) {
    throw new InvalidOptionError('entry.surrogateKeys', 'must be an array of strings');
  }
  const replay = entry.replay;
  if (replay !== undefined) {
    if (
      typeof replay !== 'object' ||
      replay === null ||
      !Array.isArray(replay.headers) ||
      replay.headers.some(
        (h) => !Array.isArray(h) || typeof h[0] !== 'string' || typeof h[1] !== 'string',
      ) ||
      (replay.unreplayable !== undefined && typeof replay.unreplayable !== 'string')
    ) {
      throw new InvalidOptionError(
        'entry.replay',
        'must be { headers: [name, value][], unreplayable?: string }',
      );
    }
  }
}

/** Throws {@link InvalidOptionError} naming `name` unless `value` is a non-empty string. */
export function requireString(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new InvalidOptionError(name, 'must be a non-empty string');
  }
}
