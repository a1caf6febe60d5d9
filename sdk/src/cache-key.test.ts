import { computeCacheKey, validateCacheOptions } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { CustomCacheKey, type KeyPartitions } from './cache-key.ts';
import { InvalidRouteError } from './router/errors.ts';
import { DESCRIBE_ROUTES, Router } from './router/router.ts';

const PROD = { environment: 'production' };

function keyOf(key: CustomCacheKey, headers: Record<string, string>, query = ''): string {
  return computeCacheKey(
    key.toSpec(),
    { method: 'GET', host: 'shop.example', path: '/', query, headers },
    PROD,
  );
}

describe('CustomCacheKey: EdgeJS methods', () => {
  it('excludeAllQueryParameters keeps no query parameter (names of a later Except come back)', () => {
    const none = new CustomCacheKey().excludeAllQueryParameters();
    expect(none.toSpec().query).toEqual({ mode: 'only', names: [] });
    expect(keyOf(none, {}, 'utm=1&page=2')).toBe(keyOf(none, {}));
    expect(
      new CustomCacheKey()
        .excludeAllQueryParameters()
        .excludeAllQueryParametersExcept('page')
        .toSpec().query,
    ).toEqual({ mode: 'only', names: ['page'] });
    expect(() =>
      new CustomCacheKey().excludeQueryParameters('utm').excludeAllQueryParameters(),
    ).toThrow(InvalidRouteError);
  });

  it('addIsBot and addVendor put the flags in the spec (absent otherwise)', () => {
    expect(new CustomCacheKey().addIsBot().addVendor().toSpec()).toMatchObject({
      isBot: true,
      vendor: true,
    });
    const plain = new CustomCacheKey().toSpec();
    expect('isBot' in plain || 'vendor' in plain).toBe(false);
  });

  it('addCookie with partition(name).byPattern(), group() and addPartition() builds the table', () => {
    const key = new CustomCacheKey().addCookie('location', (cookie) => {
      cookie.partition('na').byPattern('^(us|ca)$');
      cookie.group('eur').byPattern(/^(de|fr)$/i);
      cookie.addPartition('home', 'a.b');
    });
    expect(key.toSpec()).toMatchObject({
      cookies: ['location'],
      cookiePartitions: {
        location: [
          { name: 'na', regex: '^(us|ca)$' },
          { name: 'eur', regex: '^(de|fr)$', flags: 'i' },
          { name: 'home', regex: '^a\\.b$' },
        ],
      },
    });
    // The spec is valid manifest data, and keys the partition.
    expect(validateCacheOptions({ key: key.toSpec() })).toEqual({ key: key.toSpec() });
    expect(keyOf(key, { cookie: 'location=us' })).toBe(keyOf(key, { cookie: 'location=ca' }));
    expect(keyOf(key, { cookie: 'location=FR' })).toMatch(/\|c:location~eur$/);
    expect(keyOf(key, { cookie: 'location=a.b' })).toMatch(/\|c:location~home$/);
    expect(keyOf(key, { cookie: 'location=axb' })).toMatch(/\|c:location~$/);
  });

  it('addHeader takes partitions too; calling again without a callback keys the raw value', () => {
    const key = new CustomCacheKey().addHeader('X-Tier', (h) => h.addPartition('gold', /gold/));
    expect(key.toSpec().headerPartitions).toEqual({ 'x-tier': [{ name: 'gold', regex: 'gold' }] });
    key.addHeader('x-tier');
    expect(key.toSpec().headerPartitions).toBeUndefined();
    expect(keyOf(key, { 'x-tier': 'gold' })).toMatch(/\|h:x-tier=gold$/);
  });

  it('refuses partition callbacks it cannot carry, naming the cookie and the partition', () => {
    const bad = (create: unknown) => () =>
      new CustomCacheKey().addCookie('location', create as () => void);
    expect(bad(() => {})).toThrow(
      'CustomCacheKey.addCookie("location"): the partition callback declared no partition',
    );
    expect(bad((c: KeyPartitions) => c.partition('na').byPattern(/us/g))).toThrow(
      /addCookie\("location"\): the pattern \/us\/g of partition "na" has the flag "g"/,
    );
    expect(
      bad((c: KeyPartitions) => {
        c.addPartition('a', 'x');
        c.addPartition('a', 'y');
      }),
    ).toThrow('the partition "a" is declared twice');
    expect(bad((c: KeyPartitions) => c.addPartition('', /x/))).toThrow(
      /a partition name must be a non-empty string/,
    );
    expect(bad((c: KeyPartitions) => c.partition('x').byPattern(/(a+)+/))).toThrow(
      /nests a repetition/,
    );
    expect(bad(async () => {})).toThrow(/the partition callback must not be async/);
    expect(bad('na')).toThrow(/the second argument must be a function/);
  });

  it('a route with a partitioned key describes it in the manifest', () => {
    const router = new Router().get('/', ({ cache, render }) => {
      cache({
        edge: { maxAgeSeconds: 60 },
        key: new CustomCacheKey().addCookie('location', (c) => c.partition('na').byPattern('us')),
      });
      render(() => new Response('ok'));
    });
    expect(router[DESCRIBE_ROUTES]()[0]?.cache?.key?.cookiePartitions).toEqual({
      location: [{ name: 'na', regex: 'us' }],
    });
  });
});
