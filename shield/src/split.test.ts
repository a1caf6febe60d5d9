import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isSplitCookie,
  SPLIT_COOKIE_PREFIX,
  SplitAssigner,
  type SplitEntry,
  splitCookieName,
} from './split.ts';

/** A small seeded PRNG (mulberry32), so the distribution test is repeatable. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const split: SplitEntry[] = [
  { deploymentId: 'shop-aaaaaaaaaaaa', percent: 70 },
  { deploymentId: 'shop-bbbbbbbbbbbb', percent: 20 },
  { deploymentId: 'shop-cccccccccccc', percent: 10 },
];
const base = { app: 'shop', environment: 'production', split };

/** The cookie a browser would send back from a Set-Cookie value. */
function cookieOf(setCookie: string | undefined): string {
  return (setCookie ?? '').split(';')[0] ?? '';
}

describe('SplitAssigner', () => {
  it.each([
    [1, split],
    [2, split],
    [
      3,
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 50 },
        { deploymentId: 'shop-bbbbbbbbbbbb', percent: 50 },
      ],
    ],
    [
      4,
      [
        { deploymentId: 'shop-aaaaaaaaaaaa', percent: 99 },
        { deploymentId: 'shop-bbbbbbbbbbbb', percent: 1 },
      ],
    ],
  ])(
    'sends new visitors to each deployment in proportion (seed %i: 10 000 draws, within 2 points)',
    (seed, entries) => {
      const assigner = new SplitAssigner({ random: seeded(seed) });
      const counts = new Map<string, number>();
      const draws = 10_000;
      for (let i = 0; i < draws; i++) {
        const a = assigner.assign({ ...base, split: entries });
        counts.set(a.deploymentId, (counts.get(a.deploymentId) ?? 0) + 1);
        expect(a.destination).toBe(a.deploymentId);
        expect(a.setCookie).toBeDefined();
      }
      for (const entry of entries) {
        const share = ((counts.get(entry.deploymentId) ?? 0) / draws) * 100;
        expect(Math.abs(share - entry.percent)).toBeLessThanOrEqual(2);
      }
    },
  );

  it('keeps a visitor on the deployment its cookie names, without a new cookie', () => {
    const assigner = new SplitAssigner({ random: seeded(7) });
    const first = assigner.assign(base);
    expect(first.setCookie).toMatch(
      new RegExp(
        `^flotilla_split_shop_production=${first.deploymentId}; Path=/; Max-Age=2592000; SameSite=Lax; HttpOnly$`,
      ),
    );
    const cookie = `theme=dark; ${cookieOf(first.setCookie)}; other=1`;
    for (let i = 0; i < 200; i++) {
      const again = assigner.assign({ ...base, cookieHeader: cookie });
      expect(again).toEqual({ deploymentId: first.deploymentId, destination: first.deploymentId });
    }
  });

  it('stays sticky whatever the draw would say (property)', () => {
    const assigner = new SplitAssigner();
    fc.assert(
      fc.property(
        fc.constantFrom(...split.map((e) => e.deploymentId)),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (id, r) => {
          const a = assigner.assign({
            ...base,
            cookieHeader: `${splitCookieName('shop', 'production')}=${id}`,
            random: () => r,
          });
          return a.deploymentId === id && a.setCookie === undefined;
        },
      ),
    );
  });

  it('always picks a deployment of the split (property)', () => {
    const assigner = new SplitAssigner();
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.option(fc.string(), { nil: undefined }),
        (percents, r, cookie) => {
          const entries = percents.map((percent, i) => ({ deploymentId: `shop-${i}`, percent }));
          const a = assigner.assign({
            ...base,
            split: entries,
            random: () => r,
            ...(cookie === undefined ? {} : { cookieHeader: cookie }),
          });
          return entries.some((e) => e.deploymentId === a.deploymentId);
        },
      ),
    );
  });

  it('re-draws a visitor whose cookie names a deployment no longer in the split', () => {
    const assigner = new SplitAssigner({ random: () => 0.95 });
    const a = assigner.assign({
      ...base,
      cookieHeader: 'flotilla_split_shop_production=shop-000000000000',
    });
    expect(a.deploymentId).toBe('shop-cccccccccccc');
    expect(cookieOf(a.setCookie)).toBe('flotilla_split_shop_production=shop-cccccccccccc');
    // …and a forged value never reaches the cache key.
    const forged = assigner.assign({
      ...base,
      cookieHeader: 'flotilla_split_shop_production="shop-aaaaaaaaaaaa x"',
    });
    expect(forged.destination).toBe('shop-cccccccccccc');
  });

  it('reads quoted values and several Cookie headers, and only its own cookie', () => {
    const assigner = new SplitAssigner({ random: () => 0 });
    expect(
      assigner.assign({
        ...base,
        cookieHeader: ['a=1', 'flotilla_split_shop_production="shop-bbbbbbbbbbbb"'],
      }).deploymentId,
    ).toBe('shop-bbbbbbbbbbbb');
    // The staging cookie says nothing about production.
    const other = assigner.assign({
      ...base,
      cookieHeader: 'flotilla_split_shop_staging=shop-bbbbbbbbbbbb',
    });
    expect(other.deploymentId).toBe('shop-aaaaaaaaaaaa');
    expect(other.setCookie).toBeDefined();
  });

  it('draws at the edges of the ranges', () => {
    const pick = (r: number) => new SplitAssigner({ random: () => r }).assign(base).deploymentId;
    expect(pick(0)).toBe('shop-aaaaaaaaaaaa');
    expect(pick(0.6999)).toBe('shop-aaaaaaaaaaaa');
    expect(pick(0.7)).toBe('shop-bbbbbbbbbbbb');
    expect(pick(0.8999)).toBe('shop-bbbbbbbbbbbb');
    expect(pick(0.9)).toBe('shop-cccccccccccc');
    expect(pick(0.99999)).toBe('shop-cccccccccccc');
    expect(pick(1)).toBe('shop-cccccccccccc');
    expect(pick(Number.NaN)).toBe('shop-aaaaaaaaaaaa');
  });

  it('uses the per-request random over the assigner one', () => {
    const assigner = new SplitAssigner({ random: () => 0 });
    expect(assigner.assign({ ...base, random: () => 0.95 }).deploymentId).toBe('shop-cccccccccccc');
  });

  it('writes the cookie attributes it is configured with', () => {
    const a = new SplitAssigner({
      random: () => 0,
      cookieMaxAgeSeconds: 0,
      secure: true,
      httpOnly: false,
    }).assign(base);
    expect(a.setCookie).toBe(
      'flotilla_split_shop_production=shop-aaaaaaaaaaaa; Path=/; SameSite=Lax; Secure',
    );
  });

  it('names its cookies with the split prefix', () => {
    expect(splitCookieName('shop', 'production')).toBe('flotilla_split_shop_production');
    expect(SPLIT_COOKIE_PREFIX).toBe('flotilla_split_');
    expect(isSplitCookie('flotilla_split_shop_production')).toBe(true);
    expect(isSplitCookie('session')).toBe(false);
  });

  it.each([
    [{ random: 1 }, /option "random" must be a function/],
    [{ cookieMaxAgeSeconds: -1 }, /option "cookieMaxAgeSeconds"/],
    [{ secure: 'yes' }, /option "secure" must be a boolean/],
  ])('rejects the options %j, naming the bad one', (options, message) => {
    expect(() => new SplitAssigner(options as never)).toThrow(message);
  });

  it.each([
    [{ split: [] }, /option "split" must list at least one deployment/],
    [{ split: [{ deploymentId: '', percent: 1 }] }, /option "split\[0\].deploymentId"/],
    [{ split: [{ deploymentId: 'a-1', percent: -1 }] }, /option "split\[0\].percent"/],
    [{ app: 'Shop' }, /option "app"/],
    [{ environment: '' }, /option "environment"/],
  ])('rejects the request %j, naming the bad field', (patch, message) => {
    expect(() => new SplitAssigner().assign({ ...base, ...(patch as object) })).toThrow(message);
  });
});

