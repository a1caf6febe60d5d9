import { matchRoutes } from '@flotilla/manifest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CustomCacheKey } from '../cache-key.ts';
import { BackendError, InvalidRouteError, RouterBuildError } from './errors.ts';
import { DESCRIBE_ROUTES, Router } from './router.ts';
import type { RenderFn } from './types.ts';

afterEach(() => {
  vi.unstubAllGlobals();
});

/** Stubs the global fetch; records the calls; answers with `answer(url, init)`. */
function stubFetch(
  answer: (url: string, init: RequestInit | undefined) => Response | Promise<Response>,
): Array<{ url: string; init: RequestInit | undefined }> {
  const calls: Array<{ url: string; init: RequestInit | undefined }> = [];
  vi.stubGlobal('fetch', async (input: string | URL | Request, init?: RequestInit) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push({ url, init });
    return answer(url, init);
  });
  return calls;
}

const page: RenderFn = ({ params }) => new Response(`product ${params.productId}`);
const notFoundPage: RenderFn = () => new Response('custom 404', { status: 404 });

function shop(): Router {
  const other = new Router().get('/about', ({ send }) => send('about us'));
  return new Router()
    .match('/:path*', ({ setResponseHeader }) => setResponseHeader('x-frame-options', 'DENY'))
    .get('/p/:productId', ({ cache, render }) => {
      cache({
        edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
        browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 },
        key: new CustomCacheKey().excludeAllQueryParametersExcept('color').addDevice(),
      });
      render(page);
    })
    .match(
      { path: '/api/:path*', method: ['GET', 'POST'] },
      ({ proxy, removeUpstreamResponseHeader }) => {
        removeUpstreamResponseHeader('x-internal');
        proxy('api', { path: '/v1/:path*' });
      },
    )
    .get('/old/:id', ({ redirect }) => redirect('/new/:id', { statusCode: 301 }))
    .get('/assets/:file*', ({ serveStatic, cache }) => {
      cache({ edge: { maxAgeSeconds: 31536000 } });
      serveStatic('public/assets', { permanent: true });
    })
    .use(other)
    .fallback(({ render }) => render(notFoundPage));
}

