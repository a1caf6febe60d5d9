/**
 * The shield's in-memory response store: an LRU bounded by bytes (`lru-cache`), freshness by an
 * injected clock, purge indexes (URL, surrogate key, app, environment), lazily compressed
 * variants per accept-encoding, and hit-for-pass markers.
 *
 * @module
 */
import { normalizeAcceptEncoding } from '@flotilla/manifest';
import { combinations, sharedCounter, sharedGauge, startAtZero } from '@flotilla/metrics';
import { InvalidOptionError, positiveInt } from '@flotilla/protocol';
import { LRUCache } from 'lru-cache';
import type { Counter, Gauge, Registry } from 'prom-client';
import { Compressor, type CompressorOptions } from './compression.ts';
import type { StoredEntry } from './disk-format.ts';
import { type DiskLoad, DiskStore, type DiskStoreOptions } from './disk-store.ts';
import { entrySize, freshnessOf, validateEntry } from './entry.ts';
import { type IndexedEntries, PurgeIndex } from './purge-index.ts';
import type { CacheEntry, Freshness, PurgeSelector } from './types.ts';

/** Options of {@link CacheStore}. */
export interface CacheStoreOptions extends CompressorOptions {
  /**
   * Bound of the store, in bytes: identity bodies, compressed variants, headers and a fixed
   * per-entry overhead. The least recently used entries are evicted beyond it.
   * @default 268435456 (256 MiB)
   */
  maxBytes?: number;
  /** Largest single entry (as counted for {@link CacheStoreOptions.maxBytes}); larger ones are not stored. @default maxBytes */
  maxEntryBytes?: number;
  /** Registry for the `flotilla_shield_cache_*` metrics. @default a private registry */
  registry?: Registry;
  /** Most hit-for-pass markers kept (least recently used dropped first). @default 100000 */
  hitForPassMaxKeys?: number;
  /** Clock in ms, used when a method is called without `now`. @default Date.now */
  now?: () => number;
  /**
   * A store on local disk behind the memory (see {@link DiskStore}): every stored entry and
   * variant is written there too, entries evicted from memory stay there within its own bound,
   * and a lookup that misses memory may {@link CacheStore.restore} from it. Its records count
   * against {@link CacheStoreOptions.maxBytes}, and may take half of it at most (by default).
   * Call {@link CacheStore.open} before use.
   * @default none: memory only
   */
  disk?: Omit<DiskStoreOptions, 'registry' | 'now'>;
}

/** What {@link CacheStore.get} answers. */
export interface CacheLookup {
  entry: CacheEntry;
  freshness: Freshness;
}

/** A body as it is sent: the bytes and the content-coding the store applied. */
export interface EncodedBody {
  body: Uint8Array;
  /**
   * The coding the store applied (`content-encoding` to announce). `identity`: the stored bytes
   * as they are — which may already carry the upstream's own `content-encoding`, never
   * re-compressed.
   */
  encoding: 'br' | 'gzip' | 'identity';
}

/** What {@link CacheStore.prune} removed. */
export interface PruneResult {
  /** Entries past every stale window. */
  entries: number;
  /** Hit-for-pass markers past their end. */
  hitForPassKeys: number;
}

interface Slot {
  readonly entry: CacheEntry;
  /** Accounted bytes: the entry plus the variants it holds. */
  readonly size: number;
  /** Compressed variant; `null`: compression did not make it smaller. */
  readonly br?: Uint8Array | null;
  readonly gzip?: Uint8Array | null;
}

interface CacheMetrics {
  entries: Gauge;
  bytes: Gauge;
  evictions: Counter<'reason'>;
  hitForPass: Gauge;
}