describe('SplitAssigner rules', () => {
  const a = 'shop-aaaaaaaaaaaa';
  const b = 'shop-bbbbbbbbbbbb';
  const rules = [
    { when: { cookie: { name: 'beta', value: '1' } }, split: [{ deploymentId: b, percent: 100 }] },
    {
      when: { header: { name: 'x-variant' } },
      split: [{ deploymentId: a, destination: 'modern', percent: 100 }],
    },
    {
      when: { device: ['smartphone' as const, 'tablet' as const] },
      split: [{ deploymentId: a, destination: 'mobile', percent: 100 }],
    },
    {
      when: { country: ['DE'], device: ['desktop' as const] },
      split: [{ deploymentId: b, percent: 100 }],
    },
  ];
  const env = {
    app: 'shop',
    environment: 'production',
    deploymentId: a,
    rules,
    split: [
      { deploymentId: a, destination: 'legacy', percent: 50 },
      { deploymentId: a, destination: 'modern', percent: 50 },
    ],
  };
  const assigner = new SplitAssigner();

  it('takes the first rule whose criteria all match', () => {
    // Cookie rule first, although the header and device rules match too.
    const beta = assigner.assign({
      ...env,
      cookieHeader: 'beta=1',
      headers: { 'x-variant': 'x' },
      device: 'smartphone',
    });
    expect(beta).toMatchObject({ deploymentId: b, destination: b, rule: 0 });
    expect(beta.routerDestination).toBeUndefined();
    // A cookie with another value does not match its rule.
    expect(
      assigner.assign({ ...env, cookieHeader: 'beta=2', headers: { 'x-variant': '' } }),
    ).toMatchObject({
      deploymentId: a,
      destination: `${a}.modern`,
      routerDestination: 'modern',
      rule: 1,
    });
    expect(assigner.assign({ ...env, device: 'tablet' })).toMatchObject({
      routerDestination: 'mobile',
      rule: 2,
    });
    // Every criterion of a rule must hold: Germany on a desktop, not Germany on a phone.
    expect(assigner.assign({ ...env, device: 'desktop', country: 'de' })).toMatchObject({
      deploymentId: b,
      rule: 3,
    });
    expect(assigner.assign({ ...env, device: 'mobile', country: 'DE' }).rule).toBeUndefined();
  });

  it('draws from the environment split when no rule matches, and keeps the visitor there', () => {
    const first = assigner.assign({ ...env, device: 'desktop', random: () => 0.9 });
    expect(first).toMatchObject({
      deploymentId: a,
      destination: `${a}.modern`,
      routerDestination: 'modern',
    });
    expect(first.rule).toBeUndefined();
    expect(first.setCookie).toMatch(
      new RegExp(`^flotilla_split_shop_production=${a}\\.modern; Path=/`),
    );
    const again = assigner.assign({
      ...env,
      device: 'desktop',
      cookieHeader: cookieOf(first.setCookie),
      random: () => 0,
    });
    expect(again).toMatchObject({ destination: `${a}.modern` });
    expect(again.setCookie).toBeUndefined();
    // The same cookie under a rule whose split does not hold it: reassigned by that rule.
    const moved = assigner.assign({
      ...env,
      device: 'tablet',
      cookieHeader: cookieOf(first.setCookie),
    });
    expect(moved).toMatchObject({ destination: `${a}.mobile` });
    expect(moved.setCookie).toContain(`=${a}.mobile;`);
  });

  it('sends visitors no rule matches to the environment deployment when there is no split', () => {
    const none = assigner.assign({ ...env, split: undefined, device: 'desktop' });
    expect(none).toEqual({ deploymentId: a, destination: a });
  });
});