describe('Router: the build-time description', () => {
  it('describes every route as the manifest stores it, use()d routes in place', () => {
    expect(shop()[DESCRIBE_ROUTES]()).toEqual([
      {
        id: 0,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'headers' },
        headerOps: [{ op: 'setResponse', name: 'x-frame-options', value: 'DENY' }],
      },
      {
        id: 1,
        criteria: { path: '/p/:productId', method: ['GET'] },
        fallback: false,
        action: { kind: 'render' },
        cache: {
          edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
          browser: { maxAgeSeconds: 0, serviceWorkerSeconds: 60 },
          key: {
            query: { mode: 'only', names: ['color'] },
            cookies: [],
            headers: [],
            device: true,
            browser: false,
          },
        },
        headerOps: [],
      },
      {
        id: 2,
        criteria: { path: '/api/:path*', method: ['GET', 'POST'] },
        fallback: false,
        action: { kind: 'proxy', backend: 'api', path: '/v1/:path*', noCode: true },
        headerOps: [{ op: 'removeUpstreamResponse', name: 'x-internal' }],
      },
      {
        id: 3,
        criteria: { path: '/old/:id', method: ['GET'] },
        fallback: false,
        action: { kind: 'redirect', to: '/new/:id', statusCode: 301 },
        headerOps: [],
      },
      {
        id: 4,
        criteria: { path: '/assets/:file*', method: ['GET'] },
        fallback: false,
        action: { kind: 'static', dir: 'public/assets', permanent: true },
        cache: { edge: { maxAgeSeconds: 31536000 } },
        headerOps: [],
      },
      {
        id: 5,
        criteria: { path: '/about', method: ['GET'] },
        fallback: false,
        action: { kind: 'render' },
        headerOps: [],
      },
      {
        id: 6,
        criteria: { path: '/:path*' },
        fallback: true,
        action: { kind: 'render' },
        headerOps: [],
      },
    ]);
  });

  it('survives JSON (what the build writes) unchanged', () => {
    const routes = shop()[DESCRIBE_ROUTES]();
    expect(JSON.parse(JSON.stringify(routes))).toEqual(routes);
  });

  it('merges several cache() calls of one handler, later winning field by field', () => {
    const [route] = new Router()
      .get('/', ({ cache, render }) => {
        cache({ edge: { maxAgeSeconds: 10, staleWhileRevalidateSeconds: 20 } });
        cache({ edge: { maxAgeSeconds: 30 }, browser: { maxAgeSeconds: 5 } });
        render(page);
      })
      [DESCRIBE_ROUTES]();
    expect(route?.cache).toEqual({
      edge: { maxAgeSeconds: 30, staleWhileRevalidateSeconds: 20 },
      browser: { maxAgeSeconds: 5 },
    });
  });

  function buildError(router: Router): RouterBuildError {
    try {
      router[DESCRIBE_ROUTES]();
    } catch (err) {
      expect(err).toBeInstanceOf(RouterBuildError);
      return err as RouterBuildError;
    }
    throw new Error('expected a RouterBuildError');
  }

  const three = () =>
    new Router()
      .get('/', ({ render }) => render(page))
      .get('/a', ({ render }) => render(page))
      .get('/b', ({ render }) => render(page));

  it('refuses cache options that depend on the request, naming the route', () => {
    const err = buildError(
      three().get('/p/:productId', ({ cache, render, request }) => {
        cache({
          edge: { maxAgeSeconds: request.headers.get('user-agent')?.includes('mobile') ? 10 : 60 },
        });
        render(page);
      }),
    );
    expect(err.code).toBe('FLOTILLA_ERR_BUNDLE');
    expect(err.route).toBe('GET /p/:productId (route 3)');
    expect(err.message).toBe(
      'GET /p/:productId (route 3): cache options must be static, but the two build-time runs of the handler ' +
        '(with different synthetic requests) declared {"edge":{"maxAgeSeconds":60}} and {"edge":{"maxAgeSeconds":10}}',
    );
  });

  it('refuses actions that depend on the request or on chance', () => {
    expect(
      buildError(
        new Router().get('/p/:id', ({ params, redirect, render }) => {
          if (params.id?.endsWith('b')) redirect('/x');
          else render(page);
        }),
      ).message,
    ).toContain('GET /p/:id (route 0): the action must be static');
    let n = 0;
    expect(
      buildError(
        new Router().match('/x', ({ setResponseHeader, send }) => {
          setResponseHeader('x-run', String(n++));
          send('x');
        }),
      ).message,
    ).toContain('ANY /x (route 0): header changes must be static');
  });

  it('names the route whose handler throws, is async, or calls two actions', () => {
    expect(
      buildError(
        new Router().get('/', () => {
          throw new Error('boom');
        }),
      ).message,
    ).toBe('GET / (route 0): the handler threw: boom');
    expect(
      buildError(
        new Router()
          .get('/a', ({ render }) => render(page))
          .fallback(async ({ render }) => render(page)),
      ).message,
    ).toMatch(
      /^fallback \(route 1\): the handler returned a Promise: handlers declare synchronously/,
    );
    expect(
      buildError(
        new Router().get('/', ({ render, proxy }) => {
          render(page);
          proxy('api');
        }),
      ).message,
    ).toBe(
      'GET / (route 0): proxy("api"): the route already answers with render(); a route has one action',
    );
  });

  it('validates cache options when cache() is called, naming the field', () => {
    const at = (options: unknown) =>
      buildError(new Router().get('/', ({ cache }) => cache(options as never))).message;
    expect(at({ edge: { maxAgeSeconds: -1 } })).toBe(
      'GET / (route 0): cache(): cache().edge.maxAgeSeconds must be a non-negative integer (got -1)',
    );
    expect(at({ edge: { maxAge: 60 } })).toContain('cache().edge.maxAge is not a known field');
    expect(at({ browser: { maxAgeSeconds: 1.5 } })).toContain(
      'must be a non-negative integer (got 1.5)',
    );
    expect(at({ ttl: 1 })).toContain(
      'cache().ttl is not a known field (known: edge, browser, key)',
    );
  });

  it('checks helper arguments', () => {
    const at = (handler: Parameters<Router['get']>[1]) =>
      buildError(new Router().get('/p/:id', handler)).message;
    expect(at(({ redirect }) => redirect('/q/:slug'))).toContain(
      'redirect("/q/:slug"): "/q/:slug" uses ":slug", which the route\'s path has no parameter for (it has :id)',
    );
    expect(at(({ redirect }) => redirect('/q', { statusCode: 200 }))).toContain(
      'option "statusCode" must be one of 301, 302, 303, 307, 308 (got 200)',
    );
    expect(at(({ proxy }) => proxy('Bad Name'))).toContain('the backend name must be');
    expect(at(({ proxy }) => proxy('api', { path: 'x' }))).toContain(
      'option "path" must start with "/"',
    );
    expect(at(({ setResponseHeader }) => setResponseHeader('x-a', 'a\nb'))).toContain(
      'must not contain CR, LF or NUL',
    );
    expect(at(({ serveStatic }) => serveStatic('../secrets'))).toContain('must not contain ".."');
  });

  it('refuses bad route criteria when the route is added', () => {
    expect(() => new Router().get('/p/:', () => {})).toThrow(InvalidRouteError);
    expect(() => new Router().get('/p/:', () => {})).toThrow(
      'get(): criteria.path "/p/:" has a parameter without a name',
    );
    expect(() => new Router().match({ path: '/', method: ['FETCH' as 'GET'] }, () => {})).toThrow(
      'criteria.method[0] must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
    );
    expect(() => new Router().get('/', 'nope' as never)).toThrow('needs a handler function');
  });
});