/**
 * In-memory response store bounded by bytes.
 *
 * Entries are looked up by cache key; {@link CacheStore.get} tells how usable the entry is at
 * `now` (fresh, stale within stale-while-revalidate, or only usable when the render fails) and
 * drops entries past every window. Purge uses indexes by URL, surrogate key, app and environment;
 * a path purge matches the pattern against the candidates' paths (all entries, or those of the
 * given app / environment).
 *
 * Compressed variants (`br`, `gzip`) are made on first request, once per entry, and counted in
 * the entry's size: only for compressible content types, bodies of at least
 * {@link CacheStoreOptions.compressMinBytes}, no upstream `content-encoding`, no `content-range`
 * and no `cache-control: no-transform`. Compression is synchronous (brotli quality 5 costs about
 * a millisecond per 100 KB) and happens once per entry and coding.
 *
 * Metrics on the registry: `flotilla_shield_cache_entries`, `flotilla_shield_cache_bytes`
 * (gauges), `flotilla_shield_cache_evictions_total{reason="size"|"expired"|"purge"}` and
 * `flotilla_shield_cache_hit_for_pass_keys`. Explicit {@link CacheStore.delete} and replacement by
 * {@link CacheStore.set} are not evictions. One store per registry: a second store on the same
 * registry shares (and overwrites) the same series.
 *
 * @example
 * const store = new CacheStore({ maxBytes: 64 * 1024 * 1024, registry });
 * store.set(entry);
 * const found = store.get(entry.key, Date.now());
 * if (found?.freshness === 'fresh') {
 *   const { body, encoding } = store.body(found.entry, request.headers.get('accept-encoding'));
 * }
 */
