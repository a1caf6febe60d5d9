/**
 * `CustomCacheKey`: builds the cache-key spec of a route, EdgeJS style.
 *
 * @module
 */
import { type CacheKeySpec, exactRegex, regexProblem } from '@flotilla/manifest';
import { describeValue, HTTP_TOKEN } from '@flotilla/protocol/patterns';
import { InvalidRouteError } from './router/errors.ts';

/** One partition of a keyed cookie or header, as the manifest stores it. */
interface Partition {
  name: string;
  regex: string;
  flags?: string;
}

/** What `partition(name)` / `group(name)` return: the pattern of that partition. */
export interface KeyPartition {
  /**
   * Values matching `pattern` (a regular expression, as a string or a
   * `RegExp`, matched anywhere in the value) fall in this partition.
   */
  byPattern(pattern: string | RegExp): void;
}

/**
 * The partitions of a keyed cookie or header, as the callback of
 * {@link CustomCacheKey.addCookie} and {@link CustomCacheKey.addHeader}
 * declares them. The key holds the name of the first partition (in
 * declaration order) the value matches; values no partition matches, and
 * requests without the cookie or header, share one "no partition" entry.
 *
 * @example
 * new CustomCacheKey().addCookie('location', (cookie) => {
 *   cookie.partition('na').byPattern('us|ca');
 *   cookie.addPartition('eur', /de|fr|ee/);
 * });
 */
export interface KeyPartitions {
  /** EdgeJS: `partition('na').byPattern('us|ca')`. */
  partition(name: string): KeyPartition;
  /** The same as {@link KeyPartitions.partition} (EdgeJS's older name). */
  group(name: string): KeyPartition;
  /**
   * Adds partition `name`: a `RegExp` (matched anywhere in the value) or a
   * string (the value must equal it).
   */
  addPartition(name: string, match: string | RegExp): this;
}

/** A callback declaring partitions (see {@link KeyPartitions}). */
export type PartitionCreator = (partitions: KeyPartitions) => void;

/**
 * Builds a cache key: which query parameters, cookies (or the partitions
 * their values fall in), headers, device class, browser family, bot flag
 * and device vendor make two requests different pages. Without one, the
 * key is host, path and the whole (normalised) query string.
 *
 * @example
 * cache({
 *   edge: { maxAgeSeconds: 60 },
 *   key: new CustomCacheKey()
 *     .excludeAllQueryParametersExcept('color', 'size')
 *     .addCookie('currency')
 *     .addCookie('location', (cookie) => cookie.partition('na').byPattern('^(us|ca)$'))
 *     .addDevice(),
 * });
 */
export class CustomCacheKey {
  #only: Set<string> | undefined;
  #exclude: Set<string> | undefined;
  readonly #cookies: string[] = [];
  readonly #headers: string[] = [];
  #device = false;
  #browser = false;
  #isBot = false;
  #vendor = false;
  readonly #cookiePartitions = new Map<string, Partition[]>();
  readonly #headerPartitions = new Map<string, Partition[]>();

