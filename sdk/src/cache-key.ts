/**
 * `CustomCacheKey`: builds the cache-key spec of a route, EdgeJS style.
 *
 * @module
 */
import type { CacheKeySpec } from '@flotilla/manifest';
import { HTTP_TOKEN } from '@flotilla/protocol/patterns';
import { InvalidRouteError } from './router/errors.ts';

/**
 * Builds a cache key: which query parameters, cookies, headers, device
 * class and browser family make two requests different pages. Without one,
 * the key is host, path and the whole (normalised) query string.
 *
 * @example
 * cache({
 *   edge: { maxAgeSeconds: 60 },
 *   key: new CustomCacheKey()
 *     .excludeAllQueryParametersExcept('color', 'size')
 *     .addCookie('currency')
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

  /** Adds the value of cookie `name` to the key. */
  addCookie(name: string): this {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      throw new InvalidRouteError(
        `CustomCacheKey.addCookie(): ${JSON.stringify(name)} is not a cookie name`,
      );
    }
    if (!this.#cookies.includes(name)) this.#cookies.push(name);
    return this;
  }

  /** Adds the value of request header `name` (any case) to the key. */
  addHeader(name: string): this {
    if (typeof name !== 'string' || !HTTP_TOKEN.test(name)) {
      throw new InvalidRouteError(
        `CustomCacheKey.addHeader(): ${JSON.stringify(name)} is not a header name`,
      );
    }
    const lower = name.toLowerCase();
    if (!this.#headers.includes(lower)) this.#headers.push(lower);
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
    };
  }

  /** The spec, so `JSON.stringify` of options holding a key gives the manifest's form. */
  toJSON(): CacheKeySpec {
    return this.toSpec();
  }
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
