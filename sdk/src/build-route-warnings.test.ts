import type { ManifestRoute } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { routeWarnings } from './build-route-warnings.ts';
import { DESCRIBE_ROUTES, Router } from './router/router.ts';

/** The warnings `flotilla build` prints for `router`'s routes. */
function warningsOf(router: Router): string[] {
  return routeWarnings(router[DESCRIBE_ROUTES]());
}

const ok = () => new Response('ok');

describe('build warnings for behaviours that differ from EdgeJS', () => {
  it('says nothing of plain routes', () => {
    const router = new Router()
      .get('/p/:id', ({ cache, render }) => {
        cache({ edge: { maxAgeSeconds: 60 } });
        render(ok);
      })
      .get('/old', ({ redirect }) => redirect('/new'))
      .catch(404, ({ serveStatic }) => serveStatic('errors/404.html'))
      .catch(500, ({ send }) => send('down'));
    expect(warningsOf(router)).toEqual([]);
  });

  it("warns of a catch handler that runs code for the shield's own 502 or 504", () => {
    const router = new Router()
      .get('/', ({ render }) => render(ok))
      .catch(/5\d{2}/, ({ render }) => render(ok))
      .catch(502, ({ serveStatic }) => serveStatic('errors/502.html'));
    expect(warningsOf(router)).toEqual([
      "route catch /5\\d{2}/ (route 1): router.catch() with a handler that runs code (render) answers only the statuses a render or backend answers with, not the shield's own 502 and 504 (a render that fails or times out); for those, serve a file: serveStatic('errors/5xx.html')",
    ]);
  });

  it('warns of a catch that serves a file with a statusCode, which is not used', () => {
    const router = new Router().catch(404, ({ serveStatic }) =>
      serveStatic('errors/404.html', { statusCode: 200 }),
    );
    expect(warningsOf(router)).toEqual([
      'route catch /^404$/ (route 0): router.catch() answers with the original status, so serveStatic(…, { statusCode: 200 }) is not used',
    ]);
  });

  it('warns of header rules and allowCors on a route the shield answers from a file', () => {
    const router = new Router()
      .get('/robots.txt', ({ setResponseHeader, allowCors, serveStatic }) => {
        setResponseHeader('x-robots', 'yes');
        allowCors();
        serveStatic('public/robots.txt');
      })
      .get('/sw.js', ({ removeResponseHeader, serviceWorker }) => {
        removeResponseHeader('x-powered-by');
        serviceWorker('public/sw.js');
      });
    expect(warningsOf(router)).toEqual([
      "route GET /robots.txt (route 0): setResponseHeader(), allowCors() on a route the shield answers from a file (serveStatic(file)): the shield sends the file without the route's header rules, so they are not applied",
      "route GET /sw.js (route 1): removeResponseHeader() on a route the shield answers from a file (serviceWorker(file)): the shield sends the file without the route's header rules, so they are not applied",
    ]);
  });

  it('warns that the criteria of a cacheable route join its cache key, never of an uncached one', () => {
    const router = new Router()
      .match(
        {
          path: '/beta',
          headers: { 'x-beta': 'yes' },
          cookies: { plan: /pro/ },
          query: { v: true },
        },
        ({ cache, render }) => {
          cache({ edge: { maxAgeSeconds: 60 } });
          render(ok);
        },
      )
      .match({ path: '/private', headers: { 'x-beta': 'yes' } }, ({ cache, render }) => {
        cache({ edge: false });
        render(ok);
      });
    expect(warningsOf(router)).toEqual([
      'route ANY /beta (route 0): its criteria read header x-beta, cookie plan, query v: on a cacheable route they join the cache key (one cached copy per value) and reach the render, so a page matched by them is never served to a request without them',
    ]);
  });

  it('warns that allowCors() with a list of origins or credentials caches per origin', () => {
    const router = new Router()
      .get('/api/a', ({ cache, allowCors, render }) => {
        cache({ edge: { maxAgeSeconds: 60 } });
        allowCors({ origin: ['https://a.example', 'https://b.example'] });
        render(ok);
      })
      .get('/api/b', ({ cache, allowCors, render }) => {
        cache({ edge: { maxAgeSeconds: 60 } });
        allowCors({ origin: 'https://a.example' });
        render(ok);
      });
    expect(warningsOf(router)).toEqual([
      "route GET /api/a (route 0): allowCors() with a list of origins answers depending on the request's origin: on a cacheable route the shield keeps one cached copy per origin (vary: origin)",
    ]);
  });

  it('warns once that requests no split sends anywhere get the first destination', () => {
    const router = new Router()
      .destination(
        'legacy',
        new Router().fallback(({ send }) => send('legacy')),
      )
      .destination(
        'next',
        new Router().fallback(({ send }) => send('next')),
      );
    expect(warningsOf(router)).toEqual([
      `router.destination("legacy", …): a request no split test sends anywhere gets this destination, the first declared (EdgeJS: the console's default); declare the default destination first, or set a split (flotilla split set)`,
    ]);
  });

  it('names router.static and serveStatic(dir) routes as the Router does', () => {
    const route = (action: ManifestRoute['action']): ManifestRoute => ({
      id: 0,
      criteria: { path: '/:path*' },
      fallback: false,
      action,
      headerOps: [{ op: 'setResponse', name: 'x-a', value: 'b' }],
    });
    expect(
      routeWarnings([route({ kind: 'static', dir: 'public', permanent: false, filesOnly: true })]),
    ).toEqual([
      "route static public (route 0): setResponseHeader() on a route the shield answers from a file (router.static(dir)): the shield sends the file without the route's header rules, so they are not applied",
    ]);
    expect(routeWarnings([route({ kind: 'static', dir: 'public', permanent: false })])).toEqual([
      "route ANY /:path* (route 0): setResponseHeader() on a route the shield answers from a file (serveStatic(dir)): the shield sends the file without the route's header rules, so they are not applied",
    ]);
  });
});
