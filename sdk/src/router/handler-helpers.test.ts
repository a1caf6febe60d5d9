import { validateRoute } from '@flotilla/manifest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidRouteError, RouterBuildError } from './errors.ts';
import { DESCRIBE_ROUTES, Router } from './router.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

const describeRoutes = (router: Router) => router[DESCRIBE_ROUTES]();
const req = (path: string, init?: RequestInit) => new Request(`https://shop.example${path}`, init);

describe('handler helpers: what the manifest holds', () => {
  it('records header rules with regexes, upstream rules, cookies and CORS as data', () => {
    const [route] = describeRoutes(
      new Router().get('/', (w) => {
        w.updateResponseHeader('X-Version', /v(\d+)/gi, 'version-$1');
        w.updateUpstreamResponseHeader('cache-control', /max-age=\d+/, 'max-age=5');
        w.setUpstreamResponseHeader('x-up', 'yes');
        w.removeUpstreamResponseHeader('x-secret');
        w.addResponseCookie('visited', 'yes');
        w.allowCors({ origin: 'https://a.example', methods: ['get'], maxAge: 60 });
        w.send('ok');
      }),
    );
    expect(route?.headerOps).toEqual([
      {
        op: 'updateResponse',
        name: 'x-version',
        regex: 'v(\\d+)',
        flags: 'gi',
        replacement: 'version-$1',
      },
      {
        op: 'updateUpstreamResponse',
        name: 'cache-control',
        regex: 'max-age=\\d+',
        replacement: 'max-age=5',
      },
      { op: 'setUpstreamResponse', name: 'x-up', value: 'yes' },
      { op: 'removeUpstreamResponse', name: 'x-secret' },
      { op: 'addResponseCookie', name: 'visited', value: 'yes' },
      { op: 'cors', origin: 'https://a.example', methods: ['GET'], maxAge: 60 },
    ]);
    // The manifest's own check accepts what the writer recorded.
    expect(validateRoute(route, 0)).toEqual(route);
  });

  it('records serviceWorker and serveStatic(file) as asset routes', () => {
    const routes = describeRoutes(
      new Router()
        .get('/sw.js', ({ serviceWorker }) => serviceWorker('./public/service-worker.js'))
        .get('/gone', ({ serveStatic }) => serveStatic('errors/410.html', { statusCode: 410 })),
    );
    expect(routes.map((r) => r.action)).toEqual([
      { kind: 'asset', file: 'public/service-worker.js', serviceWorker: true },
      { kind: 'asset', file: 'errors/410.html', status: 410 },
    ]);
  });

  it('router.static and router.catch make routes no request matches', () => {
    const routes = describeRoutes(
      new Router()
        .static('./public/')
        .catch(404, ({ serveStatic }) => serveStatic('errors/404.html', { statusCode: 404 }))
        .catch(/5\d{2}/, ({ send }) => send('down', 503)),
    );
    expect(routes[0]).toMatchObject({
      criteria: { path: '/:path*', method: ['GET', 'HEAD'] },
      action: { kind: 'static', dir: 'public', permanent: false, filesOnly: true },
    });
    expect(routes[1]).toMatchObject({ catch: { regex: '^404$' }, action: { kind: 'asset' } });
    expect(routes[2]).toMatchObject({ catch: { regex: '5\\d{2}' }, action: { kind: 'render' } });
  });

  it('refuses bad uses, naming the route and the helper', () => {
    const build = (handler: Parameters<Router['get']>[1]) => () =>
      describeRoutes(new Router().get('/x', handler));
    expect(build((w) => w.updateResponseHeader('x', /a/y, 'b'))).toThrow(
      /GET \/x \(route 0\): updateResponseHeader\(\): the regular expression \/a\/y has the flag "y", which the matcher cannot carry \(only g, i, m, s, u\)/,
    );
    expect(build((w) => w.updateRequestHeader('x', /(a+)+b/, 'c'))).toThrow(
      /updateRequestHeader\(\): the regular expression \/\(a\+\)\+b\/ nests a repetition inside a repetition/,
    );
    expect(build((w) => w.updateResponseHeader('x', 'a' as never, 'b'))).toThrow(
      'the pattern must be a regular expression',
    );
    expect(build((w) => w.addResponseCookie('a', 'b; Path=/'))).toThrow(
      'addResponseCookie(): the value must not contain',
    );
    expect(build((w) => w.allowCors({ origin: 3 as never }))).toThrow('option "origin"');
    expect(build((w) => w.allowCors({ methods: ['FETCH'] }))).toThrow('"FETCH" is not one of');
    expect(build((w) => w.allowCors({ maxAge: -1 }))).toThrow('option "maxAge"');
    expect(build((w) => w.allowCors({ origins: '*' } as never))).toThrow(
      'unknown option "origins"',
    );
    expect(build((w) => w.serviceWorker('public'))).toThrow(
      'needs the path of the service worker file',
    );
    expect(build((w) => w.serveStatic('a.html', { statusCode: 99 }))).toThrow(
      'option "statusCode" must be an integer from 200 to 599',
    );
    expect(build((w) => w.renderWithApp())).toThrow(
      /GET \/x \(route 0\): renderWithApp\(\): a Router app has no framework app/,
    );
    expect(build((w) => w.renderWithApp())).toThrow(RouterBuildError);
    expect(build((w) => w.compute('x' as never))).toThrow('compute(): needs a function');
    expect(build((w) => w.proxy('api', { transformRequest: 1 as never }))).toThrow(
      'option "transformRequest" must be a function',
    );
  });

  it('refuses catch() of non-error statuses and catch handlers without an answer', () => {
    expect(() => new Router().catch(200, () => {})).toThrow(InvalidRouteError);
    expect(() => new Router().catch(/\d+/, () => {})).toThrow(
      'catches error statuses (400-599) only, but it matches 100',
    );
    expect(() => new Router().catch('404' as never, () => {})).toThrow('needs a status (404)');
    expect(() =>
      describeRoutes(
        new Router().catch(404, ({ setResponseHeader }) => setResponseHeader('a', 'b')),
      ),
    ).toThrow(/catch \/\^404\$\/ \(route 0\): a catch handler must answer/);
    expect(() => new Router().static('../up')).toThrow('static(): needs the static directory');
    expect(() => new Router().static('public', { paths: [] })).toThrow('options are not supported');
  });
});

