/**
 * The Router and the React adapter in a real isolate: a small app bundled
 * the way `flotilla build` bundles (esbuild, browser platform, IIFE) and run
 * by `@flotilla/runtime`'s DeploymentIsolate, with a declared backend served
 * on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeploymentIsolate, type SandboxRequest } from '@flotilla/runtime';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ISOLATE_BUNDLE_OPTIONS } from './build-bundle.ts';

let server: Server;
let origin: string;
let iso: DeploymentIsolate;
let vueIso: DeploymentIsolate;
let routes: unknown;
const hits: Array<{ method: string; url: string; body: string; auth: string | undefined }> = [];

async function bundle(fixture: string, define: Record<string, string> = {}): Promise<string> {
  const entry = join(import.meta.dirname, fixture);
  const result = await build({
    stdin: {
      contents: `import app from ${JSON.stringify(entry)};\nglobalThis.Flotilla.serve(app);`,
      resolveDir: import.meta.dirname,
      sourcefile: '<entry>',
      loader: 'js',
    },
    ...ISOLATE_BUNDLE_OPTIONS,
    define: { ...define, 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    hits.push({
      method: req.method ?? '',
      url: req.url ?? '',
      body,
      auth: req.headers.authorization,
    });
    if (req.url === '/products/7') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 7, name: 'Desk Lamp', price: 49 }));
    } else if (req.url?.startsWith('/echo')) {
      res.setHeader('content-type', 'application/json');
      res.setHeader('x-internal', 'secret');
      res.setHeader('x-backend', 'api');
      res.end(JSON.stringify({ method: req.method, url: req.url, body }));
    } else {
      res.statusCode = 404;
      res.end('missing');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const code = await bundle('isolate-app.fixture.ts', {
    __FLOTILLA_ASSETS__: JSON.stringify({ '/assets/app.css': '/assets/app.3f2a1b9c.css' }),
  });
  iso = await load('router-test', code);
  vueIso = await load(
    'router-vue-test',
    await bundle('isolate-vue-app.fixture.ts', {
      __VUE_OPTIONS_API__: 'true',
      __VUE_PROD_DEVTOOLS__: 'false',
      __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    }),
  );
  // What the build does: ask the served router for its description.
  routes = await describeInVm(code);
});

function load(deploymentId: string, code: string): Promise<DeploymentIsolate> {
  return DeploymentIsolate.load({
    deploymentId,
    code,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    backends: { api: origin },
  });
}

afterAll(async () => {
  iso?.dispose();
  vueIso?.dispose();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Evaluates the bundle in a node:vm context and asks the served handler to describe its routes. */
async function describeInVm(code: string): Promise<unknown> {
  const { runInNewContext } = await import('node:vm');
  let served: Record<symbol, () => unknown> | undefined;
  runInNewContext(code, {
    URL,
    URLSearchParams,
    Headers,
    Request,
    Response,
    TextEncoder,
    TextDecoder,
    MessageChannel: undefined,
    structuredClone,
    queueMicrotask,
    setTimeout,
    clearTimeout,
    console,
    Flotilla: { serve: (h: Record<symbol, () => unknown>) => (served = h) },
  });
  const describe = served?.[Symbol.for('flotilla.router.describe')];
  if (typeof describe !== 'function') throw new Error('the bundle served no Router');
  return JSON.parse(JSON.stringify(describe.call(served)));
}

function request(url: string, init: Partial<SandboxRequest> = {}): SandboxRequest {
  return { method: 'GET', url, headers: [], body: null, ...init };
}

function header(res: { headers: Array<[string, string]> }, name: string): string | undefined {
  return res.headers.find(([n]) => n === name)?.[1];
}

const text = (body: Uint8Array) => new TextDecoder().decode(body);

