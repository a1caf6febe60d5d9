import { describe, expect, it } from 'vitest';
import { DEFAULT_CACHE_KEY_SPEC } from './cache-key.ts';
import type { CacheKeySpec } from './cache-options-schema.ts';
import { criteriaReads, withCriteriaReads } from './criteria-reads.ts';
import type { RouteCriteria } from './criteria-schema.ts';
import type { ManifestRoute } from './route-schema.ts';
import type { MatchRequest } from './types.ts';

const CRITERIA: RouteCriteria[] = [
  { path: '/beta', headers: { 'X-Beta': { regex: 'yes' } } },
  { path: '/beta', cookies: { plan: true }, query: { v: '1' } },
  { path: '/beta', method: ['POST'], headers: { 'x-post': true } },
  { path: '/other', headers: { 'x-other': true } },
  { path: '/beta', host: ['elsewhere.example'], headers: { 'x-host': true } },
  { path: '/beta' },
];
const ROUTES: ManifestRoute[] = CRITERIA.map((criteria, id) => ({
  id,
  criteria,
  fallback: false,
  action: { kind: 'render' },
  headerOps: [],
}));

function req(init: Partial<MatchRequest> = {}): MatchRequest {
  return { method: 'GET', host: 'shop.example', path: '/beta', query: '', headers: {}, ...init };
}

describe('criteriaReads', () => {
  it('names what the criteria of the routes matching path, method and host read', () => {
    expect(criteriaReads(ROUTES, req())).toEqual({
      headers: ['x-beta'],
      cookies: ['plan'],
      query: ['v'],
    });
    expect(criteriaReads(ROUTES, req({ method: 'POST' })).headers).toEqual(['x-beta', 'x-post']);
    expect(criteriaReads(ROUTES, req({ path: '/none' }))).toEqual({
      headers: [],
      cookies: [],
      query: [],
    });
  });
});

describe('withCriteriaReads', () => {
  const reads = { headers: ['x-beta'], cookies: ['plan'], query: ['v'] };
  const spec = (patch: Partial<CacheKeySpec>): CacheKeySpec => ({
    ...DEFAULT_CACHE_KEY_SPEC,
    ...patch,
  });

  it('adds the headers and cookies a key lacks, keeping its own first', () => {
    expect(withCriteriaReads(spec({ headers: ['accept-language'] }), reads)).toEqual(
      spec({ headers: ['accept-language', 'x-beta'], cookies: ['plan'] }),
    );
    expect(withCriteriaReads(undefined, reads)).toEqual(
      spec({ headers: ['x-beta'], cookies: ['plan'] }),
    );
  });

  it('keeps the query parameters the criteria read in the key', () => {
    expect(withCriteriaReads(spec({ query: { mode: 'only', names: [] } }), reads)?.query).toEqual({
      mode: 'only',
      names: ['v'],
    });
    expect(
      withCriteriaReads(spec({ query: { mode: 'exclude', names: ['v', 'utm'] } }), reads)?.query,
    ).toEqual({ mode: 'exclude', names: ['utm'] });
    expect(
      withCriteriaReads(spec({ query: { mode: 'exclude', names: ['v'] } }), reads)?.query,
    ).toEqual({ mode: 'all' });
  });

  it('returns the spec itself when it holds everything already', () => {
    const full = spec({ headers: ['x-beta'], cookies: ['plan'] });
    expect(withCriteriaReads(full, reads)).toBe(full);
    expect(withCriteriaReads(undefined, { headers: [], cookies: [], query: [] })).toBeUndefined();
  });
});
