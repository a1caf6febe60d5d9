import { DESTINATION_HEADER } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { routeWarnings } from '../build-route-warnings.ts';
import { CustomCacheKey } from '../cache-key.ts';
import { InvalidRouteError, RouterBuildError } from './errors.ts';
import { DESCRIBE_ROUTES, Router } from './router.ts';

/** Two destinations (EdgeJS split testing) and a route every destination shares. */
function app(): Router {
  return new Router()
    .get('/health', ({ send }) => send('ok'))
    .destination(
      'legacy_experience',
      new Router().fallback(({ send }) => send('legacy')),
    )
    .destination(
      'new_experience',
      new Router()
        .get('/p/:id', ({ render }) => render(({ params }) => new Response(`new ${params.id}`)))
        .fallback(({ send }) => send('new')),
    );
}

async function text(router: Router, path: string, destination?: string): Promise<string> {
  const headers = destination ? { [DESTINATION_HEADER]: destination } : undefined;
  const res = await router.fetch(new Request(`https://shop.example${path}`, { headers }));
  return res.text();
}

describe('Router.destination', () => {
  it('describes each route with its destination, labelled in build errors', () => {
    const routes = app()[DESCRIBE_ROUTES]();
    expect(routes.map((r) => [r.criteria.path, r.destination])).toEqual([
      ['/health', undefined],
      ['/:path*', 'legacy_experience'],
      ['/p/:id', 'new_experience'],
      ['/:path*', 'new_experience'],
    ]);
    const broken = new Router().destination(
      'b',
      new Router().get('/x', () => {
        throw new Error('boom');
      }),
    );
    expect(() => broken[DESCRIBE_ROUTES]()).toThrow(RouterBuildError);
    expect(() => broken[DESCRIBE_ROUTES]()).toThrow(/GET \/x \(route 0\) of destination b/);
  });

  it('serves the destination the shield names, the first one when it names none or an unknown one', async () => {
    const router = app();
    expect(await text(router, '/p/7', 'new_experience')).toBe('new 7');
    expect(await text(router, '/p/7', 'legacy_experience')).toBe('legacy');
    expect(await text(router, '/p/7')).toBe('legacy');
    expect(await text(router, '/p/7', 'gone')).toBe('legacy');
    // Routes outside any destination serve all of them.
    expect(await text(router, '/health', 'new_experience')).toBe('ok');
  });

  it('refuses bad names, duplicates and nested destinations', () => {
    expect(() => new Router().destination('no spaces', new Router())).toThrow(
      /destination\("no spaces"\): the name must be 1-64 letters/,
    );
    expect(() => new Router().destination('a', {} as Router)).toThrow(InvalidRouteError);
    const twice = new Router().destination(
      'a',
      new Router().get('/', ({ send }) => send('1')),
    );
    expect(() => twice.destination('a', new Router())).toThrow(/declared twice/);
    expect(() => new Router().destination('outer', app())).toThrow(
      /a destination's router cannot have destinations/,
    );
  });
});

describe('passRequestFacts', () => {
  it('records the facts in the manifest and warns what they do to the cache', () => {
    const router = new Router()
      .get('/p/:id', ({ cache, passRequestFacts, setRequestHeader, proxy }) => {
        cache({ edge: { maxAgeSeconds: 60 }, key: new CustomCacheKey().addHeader('x-currency') });
        passRequestFacts(['X-CDN-Client-IP', 'client-ip'], { cacheKey: 'none' });
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's interpolation syntax
        setRequestHeader('x-client-ip', '${req:x-cdn-client-ip}');
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's interpolation syntax
        setRequestHeader('x-currency-seen', '${req:x-currency}');
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's interpolation syntax
        setRequestHeader('x-lost', '${req:x-forwarded-for}');
        proxy('origin');
      })
      .get('/geo', ({ cache, passRequestFacts, render }) => {
        cache({ edge: { maxAgeSeconds: 60 } });
        passRequestFacts(['client-ip'], { cacheKey: 'add' });
        render(() => new Response('geo'));
      });
    const routes = router[DESCRIBE_ROUTES]();
    expect(routes[0]?.requestFacts).toEqual({
      names: ['x-cdn-client-ip', 'client-ip'],
      cacheKey: 'none',
    });
    const warnings = routeWarnings(routes);
    expect(warnings).toHaveLength(3);
    expect(warnings[0]).toMatch(
      /^route GET \/p\/:id \(route 0\): passRequestFacts\(\[x-cdn-client-ip, client-ip\], \{ cacheKey: 'none' \}\) passes them unkeyed/,
    );
    // Keyed and passed names are fine; the unkeyed one arrives empty, and the warning says so.
    expect(warnings[1]).toMatch(
      /route GET \/p\/:id \(route 0\): setRequestHeader\("x-lost", "\$\{req:x-forwarded-for\}"\) on a cacheable route: "x-forwarded-for" is not in the cache key, so it arrives empty/,
    );
    expect(warnings[2]).toMatch(/route GET \/geo \(route 1\).*cacheKey: 'add'.*one per visitor/);
  });

  it('refuses a missing cacheKey, no facts, or a bad name', () => {
    const route = (declare: (w: Parameters<Parameters<Router['get']>[1]>[0]) => void) =>
      new Router()
        .get('/', (w) => {
          declare(w);
          w.send('x');
        })
        [DESCRIBE_ROUTES]();
    expect(() => route((w) => w.passRequestFacts(['client-ip'], {} as never))).toThrow(
      /option "cacheKey" is required: "add" .* or "none"/,
    );
    expect(() => route((w) => w.passRequestFacts([], { cacheKey: 'add' }))).toThrow(
      /non-empty list/,
    );
    expect(() => route((w) => w.passRequestFacts(['bad name'], { cacheKey: 'add' }))).toThrow(
      /"bad name" is not a header name/,
    );
    expect(() =>
      route((w) => {
        w.passRequestFacts(['a'], { cacheKey: 'add' });
        w.passRequestFacts(['b'], { cacheKey: 'none' });
      }),
    ).toThrow(/either keyed or unkeyed/);
  });
});