  /**
   * Leaves every query parameter out of the key: one page whatever the
   * query, and the render sees the path without one (as with
   * {@link CustomCacheKey.excludeAllQueryParametersExcept}, whose names,
   * when called after, are kept). Cannot be combined with
   * {@link CustomCacheKey.excludeQueryParameters}.
   */
  excludeAllQueryParameters(): this {
    if (this.#exclude) throw combined();
    this.#only ??= new Set();
    return this;
  }

  /**
   * Keeps only these query parameters in the key (others, such as
   * `utm_source`, do not make a new page). Calls add up. Cannot be combined
   * with {@link CustomCacheKey.excludeQueryParameters}.
   */
  excludeAllQueryParametersExcept(...names: string[]): this {
    if (this.#exclude) throw combined();
    this.#only ??= new Set();
    for (const name of checkNames('excludeAllQueryParametersExcept', names)) this.#only.add(name);
    return this;
  }

  /**
   * Leaves these query parameters out of the key. The shield removes them
   * from the URL it forwards; the handler finds the original query string
   * in the request header `x-flotilla-original-query`. Calls add up. Cannot
   * be combined with {@link CustomCacheKey.excludeAllQueryParametersExcept}.
   */
  excludeQueryParameters(...names: string[]): this {
    if (this.#only) throw combined();
    const checked = checkNames('excludeQueryParameters', names);
    if (checked.length === 0) {
      throw new InvalidRouteError(
        'CustomCacheKey.excludeQueryParameters() needs at least one name',
      );
    }
    this.#exclude ??= new Set();
    for (const name of checked) this.#exclude.add(name);
    return this;
  }

  /**
   * Adds the value of cookie `name` to the key; with `createPartitions`,
   * the name of the partition its value falls in instead (see
   * {@link KeyPartitions}): users in one partition share a cached page.
   */
  addCookie(name: string, createPartitions?: PartitionCreator): this {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      throw new InvalidRouteError(
        `CustomCacheKey.addCookie(): ${JSON.stringify(name)} is not a cookie name`,
      );
    }
    if (!this.#cookies.includes(name)) this.#cookies.push(name);
    setPartitions(this.#cookiePartitions, name, 'addCookie', createPartitions);
    return this;
  }

  /**
   * Adds the value of request header `name` (any case) to the key; with
   * `createPartitions`, the name of the partition its value falls in
   * instead (see {@link KeyPartitions}).
   */
  addHeader(name: string, createPartitions?: PartitionCreator): this {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      throw new InvalidRouteError(
        `CustomCacheKey.addHeader(): ${JSON.stringify(name)} is not a header name`,
      );
    }
    const lower = name.toLowerCase();
    if (!this.#headers.includes(lower)) this.#headers.push(lower);
    setPartitions(this.#headerPartitions, lower, 'addHeader', createPartitions);
    return this;
  }

  /**
   * Adds whether the client is a bot (a search-engine or AI crawler, as
   * the shield detects it from the `User-Agent`) to the key. The render
   * sees it in the request header `x-flotilla-is-bot` (`1` or `0`).
   */
  addIsBot(): this {
    this.#isBot = true;
    return this;
  }

  /**
   * Adds the device vendor (`apple` for iOS, iPadOS and macOS, `android`,
   * else `generic`, from the `User-Agent`) to the key. The render sees it in
   * the request header `x-flotilla-vendor`.
   */
  addVendor(): this {
    this.#vendor = true;
    return this;
  }

  /** Adds the device class (`smartphone`, `tablet`, `mobile`, `desktop`) to the key. */
  addDevice(): this {
    this.#device = true;
    return this;
  }

  /** Adds the browser family to the key. */
  addBrowser(): this {
    this.#browser = true;
    return this;
  }

  /** The spec this builder describes, as the manifest stores it. */
  toSpec(): CacheKeySpec {
    return {
      query: this.#only
        ? { mode: 'only', names: [...this.#only] }
        : this.#exclude
          ? { mode: 'exclude', names: [...this.#exclude] }
          : { mode: 'all' },
      cookies: [...this.#cookies],
      headers: [...this.#headers],
      device: this.#device,
      browser: this.#browser,
      ...(this.#cookiePartitions.size > 0
        ? { cookiePartitions: partitionTable(this.#cookiePartitions) }
        : {}),
      ...(this.#headerPartitions.size > 0
        ? { headerPartitions: partitionTable(this.#headerPartitions) }
        : {}),
      ...(this.#isBot ? { isBot: true } : {}),
      ...(this.#vendor ? { vendor: true } : {}),
    };
  }

  /** The spec, so `JSON.stringify` of options holding a key gives the manifest's form. */
  toJSON(): CacheKeySpec {
    return this.toSpec();
  }
}

function partitionTable(map: Map<string, Partition[]>): Record<string, Partition[]> {
  const out: Record<string, Partition[]> = {};
  for (const [name, list] of map) out[name] = list.map((p) => ({ ...p }));
  return out;
}

/** Runs a partition callback (at build time) and records its table under `name`. */
function setPartitions(
  into: Map<string, Partition[]>,
  name: string,
  method: 'addCookie' | 'addHeader',
  create: PartitionCreator | undefined,
): void {
  if (create === undefined) {
    into.delete(name);
    return;
  }
  const call = `CustomCacheKey.${method}(${JSON.stringify(name)})`;
  if (typeof create !== 'function') {
    throw new InvalidRouteError(
      `${call}: the second argument must be a function declaring partitions (got ${describeValue(create)})`,
    );
  }
  const list: Partition[] = [];
  const add = (partition: string, regex: string, flags: string, shown: string): void => {
    if (typeof partition !== 'string' || partition === '' || partition.length > 64) {
      throw new InvalidRouteError(
        `${call}: a partition name must be a non-empty string of at most 64 characters (got ${describeValue(partition)})`,
      );
    }
    if (list.some((p) => p.name === partition)) {
      throw new InvalidRouteError(`${call}: the partition "${partition}" is declared twice`);
    }
    const problem = regexProblem(regex, flags);
    if (problem !== undefined) {
      throw new InvalidRouteError(
        `${call}: the pattern ${shown} of partition "${partition}" ${problem}`,
      );
    }
    list.push(flags === '' ? { name: partition, regex } : { name: partition, regex, flags });
  };
  const byPatternOf = (partition: string): KeyPartition => ({
    byPattern(pattern: string | RegExp) {
      if (pattern instanceof RegExp) add(partition, pattern.source, pattern.flags, String(pattern));
      else if (typeof pattern === 'string') add(partition, pattern, '', JSON.stringify(pattern));
      else {
        throw new InvalidRouteError(
          `${call}: byPattern() of partition "${partition}" needs a string or RegExp (got ${describeValue(pattern)})`,
        );
      }
    },
  });
  const partitions: KeyPartitions = {
    partition: byPatternOf,
    group: byPatternOf,
    addPartition(partition: string, match: string | RegExp) {
      if (match instanceof RegExp) add(partition, match.source, match.flags, String(match));
      else if (typeof match === 'string')
        add(partition, exactRegex(match), '', JSON.stringify(match));
      else {
        throw new InvalidRouteError(
          `${call}: addPartition("${partition}") needs a value (string) or RegExp (got ${describeValue(match)})`,
        );
      }
      return this;
    },
  };
  const result: unknown = create(partitions);
  if (typeof (result as { then?: unknown } | null)?.then === 'function') {
    throw new InvalidRouteError(`${call}: the partition callback must not be async`);
  }
  if (list.length === 0) {
    throw new InvalidRouteError(
      `${call}: the partition callback declared no partition (call partition(name).byPattern(…) or addPartition(name, …)); leave the callback out to key the raw value`,
    );
  }
  into.set(name, list);
}

function combined(): InvalidRouteError {
  return new InvalidRouteError(
    'CustomCacheKey: excludeAllQueryParametersExcept() and excludeQueryParameters() cannot be combined: ' +
      'a key either keeps only the listed query parameters or drops the listed ones',
  );
}

function checkNames(method: string, names: unknown[]): string[] {
  return names.map((name, i) => {
    if (typeof name !== 'string' || name === '') {
      throw new InvalidRouteError(
        `CustomCacheKey.${method}(): argument ${i + 1} must be a non-empty query parameter name (got ${typeof name === 'string' ? '""' : String(name)})`,
      );
    }
    return name;
  });
}