describe('a Router app in an isolate', () => {
  it('renders a React page whose load fetched a declared backend', async () => {
    const res = await iso.render(request('http://shop.test/p/7?color=red&utm_source=x'));
    expect(res.status).toBe(200);
    expect(header(res, 'content-type')).toBe('text/html; charset=utf-8');
    expect(header(res, 'x-served-by')).toBe('flotilla');
    expect(text(res.body)).toBe(
      '<!doctype html><html><head><title>Desk Lamp</title><link rel="stylesheet" href="/assets/app.3f2a1b9c.css"></head>' +
        '<body><main><h1>Desk Lamp</h1><p class="price">49 EUR</p></main></body></html>',
    );
    expect(hits.at(-1)?.url).toBe('/products/7');
  });

  it("answers the page's 404 when load throws notFound()", async () => {
    const res = await iso.render(request('http://shop.test/p/99'));
    expect(res.status).toBe(404);
    expect(text(res.body)).toBe('<!doctype html><h1>No product 99</h1>');
  });

  it('proxies to the backend with method, headers and body, dropping upstream headers', async () => {
    const res = await iso.render(
      request('http://shop.test/api/echo/a%20b?x=1', {
        method: 'POST',
        headers: [
          ['content-type', 'application/json'],
          ['authorization', 'Bearer abc'],
        ],
        body: new TextEncoder().encode('{"qty":2}'),
      }),
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(text(res.body))).toEqual({
      method: 'POST',
      url: '/echo/a%20b?x=1',
      body: '{"qty":2}',
    });
    expect(hits.at(-1)?.auth).toBe('Bearer abc');
    expect(header(res, 'x-internal')).toBeUndefined();
    expect(header(res, 'x-backend')).toBe('api');
    expect(header(res, 'x-served-by')).toBe('flotilla');
  });

  it('passes the environment to renders', async () => {
    const res = await iso.render(request('http://shop.test/env'), { env: { REGION: 'eu' } });
    expect(JSON.parse(text(res.body))).toEqual({ REGION: 'eu' });
  });

  it('redirects, leaves static files to the shield and falls back', async () => {
    const moved = await iso.render(request('http://shop.test/old/7'));
    expect(moved.status).toBe(301);
    expect(header(moved, 'location')).toBe('/p/7');

    const asset = await iso.render(request('http://shop.test/assets/app.css'));
    expect(asset.status).toBe(404);

    const other = await iso.render(request('http://shop.test/nothing'));
    expect(other.status).toBe(404);
    expect(text(other.body)).toBe('nothing here');
    expect(header(other, 'x-served-by')).toBe('flotilla');
  });

  it('describes its routes from the bundle, as the build reads them', () => {
    expect(routes).toEqual([
      {
        id: 0,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'headers' },
        headerOps: [{ op: 'setResponse', name: 'x-served-by', value: 'flotilla' }],
      },
      {
        id: 1,
        criteria: { path: '/p/:productId', method: ['GET'] },
        fallback: false,
        action: { kind: 'render' },
        cache: {
          edge: { maxAgeSeconds: 60 },
          key: {
            query: { mode: 'only', names: ['color'] },
            cookies: [],
            headers: [],
            device: false,
            browser: false,
          },
        },
        headerOps: [],
      },
      {
        id: 2,
        criteria: { path: '/api/:path*', method: ['GET', 'POST'] },
        fallback: false,
        action: { kind: 'proxy', backend: 'api', path: '/:path*', noCode: true },
        headerOps: [{ op: 'removeUpstreamResponse', name: 'x-internal' }],
      },
      {
        id: 3,
        criteria: { path: '/env', method: ['GET'] },
        fallback: false,
        action: { kind: 'render' },
        headerOps: [],
      },
      {
        id: 4,
        criteria: { path: '/old/:id', method: ['GET'] },
        fallback: false,
        action: { kind: 'redirect', to: '/p/:id', statusCode: 301 },
        headerOps: [],
      },
      {
        id: 5,
        criteria: { path: '/assets/:file*', method: ['GET'] },
        fallback: false,
        action: { kind: 'static', dir: 'public/assets', permanent: true },
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
});

describe('a Vue Router app in an isolate', () => {
  it('renders a Vue page whose load fetched a declared backend, and its 404', async () => {
    const res = await vueIso.render(request('http://shop.test/p/7'));
    expect(res.status).toBe(200);
    expect(text(res.body)).toBe(
      '<!doctype html><html><head><title>Vue shop</title></head><body><main><h1>Desk Lamp</h1></main></body></html>',
    );
    const missing = await vueIso.render(request('http://shop.test/p/8'));
    expect(missing.status).toBe(404);
    expect(text(missing.body)).toBe(
      '<!doctype html><html><head><title>Vue shop</title></head><body><h1>No product 8</h1></body></html>',
    );
  });
});
