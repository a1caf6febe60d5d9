/**
 * The cache options of a route (`cache({...})`): edge and browser caching
 * and the cache key.
 *
 * @module
 */

import { HTTP_TOKEN } from '@flotilla/protocol/patterns';
import {
  got,
  type Message,
  plainObject,
  strictFields,
  strictObject,
  table,
} from '@flotilla/protocol/schema';
import * as v from 'valibot';
import { REGEX_FLAGS } from './regex.ts';
import { carriedRegex, regexFields } from './regex-schema.ts';
import { bool, headerName, list, noCrLf, nonNegativeInt, text, unique } from './schema-fields.ts';

const queryNames = list(text());

/** The partitions of a keyed cookie or header: name and pattern, tried in order. */
const partitionList = () =>
  v.pipe(
    list(
      v.pipe(
        strictObject({
          name: v.pipe(text(), v.maxLength(64, got('must be at most 64 characters')), noCrLf()),
          ...regexFields,
        }),
        carriedRegex<{ name: string; regex: string; flags?: string | undefined }>(
          REGEX_FLAGS,
          (p) => `partition "${p.name}": `,
        ),
      ),
    ),
    v.minLength(1, 'must list at least one partition'),
  );

const mustBeAbsent: Message = () => 'must be absent when mode is "all"';

/**
 * How the cache key of a route is built. The default key (all fields at
 * their defaults) is host, path and the whole normalised query string.
 */
const CacheKeyFieldsSchema = strictObject({
  /**
   * Which query parameters are in the key: all (default), only the listed
   * ones (`excludeAllQueryParametersExcept`), or all but the listed ones
   * (`excludeQueryParameters`).
   */
  query: v.pipe(
    plainObject(),
    v.variant(
      'mode',
      [
        strictFields({
          mode: v.literal('all'),
          names: v.optional(v.never(mustBeAbsent)),
        }),
        strictFields({ mode: v.literal('only'), names: v.pipe(queryNames, unique<string>()) }),
        strictFields({
          mode: v.literal('exclude'),
          names: v.pipe(
            queryNames,
            v.minLength(1, 'must list at least one parameter when mode is "exclude"'),
            unique<string>(),
          ),
        }),
      ],
      got('must be "all", "only" or "exclude"'),
    ),
  ),
  /** Cookies whose values are in the key (`addCookie`). */
  cookies: v.pipe(
    list(v.pipe(text(), v.regex(HTTP_TOKEN, got('must be a cookie name')))),
    unique<string>(),
  ),
  /** Request headers (lower case) whose values are in the key (`addHeader`). */
  headers: v.pipe(list(headerName()), unique<string>()),
  /** The device class (`smartphone`, `tablet`, `mobile`, `desktop`) is in the key (`addDevice`). */
  device: bool(),
  /** The browser family is in the key (`addBrowser`). */
  browser: bool(),
  /**
   * Cookies of `cookies` whose value is keyed by partition: the name of the
   * first partition whose pattern the value matches, else none
   * (`addCookie(name, partitions => …)`).
   */
  cookiePartitions: v.optional(
    table(v.pipe(v.string(), v.regex(HTTP_TOKEN, 'is not a valid cookie name')), partitionList()),
  ),
  /** Headers of `headers` (lower case) keyed by partition, as `cookiePartitions`. */
  headerPartitions: v.optional(table(headerName(), partitionList())),
  /** Whether the client is a bot is in the key (`addIsBot`). @default false */
  isBot: v.optional(bool()),
  /** The device vendor (`apple`, `android`, `generic`) is in the key (`addVendor`). @default false */
  vendor: v.optional(bool()),
});

/**
 * How the cache key of a route is built: {@link CacheKeyFieldsSchema}, with
 * partitions only for keyed cookies and headers.
 */
export const CacheKeySpecSchema = v.pipe(
  CacheKeyFieldsSchema,
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const spec = dataset.value;
    for (const [field, names, listed] of [
      ['cookiePartitions', spec.cookiePartitions, spec.cookies],
      ['headerPartitions', spec.headerPartitions, spec.headers],
    ] as const) {
      for (const name of Object.keys(names ?? {})) {
        if (!listed.includes(name)) {
          addIssue({
            message: `${field} names "${name}", which is not in the key's ${field === 'cookiePartitions' ? 'cookies' : 'headers'}`,
          });
        }
      }
    }
  }),
);

/** How the cache key of a route is built ({@link CacheKeySpecSchema}). */
export type CacheKeySpec = v.InferOutput<typeof CacheKeySpecSchema>;

/** Edge (shield) caching of a route. */
export const EdgeCacheOptionsSchema = strictObject(
  {
    /** Seconds a response is fresh at the shield. */
    maxAgeSeconds: v.optional(nonNegativeInt()),
    /** Seconds past `maxAgeSeconds` a stale copy is served while one revalidation runs. */
    staleWhileRevalidateSeconds: v.optional(nonNegativeInt()),
    /** Cache even when the response says `private`. @default false */
    forcePrivateCaching: v.optional(bool()),
  },
  {
    notObject: (issue) =>
      issue.input === true
        ? 'must be false (never cache) or an object of edge options (got true)'
        : got('must be an object')(issue),
  },
);

/** Edge (shield) caching of a route ({@link EdgeCacheOptionsSchema}). */
export type EdgeCacheOptions = v.InferOutput<typeof EdgeCacheOptionsSchema>;

/** Browser caching of a route (sets the client-facing `cache-control`). */
export const BrowserCacheOptionsSchema = strictObject({
  /** `cache-control: max-age=N` sent to the browser (`max-age=0` for 0, as EdgeJS). */
  maxAgeSeconds: v.optional(nonNegativeInt()),
  /** `x-sw-cache-control: max-age` for a service worker. */
  serviceWorkerSeconds: v.optional(nonNegativeInt()),
});

/** Browser caching of a route ({@link BrowserCacheOptionsSchema}). */
export type BrowserCacheOptions = v.InferOutput<typeof BrowserCacheOptionsSchema>;

/**
 * The cache options of a route, as `cache({...})` declared them (with `key`
 * already a {@link CacheKeySpec}). Every number is a non-negative integer of
 * seconds; unknown fields are refused by name.
 */
export const RouteCacheOptionsSchema = strictObject({
  /** `false`: never cache at the edge. Absent: the response's own headers decide. */
  edge: v.optional(v.lazy((edge) => (edge === false ? v.literal(false) : EdgeCacheOptionsSchema))),
  /**
   * `false`: no browser caching (`cache-control: private, no-store`, as
   * EdgeJS turns it off). Absent: the response's own `cache-control`.
   */
  browser: v.optional(
    v.lazy((browser) => (browser === false ? v.literal(false) : BrowserCacheOptionsSchema)),
  ),
  /** Custom cache key; absent: the default key. */
  key: v.optional(CacheKeySpecSchema),
});

/** The cache options of a route ({@link RouteCacheOptionsSchema}). */
export type RouteCacheOptions = v.InferOutput<typeof RouteCacheOptionsSchema>;
