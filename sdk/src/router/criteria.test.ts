import { matchRoutes } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { criteriaWithRegexSpecs } from './criteria.ts';
import { InvalidRouteError } from './errors.ts';
import { DESCRIBE_ROUTES, Router } from './router.ts';

function beta(): Router {
  return new Router()
    .match({ path: '/beta', headers: { 'x-beta': /^(yes|1)$/i } }, ({ send }) => send('header'))
    .get({ path: '/beta', cookies: { plan: /^pro-/ } }, ({ send }) => send('cookie'))
    .match({ path: '/beta', query: { v: /^\d+$/ } }, ({ send }) => send('query'))
    .get('/p/:id(\\d+)', ({ render }) => render(({ params }) => new Response(`id ${params.id}`)))
    .get('/p/:slug', ({ render }) => render(({ params }) => new Response(`slug ${params.slug}`)))
    .get('/beta', ({ send }) => send('plain'));
}

/** The route id each answer comes from, in the order beta() declares them. */
const ROUTE_OF: Record<string, number> = {
  header: 0,
  cookie: 1,
  query: 2,
  id: 3,
  slug: 4,
  plain: 5,
};

async function text(router: Router, path: string, headers: Record<string, string> = {}) {
  const res = await router.fetch(new Request(`https://shop.example${path}`, { headers }));
  return res.text();
}

describe('criteriaWithRegexSpecs', () => {
  it('turns RegExp values into { regex, flags }, leaving the rest as it is', () => {
    const criteria = { path: '/', headers: { a: /x/i, b: 'exact' }, cookies: { c: true } };
    expect(criteriaWithRegexSpecs(criteria)).toEqual({
      path: '/',
      headers: { a: { regex: 'x', flags: 'i' }, b: 'exact' },
      cookies: { c: true },
    });
    expect(criteriaWithRegexSpecs({ path: '/', cookies: { c: true } })).toEqual({
      path: '/',
      cookies: { c: true },
    });
    expect(criteriaWithRegexSpecs('/x')).toBe('/x');
  });
});

describe('Router: regular-expression criteria and constrained parameters', () => {
  it('describes RegExp criteria as { regex, flags } in the manifest', () => {
    const [header, cookie, query] = beta()[DESCRIBE_ROUTES]();
    expect(header?.criteria.headers).toEqual({ 'x-beta': { regex: '^(yes|1)$', flags: 'i' } });
    expect(cookie?.criteria.cookies).toEqual({ plan: { regex: '^pro-' } });
    expect(query?.criteria.query).toEqual({ v: { regex: '^\\d+$' } });
    // What the build writes survives JSON.
    const routes = beta()[DESCRIBE_ROUTES]();
    expect(JSON.parse(JSON.stringify(routes))).toEqual(routes);
  });

  it('serves by them in the bundle as the shield decides over the description', async () => {
    const router = beta();
    const routes = router[DESCRIBE_ROUTES]();
    const cases: Array<[string, Record<string, string>, string]> = [
      ['/beta', { 'x-beta': 'Yes' }, 'header'],
      ['/beta', { 'x-beta': 'nope' }, 'plain'],
      ['/beta', { cookie: 'plan=pro-monthly' }, 'cookie'],
      ['/beta?v=42', {}, 'query'],
      ['/beta?v=4x', {}, 'plain'],
      ['/p/42', {}, 'id 42'],
      ['/p/shirt', {}, 'slug shirt'],
      ['/p/42x', {}, 'slug 42x'],
    ];
    for (const [path, headers, expected] of cases) {
      expect(await text(router, path, headers), path).toBe(expected);
      const url = new URL(`https://shop.example${path}`);
      const decision = matchRoutes(routes, {
        method: 'GET',
        host: url.hostname,
        path: url.pathname,
        query: url.search.slice(1),
        headers,
      });
      expect(decision.terminal?.id, path).toBe(ROUTE_OF[expected.split(' ')[0] as string]);
    }
  });

  it('refuses a regular expression it cannot carry when the route is added, naming the route', () => {
    expect(() => new Router().match({ path: '/x', headers: { h: /a/g } }, () => {})).toThrow(
      /^match\(\) \/x: criteria\.headers\.h \/a\/g has the flag "g", which the matcher cannot carry/,
    );
    expect(() => new Router().get({ path: '/y', cookies: { c: /(a*)*/ } }, () => {})).toThrow(
      /^get\(\) \/y: criteria\.cookies\.c .*nests a repetition inside a repetition/,
    );
    expect(() => new Router().get('/p/:id(.*)', () => {})).toThrow(InvalidRouteError);
    expect(() => new Router().match(/^\/p\/\d+$/ as never, () => {})).toThrow(
      'match(): a regular expression as the path (/^\\/p\\/\\d+$/) is not supported',
    );
    expect(() => new Router().get({ path: /^\/x/ as never }, () => {})).toThrow(
      /^get\(\): a regular expression as the path/,
    );
    expect(() => new Router().get('/p/:id(.*)', () => {})).toThrow(
      /^get\(\): criteria\.path "\/p\/:id\(\.\*\)" has a constraint on ":id" that can match "\/"/,
    );
  });
});
