/**
 * A cache in front of whatwg-url's URL parser. The parser is a character-by-
 * character state machine written in JavaScript, ~10× slower than a native
 * one; a framework parses the same few URLs many times per render (the
 * request's, its origin, its backend's), and every render of a deployment
 * parses the same ones again. Parses without a state override (what
 * `new URL(input, base)` and `URL.canParse` do) are cached by input and base,
 * and each caller gets a copy of the record (URL setters change it).
 *
 * Bounded: inputs up to {@link MAX_INPUT} UTF-16 units, {@link MAX_ENTRIES}
 * entries (the oldest go first). The cache lives in the isolate, which
 * serves one deployment.
 */

/** A URL record as whatwg-url's state machine makes it. */
interface UrlRecord {
  scheme: string;
  username: string;
  password: string;
  host: string | number | number[] | null;
  port: number | null;
  path: string | string[];
  query: string | null;
  fragment: string | null;
}

interface ParseOptions {
  baseURL?: UrlRecord | null;
  url?: UrlRecord;
  stateOverride?: string;
}

/** The parts of whatwg-url's `lib/url-state-machine.js` this uses (and replaces). */
export interface UrlStateMachine {
  basicURLParse(input: string, options?: ParseOptions): UrlRecord | null;
  serializeURL(url: UrlRecord, excludeFragment?: boolean): string;
}

const MAX_ENTRIES = 512;
const MAX_INPUT = 2048;

// Captured now, before any bundle code runs: a bundle patching these
// later does not reach the cache.
const isArray = Array.isArray;
const { apply } = Reflect;
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapDelete = Map.prototype.delete;
const mapKeys = Map.prototype.keys;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size')?.get as () => number;
const iteratorNext = Object.getPrototypeOf(new Map().keys()).next as () => IteratorResult<string>;
const arraySlice = Array.prototype.slice;

const copy = (r: UrlRecord): UrlRecord => ({
  scheme: r.scheme,
  username: r.username,
  password: r.password,
  host: isArray(r.host) ? (apply(arraySlice, r.host, []) as number[]) : r.host,
  port: r.port,
  path: isArray(r.path) ? (apply(arraySlice, r.path, []) as string[]) : r.path,
  query: r.query,
  fragment: r.fragment,
});

/** Puts the cache in front of `usm.basicURLParse` (once per isolate, when whatwg-url loads). */
export function cacheUrlParses(usm: UrlStateMachine): void {
  const parse = usm.basicURLParse;
  const serialize = usm.serializeURL;
  const cache = new Map<string, UrlRecord | null>();
  usm.basicURLParse = (input, options = {}) => {
    if (
      typeof input !== 'string' ||
      input.length > MAX_INPUT ||
      options.url !== undefined ||
      options.stateOverride !== undefined
    ) {
      return parse(input, options);
    }
    const base = options.baseURL ?? null;
    // A record and its serialization parse to each other: the base's href keys it.
    const key = base === null ? `\u0000${input}` : `${serialize(base)}\u0000${input}`;
    const hit = apply(mapGet, cache, [key]) as UrlRecord | null | undefined;
    if (hit !== undefined) return hit === null ? null : copy(hit);
    const parsed = parse(input, options);
    if (apply(mapSize, cache, []) >= MAX_ENTRIES) {
      const oldest = apply(iteratorNext, apply(mapKeys, cache, []), []) as IteratorResult<string>;
      if (!oldest.done) apply(mapDelete, cache, [oldest.value]);
    }
    apply(mapSet, cache, [key, parsed === null ? null : copy(parsed)]);
    return parsed;
  };
}
