import { DEFAULT_CACHE_KEY_SPEC } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { replayOf } from './replay-headers.ts';

const HEADERS: Record<string, string> = {
  host: 'shop.example',
  'user-agent': 'Mozilla/5.0 (iPhone)',
  'accept-encoding': 'gzip, br',
  cookie: 'session=secret; tier=gold; flotilla_split_shop_production=old',
  'x-tenant': 'acme',
  'x-other': 'not keyed',
  authorization: 'Bearer secret',
};
const NO_FACTS = { derived: new Set<string>(), keyedFacts: [], split: undefined, post: false };

describe('replayOf', () => {
  it('keeps only what the default key reads: the encoding', () => {
    expect(replayOf(undefined, HEADERS, NO_FACTS)).toEqual({
      headers: [['accept-encoding', 'gzip, br']],
    });
  });

  it('keeps keyed headers, keyed cookies (alone, as one cookie header) and the user-agent for a keyed device', () => {
    const spec = {
      ...DEFAULT_CACHE_KEY_SPEC,
      headers: ['x-tenant', 'x-absent'],
      cookies: ['tier', 'absent'],
      device: true,
    };
    expect(replayOf(spec, HEADERS, NO_FACTS)).toEqual({
      headers: [
        ['accept-encoding', 'gzip, br'],
        ['cookie', 'tier=gold'],
        ['user-agent', 'Mozilla/5.0 (iPhone)'],
        ['x-tenant', 'acme'],
      ],
    });
    for (const flag of ['browser', 'isBot', 'vendor'] as const) {
      const got = replayOf({ ...DEFAULT_CACHE_KEY_SPEC, [flag]: true }, HEADERS, NO_FACTS);
      expect(got.headers.map(([n]) => n)).toContain('user-agent');
    }
  });

  it('sends the split destination drawn as the split cookie', () => {
    const got = replayOf(undefined, HEADERS, {
      ...NO_FACTS,
      split: ['flotilla_split_shop_production', 'dpl-b'],
    });
    expect(got.headers).toContainEqual(['cookie', 'flotilla_split_shop_production=dpl-b']);
  });

  it('replays keyed facts sent as headers, and marks facts derived from the address unreplayable', () => {
    const got = replayOf(undefined, HEADERS, {
      derived: new Set(['x-flotilla-client-ip', 'x-0-geo-country-code']),
      keyedFacts: [
        ['x-flotilla-client-ip', '203.0.113.9'],
        ['x-0-geo-country-code', 'FR'],
        ['x-tenant', 'acme'],
      ],
      split: undefined,
      post: false,
    });
    expect(got).toEqual({
      headers: [
        ['accept-encoding', 'gzip, br'],
        ['x-tenant', 'acme'],
      ],
      unreplayable: 'keyed by x-0-geo-country-code, x-flotilla-client-ip',
    });
    expect(replayOf(undefined, HEADERS, { ...NO_FACTS, post: true }).unreplayable).toBe(
      'keyed by a POST body',
    );
  });
});
