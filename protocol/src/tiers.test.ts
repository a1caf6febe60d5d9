import { describe, expect, it } from 'vitest';
import { decodeShieldBeat, encodeShieldBeat } from './purge.ts';
import {
  decodeTierAnswer,
  decodeTierMiss,
  encodeTierAnswer,
  encodeTierMiss,
  TIER_HEADER,
  type TierMiss,
  tierMissSubject,
} from './tiers.ts';
import type { RenderRequest } from './wire.ts';

const MISS: TierMiss = {
  key: 'shop@d1|/p/1',
  method: 'GET',
  route: { edge: { maxAgeSeconds: 60 } },
  debug: false,
  postCacheable: false,
  requestBodyBytes: 0,
  setCookieRemoved: false,
  app: 'shop',
  environment: 'production',
  path: '/p/1',
  url: 'shop.example.test/p/1',
  primaryRegion: 'eu',
};

const REQUEST: RenderRequest = {
  deploymentId: 'd1',
  method: 'GET',
  url: 'http://shop.example.test/p/1',
  headers: [['accept', 'text/html']],
  body: new Uint8Array(0),
  deadline: 1_700_000_010_000,
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  requestId: 'r-1',
  attempt: 1,
  environment: 'production',
};

describe('tier messages', () => {
  it('a tier miss is the render request with its cache side, both read back', () => {
    const msg = encodeTierMiss(MISS, REQUEST);
    const { miss, request } = decodeTierMiss(msg);
    expect(miss).toEqual(MISS);
    expect(request).toEqual(REQUEST);
  });

  it("a tier miss carries the variant's replay headers; a malformed one is refused", () => {
    const withReplay: TierMiss = {
      ...MISS,
      replay: {
        headers: [
          ['accept-encoding', 'gzip'],
          ['cookie', 'tier=gold'],
        ],
        unreplayable: 'keyed by x-flotilla-client-ip',
      },
    };
    expect(decodeTierMiss(encodeTierMiss(withReplay, REQUEST)).miss).toEqual(withReplay);
    const bad = { ...MISS, replay: { headers: [['cookie']] } } as unknown as TierMiss;
    expect(() => decodeTierMiss(encodeTierMiss(bad, REQUEST))).toThrow(/replay/);
  });

  it('a tier answer is the render result with what the global tier did', () => {
    const answer = {
      cacheStatus: 'flotilla-global; hit; ttl=42',
      cachingStatus: 'ok',
      outcome: 'hit' as const,
      windows: { ageMs: 18_000, maxAgeMs: 60_000, swrMs: 0, staleIfErrorMs: 60_000 },
      shieldId: 'g-1',
    };
    const body = new TextEncoder().encode('page');
    const decoded = decodeTierAnswer(
      encodeTierAnswer(answer, { ok: true, status: 200, headers: [], body, timings: {} }),
    );
    expect(decoded.answer).toEqual(answer);
    expect(decoded.result).toMatchObject({ ok: true, status: 200, body });
  });

  it('refuses a tier message without its header, or with a wrong one, naming what is wrong', () => {
    const msg = encodeTierMiss(MISS, REQUEST);
    delete msg.headers[TIER_HEADER];
    expect(() => decodeTierMiss(msg)).toThrow(/tier miss has no flotilla-tier header/);
    msg.headers[TIER_HEADER] = JSON.stringify({ ...MISS, key: '' });
    expect(() => decodeTierMiss(msg)).toThrow(/tier miss has the wrong shape: key/);
    msg.headers[TIER_HEADER] = '{';
    expect(() => decodeTierMiss(msg)).toThrow(/tier miss is not JSON/);
  });

  it('has one subject per member, the id checked as a subject token', () => {
    expect(tierMissSubject('g-1')).toBe('flotilla.cache.tier.g-1');
    expect(() => tierMissSubject('g.>')).toThrow(/shieldId/);
  });

  it('a shield heartbeat says its tier; one without is a single-tier shield', () => {
    const beat = { shieldId: 'g-1', region: 'eu', intervalMs: 1000 };
    expect(decodeShieldBeat(encodeShieldBeat({ ...beat, tier: 'global' })).tier).toBe('global');
    expect(decodeShieldBeat(encodeShieldBeat(beat)).tier).toBeUndefined();
    expect(() => decodeShieldBeat(encodeShieldBeat({ ...beat, tier: 'middle' as 'edge' }))).toThrow(
      /tier must be both, edge or global/,
    );
  });
});