export class CacheStore {
  readonly #lru: LRUCache<string, Slot>;
  /** key → end (ms); insertion order is recency order (a Map, so no preallocation). */
  readonly #hitForPass = new Map<string, number>();
  readonly #hitForPassMaxKeys: number;
  readonly #maxBytes: number;
  readonly #maxEntryBytes: number;
  readonly #compressor: Compressor;
  readonly #now: () => number;
  readonly #metrics: CacheMetrics;
  readonly #disk: DiskStore | undefined;
  readonly #index = new PurgeIndex();
  /** The stored entries, as the purge index reads them. */
  readonly #entries: IndexedEntries = {
    peek: (key) => this.#lru.peek(key)?.entry,
    keys: () => this.#lru.keys(),
  };

  constructor(options: CacheStoreOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('options', 'must be an object');
    }
    this.#maxBytes = positiveInt('maxBytes', options.maxBytes, 256 * 1024 * 1024);
    this.#maxEntryBytes = positiveInt('maxEntryBytes', options.maxEntryBytes, this.#maxBytes);
    if (this.#maxEntryBytes > this.#maxBytes) {
      throw new InvalidOptionError('maxEntryBytes', `must be at most maxBytes (${this.#maxBytes})`);
    }
    this.#hitForPassMaxKeys = positiveInt('hitForPassMaxKeys', options.hitForPassMaxKeys, 100_000);
    this.#compressor = new Compressor(options);
    if (options.now !== undefined && typeof options.now !== 'function') {
      throw new InvalidOptionError('now', 'must be a function returning milliseconds');
    }
    this.#now = options.now ?? Date.now;
    if (options.registry !== undefined && typeof options.registry?.getSingleMetric !== 'function') {
      throw new InvalidOptionError('registry', 'must be a prom-client Registry');
    }
    this.#metrics = cacheMetrics(options.registry);
    this.#disk =
      options.disk === undefined
        ? undefined
        : new DiskStore({
            maxIndexBytes: Math.floor(this.#maxBytes / 2),
            ...options.disk,
            now: this.#now,
            ...(options.registry ? { registry: options.registry } : {}),
          });
    this.#lru = new LRUCache<string, Slot>({
      maxSize: this.#maxBytes,
      maxEntrySize: this.#maxBytes,
      sizeCalculation: (slot) => slot.size,
      dispose: (slot, key, reason) => this.#disposed(slot, key, reason),
    });
    this.#updateGauges();
  }

  /** Number of entries held. */
  get size(): number {
    return this.#lru.size;
  }

  /**
   * Bytes accounted (entries and their variants, and the records of the entries on disk); never
   * above {@link CacheStore.maxBytes}.
   */
  get bytes(): number {
    return this.#lru.calculatedSize + (this.#disk?.indexBytes ?? 0);
  }

  /** The store on disk, when there is one. */
  get disk(): DiskStore | undefined {
    return this.#disk;
  }

  /** Loads the store on disk (checking every file); resolves at once without one. */
  async open(): Promise<DiskLoad | undefined> {
    const load = await this.#disk?.open();
    this.#trim();
    return load;
  }

  /** Resolves once every write to disk queued so far is done (on shutdown). */
  flush(): Promise<void> {
    return this.#disk?.flush() ?? Promise.resolve();
  }

  /** Resolves once the deletions from disk queued so far (purges included) are done. */
  removalsDone(): Promise<void> {
    return this.#disk?.removalsDone() ?? Promise.resolve();
  }

  /** Whether `key` is not in memory but may be restored from disk. */
  onDiskOnly(key: string): boolean {
    return this.#disk !== undefined && !this.#lru.has(key) && this.#disk.has(key);
  }

  /**
   * The entry under `key` as {@link CacheStore.get} answers it, reading it from disk (checked)
   * into memory when memory does not have it.
   */
  async restore(key: string, now: number = this.#now()): Promise<CacheLookup | undefined> {
    if (this.#lru.has(key) || this.#disk === undefined) return this.get(key, now);
    const stored = await this.#disk.read(key);
    if (stored === undefined) return undefined;
    // Another request may have stored a newer copy meanwhile.
    if (!this.#lru.has(key)) this.#insert(stored, false);
    return this.get(key, now);
  }

  /**
   * Bytes the entries really keep alive: the whole buffers behind their bodies and variants
   * (a view keeps its entire buffer) and their strings. A full scan, for tests and benches:
   * {@link CacheStore.bytes} is never below it.
   */
  heldBytes(): number {
    let n = 0;
    for (const slot of this.#lru.values()) n += heldBy(slot);
    return n;
  }

  /** The byte bound. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Number of hit-for-pass markers held (expired ones go at lookup or {@link CacheStore.prune}). */
  get hitForPassKeys(): number {
    return this.#hitForPass.size;
  }

  /**
   * The entry stored under `key` and how usable it is at `now`, or undefined. An entry past
   * every window (fresh, stale-while-revalidate, stale-if-error) is removed (eviction reason
   * `expired`) and treated as absent. A lookup makes the entry the most recently used.
   */
  get(key: string, now: number = this.#now()): CacheLookup | undefined {
    const slot = this.#lru.get(key);
    if (slot === undefined) return undefined;
    const freshness = freshnessOf(slot.entry, now);
    if (freshness === undefined) {
      this.#lru.delete(key);
      this.#disk?.remove(key);
      this.#metrics.evictions.inc({ reason: 'expired' });
      this.#updateGauges();
      return undefined;
    }
    return { entry: slot.entry, freshness };
  }

  /**
   * Stores `entry` under `entry.key`, replacing any entry there (and its variants). Least
   * recently used entries are evicted to make room (reason `size`).
   *
   * @returns false when the entry is larger than {@link CacheStoreOptions.maxEntryBytes}: it is
   * not stored, and any entry under the same key is removed (it is outdated).
   * @throws InvalidOptionError naming the malformed field (`entry.key`, `entry.freshUntil`, …).
   */
  set(entry: CacheEntry): boolean {
    validateEntry(entry);
    // A body that is a view (of a NATS read buffer, say) keeps its whole buffer alive: keep an
    // exact copy instead, so the bytes held are the bytes counted.
    if (entry.body.byteOffset !== 0 || entry.body.buffer.byteLength !== entry.body.byteLength) {
      entry.body = entry.body.slice();
    }
    if (entrySize(entry) > this.#maxEntryBytes) {
      this.#lru.delete(entry.key);
      this.#disk?.remove(entry.key);
      this.#updateGauges();
      return false;
    }
    this.#insert({ entry }, true);
    return true;
  }

  /** Puts `stored` in memory (and on disk when `persist`). */
  #insert(stored: StoredEntry, persist: boolean): void {
    const { entry } = stored;
    let size = entrySize(entry);
    for (const v of [stored.br, stored.gzip]) if (v) size += v.byteLength;
    const previous = this.#lru.peek(entry.key);
    if (previous !== undefined) this.#index.remove(entry.key, previous.entry);
    if (persist) this.#disk?.write(stored);
    if (size <= this.#maxEntryBytes) {
      this.#index.add(entry.key, entry);
      this.#lru.set(entry.key, { ...stored, size });
    } else if (previous !== undefined) {
      this.#lru.delete(entry.key);
    }
    this.#trim();
    this.#updateGauges();
  }

  /** Evicts from memory while its entries and the disk's records are past the bound. */
  #trim(): void {
    const disk = this.#disk?.indexBytes ?? 0;
    while (this.#lru.size > 0 && this.#lru.calculatedSize + disk > this.#maxBytes) this.#lru.pop();
  }

  /** Removes the entry under `key`. @returns whether there was one. */
  delete(key: string): boolean {
    const onDisk = this.#disk?.remove(key) ?? false;
    const had = this.#lru.delete(key) || onDisk;
    if (had) this.#updateGauges();
    return had;
  }

  /**
   * Removes every entry the selector matches (eviction reason `purge`).
   *
   * - `url`: entries whose `url` equals the selector's (a leading `scheme://` is ignored, the host
   *   is lower-cased; query strings compare exactly as stored).
   * - `path`: entries whose `path` matches the route pattern (`compilePattern` syntax), narrowed
   *   to `app` / `environment` when given.
   * - `surrogate-key`: entries tagged with the key, narrowed to `app` when given.
   * - `environment`: every entry of the app's environment.
   *
   * @returns The number of entries removed.
   * @throws ManifestError naming `selector.pattern` when the pattern is invalid.
   * @throws InvalidOptionError naming `selector` when the selector is malformed.
   */
  purge(selector: PurgeSelector): number {
    const matches = new Set(this.#index.select(selector, this.#entries));
    for (const key of matches) this.#lru.delete(key);
    for (const key of this.#disk?.purge(selector) ?? []) matches.add(key);
    if (matches.size > 0) {
      this.#metrics.evictions.inc({ reason: 'purge' }, matches.size);
      this.#updateGauges();
    }
    return matches.size;
  }

  /**
   * The entries stored under `url` (as {@link CacheStore.purge} matches it), in memory or on
   * disk (read and checked, not brought into memory), for a revalidation of every variant.
   */
  async entriesOf(url: string): Promise<CacheEntry[]> {
    const selector: PurgeSelector = { kind: 'url', url };
    const out = new Map<string, CacheEntry>();
    for (const key of this.#index.select(selector, this.#entries)) {
      const entry = this.#lru.peek(key)?.entry;
      if (entry !== undefined) out.set(key, entry);
    }
    for (const key of this.#disk?.keysOf(selector) ?? []) {
      if (out.has(key)) continue;
      const stored = await this.#disk?.read(key);
      if (stored !== undefined) out.set(key, stored.entry);
    }
    return [...out.values()];
  }

  /**
   * The body to send for `entry` to a client sending `acceptEncoding`: a `br` or `gzip` variant
   * when the client accepts one (preferring `br`, as the cache key's normalisation does) and the
   * entry is compressible, else the identity body. A variant is compressed once per entry and
   * kept with it (counted in its size) while the entry is the one stored under its key; when
   * compression does not make the body smaller, the identity body is sent.
   */
  body(entry: CacheEntry, acceptEncoding: string | null | undefined): EncodedBody {
    const wanted = normalizeAcceptEncoding(acceptEncoding ?? undefined);
    const identity: EncodedBody = { body: entry.body, encoding: 'identity' };
    if (wanted === 'identity' || !this.#compressor.compressible(entry)) return identity;
    const slot = this.#lru.peek(entry.key);
    const own = slot !== undefined && slot.entry === entry ? slot : undefined;
    const kept = own?.[wanted];
    if (kept === null) return identity;
    if (kept !== undefined) return { body: kept, encoding: wanted };
    const compressed = this.#compressor.compress(entry.body, wanted);
    const smaller = compressed.byteLength < entry.body.byteLength;
    if (own !== undefined) {
      const size = own.size + (smaller ? compressed.byteLength : 0);
      if (size <= this.#maxBytes) {
        const slot: Slot = { ...own, size, [wanted]: smaller ? compressed : null };
        this.#lru.set(entry.key, slot);
        this.#disk?.write(slot);
        this.#trim();
        this.#updateGauges();
      }
    }
    return smaller ? { body: compressed, encoding: wanted } : identity;
  }

  /**
   * Remembers that `key` answered with an uncacheable response: until `untilMs`, requests for it
   * go straight to the origin (no coalescing). The caller picks the window (120 s by default
   * in the shield). The markers are bounded (least recently used dropped first).
   */
  markHitForPass(key: string, untilMs: number): void {
    if (!Number.isFinite(untilMs)) {
      throw new InvalidOptionError('untilMs', `must be a finite number of ms, got ${untilMs}`);
    }
    this.#hitForPass.delete(key);
    this.#hitForPass.set(key, untilMs);
    if (this.#hitForPass.size > this.#hitForPassMaxKeys) {
      const oldest = this.#hitForPass.keys().next().value;
      if (oldest !== undefined) this.#hitForPass.delete(oldest);
    }
    this.#updateGauges();
  }

  /** Whether `key` is marked hit-for-pass at `now`; an expired marker is dropped. */
  isHitForPass(key: string, now: number = this.#now()): boolean {
    const until = this.#hitForPass.get(key);
    if (until === undefined) return false;
    if (now < until) {
      // Most recently used last: the bound drops the marker nobody asked about for longest.
      this.#hitForPass.delete(key);
      this.#hitForPass.set(key, until);
      return true;
    }
    this.#hitForPass.delete(key);
    this.#updateGauges();
    return false;
  }

  /** Removes the hit-for-pass marker of `key`, or every marker when `key` is undefined. */
  clearHitForPass(key?: string): void {
    if (key === undefined) this.#hitForPass.clear();
    else this.#hitForPass.delete(key);
    this.#updateGauges();
  }

  /**
   * Removes entries past every window (reason `expired`) and hit-for-pass markers past their
   * end. A full scan: call it periodically (e.g. every 30 s) so expired entries do not wait for
   * a lookup or the LRU to go.
   */
  prune(now: number = this.#now()): PruneResult {
    const expired: string[] = [];
    for (const [key, slot] of this.#lru.entries()) {
      if (freshnessOf(slot.entry, now) === undefined) expired.push(key);
    }
    for (const key of expired) {
      this.#lru.delete(key);
      this.#disk?.remove(key);
    }
    this.#disk?.prune(now);
    if (expired.length > 0) this.#metrics.evictions.inc({ reason: 'expired' }, expired.length);
    const markers: string[] = [];
    for (const [key, until] of this.#hitForPass.entries()) if (now >= until) markers.push(key);
    for (const key of markers) this.#hitForPass.delete(key);
    this.#updateGauges();
    return { entries: expired.length, hitForPassKeys: markers.length };
  }

  #disposed(slot: Slot, key: string, reason: LRUCache.DisposeReason): void {
    // 'set' replaces an entry (or adds a variant): set() and body() keep the indexes right.
    if (reason === 'set') return;
    this.#index.remove(key, slot.entry);
    if (reason === 'evict') this.#metrics.evictions.inc({ reason: 'size' });
  }

  #updateGauges(): void {
    this.#metrics.entries.set(this.#lru.size);
    this.#metrics.bytes.set(this.#lru.calculatedSize);
    this.#metrics.hitForPass.set(this.#hitForPass.size);
  }
}

/** Bytes `slot` keeps alive (see {@link CacheStore.heldBytes}). */
function heldBy(slot: Slot): number {
  const e = slot.entry;
  let n = e.body.buffer.byteLength + (slot.br?.buffer.byteLength ?? 0);
  n += slot.gzip?.buffer.byteLength ?? 0;
  n += e.key.length + e.url.length + e.path.length + e.app.length + e.environment.length;
  for (const [name, value] of e.headers) n += name.length + value.length;
  for (const s of e.surrogateKeys) n += s.length;
  return n;
}

function cacheMetrics(registry: Registry | undefined): CacheMetrics {
  const metrics: CacheMetrics = {
    entries: sharedGauge(registry, {
      name: 'flotilla_shield_cache_entries',
      help: 'Responses held by the shield cache.',
    }),
    bytes: sharedGauge(registry, {
      name: 'flotilla_shield_cache_bytes',
      help: 'Bytes accounted by the shield cache (bodies, compressed variants, headers, overhead).',
    }),
    evictions: sharedCounter(registry, {
      name: 'flotilla_shield_cache_evictions_total',
      help: 'Entries removed from the shield cache, by reason (size, expired, purge).',
      labelNames: ['reason'],
    }),
    hitForPass: sharedGauge(registry, {
      name: 'flotilla_shield_cache_hit_for_pass_keys',
      help: 'Cache keys marked hit-for-pass (recently uncacheable: sent straight to the origin).',
    }),
  };
  startAtZero(metrics.evictions, combinations({ reason: ['size', 'expired', 'purge'] }));
  return metrics;
}