describe('CustomCacheKey', () => {
  it('builds the spec', () => {
    expect(
      new CustomCacheKey()
        .excludeQueryParameters('utm_source', 'utm_medium')
        .addCookie('currency')
        .addHeader('Accept-Language')
        .addBrowser()
        .toSpec(),
    ).toEqual({
      query: { mode: 'exclude', names: ['utm_source', 'utm_medium'] },
      cookies: ['currency'],
      headers: ['accept-language'],
      device: false,
      browser: true,
    });
    expect(new CustomCacheKey().toSpec().query).toEqual({ mode: 'all' });
  });

  it('refuses combining include-only and exclude, naming both', () => {
    expect(() =>
      new CustomCacheKey().excludeAllQueryParametersExcept('a').excludeQueryParameters('b'),
    ).toThrow(
      /excludeAllQueryParametersExcept\(\) and excludeQueryParameters\(\) cannot be combined/,
    );
    expect(() =>
      new CustomCacheKey().excludeQueryParameters('b').excludeAllQueryParametersExcept('a'),
    ).toThrow(InvalidRouteError);
    expect(() => new CustomCacheKey().addHeader('bad header')).toThrow(/not a header name/);
  });
});

describe('Router.fetch', () => {
  it('renders with the route parameters and the environment', async () => {
    const router = new Router().get('/p/:productId', ({ render }) =>
      render(({ params, env, request }) => Response.json({ params, env, url: request.url })),
    );
    const res = await router.fetch(new Request('https://shop.example/p/caf%C3%A9?x=1'), {
      TAX: '20',
    });
    expect(await res.json()).toEqual({
      params: { productId: 'café' },
      env: { TAX: '20' },
      url: 'https://shop.example/p/caf%C3%A9?x=1',
    });
    const noEnv = await router.fetch(new Request('https://shop.example/p/1'));
    expect((await noEnv.json()).env).toEqual({});
  });

  it('applies the header changes of every matched route', async () => {
    const res = await shop().fetch(new Request('https://shop.example/p/7'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('product 7');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
  });

  it('answers the fallback when no other route has an action, and a plain 404 without one', async () => {
    const res = await shop().fetch(new Request('https://shop.example/nowhere'));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('custom 404');
    expect(res.headers.get('x-frame-options')).toBe('DENY');

    const bare = await new Router()
      .get('/', ({ send }) => send('home'))
      .fetch(new Request('https://x/else'));
    expect(bare.status).toBe(404);
    expect(await bare.text()).toBe('Not found\n');
  });

  it('answers use()d routes and send()', async () => {
    const res = await shop().fetch(new Request('https://shop.example/about'));
    expect(await res.text()).toBe('about us');
    const sent = await new Router()
      .get('/robots.txt', ({ send }) =>
        send('User-agent: *\n', 200, { 'Content-Type': 'text/plain' }),
      )
      .fetch(new Request('https://x/robots.txt'));
    expect(sent.headers.get('content-type')).toBe('text/plain');
    expect(await sent.text()).toBe('User-agent: *\n');
  });

  it('redirects with the parameters substituted', async () => {
    const res = await shop().fetch(new Request('https://shop.example/old/a%20b'));
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/new/a%20b');
  });

  it('answers 404 for static routes: the shield serves those files', async () => {
    const res = await shop().fetch(new Request('https://shop.example/assets/app.css'));
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('served by the shield');
  });

  it('matches HEAD requests to GET routes', async () => {
    const res = await shop().fetch(new Request('https://shop.example/p/1', { method: 'HEAD' }));
    expect(res.status).toBe(200);
  });

  it('proxies method, headers, body and query to the backend, path parameters substituted', async () => {
    const calls = stubFetch(
      () =>
        new Response('{"ok":true}', {
          status: 201,
          headers: { 'content-type': 'application/json', 'x-internal': 'secret', 'x-kept': '1' },
        }),
    );
    const res = await shop().fetch(
      new Request('https://shop.example/api/items/a%20b?page=2', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
        body: '{"n":1}',
      }),
    );
    expect(calls).toHaveLength(1);
    const call = calls[0];
    expect(call?.url).toBe('backend://api/v1/items/a%20b?page=2');
    expect(call?.init?.method).toBe('POST');
    expect(new Headers(call?.init?.headers).get('authorization')).toBe('Bearer t');
    expect(new TextDecoder().decode(call?.init?.body as ArrayBuffer)).toBe('{"n":1}');
    expect(call?.init?.redirect).toBe('manual');
    expect(res.status).toBe(201);
    expect(res.headers.get('x-internal')).toBeNull();
    expect(res.headers.get('x-kept')).toBe('1');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(await res.json()).toEqual({ ok: true });
  });

  it('proxies to the request path without a path option, and applies transformResponse', async () => {
    const calls = stubFetch(() => new Response('upstream'));
    const router = new Router().get('/docs/:page*', ({ proxy }) =>
      proxy('cms', {
        transformResponse: async (res, req) =>
          new Response(`${(await res.text()).toUpperCase()} for ${new URL(req.url).pathname}`, {
            headers: { 'x-transformed': '1' },
          }),
      }),
    );
    const res = await router.fetch(new Request('https://x/docs/a/b?q=1'));
    expect(calls[0]?.url).toBe('backend://cms/docs/a/b?q=1');
    expect(await res.text()).toBe('UPSTREAM for /docs/a/b');
    expect(res.headers.get('x-transformed')).toBe('1');
  });

  it('sets and removes request and response headers, interpolating request headers', async () => {
    const router = new Router()
      .match(
        '/:path*',
        ({ setRequestHeader, removeRequestHeader, setResponseHeader, removeResponseHeader }) => {
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's interpolation syntax
          setRequestHeader('x-client-lang', '${req:accept-language}');
          removeRequestHeader('cookie');
          // biome-ignore lint/suspicious/noTemplateCurlyInString: the Router's interpolation syntax
          setResponseHeader('x-echo', 'ua=${req:user-agent};missing=${req:x-nope}');
          removeResponseHeader('x-powered-by');
        },
      )
      .get('/', ({ render }) =>
        render(
          ({ request }) =>
            new Response(
              JSON.stringify({
                lang: request.headers.get('x-client-lang'),
                cookie: request.headers.get('cookie'),
              }),
              { headers: { 'x-powered-by': 'php' } },
            ),
        ),
      );
    const res = await router.fetch(
      new Request('https://x/', {
        headers: { 'accept-language': 'fr', cookie: 'a=1', 'user-agent': 'curl' },
      }),
    );
    expect(await res.json()).toEqual({ lang: 'fr', cookie: null });
    expect(res.headers.get('x-echo')).toBe('ua=curl;missing=');
    expect(res.headers.get('x-powered-by')).toBeNull();
  });

  it('gives renders their declared backends through ctx.backend', async () => {
    const calls = stubFetch((url) =>
      url.endsWith('/products/404')
        ? new Response('no', { status: 404 })
        : Response.json({ id: 7, name: 'Lamp' }),
    );
    const router = new Router().get('/p/:id', ({ render }) =>
      render(async ({ backend, params }) => {
        const product = await backend('api').json<{ name: string }>(`/products/${params.id}`);
        return new Response(product.name);
      }),
    );
    expect(await (await router.fetch(new Request('https://x/p/7'))).text()).toBe('Lamp');
    expect(calls[0]?.url).toBe('backend://api/products/7');
    expect(new Headers(calls[0]?.init?.headers).get('accept')).toBe('application/json');
    await expect(router.fetch(new Request('https://x/p/404'))).rejects.toThrow(BackendError);
    await expect(router.fetch(new Request('https://x/p/404'))).rejects.toThrow(
      'backend api answered 404 for /products/404',
    );
  });

  it('refuses a render function that reads the synthetic request of the handler', async () => {
    const router = new Router().get('/', ({ request, render }) =>
      render(() => new Response(request.url)),
    );
    await expect(router.fetch(new Request('https://x/'))).rejects.toThrow(
      /the handler's request was read after the handler returned .* use ctx\.request in the render function/,
    );
  });

  it('fails when a render function returns something other than a Response', async () => {
    const router = new Router().get('/', ({ render }) => render((() => 'html') as never));
    await expect(router.fetch(new Request('https://x/'))).rejects.toThrow(
      'the render function of GET / (route 0) returned string "html", not a Response',
    );
  });

  it('decides exactly as matchRoutes over its own description (the shield)', async () => {
    const router = new Router()
      .match('/:a/:b?', ({ send }) => send('0'))
      .get('/x/:rest+', ({ send }) => send('1'))
      .match({ path: '/:any*', query: { v: '2' } }, ({ send }) => send('2'))
      .post('/:any*', ({ send }) => send('3'))
      .fallback(({ send }) => send('fallback'));
    const routes = router[DESCRIBE_ROUTES]();
    const paths = ['/', '/x', '/x/y', '/x/y/z', '/a/b/c?v=2', '/q?v=2', '/q?v=3', '/a/b/c/d'];
    for (const path of paths) {
      for (const method of ['GET', 'POST']) {
        const url = new URL(`https://shop.example${path}`);
        const decision = matchRoutes(routes, {
          method,
          host: url.hostname,
          path: url.pathname,
          query: url.search.slice(1),
          headers: {},
        });
        const res = await router.fetch(new Request(url, { method }));
        const expected = decision.terminal
          ? decision.terminal.fallback
            ? 'fallback'
            : String(decision.terminal.id)
          : '';
        expect(`${method} ${path} → ${await res.text()}`).toBe(`${method} ${path} → ${expected}`);
      }
    }
  });
});