describe('handler helpers: what the bundle answers', () => {
  it('applies upstream rules to a render, then the response rules', async () => {
    const router = new Router().get('/', (w) => {
      w.setUpstreamResponseHeader('x-up', 'v1');
      w.updateUpstreamResponseHeader('x-up', /v(\d)/, 'version-$1');
      w.removeUpstreamResponseHeader('x-secret');
      w.updateResponseHeader('x-version', /v(\d+)/, 'version-$1');
      w.addResponseCookie('a', '1');
      w.addResponseCookie('b', '2');
      w.render(() => new Response('ok', { headers: { 'x-version': 'v7', 'x-secret': 's' } }));
    });
    const res = await router.fetch(req('/'));
    expect(res.headers.get('x-up')).toBe('version-1');
    expect(res.headers.get('x-secret')).toBeNull();
    expect(res.headers.get('x-version')).toBe('version-7');
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
  });

  it('updateRequestHeader rewrites a request header the render sees', async () => {
    const router = new Router().get('/', (w) => {
      w.updateRequestHeader('accept-language', /^([a-z]+)-.*/, '$1');
      w.render(({ request }) => new Response(request.headers.get('accept-language')));
    });
    const res = await router.fetch(req('/', { headers: { 'accept-language': 'fr-CH, en' } }));
    expect(await res.text()).toBe('fr');
  });

  it('allowCors: headers for a listed origin, none for others, and the preflight', async () => {
    const router = new Router().match('/api/:path*', (w) => {
      w.allowCors({
        origin: ['https://a.example'],
        headers: ['x-token'],
        exposeHeaders: ['x-total'],
        credentials: true,
      });
      w.send('{}');
    });
    const listed = await router.fetch(req('/api/x', { headers: { origin: 'https://a.example' } }));
    expect(listed.headers.get('access-control-allow-origin')).toBe('https://a.example');
    expect(listed.headers.get('access-control-allow-credentials')).toBe('true');
    expect(listed.headers.get('access-control-expose-headers')).toBe('x-total');
    expect(listed.headers.get('vary')).toBe('origin');
    const other = await router.fetch(req('/api/x', { headers: { origin: 'https://b.example' } }));
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await router.fetch(
      req('/api/x', {
        method: 'OPTIONS',
        headers: { origin: 'https://a.example', 'access-control-request-method': 'PUT' },
      }),
    );
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, HEAD, POST');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('x-token');
    expect(await preflight.text()).toBe('');
  });

  it('allowCors with "*" answers "*", and a route of its own for OPTIONS wins over the preflight', async () => {
    const router = new Router()
      .options('/own', ({ send }) => send('mine'))
      .match('/:path*', (w) => w.allowCors())
      .fallback(({ send }) => send('page'));
    const page = await router.fetch(req('/x', { headers: { origin: 'https://z.example' } }));
    expect(page.headers.get('access-control-allow-origin')).toBe('*');
    expect(page.headers.get('vary')).toBeNull();
    const own = await router.fetch(
      req('/own', {
        method: 'OPTIONS',
        headers: { origin: 'https://z.example', 'access-control-request-method': 'GET' },
      }),
    );
    expect(await own.text()).toBe('mine');
    // Without access-control-request-method it is no preflight.
    const plain = await router.fetch(req('/x', { method: 'OPTIONS' }));
    expect(await plain.text()).toBe('page');
  });

  it('compute gets EdgeJS-style request and response', async () => {
    const router = new Router().get('/c/:id', ({ compute }) =>
      compute(async (request, response) => {
        response.statusCode = 202;
        response.statusMessage = 'Accepted';
        response.setHeader('x-id', request.params.id ?? '');
        response.setHeader('x-drop', '1');
        response.removeHeader('x-drop');
        response.body = `${request.path} ${request.query.q} ${request.getHeader('x-who')} ${response.getHeader('x-id')}`;
      }),
    );
    const res = await router.fetch(req('/c/9?q=a&q=b', { headers: { 'x-who': 'me' } }));
    expect(res.status).toBe(202);
    expect(res.statusText).toBe('Accepted');
    expect(res.headers.get('x-id')).toBe('9');
    expect(res.headers.has('x-drop')).toBe(false);
    expect(await res.text()).toBe('/c/9 a me 9');
    const bad = new Router().get('/', ({ compute }) =>
      compute((_req, response) => {
        response.statusCode = 99;
      }),
    );
    await expect(bad.fetch(req('/'))).rejects.toThrow('response.statusCode must be an integer');
  });

  it('proxy: a path function, transformRequest changing headers or returning a new Request', async () => {
    const calls: Array<{ url: string; headers: Headers; method: string }> = [];
    vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
      calls.push({ url, headers: new Headers(init.headers), method: init.method ?? 'GET' });
      return new Response('up', { headers: { 'x-secret': 's' } });
    });
    const router = new Router()
      .get('/a/:id', ({ proxy, removeUpstreamResponseHeader }) => {
        removeUpstreamResponseHeader('x-secret');
        proxy('api', {
          path: (params, request) => `/items/${params.id}?from=${new URL(request.url).pathname}`,
          transformRequest: (request) => {
            request.headers.set('x-added', 'yes');
            return undefined;
          },
        });
      })
      .get('/b', ({ proxy }) =>
        proxy('api', {
          transformRequest: (request) =>
            new Request(request, { method: 'POST', body: 'hello', headers: { 'x-new': '1' } }),
        }),
      );
    const a = await router.fetch(req('/a/5?ignored=1'));
    expect(a.headers.get('x-secret')).toBeNull();
    expect(calls[0]?.url).toBe('backend://api/items/5?from=/a/5');
    expect(calls[0]?.headers.get('x-added')).toBe('yes');
    await router.fetch(req('/b?q=1'));
    expect(calls[1]).toMatchObject({ url: 'backend://api/b?q=1', method: 'POST' });
    expect(calls[1]?.headers.get('x-new')).toBe('1');
    const bad = new Router().get('/', ({ proxy }) => proxy('api', { path: () => 'nope' }));
    await expect(bad.fetch(req('/'))).rejects.toThrow(
      'the proxy path function of GET / (route 0) returned string "nope", not a path starting with "/"',
    );
  });

  it('catch: a handler that runs code answers with the original status; static ones are the shield`s', async () => {
    const router = new Router()
      .get('/teapot', ({ render }) => render(() => new Response('tea', { status: 418 })))
      .get('/gone', ({ send }) => send('gone', 410))
      .catch(/41[0-7]/, ({ serveStatic }) => serveStatic('errors/4xx.html'))
      .catch(/4\d\d/, ({ render }) =>
        render(({ request }) => new Response(`caught ${new URL(request.url).pathname}`)),
      )
      .catch(404, ({ send }) => send('never: the earlier catch route answers 404s', 200));
    const teapot = await router.fetch(req('/teapot'));
    expect(teapot.status).toBe(418);
    expect(await teapot.text()).toBe('caught /teapot');
    const missing = await router.fetch(req('/nothing'));
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('caught /nothing');
    // The first matching catch route serves a file: the bundle leaves the response alone.
    const gone = await router.fetch(req('/gone'));
    expect(gone.status).toBe(410);
    expect(await gone.text()).toBe('gone');
  });

  it('serveStatic(file), serviceWorker and static routes answer 404 in the bundle (the shield serves them)', async () => {
    const router = new Router()
      .static('public')
      .get('/sw.js', ({ serviceWorker }) => serviceWorker('public/sw.js'))
      .fallback(({ send }) => send('fallback'));
    expect((await router.fetch(req('/sw.js'))).status).toBe(404);
    // router.static never answers a request itself: the next route does.
    expect(await (await router.fetch(req('/other'))).text()).toBe('fallback');
  });
});
