/**
 * The shield cache's store on local disk: one file per entry (see
 * `disk-format.ts`), bounded by bytes, written off the event loop, checked
 * when loaded, so a restarted shield keeps its cache.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sharedCounter, sharedGauge, startAtZero } from '@flotilla/metrics';
import { InvalidOptionError, type LogFn, positiveInt } from '@flotilla/protocol';
import type { Counter, Gauge, Registry } from 'prom-client';
import { CorruptEntryError, decodeEntry, encodeEntry, type StoredEntry } from './disk-format.ts';
import { freshnessOf } from './entry.ts';
import { type IndexedEntries, type IndexedEntry, PurgeIndex } from './purge-index.ts';
import type { CacheEntry, PurgeSelector } from './types.ts';

/** Options of {@link DiskStore}. */
export interface DiskStoreOptions {
  /** Directory of the entry files (created when missing). One shield per directory. */
  dir: string;
  /**
   * Bound of the files, in bytes; the least recently used entries are deleted beyond it.
   * @default 1073741824 (1 GiB)
   */
  maxBytes?: number;
  /**
   * Bytes of entries waiting to be written; past it a new write is dropped (the entry stays in
   * memory only, and an older copy on disk is deleted).
   * @default 67108864 (64 MiB)
   */
  maxPendingBytes?: number;
  /**
   * Bytes of memory the records of the entries on disk may take (see
   * {@link DiskStore.indexBytes}); the least recently used entries are deleted beyond it.
   * @default maxBytes / 64
   */
  maxIndexBytes?: number;
  /** Files written or deleted at once. @default 4 (libuv's thread pool) */
  concurrency?: number;
  /** Registry for the `flotilla_shield_cache_disk_*` metrics. @default a private registry */
  registry?: Registry;
  /** Clock in ms. @default Date.now */
  now?: () => number;
  /** Structured log sink. @default discard */
  log?: LogFn;
}

/** What {@link DiskStore.open} found. */
export interface DiskLoad {
  /** Entries kept. */
  entries: number;
  /** Files dropped and deleted: corrupt or truncated, expired, or half-written (`.tmp`). */
  corrupt: number;
  expired: number;
  partial: number;
}

/** What the store keeps in memory of an entry on disk: enough for freshness, purge and bounds. */
interface DiskRecord extends IndexedEntry {
  readonly file: string;
  /** Bytes of the file (an estimate until written). */
  bytes: number;
  readonly staleIfErrorUntil: number;
  readonly storedAt: number;
}

type Op = { kind: 'write'; stored: StoredEntry; bytes: number } | { kind: 'remove' };

/**
 * Fixed bytes of memory counted per record (object, map slots, index sets): bench
 * cache-memory measures about 1 KB of V8 heap per record besides its strings.
 */
const RECORD_OVERHEAD = 1024;
const FILE_NAME = /^[0-9a-f]{64}\.entry$/;

interface DiskMetrics {
  entries: Gauge;
  bytes: Gauge;
  dropped: Counter<'reason'>;
}

/**
 * Entries on local disk, one file each, named by the SHA-256 of the cache key. Writes and
 * deletions are queued and run `concurrency` at a time on libuv's thread pool (a file is written
 * under a temporary name and renamed, so a crash leaves a whole file or a `.tmp` one); a key's
 * later change replaces its queued one. Every file read ({@link DiskStore.open},
 * {@link DiskStore.read}) is checked (magic, lengths, SHA-256 over metadata and bodies): a bad
 * one is deleted, never returned. The records (key, freshness, purge fields) are kept in memory
 * for purge and bounds; {@link DiskStore.indexBytes} is what they cost.
 *
 * Metrics: `flotilla_shield_cache_disk_entries`, `flotilla_shield_cache_disk_bytes` (gauges) and
 * `flotilla_shield_cache_disk_dropped_total{reason="corrupt"|"expired"|"partial"|"size"|"backlog"|"error"}`.
 */
