/**
 * Globals whose implementation loads on first use. The URL and streams
 * libraries cost milliseconds to initialise in a fresh isolate; most
 * isolates would pay that for nothing at creation, so their globals start as
 * accessors that load the library, replace themselves with plain data
 * properties (writable, configurable, not enumerable: like the other web
 * globals) and return the value. Assigning the global first just sets it.
 */
import { cacheUrlParses, type UrlStateMachine } from './url-parse-cache.ts';

declare const require: (id: string) => unknown;

type Define = (name: string, value: unknown) => void;

/** Defines each of `names` on the global object so that touching any of them loads `load()` and defines them all. */
export function defineLazy<T extends Record<string, unknown>>(
  define: Define,
  names: ReadonlyArray<keyof T & string>,
  load: () => T,
): void {
  const g = globalThis as Record<string, unknown>;
  let loaded: T | undefined;
  const resolve = (): T => {
    if (loaded === undefined) {
      loaded = load();
      for (const n of names) {
        // Only names still lazy: a global the bundle assigned meanwhile stays.
        if (Object.getOwnPropertyDescriptor(g, n)?.get === getters.get(n)) define(n, loaded[n]);
      }
    }
    return loaded;
  };
  const getters = new Map<string, () => unknown>();
  for (const name of names) {
    const get = () => resolve()[name];
    getters.set(name, get);
    Object.defineProperty(g, name, {
      get,
      set(value: unknown) {
        define(name, value);
      },
      configurable: true,
      enumerable: false,
    });
  }
}

/** whatwg-url's classes (bundled; tr46 behind lazy-tr46.ts). */
export interface UrlModule extends Record<string, unknown> {
  URL: new (url: string, base?: string) => unknown;
  URLSearchParams: new (init?: unknown) => unknown;
}

let urlModule: UrlModule | undefined;
export function loadUrl(): UrlModule {
  if (urlModule === undefined) {
    // The module URL-impl.js calls: the cache goes in before any URL is parsed.
    cacheUrlParses(require('whatwg-url/lib/url-state-machine') as UrlStateMachine);
    urlModule = require('whatwg-url') as UrlModule;
  }
  return urlModule;
}
/** The URLSearchParams class if whatwg-url is loaded (none can exist before). */
export const loadedUrl = (): UrlModule | undefined => urlModule;
