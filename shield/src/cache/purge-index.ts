/**
 * The purge indexes of the shield's cache: stored keys by URL, surrogate
 * key, app and environment, and the selection of the keys a purge removes.
 *
 * @module
 */
import { compilePattern } from '@flotilla/manifest';
import { InvalidOptionError } from '@flotilla/protocol';
import { requireString } from './entry.ts';
import type { CacheEntry, PurgeSelector } from './types.ts';

/** What the indexes read of an entry (an entry in memory, or the record of one on disk). */
export type IndexedEntry = Pick<
  CacheEntry,
  'url' | 'app' | 'environment' | 'path' | 'surrogateKeys'
>;

/** The stored entries a selection reads (without making them recently used). */
export interface IndexedEntries {
  peek(key: string): IndexedEntry | undefined;
  keys(): Iterable<string>;
}

/** Stored keys by URL, surrogate key, app and environment. */
export class PurgeIndex {
  readonly #byUrl = new Map<string, Set<string>>();
  readonly #bySurrogateKey = new Map<string, Set<string>>();
  readonly #byApp = new Map<string, Set<string>>();
  readonly #byEnvironment = new Map<string, Set<string>>();

  /** Indexes `entry`, stored under `key`. */
  add(key: string, entry: IndexedEntry): void {
    addTo(this.#byUrl, entry.url, key);
    addTo(this.#byApp, entry.app, key);
    addTo(this.#byEnvironment, envKey(entry.app, entry.environment), key);
    for (const s of entry.surrogateKeys) addTo(this.#bySurrogateKey, s, key);
  }

  /** Forgets `entry`, stored under `key`. */
  remove(key: string, entry: IndexedEntry): void {
    removeFrom(this.#byUrl, entry.url, key);
    removeFrom(this.#byApp, entry.app, key);
    removeFrom(this.#byEnvironment, envKey(entry.app, entry.environment), key);
    for (const s of entry.surrogateKeys) removeFrom(this.#bySurrogateKey, s, key);
  }

  /**
   * The keys of the entries `selector` matches, among `entries` (which
   * gives the entry of a key, and every key for a path purge without app).
   *
   * @throws ManifestError naming `selector.pattern` when the pattern is invalid.
   * @throws InvalidOptionError naming `selector` when the selector is malformed.
   */
  select(selector: PurgeSelector, entries: IndexedEntries): string[] {
    if (typeof selector !== 'object' || selector === null) {
      throw new InvalidOptionError('selector', 'must be a purge selector object');
    }
    switch (selector.kind) {
      case 'url': {
        requireString('selector.url', selector.url);
        return [...(this.#byUrl.get(normalizeUrl(selector.url)) ?? [])];
      }
      case 'surrogate-key': {
        requireString('selector.key', selector.key);
        const keys = [...(this.#bySurrogateKey.get(selector.key) ?? [])];
        const app = selector.app;
        if (app === undefined) return keys;
        return keys.filter((k) => entries.peek(k)?.app === app);
      }
      case 'environment': {
        requireString('selector.app', selector.app);
        if (typeof selector.environment !== 'string') {
          throw new InvalidOptionError('selector.environment', 'must be a string');
        }
        return [...(this.#byEnvironment.get(envKey(selector.app, selector.environment)) ?? [])];
      }
      case 'path': {
        const pattern = compilePattern(selector.pattern, 'selector.pattern');
        const { app, environment } = selector;
        let candidates: Iterable<string>;
        if (app !== undefined && environment !== undefined) {
          candidates = this.#byEnvironment.get(envKey(app, environment)) ?? [];
        } else if (app !== undefined) {
          candidates = this.#byApp.get(app) ?? [];
        } else {
          candidates = entries.keys();
        }
        const out: string[] = [];
        for (const key of candidates) {
          const entry = entries.peek(key);
          if (entry === undefined) continue;
          if (environment !== undefined && entry.environment !== environment) continue;
          if (pattern.match(entry.path) !== undefined) out.push(key);
        }
        return out;
      }
      default:
        throw new InvalidOptionError(
          'selector.kind',
          `must be url, path, surrogate-key or environment, got ${JSON.stringify((selector as { kind?: unknown }).kind)}`,
        );
    }
  }
}

/** `scheme://` dropped, host lower-cased: the form entries' `url` is stored in. */
export function normalizeUrl(url: string): string {
  const bare = url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = bare.search(/[/?]/);
  return slash === -1 ? bare.toLowerCase() : bare.slice(0, slash).toLowerCase() + bare.slice(slash);
}

function envKey(app: string, environment: string): string {
  return `${app}\u0000${environment}`;
}

function addTo(map: Map<string, Set<string>>, indexKey: string, key: string): void {
  let set = map.get(indexKey);
  if (set === undefined) {
    set = new Set();
    map.set(indexKey, set);
  }
  set.add(key);
}

function removeFrom(map: Map<string, Set<string>>, indexKey: string, key: string): void {
  const set = map.get(indexKey);
  if (set === undefined) return;
  set.delete(key);
  if (set.size === 0) map.delete(indexKey);
}