export class DiskStore {
  readonly dir: string;
  readonly #maxBytes: number;
  readonly #maxPendingBytes: number;
  readonly #maxIndexBytes: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #log: LogFn;
  readonly #metrics: DiskMetrics;
  /** key → record; insertion order is recency order. */
  readonly #records = new Map<string, DiskRecord>();
  readonly #index = new PurgeIndex();
  readonly #entries: IndexedEntries = {
    peek: (key) => this.#records.get(key),
    keys: () => this.#records.keys(),
  };
  readonly #pending = new Map<string, Op>();
  readonly #running = new Map<string, Op>();
  readonly #reads = new Map<string, Promise<StoredEntry | undefined>>();
  #pendingBytes = 0;
  #bytes = 0;
  #indexBytes = 0;
  #tmpSeq = 0;
  #idle: Array<() => void> = [];
  /** key → who waits for its queued ops to be done. */
  readonly #waiters = new Map<string, Array<() => void>>();

  constructor(options: DiskStoreOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') {
      throw new InvalidOptionError('dir', 'must be a directory path');
    }
    this.dir = options.dir;
    this.#maxBytes = positiveInt('maxBytes', options.maxBytes, 1024 * 1024 * 1024);
    this.#maxIndexBytes = positiveInt(
      'maxIndexBytes',
      options.maxIndexBytes,
      Math.max(1, Math.floor(this.#maxBytes / 64)),
    );
    this.#maxPendingBytes = positiveInt('maxPendingBytes', options.maxPendingBytes, 64 << 20);
    this.#concurrency = positiveInt('concurrency', options.concurrency, 4);
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => {});
    this.#metrics = diskMetrics(options.registry);
  }

  /** Entries on disk (or queued to be). */
  get size(): number {
    return this.#records.size;
  }

  /** Bytes of the files (or of those queued); never above the bound once writes are done. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Bytes of memory the records take (counted by the cache against its memory bound). */
  get indexBytes(): number {
    return this.#indexBytes;
  }

  /**
   * Creates the directory and loads the records of the files in it, checking each: a corrupt,
   * truncated, expired or half-written file is deleted. The most recently stored entries are
   * kept within the bound.
   */
  async open(): Promise<DiskLoad> {
    await mkdir(this.dir, { recursive: true });
    const names = await readdir(this.dir);
    const load: DiskLoad = { entries: 0, corrupt: 0, expired: 0, partial: 0 };
    const found: Array<{ record: DiskRecord; key: string }> = [];
    let next = 0;
    const one = async (name: string): Promise<void> => {
      const path = join(this.dir, name);
      if (name.endsWith('.tmp')) {
        load.partial++;
        this.#metrics.dropped.inc({ reason: 'partial' });
        await unlinkQuietly(path);
        return;
      }
      if (!FILE_NAME.test(name)) return;
      let stored: StoredEntry;
      let bytes: number;
      try {
        const file = await readFile(path);
        bytes = file.byteLength;
        stored = decodeEntry(file);
        if (fileOf(stored.entry.key) !== name) throw new CorruptEntryError('file name mismatch');
      } catch (err) {
        if (!(err instanceof CorruptEntryError)) throw err;
        load.corrupt++;
        this.#metrics.dropped.inc({ reason: 'corrupt' });
        this.#log({ msg: 'cache entry file dropped', file: name, reason: err.message });
        await unlinkQuietly(path);
        return;
      }
      if (freshnessOf(stored.entry, this.#now()) === undefined) {
        load.expired++;
        this.#metrics.dropped.inc({ reason: 'expired' });
        await unlinkQuietly(path);
        return;
      }
      found.push({ key: stored.entry.key, record: recordOf(stored, name, bytes) });
    };
    // A few files at a time: reads run on the thread pool, checks between them.
    await Promise.all(
      Array.from({ length: this.#concurrency }, async () => {
        while (next < names.length) await one(names[next++] as string);
      }),
    );
    found.sort((a, b) => a.record.storedAt - b.record.storedAt);
    for (const { key, record } of found) this.#add(key, record);
    this.#evictToBound();
    load.entries = this.#records.size;
    this.#updateGauges();
    return load;
  }

  /** Whether an entry for `key` is on disk (or queued to be). */
  has(key: string): boolean {
    return this.#records.has(key);
  }

  /**
   * The entry stored under `key`, read and checked, or undefined: none, or its file was bad
   * (then deleted) or expired. Makes it the most recently used.
   */
  read(key: string): Promise<StoredEntry | undefined> {
    // A write queued or in flight has the newest copy (the file may still be the older one).
    const queued = this.#pending.get(key) ?? this.#running.get(key);
    if (queued?.kind === 'write') return Promise.resolve(queued.stored);
    let reading = this.#reads.get(key);
    if (reading === undefined) {
      reading = this.#read(key).finally(() => this.#reads.delete(key));
      this.#reads.set(key, reading);
    }
    return reading;
  }

  /** The entry of `key` after its record changed during a read. */
  #readAgain(key: string): Promise<StoredEntry | undefined> {
    const queued = this.#pending.get(key) ?? this.#running.get(key);
    if (queued?.kind === 'write') return Promise.resolve(queued.stored);
    return this.#read(key);
  }

  async #read(key: string): Promise<StoredEntry | undefined> {
    const record = this.#records.get(key);
    if (record === undefined) return undefined;
    let stored: StoredEntry;
    try {
      stored = decodeEntry(await readFile(join(this.dir, record.file)));
      if (stored.entry.key !== key) throw new CorruptEntryError('key mismatch');
    } catch (err) {
      if (this.#records.get(key) !== record) return this.#readAgain(key);
      const reason = err instanceof CorruptEntryError ? 'corrupt' : 'error';
      this.#metrics.dropped.inc({ reason });
      this.#log({ msg: 'cache entry file dropped', key, reason: (err as Error).message });
      this.remove(key);
      return undefined;
    }
    if (this.#records.get(key) !== record) return this.#readAgain(key);
    if (freshnessOf(stored.entry, this.#now()) === undefined) {
      this.#metrics.dropped.inc({ reason: 'expired' });
      this.remove(key);
      return undefined;
    }
    this.#records.delete(key);
    this.#records.set(key, record);
    return stored;
  }

  /** Queues `stored` to be written (replacing what is on disk or queued for its key). */
  write(stored: StoredEntry): void {
    const key = stored.entry.key;
    const bytes = fileBytes(stored);
    if (bytes > this.#maxBytes || this.#pendingBytes + bytes > this.#maxPendingBytes) {
      this.#metrics.dropped.inc({ reason: bytes > this.#maxBytes ? 'size' : 'backlog' });
      this.remove(key);
      return;
    }
    this.#drop(key);
    this.#add(key, recordOf(stored, fileOf(key), bytes));
    this.#queue(key, { kind: 'write', stored, bytes });
    this.#evictToBound();
    this.#updateGauges();
  }

  /** Deletes the entry of `key` (queued). @returns whether there was one. */
  remove(key: string): boolean {
    const had = this.#drop(key);
    if (had) {
      this.#queue(key, { kind: 'remove' });
      this.#updateGauges();
    }
    return had;
  }

  /** The keys of the entries `selector` matches (see `CacheStore.purge`), deleting none. */
  keysOf(selector: PurgeSelector): string[] {
    return this.#index.select(selector, this.#entries);
  }

  /** Deletes the entries `selector` matches (see `CacheStore.purge`); returns their keys. */
  purge(selector: PurgeSelector): string[] {
    const keys = this.#index.select(selector, this.#entries);
    for (const key of keys) this.remove(key);
    return keys;
  }

  /** Deletes the entries past every window at `now`; returns how many. */
  prune(now: number = this.#now()): number {
    const expired: string[] = [];
    for (const [key, record] of this.#records) {
      if (record.staleIfErrorUntil <= now) expired.push(key);
    }
    for (const key of expired) this.remove(key);
    if (expired.length > 0) this.#metrics.dropped.inc({ reason: 'expired' }, expired.length);
    return expired.length;
  }

  /** Resolves once every queued write and deletion is done. */
  flush(): Promise<void> {
    if (this.#pending.size === 0 && this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Resolves once the deletions queued so far are done (files gone): a purge is acknowledged
   * after it, so a crash right after cannot bring a purged entry back.
   */
  removalsDone(): Promise<void> {
    const keys: string[] = [];
    for (const ops of [this.#pending, this.#running]) {
      for (const [key, op] of ops) if (op.kind === 'remove') keys.push(key);
    }
    return Promise.all(
      keys.map(
        (key) =>
          new Promise<void>((resolve) => {
            const list = this.#waiters.get(key);
            if (list) list.push(resolve);
            else this.#waiters.set(key, [resolve]);
          }),
      ),
    ).then(() => {});
  }

  #add(key: string, record: DiskRecord): void {
    this.#records.set(key, record);
    this.#index.add(key, record);
    this.#bytes += record.bytes;
    this.#indexBytes += recordMemory(key, record);
  }

  /** Forgets the record of `key` (its file stays until a queued op). */
  #drop(key: string): boolean {
    const record = this.#records.get(key);
    if (record === undefined) return false;
    this.#records.delete(key);
    this.#index.remove(key, record);
    this.#bytes -= record.bytes;
    this.#indexBytes -= recordMemory(key, record);
    return true;
  }

  #evictToBound(): void {
    for (const key of this.#records.keys()) {
      if (this.#bytes <= this.#maxBytes && this.#indexBytes <= this.#maxIndexBytes) break;
      this.#metrics.dropped.inc({ reason: 'size' });
      this.remove(key);
    }
  }

  #queue(key: string, op: Op): void {
    const before = this.#pending.get(key);
    if (before?.kind === 'write') this.#pendingBytes -= before.bytes;
    if (op.kind === 'write') this.#pendingBytes += op.bytes;
    // Re-inserted: the queue runs in order of the latest change.
    this.#pending.delete(key);
    this.#pending.set(key, op);
    this.#pump();
  }

  #pump(): void {
    for (const [key, op] of this.#pending) {
      if (this.#running.size >= this.#concurrency) return;
      if (this.#running.has(key)) continue;
      this.#pending.delete(key);
      this.#running.set(key, op);
      void this.#run(key, op).finally(() => {
        if (op.kind === 'write') this.#pendingBytes -= op.bytes;
        this.#running.delete(key);
        if (!this.#pending.has(key)) {
          for (const resolve of this.#waiters.get(key) ?? []) resolve();
          this.#waiters.delete(key);
        }
        this.#pump();
        if (this.#pending.size === 0 && this.#running.size === 0) {
          for (const resolve of this.#idle.splice(0)) resolve();
        }
      });
    }
  }

  async #run(key: string, op: Op): Promise<void> {
    const path = join(this.dir, fileOf(key));
    if (op.kind === 'remove') {
      await unlinkQuietly(path);
      return;
    }
    const tmp = `${path}.${process.pid}-${++this.#tmpSeq}.tmp`;
    try {
      const bytes = encodeEntry(op.stored);
      await writeFile(tmp, bytes);
      await rename(tmp, path);
      const record = this.#records.get(key);
      if (record !== undefined && record.bytes !== bytes.byteLength) {
        this.#bytes += bytes.byteLength - record.bytes;
        record.bytes = bytes.byteLength;
        this.#evictToBound();
        this.#updateGauges();
      }
    } catch (err) {
      await unlinkQuietly(tmp);
      this.#metrics.dropped.inc({ reason: 'error' });
      this.#log({ msg: 'cache entry not written', key, error: (err as Error).message });
      // The entry on disk, if any, is outdated: it goes too (unless a newer op is queued).
      if (!this.#pending.has(key)) this.remove(key);
    }
  }

  #updateGauges(): void {
    this.#metrics.entries.set(this.#records.size);
    this.#metrics.bytes.set(this.#bytes);
  }
}

/** The file name of `key`'s entry. */
function fileOf(key: string): string {
  return `${createHash('sha256').update(key).digest('hex')}.entry`;
}

/** Bytes of `stored`'s file, less its metadata (a close estimate before it is written). */
function fileBytes(stored: StoredEntry): number {
  const e: CacheEntry = stored.entry;
  let n = 1024 + e.body.byteLength + (stored.br?.byteLength ?? 0) + (stored.gzip?.byteLength ?? 0);
  for (const [name, value] of e.headers) n += name.length + value.length;
  for (const [name, value] of e.replay?.headers ?? []) n += name.length + value.length;
  return n;
}

function recordOf(stored: StoredEntry, file: string, bytes: number): DiskRecord {
  const e = stored.entry;
  return {
    file,
    bytes,
    url: e.url,
    app: e.app,
    environment: e.environment,
    path: e.path,
    surrogateKeys: e.surrogateKeys,
    storedAt: e.storedAt,
    staleIfErrorUntil: e.staleIfErrorUntil,
  };
}

function recordMemory(key: string, r: DiskRecord): number {
  let n = RECORD_OVERHEAD + key.length + r.url.length + r.path.length;
  for (const s of r.surrogateKeys) n += 32 + s.length;
  return n;
}

async function unlinkQuietly(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
}

function diskMetrics(registry: Registry | undefined): DiskMetrics {
  const metrics: DiskMetrics = {
    entries: sharedGauge(registry, {
      name: 'flotilla_shield_cache_disk_entries',
      help: 'Entries of the shield cache on local disk (--cache-dir).',
    }),
    bytes: sharedGauge(registry, {
      name: 'flotilla_shield_cache_disk_bytes',
      help: 'Bytes of the shield cache on local disk (--cache-dir), bounded by --cache-disk-mb.',
    }),
    dropped: sharedCounter(registry, {
      name: 'flotilla_shield_cache_disk_dropped_total',
      help: 'Entry files of the shield cache deleted or not written, by reason (corrupt, expired, partial, size, backlog, error).',
      labelNames: ['reason'],
    }),
  };
  startAtZero(
    metrics.dropped,
    ['corrupt', 'expired', 'partial', 'size', 'backlog', 'error'].map((reason) => ({ reason })),
  );
  return metrics;
}
