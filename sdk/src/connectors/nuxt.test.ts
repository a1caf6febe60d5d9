/**
 * `flotilla build` of a Nuxt app, for real: the example app
 * (`examples/nuxt-shop`, whose dependencies hold Nuxt) copied to a scratch
 * directory inside it (so its `node_modules` resolve and parallel builds do
 * not share `.nuxt/`), built with `buildProject`, and the bundle rendered in
 * a real isolate against a products API on 127.0.0.1. Then what the isolate
 * cannot run, as build errors.
 */
import { createHash } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeploymentIsolate } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildProgress, buildProject } from '../build.ts';
import {
  type ExampleCopies,
  exampleCopies,
  expectBuildError,
  startTestProductsApi,
  type TestProductsApi,
} from './connector-tests.fixture.ts';
import { nodeTooOld } from './nuxt-build.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'nuxt-shop');
/** The app's own files (what a developer writes), copied into each scratch project. */
const APP_FILES = [
  'app',
  'server',
  'public',
  'package.json',
  'flotilla.config.json',
  'nuxt.config.ts',
  'tsconfig.json',
];
/** Nuxt's build, on a busy 2-core machine. */
const BUILD_MS = 300_000;

let copies: ExampleCopies;
let api: TestProductsApi;
let apiOrigin: string;

beforeAll(async () => {
  copies = await exampleCopies(EXAMPLE, APP_FILES);
  api = await startTestProductsApi();
  apiOrigin = api.origin;
});

afterAll(async () => {
  await copies.remove();
  await api.close();
});

const app = (name: string, files?: Record<string, string>) => copies.app(name, files);
const buildError = (dir: string) => expectBuildError({ dir });

