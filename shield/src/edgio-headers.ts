/**
 * Edgio's header names (`--header-names edgio`), beside Flotilla's own, for
 * apps and tooling ported from Edgio: `x-0-caching-status` and `x-0-t` on
 * responses; `x-0-device`, `x-0-browser`, `x-0-client-ip`, `x-0-geo-*` and
 * `x-0-original-qs` on the requests renders (and proxied origins) see,
 * wherever Flotilla sends its own `x-flotilla-*` twin; and `x-0-debug`
 * honoured as `x-flotilla-debug`.
 *
 * @module
 */
import { InvalidOptionError, type StageTimings } from '@flotilla/protocol';
import type { CacheOutcomeLabel } from './cache/edge-cache.ts';
import { now } from './timing.ts';

/** The header vocabularies a shield can emit. */
export const HEADER_NAME_SETS = Object.freeze(['flotilla', 'edgio'] as const);

/** `flotilla`: Flotilla's headers only; `edgio`: Edgio's `x-0-*` beside them. */
export type HeaderNames = (typeof HEADER_NAME_SETS)[number];

/** `value` as a {@link HeaderNames}, `flotilla` when absent. */
export function checkHeaderNames(value: unknown): HeaderNames {
  if (value === undefined) return 'flotilla';
  if (!HEADER_NAME_SETS.includes(value as HeaderNames)) {
    throw new InvalidOptionError(
      'headerNames',
      `must be ${HEADER_NAME_SETS.join(' or ')}, got ${JSON.stringify(value)}`,
    );
  }
  return value as HeaderNames;
}

/** Edgio's debug request header, honoured as `x-flotilla-debug` (same token). */
export const EDGIO_DEBUG_HEADER = 'x-0-debug';

/** Edgio's `x-0-caching-status` (the values of `x-flotilla-caching-status`). */
export const EDGIO_CACHING_STATUS_HEADER = 'x-0-caching-status';

/** Edgio's per-tier timing header. */
export const EDGIO_TIMING_HEADER = 'x-0-t';

/** Flotilla's request headers and their Edgio twins. */
const REQUEST_TWINS: Readonly<Record<string, string>> = Object.freeze({
  'x-flotilla-device': 'x-0-device',
  'x-flotilla-browser': 'x-0-browser',
  'x-flotilla-client-ip': 'x-0-client-ip',
  'x-flotilla-original-query': 'x-0-original-qs',
});

/** Words of a CDN's geo header name and the `x-0-geo-*` header they become. */
const GEO_TWINS: ReadonlyArray<readonly [RegExp, string]> = [
  [/country/, 'x-0-geo-country-code'],
  [/city/, 'x-0-geo-city'],
  [/region|subdivision/, 'x-0-geo-region'],
  [/postal|zip/, 'x-0-geo-postal-code'],
  [/latitude/, 'x-0-geo-latitude'],
  [/longitude/, 'x-0-geo-longitude'],
  [/asn/, 'x-0-geo-asn'],
];

/** The `x-0-geo-*` name of the front door's geo header `name`, or undefined. */
export function edgioGeoName(name: string): string | undefined {
  return GEO_TWINS.find(([word]) => word.test(name))?.[1];
}

/**
 * `headers` (a render's upstream list) with the Edgio twin of each
 * Flotilla header appended: `x-0-device` after `x-flotilla-device`, and so
 * on; the values of the front door's geo headers (`geoHeaders`) as
 * `x-0-geo-*`. Only headers the shield itself wrote are twinned (clients'
 * `x-flotilla-*` and `x-0-*` never get this far).
 */
export function withEdgioRequestHeaders(
  headers: Array<[string, string]>,
  geoHeaders: readonly string[],
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of headers) {
    out.push([name, value]);
    const twin =
      REQUEST_TWINS[name] ?? (geoHeaders.includes(name) ? edgioGeoName(name) : undefined);
    if (twin !== undefined) out.push([twin, value]);
  }
  return out;
}

/** Edgio's `ecc` (edge cache status) of a cache outcome. */
const CACHE_STATUS: Readonly<Record<CacheOutcomeLabel, string>> = Object.freeze({
  hit: 'hit',
  stale: 'hit',
  miss: 'miss',
  pass: 'pass',
});

/** Flotilla's stages and their `x-0-t` ids, outermost first. */
const TIMING_IDS: ReadonlyArray<readonly [keyof StageTimings & string, string]> = [
  ['global', 'gt'],
  ['transport', 'nt'],
  ['scheduler', 'st'],
  ['queue', 'wq'],
  ['worker', 'wt'],
  ['render', 'wr'],
];

/**
 * The `x-0-t` value (Edgio's format, `<id>=<ms>[,<id>=<ms>…]`, outermost
 * component first): `et` the shield's total time, `ecc` its cache status
 * (`hit`, `miss`, `pass`), with cache tiers `gcc` the global tier's cache
 * status and `gt` its own time when the edge asked it, then for a render
 * the region's tiers: `nt` transport, `st` scheduler, `wq` the worker's
 * queue, `wt` worker, `wr` the render itself. Times are whole milliseconds.
 */
export function edgioTiming(
  totalMs: number,
  outcome: CacheOutcomeLabel | undefined,
  timings: StageTimings | undefined,
  globalOutcome?: CacheOutcomeLabel,
): string {
  const parts = [`et=${Math.max(0, Math.round(totalMs))}`];
  if (outcome !== undefined) parts.push(`ecc=${CACHE_STATUS[outcome]}`);
  if (globalOutcome !== undefined) parts.push(`gcc=${CACHE_STATUS[globalOutcome]}`);
  for (const [stage, id] of TIMING_IDS) {
    const ms = timings?.[stage];
    if (typeof ms === 'number') parts.push(`${id}=${Math.max(0, Math.round(ms))}`);
  }
  return parts.join(',');
}

/** Edgio's `x-0-caching-status` and `x-0-t` of a cached request's answer (started at `started`). */
export function edgioCacheHeaders(
  answer: {
    cachingStatus: string;
    outcome: CacheOutcomeLabel;
    timings: StageTimings | undefined;
    upstream?: { outcome: CacheOutcomeLabel } | undefined;
  },
  started: number,
): Record<string, string> {
  return {
    [EDGIO_CACHING_STATUS_HEADER]: answer.cachingStatus,
    [EDGIO_TIMING_HEADER]: edgioTiming(
      now() - started,
      answer.outcome,
      answer.timings,
      answer.upstream?.outcome,
    ),
  };
}
