/**
 * EdgeJS's handler helpers and `router.static` / `router.catch`, as a
 * client sees them: a routes file built with `flotilla build`
 * (`buildProject`), published to a fleet over a real nats-server (a shield
 * with its cache, a scheduler and a worker, each its own process, real
 * isolates) and asked over HTTP on 127.0.0.1; the proxy routes reach a real
 * backend.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildProject } from '@flotilla/sdk/build';
import {
  type Fleet,
  httpRequest,
  type ListeningServer,
  listen,
  startFleet,
} from '@flotilla/test-harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openControlPlane } from '../support/control-plane.ts';

/** Inside the repository, so the app's `@flotilla/sdk` resolves through the workspace. */
const APPS_ROOT = fileURLToPath(new URL('../.tmp/', import.meta.url));

const ROUTES = `import { Router } from '@flotilla/sdk';

export default new Router()
  .static('public')
  .get('/sw.js', ({ serviceWorker }) => serviceWorker('public/service-worker.js'))
  .get('/headers', ({ updateResponseHeader, addResponseCookie, render }) => {
    updateResponseHeader('x-version', /v(\\d+)/, 'version-$1');
    addResponseCookie('visited', 'yes');
    render(() => new Response('headers', { headers: { 'x-version': 'v7' } }));
  })
  .get('/upstream/:path*', ({ cache, proxy, setUpstreamResponseHeader, updateUpstreamResponseHeader, removeUpstreamResponseHeader }) => {
    cache({ edge: { maxAgeSeconds: 60 } });
    setUpstreamResponseHeader('x-set-upstream', 'yes');
    updateUpstreamResponseHeader('x-backend', /backend-(\\w+)/, 'edge-$1');
    removeUpstreamResponseHeader('x-secret');
    proxy('api', { path: '/echo/:path*' });
  })
  .get('/fn/:id', ({ proxy }) =>
    proxy('api', {
      path: (params) => '/echo/item-' + params.id + '?via=fn',
      transformRequest: (request) => {
        request.headers.set('x-transformed', 'yes');
      },
      transformResponse: async (response) =>
        new Response((await response.text()).toUpperCase(), { status: response.status, headers: response.headers }),
    }),
  )
  .match('/api/:path*', ({ allowCors, send }) => {
    allowCors({
      origin: ['https://shop.example'],
      methods: ['GET', 'POST'],
      headers: ['x-token'],
      exposeHeaders: ['x-total'],
      credentials: true,
      maxAge: 600,
    });
    send('{"ok":true}', 200, { 'content-type': 'application/json', 'x-total': '1' });
  })
  .get('/compute/:id', ({ compute }) =>
    compute(async (request, response) => {
      response.statusCode = 201;
      response.setHeader('content-type', 'text/plain');
      response.setHeader('x-path', request.path);
      response.body = 'id=' + request.params.id + ';q=' + (request.query.q ?? '') + ';method=' + request.method;
    }),
  )
  .get('/boom', ({ render }) =>
    render(() => {
      throw new Error('render failed on purpose');
    }),
  )
  .get('/missing', ({ render }) => render(() => new Response('plain 404', { status: 404 })))
  .get('/teapot', ({ render }) => render(() => new Response('short and stout', { status: 418 })))
  .catch(404, ({ serveStatic }) => serveStatic('errors/404.html', { statusCode: 404 }))
  .catch(/5\\d{2}/, ({ serveStatic }) => serveStatic('public/errors/5xx.html'))
  .catch(418, ({ send }) => send('caught: I am a teapot', 200, { 'content-type': 'text/plain' }))
  .fallback(({ send }) => send('fallback 404', 404));
`;

let fleet: Fleet;
let backend: ListeningServer;
let dir: string;
let base: string;

beforeAll(async () => {
  backend = await listen((req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-backend': 'backend-one',
      'x-secret': 'do-not-forward',
    });
    res.end(JSON.stringify({ url: req.url, transformed: req.headers['x-transformed'] ?? null }));
  });
  await mkdir(APPS_ROOT, { recursive: true });
  dir = await mkdtemp(join(APPS_ROOT, 'edgejs-handlers-'));
  const files: Record<string, string> = {
    'flotilla.config.json': JSON.stringify({
      name: 'handlers',
      entry: 'src/routes.ts',
      framework: 'none',
      static: 'public',
      backends: { api: backend.url },
    }),
    'src/routes.ts': ROUTES,
    'public/site.css': 'body { color: teal }\n',
    'public/service-worker.js': "self.addEventListener('fetch', () => {});\n",
    'public/errors/404.html': '<h1>Custom 404</h1>\n',
    'public/errors/5xx.html': '<h1>Custom 5xx</h1>\n',
  };
  for (const [rel, text] of Object.entries(files)) {
    await mkdir(join(dir, rel, '..'), { recursive: true });
    await writeFile(join(dir, rel), text);
  }
  const { outDir } = await buildProject({ dir, outDir: join(dir, 'out') });
  fleet = await startFleet({
    shields: 1,
    schedulers: 1,
    workers: 1,
    cache: true,
    warmPath: '/handlers/headers',
    publish: async (natsUrl) => {
      const publisher = await openControlPlane(natsUrl);
      try {
        await publisher.controlPlane.publish({ dir: outDir }, { env: 'production' });
      } finally {
        await publisher.close();
      }
      return undefined;
    },
  });
  base = fleet.shield.url;
}, 120_000);