describe('buildProject with framework "nuxt"', () => {
  let result: Awaited<ReturnType<typeof buildProject>>;
  const progress: BuildProgress[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = await app('shop', {
      // The environment's variables reach server routes, directly and through the page's $fetch.
      'server/api/greeting.get.ts':
        'export default defineEventHandler((event) => ({ greeting: event.context.flotilla?.env?.GREETING ?? null }));\n',
      'app/pages/greeting.vue': [
        '<script setup lang="ts">',
        "const { data } = await useFetch<{ greeting: string | null }>('/api/greeting');",
        '</script>',
        '<template><p id="greeting">{{ data?.greeting ?? "none" }}</p></template>',
        '',
      ].join('\n'),
    });
    result = await buildProject({ dir, onProgress: (p) => progress.push(p) });
  }, BUILD_MS);

  it("runs Nuxt's own build, its output reported as progress, and leaves no temporary files", async () => {
    const framework = progress.filter((p) => p.phase === 'framework').map((p) => p.detail);
    expect(framework[0]).toMatch(/^nuxt build \(.*node_modules\/nuxt\)$/);
    // Nuxt's own output, as under any shell (not silenced by the test runner's environment).
    expect(framework.some((line) => /building ssr environment for production/.test(line))).toBe(
      true,
    );
    expect(progress.map((p) => p.phase)).toEqual(
      expect.arrayContaining(['config', 'framework', 'assets', 'bundle', 'routes', 'write']),
    );
    await expect(access(join(dir, '.flotilla', 'nuxt'))).rejects.toThrow();
  });

  it('writes the route rules as cache routes, then one catch-all render route', () => {
    const { manifest } = result;
    expect(manifest.framework).toBe('nuxt');
    expect(manifest.backends).toEqual({ api: 'http://127.0.0.1:4001' });
    const byPath = Object.fromEntries(manifest.routes.map((r) => [r.criteria.path, r]));
    expect(byPath['/']?.cache).toEqual({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 31_536_000 },
    });
    expect(byPath['/p/:path*']?.cache).toEqual({
      edge: { maxAgeSeconds: 300, staleWhileRevalidateSeconds: 3600 },
    });
    expect(byPath['/__nuxt_error']?.cache).toEqual({ edge: false });
    expect(manifest.routes.at(-1)).toMatchObject({
      criteria: { path: '/:path*' },
      action: { kind: 'render' },
    });
  });

  it('serves the public output: hashed /_nuxt/ files permanent, the prerendered page at its route', async () => {
    const { manifest } = result;
    const hashed = manifest.assets.filter((a) => a.permanent).map((a) => a.path);
    expect(hashed.filter((p) => /^\/_nuxt\/[\w.-]+\.js$/.test(p)).length).toBeGreaterThan(3);
    expect(hashed.some((p) => /^\/_nuxt\/entry\.[\w-]+\.css$/.test(p))).toBe(true);
    // This build's meta file only, not the earlier builds' Nuxt keeps in its cache.
    expect(hashed.filter((p) => p.startsWith('/_nuxt/builds/meta/'))).toHaveLength(1);
    const plain = manifest.assets.filter((a) => !a.permanent).map((a) => a.path);
    expect(plain).toEqual(
      expect.arrayContaining([
        '/_nuxt/builds/latest.json',
        '/about',
        '/favicon.svg',
        '/robots.txt',
      ]),
    );
    // The page's own files under /about/ cannot sit beside the file /about.
    expect(manifest.assets.some((a) => a.path.startsWith('/about/'))).toBe(false);
    const about = manifest.assets.find((a) => a.path === '/about');
    expect(about?.contentType).toBe('text/html; charset=utf-8');
    const html = await readFile(join(result.outDir, 'assets', 'about'), 'utf8');
    expect(html).toContain('About this shop');
  });

  it('serves pages, server routes, payloads, the environment and 404s from the bundle in an isolate', async () => {
    const code = await readFile(result.bundlePath, 'utf8');
    // Without async context the bundle keeps its native async functions (no lowering).
    expect(code).toMatch(/async function|async\(/);
    expect(progress.some((p) => p.detail.includes('AsyncLocalStorage'))).toBe(false);
    const iso = await DeploymentIsolate.load({
      deploymentId: 'nuxt-connector',
      code,
      bundleHash: createHash('sha256').update(code).digest('hex'),
      backends: { api: apiOrigin },
    });
    try {
      const get = async (path: string) => {
        const res = await iso.render(
          {
            method: 'GET',
            url: `http://shop.test${path}`,
            headers: [['accept', 'text/html']],
            body: null,
          },
          { env: { GREETING: 'hello from the environment' } },
        );
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: new TextDecoder().decode(res.body),
        };
      };
      const home = await get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toBe('text/html;charset=utf-8');
      expect(home.body).toContain('Product 2');
      expect(home.body).toMatch(/<script type="module" src="\/_nuxt\/[\w-]+\.js"/);

      const page = await get('/p/7');
      expect(page.body).toContain('<title>Product 7 · Nuxt Shop</title>');

      // '/api/products/**': { swr: 300 } — and still the backend each time: Nitro's cache
      // stores nothing in the isolate (the shield caches).
      const hits = api.hits();
      const data = await get('/api/products/3');
      expect(data.status).toBe(200);
      expect(JSON.parse(data.body)).toMatchObject({ id: 3, name: 'Product 3' });
      expect((await get('/api/products/3')).body).toBe(data.body);
      expect(api.hits() - hits).toBe(2);

      // Client-side navigation loads the cached route's payload, and the prerendered page's.
      const payload = await get('/p/7/_payload.json?_b=x');
      expect(payload.status).toBe(200);
      expect(payload.body).toContain('Product 7');
      expect((await get('/about/_payload.json?_b=x')).status).toBe(200);

      // The environment's variables: event.context.flotilla.env, in the page's $fetch too.
      expect((await get('/api/greeting')).body).toBe(
        JSON.stringify({ greeting: 'hello from the environment' }),
      );
      expect((await get('/greeting')).body).toContain(
        '<p id="greeting">hello from the environment</p>',
      );

      expect((await get('/no/such/page')).status).toBe(404);
      expect((await get('/p/not-a-number')).status).toBe(404);
    } finally {
      iso.dispose();
    }
  });
});

