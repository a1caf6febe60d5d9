/**
 * The routes file of the keys-and-criteria suite, written as an EdgeJS app
 * would be (only the import changed): cookie partitions, bot and vendor
 * keys, a query-less key, constrained path parameters, regular-expression
 * criteria and browser cache options. Each render answers JSON naming
 * itself and a random id, so two answers with one id are one cached copy.
 */
import { CustomCacheKey, Router } from '@flotilla/sdk';

function page(label: string, request: Request, params: Record<string, string> = {}): Response {
  const url = new URL(request.url);
  return new Response(
    JSON.stringify({
      label,
      id: Math.random().toString(36).slice(2),
      params,
      query: url.search,
      cookie: request.headers.get('cookie'),
      isBot: request.headers.get('x-flotilla-is-bot'),
      vendor: request.headers.get('x-flotilla-vendor'),
    }),
    { headers: { 'content-type': 'application/json' } },
  );
}

const EDGE = { maxAgeSeconds: 600 };

export default new Router()
  // Edgio's caching guide: split the cache by a location cookie, grouping
  // its values into partitions.
  .get('/partitioned', ({ cache, render }) => {
    cache({
      edge: EDGE,
      key: new CustomCacheKey().addCookie('location', (cookie) => {
        cookie.partition('na').byPattern('^(us|ca)$');
        cookie.addPartition('eur', /^(de|fr|ee)$/);
      }),
    });
    render(({ request }) => page('partitioned', request));
  })
  // Edgio's caching guide, as written there (a route that only caches, and
  // the route that renders).
  .get('/some/path', ({ cache }) => {
    cache({
      browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 * 60 },
      edge: { maxAgeSeconds: 60 * 60 * 24, staleWhileRevalidateSeconds: 60 * 60 },
      key: new CustomCacheKey()
        .excludeAllQueryParametersExcept('color', 'size')
        .addCookie('currency')
        .addCookie('location', (cookie) => {
          cookie.partition('na').byPattern('us|ca');
          cookie.partition('eur').byPattern('de|fr|ee');
        })
        .addDevice()
        .addBrowser(),
    });
  })
  .get('/some/path', ({ render }) => {
    render(({ request }) => page('guide', request));
  })
  .get('/bots', ({ cache, render }) => {
    cache({ edge: EDGE, key: new CustomCacheKey().addIsBot().addVendor() });
    render(({ request }) => page('bots', request));
  })
  .get('/no-query', ({ cache, render }) => {
    cache({ edge: EDGE, key: new CustomCacheKey().excludeAllQueryParameters() });
    render(({ request }) => page('no-query', request));
  })
  .get('/p/:id(\\d+)', ({ render }) => {
    render(({ request, params }) => page('product-by-id', request, params));
  })
  .get('/p/:slug', ({ render }) => {
    render(({ request, params }) => page('product-by-slug', request, params));
  })
  .get('/docs/:lang(en|fr)?/:page', ({ render }) => {
    render(({ request, params }) => page('docs', request, params));
  })
  // Every /beta answer is cached: the criteria below must still tell them apart.
  .get('/beta', ({ cache }) => {
    cache({ edge: EDGE });
  })
  .match({ path: '/beta', headers: { 'x-beta': /^(yes|1)$/i } }, ({ send }) => {
    send('beta header', 200, { 'content-type': 'text/plain' });
  })
  .match({ path: '/beta', cookies: { plan: /^pro-/ } }, ({ send }) => {
    send('pro cookie', 200, { 'content-type': 'text/plain' });
  })
  .match({ path: '/beta', query: { v: /^\d+$/ } }, ({ send }) => {
    send('numeric query', 200, { 'content-type': 'text/plain' });
  })
  .get('/beta', ({ send }) => {
    send('plain', 200, { 'content-type': 'text/plain' });
  })
  .get('/no-browser', ({ cache, render }) => {
    cache({ edge: EDGE, browser: false });
    // The app's own cache-control would let browsers keep it an hour.
    render(
      () =>
        new Response('no-browser', {
          headers: { 'content-type': 'text/plain', 'cache-control': 'public, max-age=3600' },
        }),
    );
  })
  .get('/no-browser-private', ({ cache, render }) => {
    cache({ edge: EDGE, browser: false });
    render(
      () =>
        new Response('mine', {
          headers: { 'content-type': 'text/plain', 'cache-control': 'private, max-age=60' },
        }),
    );
  })
  .get('/browser-zero', ({ cache, render }) => {
    cache({ edge: EDGE, browser: { maxAgeSeconds: 0 } });
    render(({ request }) => page('browser-zero', request));
  });