afterAll(async () => {
  await fleet?.stop();
  await backend?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
  httpRequest(base, path, { host: 'handlers.localhost', headers, method, timeoutMs: 20_000 });

/** Writes a project with `routes` as its routes file and builds it. */
async function buildRoutes(name: string, routes: string) {
  const root = join(dir, name);
  await mkdir(join(root, 'src'), { recursive: true });
  await mkdir(join(root, 'public'), { recursive: true });
  await writeFile(join(root, 'public', 'a.css'), 'a {}\n');
  await writeFile(
    join(root, 'flotilla.config.json'),
    JSON.stringify({ name, entry: 'src/routes.ts', framework: 'none', static: 'public' }),
  );
  await writeFile(
    join(root, 'src', 'routes.ts'),
    `import { Router } from '@flotilla/sdk';\nexport default new Router()${routes};\n`,
  );
  return buildProject({ dir: root, outDir: join(root, 'out') });
}

describe('flotilla build refuses what Flotilla cannot do, naming the route and the API', () => {
  it('renderWithApp, router.static of another directory, serviceWorker outside the static files', async () => {
    await expect(
      buildRoutes('with-app', ".get('/', ({ renderWithApp }) => renderWithApp())"),
    ).rejects.toThrow(
      /flotilla build: with-app: route GET \/ \(route 0\): renderWithApp\(\): a Router app has no framework app/,
    );
    await expect(buildRoutes('other-static', ".static('dist')")).rejects.toThrow(
      /route static dist \(route 0\): router\.static\("dist"\) serves the files of the app's static directory at the root, and that is "public"/,
    );
    await expect(
      buildRoutes(
        'sw-missing',
        ".get('/sw.js', ({ serviceWorker }) => serviceWorker('dist/sw.js'))",
      ),
    ).rejects.toThrow(
      /route GET \/sw\.js \(route 0\): serviceWorker\("dist\/sw\.js"\) names no file/,
    );
  });
});

describe('EdgeJS handler helpers through a real fleet', () => {
  it('router.static serves the static directory at the root, other paths go on', async () => {
    const css = await get('/site.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toBe('body { color: teal }\n');
    const other = await get('/headers');
    expect(other.status).toBe(200);
    expect(other.body).toBe('headers');
  });

  it('serviceWorker serves the file, never cached by the browser', async () => {
    const sw = await get('/sw.js');
    expect(sw.status).toBe(200);
    expect(sw.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(sw.headers['service-worker-allowed']).toBe('/');
    expect(sw.headers['cache-control']).toContain('no-cache');
    expect(sw.body).toContain("addEventListener('fetch'");
  });

  it('updateResponseHeader rewrites with the regex, addResponseCookie adds a cookie', async () => {
    const res = await get('/headers');
    expect(res.headers['x-version']).toBe('version-7');
    expect(res.headers['set-cookie']).toBe('visited=yes');
  });

  it('upstream header rules change the backend response, and the cached copy keeps them', async () => {
    const first = await get('/upstream/a/b?x=1');
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body).url).toBe('/echo/a/b?x=1');
    expect(first.headers['x-set-upstream']).toBe('yes');
    expect(first.headers['x-backend']).toBe('edge-one');
    expect(first.headers['x-secret']).toBeUndefined();
    const second = await get('/upstream/a/b?x=1');
    expect(second.headers['cache-status']).toMatch(/hit/);
    expect(second.headers['x-backend']).toBe('edge-one');
    expect(second.headers['x-secret']).toBeUndefined();
  });

  it('proxy takes a path function, transformRequest and transformResponse', async () => {
    const res = await get('/fn/42');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toLowerCase())).toEqual({
      url: '/echo/item-42?via=fn',
      transformed: 'yes',
    });
    expect(res.body).toContain('/ECHO/ITEM-42');
  });

  it('allowCors answers the preflight with 204 and the allowed methods, headers and max age', async () => {
    const res = await get(
      '/api/items',
      {
        origin: 'https://shop.example',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'x-token',
      },
      'OPTIONS',
    );
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(res.headers['access-control-allow-headers']).toBe('x-token');
    expect(res.headers['access-control-max-age']).toBe('600');
  });

  it('allowCors adds the headers for a listed origin only (the origin is keyed)', async () => {
    const listed = await get('/api/items', { origin: 'https://shop.example' });
    expect(listed.status).toBe(200);
    expect(listed.body).toBe('{"ok":true}');
    expect(listed.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect(listed.headers['access-control-expose-headers']).toBe('x-total');
    expect(listed.headers.vary).toContain('origin');
    const other = await get('/api/items', { origin: 'https://evil.example' });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('compute runs with EdgeJS-style request and response', async () => {
    const res = await get('/compute/7?q=shoes');
    expect(res.status).toBe(201);
    expect(res.headers['x-path']).toBe('/compute/7');
    expect(res.body).toBe('id=7;q=shoes;method=GET');
  });

  it('catch(404) sends the static page with status 404, for a render and for the fallback', async () => {
    for (const path of ['/missing', '/no/route/here']) {
      const res = await get(path);
      expect(res.status).toBe(404);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toBe('<h1>Custom 404</h1>\n');
    }
  });

  it('catch(/5\\d{2}/) sends the static page when a render throws, keeping the 502', async () => {
    const res = await get('/boom');
    expect(res.status).toBe(502);
    expect(res.headers['x-flotilla-error']).toBe('FLOTILLA_ERR_RENDER');
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toBe('<h1>Custom 5xx</h1>\n');
  });

  it('a catch handler that runs code answers in the bundle with the original status', async () => {
    const res = await get('/teapot');
    expect(res.status).toBe(418);
    expect(res.body).toBe('caught: I am a teapot');
  });
});