describe("experimental.asyncContext: the isolate's AsyncLocalStorage", () => {
  let result: Awaited<ReturnType<typeof buildProject>>;
  const progress: BuildProgress[] = [];

  beforeAll(async () => {
    const config = await readFile(join(EXAMPLE, 'nuxt.config.ts'), 'utf8');
    const dir = await app('async-context', {
      'nuxt.config.ts': config.replace(
        "compatibilityDate: '2025-07-15',",
        "compatibilityDate: '2025-07-15',\n  experimental: { asyncContext: true },",
      ),
      // useEvent() after an await: only with async context.
      'server/api/whoami.get.ts': [
        'export default defineEventHandler(async () => {',
        "  await api('/products/1');",
        '  return { path: useEvent().path };',
        '});',
        '',
      ].join('\n'),
      // useNuxtApp() after an await in setup: only with async context.
      'app/pages/late.vue': [
        '<script setup lang="ts">',
        "await $fetch('/api/products/2');",
        'const late = useNuxtApp().ssrContext?.url;',
        '</script>',
        '<template><p id="late">{{ late }}</p></template>',
        '',
      ].join('\n'),
    });
    result = await buildProject({ dir, onProgress: (p) => progress.push(p) });
  }, BUILD_MS);

  it('lowers the bundle for it, and each concurrent render keeps its own event and app', async () => {
    expect(progress.map((p) => p.detail)).toContain(
      'uses AsyncLocalStorage (node:async_hooks): async functions lowered to carry it',
    );
    const code = await readFile(result.bundlePath, 'utf8');
    const iso = await DeploymentIsolate.load({
      deploymentId: 'nuxt-async-context',
      code,
      bundleHash: createHash('sha256').update(code).digest('hex'),
      backends: { api: apiOrigin },
    });
    try {
      const get = async (path: string) => {
        const res = await iso.render({
          method: 'GET',
          url: `http://shop.test${path}`,
          headers: [['accept', 'text/html']],
          body: null,
        });
        return { status: res.status, body: new TextDecoder().decode(res.body) };
      };
      // Renders interleave in the isolate while they wait on the backend.
      const paths = Array.from({ length: 6 }, (_, i) => `/api/whoami?n=${i}`);
      const answers = await Promise.all(paths.map(get));
      expect(answers.map((a) => a.status)).toEqual(paths.map(() => 200));
      expect(answers.map((a) => (JSON.parse(a.body) as { path: string }).path)).toEqual(paths);

      const pages = await Promise.all(['/late?v=1', '/late?v=2', '/late?v=3'].map(get));
      expect(pages.map((p) => /<p id="late">([^<]*)<\/p>/.exec(p.body)?.[1])).toEqual([
        '/late?v=1',
        '/late?v=2',
        '/late?v=3',
      ]);
    } finally {
      iso.dispose();
    }
  });
});

describe('nuxt build errors', () => {
  it(
    'names the import chain from a server route and from a page to each Node built-in',
    async () => {
      const dir = await app('builtins', {
        'server/utils/disk.ts':
          "import { readFileSync } from 'node:fs';\nexport const motd = () => readFileSync('/etc/motd', 'utf8');\n",
        'server/api/motd.get.ts': 'export default defineEventHandler(() => motd());\n',
        'app/pages/host.vue': [
          '<script setup lang="ts">',
          "import { hostname } from 'node:os';",
          'const name = hostname();',
          '</script>',
          '<template><p>{{ name }}</p></template>',
          '',
        ].join('\n'),
      });
      const e = await buildError(dir);
      expect(e.message).toContain('2 build error(s)');
      expect(e.message).toContain(
        'imports the Node built-in "node:fs", which bundles cannot use (they run in an isolate, without Node\'s APIs): ',
      );
      expect(e.message).toMatch(/server\/api\/motd\.get\.ts → server\/utils\/disk\.ts → node:fs/);
      expect(e.message).toMatch(/app\/pages\/host\.vue → node:os/);
      // Not a dependency's built-in that unenv serves (none in this app): only the app's own.
      expect(e.message).not.toMatch(/unenv|nitropack/);
    },
    BUILD_MS,
  );

  it(
    "names a dependency's Node built-in that cannot work in the isolate, from the app's file that imports it",
    async () => {
      const dir = await app('dependency', {
        'node_modules/disk-reader/package.json': JSON.stringify({
          name: 'disk-reader',
          version: '1.0.0',
          type: 'module',
          exports: './index.js',
        }),
        'node_modules/disk-reader/index.js':
          "import { readFileSync } from 'node:fs';\nexport const read = (f) => readFileSync(f, 'utf8');\n",
        'server/api/file.get.ts':
          "import { read } from 'disk-reader';\nexport default defineEventHandler(() => read('/etc/hostname'));\n",
      });
      const e = await buildError(dir);
      expect(e.message).toContain(
        'imports the Node built-in "node:fs", which bundles cannot use (they run in an isolate, without Node\'s APIs): server/api/file.get.ts → disk-reader → node:fs',
      );
    },
    BUILD_MS,
  );

  it(
    "fails with the end of Nuxt's output when its build fails",
    async () => {
      const dir = await app('broken', {
        'app/pages/about.vue':
          '<script setup lang="ts">\nconst x = ;\n</script>\n<template><p/></template>\n',
      });
      const e = await buildError(dir);
      expect(e.message).toMatch(/nuxt build failed \(exit code 1\):\n/);
      expect(e.message).toContain('about.vue');
    },
    BUILD_MS,
  );

  it('knows which Node versions Nuxt 4.6 runs on', () => {
    expect(nodeTooOld('24.21.0')).toBeUndefined();
    expect(nodeTooOld('22.22.3')).toBeUndefined();
    expect(nodeTooOld('26.1.0')).toBeUndefined();
    expect(nodeTooOld('20.19.2')).toBe(
      'Nuxt 4.6 needs Node ^22.22.3, ^24.15.0 or 26+; this is Node 20.19.2',
    );
    expect(nodeTooOld('24.2.0')).toMatch(/this is Node 24\.2\.0$/);
  });
});
