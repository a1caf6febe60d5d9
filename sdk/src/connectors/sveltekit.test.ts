/**
 * `flotilla build` of a SvelteKit app, for real: the example app
 * (`examples/sveltekit-shop`, made with `sv create`, whose dependencies hold
 * SvelteKit and Vite) copied to a scratch directory inside it (so its
 * `node_modules` resolve and parallel builds do not share `.svelte-kit/`),
 * built with `buildProject`, and the bundle rendered in a real isolate
 * against a products API on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
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
import { ISR_STALE_SECONDS, routePattern } from './sveltekit.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'sveltekit-shop');
/** The app's own files (what a developer writes), copied into each scratch project. */
const APP_FILES = [
  'src',
  'static',
  'package.json',
  'flotilla.config.json',
  'tsconfig.json',
  'vite.config.ts',
];

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

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Renders `path` with the bundle at `bundlePath` in an isolate. */
async function isolate(bundlePath: string) {
  const code = await readFile(bundlePath, 'utf8');
  const iso = await DeploymentIsolate.load({
    deploymentId: 'sveltekit-connector',
    code,
    bundleHash: createHash('sha256').update(code).digest('hex'),
    backends: { api: apiOrigin },
  });
  const get = async (path: string, env?: Record<string, string>) => {
    const res = await iso.render(
      {
        method: 'GET',
        url: `http://shop.test${path}`,
        headers: [['accept', 'text/html']],
        body: null,
      },
      env === undefined ? {} : { env },
    );
    return {
      status: res.status,
      headers: Object.fromEntries(res.headers),
      body: new TextDecoder().decode(res.body),
    };
  };
  return { get, dispose: () => iso.dispose() };
}

describe('buildProject with framework "sveltekit"', () => {
  let result: Awaited<ReturnType<typeof buildProject>>;
  const progress: BuildProgress[] = [];
  let dir: string;
  let viteConfig: string;

  beforeAll(async () => {
    dir = await app('shop');
    viteConfig = await readFile(join(dir, 'vite.config.ts'), 'utf8');
    result = await buildProject({ dir, onProgress: (p) => progress.push(p) });
  }, 180_000);

  it("runs the app's own vite build, its output reported as progress", () => {
    const framework = progress.filter((p) => p.phase === 'framework').map((p) => p.detail);
    expect(framework[0]).toMatch(/^vite build \(.*node_modules\/\.bin\/vite\)$/);
    expect(framework.some((line) => /building ssr environment for production/i.test(line))).toBe(
      true,
    );
    expect(progress.map((p) => p.phase)).toEqual(
      expect.arrayContaining(['config', 'framework', 'assets', 'bundle', 'routes', 'write']),
    );
  });

  it("swaps the app's adapter for Flotilla's without changing the app's files", async () => {
    expect(viteConfig).toContain("import adapter from '@sveltejs/adapter-node';");
    expect(await readFile(join(dir, 'vite.config.ts'), 'utf8')).toBe(viteConfig);
    // adapter-node did not run (it writes build/), and Flotilla's own files are gone.
    expect(await exists(join(dir, 'build'))).toBe(false);
    expect(await exists(join(dir, '.flotilla', 'sveltekit'))).toBe(false);
  });

  it('writes config.isr as edge caching for the page and its data, then one catch-all route', () => {
    const { manifest } = result;
    expect(manifest.framework).toBe('sveltekit');
    const edge = { maxAgeSeconds: 300, staleWhileRevalidateSeconds: ISR_STALE_SECONDS };
    expect(manifest.routes).toEqual([
      {
        id: 0,
        criteria: { path: '/p/:id', method: ['GET', 'HEAD'] },
        fallback: false,
        action: { kind: 'render' },
        cache: { edge },
        headerOps: [],
      },
      {
        id: 1,
        criteria: { path: '/p/:id/__data.json', method: ['GET', 'HEAD'] },
        fallback: false,
        action: { kind: 'render' },
        cache: { edge: { ...edge, forcePrivateCaching: true } },
        headerOps: [],
      },
      {
        id: 2,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'render' },
        headerOps: [],
      },
    ]);
    expect(manifest.backends).toEqual({ api: 'http://127.0.0.1:4001' });
  });

  it('writes the client files and the prerendered pages as assets', async () => {
    const { manifest } = result;
    const hashed = manifest.assets.filter((a) => a.permanent).map((a) => a.path);
    expect(hashed.length).toBeGreaterThan(5);
    for (const path of hashed) {
      expect(path).toMatch(/^\/_app\/immutable\/(entry|chunks|nodes|assets)\/[\w.-]+\.(js|css)$/);
    }
    expect(hashed.some((p) => /^\/_app\/immutable\/entry\/start\.[\w-]+\.js$/.test(p))).toBe(true);
    expect(hashed.some((p) => p.endsWith('.css'))).toBe(true);
    const plain = manifest.assets.filter((a) => !a.permanent);
    expect(plain.map((a) => a.path)).toEqual(['/_app/version.json', '/about', '/robots.txt']);
    const about = plain.find((a) => a.path === '/about');
    expect(about?.contentType).toBe('text/html; charset=utf-8');
    const html = await readFile(join(result.outDir, 'assets', 'about'), 'utf8');
    expect(html).toContain('<h1>About this shop</h1>');
  });

  it('serves pages, their data and 404s from the bundle in an isolate', async () => {
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      const home = await get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toBe('text/html');
      expect(home.headers['cache-control']).toBe('s-maxage=60, stale-while-revalidate=600');
      expect(home.body).toContain('<title>SvelteKit Shop</title>');
      expect(home.body).toContain('Product 2');
      expect(home.body).toMatch(/_app\/immutable\/entry\/start\.[\w-]+\.js/);

      const page = await get('/p/7');
      expect(page.status).toBe(200);
      expect(page.body).toContain('<title>Product 7 · SvelteKit Shop</title>');

      const data = await get('/p/7/__data.json?x-sveltekit-invalidated=01');
      expect(data.status).toBe(200);
      expect(data.headers['content-type']).toBe('application/json');
      expect(data.body).toContain('Product 7');

      const listing = await get('/__data.json');
      expect(listing.headers['cache-control']).toBe('s-maxage=60, stale-while-revalidate=600');

      // A prerendered page is the shield's to serve: SvelteKit's server does not render it.
      expect((await get('/about')).status).toBe(404);
      expect((await get('/no/such/page')).status).toBe(404);
    } finally {
      dispose();
    }
  });
});

describe('SvelteKit apps configured other ways', () => {
  it('builds an app whose adapter is in svelte.config.js', async () => {
    const dir = await app('svelte-config', {
      'vite.config.ts': [
        "import { sveltekit } from '@sveltejs/kit/vite';",
        "import { defineConfig } from 'vite';",
        'export default defineConfig({ plugins: [sveltekit()] });',
        '',
      ].join('\n'),
      'svelte.config.js': [
        "import adapter from '@sveltejs/adapter-node';",
        'export default { kit: { adapter: adapter() } };',
        '',
      ].join('\n'),
    });
    const result = await buildProject({ dir });
    expect(result.manifest.framework).toBe('sveltekit');
    expect(await exists(join(dir, 'build'))).toBe(false);
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      expect((await get('/p/3')).body).toContain('Product 3');
    } finally {
      dispose();
    }
  }, 180_000);

  it('puts kit.paths.base in front of every asset path and isr route', async () => {
    const config = await readFile(join(EXAMPLE, 'vite.config.ts'), 'utf8');
    const dir = await app('base', {
      'vite.config.ts': config.replace(
        'adapter: adapter()',
        // The example's links are not base-aware: prerendering /about would follow them to a 404.
        "adapter: adapter(),\n      paths: { base: '/shop' },\n      prerender: { handleHttpError: 'warn' }",
      ),
    });
    const result = await buildProject({ dir });
    const paths = result.manifest.assets.map((a) => a.path);
    for (const path of paths) expect(path).toMatch(/^\/shop\//);
    expect(paths).toEqual(expect.arrayContaining(['/shop/about', '/shop/robots.txt']));
    expect(result.manifest.routes.map((r) => r.criteria.path)).toEqual([
      '/shop/p/:id',
      '/shop/p/:id/__data.json',
      '/:path*',
    ]);
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      const page = await get('/shop/p/4');
      expect(page.status).toBe(200);
      expect(page.body).toContain('Product 4');
    } finally {
      dispose();
    }
  }, 180_000);

  it("hands the environment's variables to $env/dynamic/* and platform.env", async () => {
    const dir = await app('env', {
      'src/routes/env/+server.ts': [
        "import { env as secret } from '$env/dynamic/private';",
        "import { env as open } from '$env/dynamic/public';",
        "import type { RequestHandler } from './$types';",
        'export const GET: RequestHandler = ({ platform }) =>',
        '  Response.json({',
        '    secret: secret.SHOP_SECRET,',
        '    open: open.PUBLIC_SHOP,',
        '    platform: (platform as { env?: Record<string, string> } | undefined)?.env?.SHOP_SECRET,',
        '  });',
        '',
      ].join('\n'),
    });
    const result = await buildProject({ dir });
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      const first = await get('/env', { SHOP_SECRET: 's1', PUBLIC_SHOP: 'p1' });
      expect(JSON.parse(first.body)).toEqual({ secret: 's1', open: 'p1', platform: 's1' });
      // Another environment's variables, in the same isolate.
      const second = await get('/env', { SHOP_SECRET: 's2', PUBLIC_SHOP: 'p2' });
      expect(JSON.parse(second.body)).toEqual({ secret: 's2', open: 'p2', platform: 's2' });
    } finally {
      dispose();
    }
  }, 180_000);

  it("streams a load function's promise it does not await, page and data alike", async () => {
    const dir = await app('streaming', {
      'src/routes/+page.server.ts': [
        "import { api, type Product } from '$lib/server/api';",
        "import type { PageServerLoad } from './$types';",
        'export const load: PageServerLoad = async ({ fetch }) => ({',
        "  first: await api<Product>(fetch, '/products/1'),",
        "  products: api<Product[]>(fetch, '/products?limit=3'),",
        '});',
        '',
      ].join('\n'),
      'src/routes/+page.svelte': [
        '<script lang="ts">',
        '  let { data } = $props();',
        '</script>',
        '<h1>{data.first.name}</h1>',
        '{#await data.products}<p>loading</p>{:then products}<p>{products.length} more</p>{/await}',
        '',
      ].join('\n'),
    });
    const result = await buildProject({ dir });
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      const page = await get('/');
      expect(page.status).toBe(200);
      expect(page.body).toContain('<h1>Product 1</h1>');
      expect(page.body).toContain('<p>loading</p>');
      // The promise's value follows the page, in a script SvelteKit's client reads.
      expect(page.body.lastIndexOf('Product 3')).toBeGreaterThan(page.body.indexOf('</h1>'));
      const data = await get('/__data.json');
      expect(data.body.split('\n').filter((line) => line !== '')).toHaveLength(2);
      expect(data.body).toContain('"type":"chunk"');
    } finally {
      dispose();
    }
  }, 180_000);

  it('answers from the bundle the prerendered files no asset path can hold (/, a page beside its data)', async () => {
    const dir = await app('prerendered', {
      // The home page prerendered at build time, with a server load (so it has __data.json).
      'src/routes/+page.server.ts': [
        'export const prerender = true;',
        "export const load = () => ({ products: [{ id: 1, name: 'Built once', priceCents: 100 }] });",
        '',
      ].join('\n'),
      'src/routes/about/+page.server.ts': "export const load = () => ({ at: 'build' });\n",
    });
    const progress: BuildProgress[] = [];
    const result = await buildProject({ dir, onProgress: (p) => progress.push(p) });
    const plain = result.manifest.assets.filter((a) => !a.permanent).map((a) => a.path);
    // `/` cannot be an asset path; `/about` is, so its data cannot be.
    expect(plain).toEqual(['/__data.json', '/_app/version.json', '/about', '/robots.txt']);
    expect(progress.map((p) => p.detail).join('\n')).toContain(
      'answered by the bundle (no asset path can hold them): /, /about/__data.json',
    );
    const { get, dispose } = await isolate(result.bundlePath);
    try {
      const home = await get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(home.headers['cache-control']).toBe('public, max-age=0, s-maxage=31536000');
      expect(home.body).toContain('Built once');
      const data = await get('/about/__data.json');
      expect(data.status).toBe(200);
      expect(data.body).toContain('build');
    } finally {
      dispose();
    }
  }, 180_000);
});

describe('sveltekit build errors', () => {
  it('names the import chain from a load function to a Node built-in', async () => {
    const load = await readFile(join(EXAMPLE, 'src', 'routes', '+page.server.ts'), 'utf8');
    const dir = await app('builtin', {
      'src/lib/server/disk.ts':
        "import { readFileSync } from 'node:fs';\nexport const motd = () => readFileSync('/etc/motd', 'utf8');\n",
      'src/routes/+page.server.ts': `import { motd } from '$lib/server/disk';\n${load.replace(
        'setHeaders({',
        'motd();\n\tsetHeaders({',
      )}`,
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      'imports the Node built-in "node:fs", which bundles cannot use (they run in an isolate, without Node\'s APIs): src/routes/+page.server.ts → src/lib/server/disk.ts → node:fs',
    );
  }, 180_000);

  it("refuses Svelte's experimental.async, naming it and what to do", async () => {
    const config = await readFile(join(EXAMPLE, 'vite.config.ts'), 'utf8');
    const dir = await app('async', {
      'vite.config.ts': config.replace(
        'compilerOptions: {',
        'compilerOptions: {\n        experimental: { async: true },',
      ),
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      "vite.config.ts turns on Svelte's compilerOptions.experimental.async, which Flotilla cannot run yet",
    );
    expect(e.message).toContain('needs AsyncLocalStorage (node:async_hooks)');
    expect(e.message).toContain('Turn "experimental.async" off to build for the fleet');
  }, 180_000);

  it('refuses a config.isr it cannot honour, naming the route', async () => {
    const dir = await app('bad-isr', {
      'src/routes/p/[id]/+page.server.ts': (
        await readFile(join(EXAMPLE, 'src', 'routes', 'p', '[id]', '+page.server.ts'), 'utf8')
      ).replace('expiration: 300', "expiration: '5m'"),
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      'route /p/[id]: config.isr.expiration must be a positive whole number of seconds, or false for never (got "5m")',
    );
  }, 180_000);

  it('refuses read() from $app/server, naming the module', async () => {
    const dir = await app('read', {
      'src/lib/assets/notes.txt': `${'A line of notes that is long enough not to be inlined.\n'.repeat(200)}`,
      'src/routes/p/[id]/+layout.server.ts': [
        "import { read } from '$app/server';",
        "import notes from '$lib/assets/notes.txt?url';",
        'export const load = async () => ({ notes: await read(notes).text() });',
        '',
      ].join('\n'),
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      'src/routes/p/[id]/+layout.server.ts uses read() from $app/server, which bundles cannot run',
    );
  }, 180_000);

  it('refuses instrumentation.server.ts, as SvelteKit does for adapters without it', async () => {
    const config = await readFile(join(EXAMPLE, 'vite.config.ts'), 'utf8');
    const dir = await app('instrumentation', {
      'src/instrumentation.server.ts': 'export {};\n',
      'vite.config.ts': config.replace(
        'adapter: adapter()',
        'adapter: adapter(),\n      experimental: { instrumentation: { server: true }, tracing: { server: true } }',
      ),
    });
    const e = await buildError(dir);
    expect(e.message).toMatch(/src\/instrumentation\.server\.ts is unsupported in flotilla/);
  }, 180_000);

  it('fails with the end of the framework output when vite build fails', async () => {
    const dir = await app('broken', {
      'src/routes/p/[id]/+page.svelte': '<script lang="ts">\n  let { data } = $props(\n</script>\n',
    });
    const e = await buildError(dir);
    expect(e.message).toMatch(/vite build failed \(exit code 1\):\n/);
    expect(e.message).toContain('+page.svelte');
  }, 180_000);

  it("needs the app's Vite config", async () => {
    const dir = await app('no-vite');
    await rm(join(dir, 'vite.config.ts'));
    const e = await buildError(dir);
    expect(e.message).toMatch(
      /needs the app's Vite config \(vite\.config\.js, .*with SvelteKit's plugin/,
    );
  });

  it('names the SvelteKit version it does not build', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-sveltekit-'));
    try {
      await writeFile(
        join(dir, 'flotilla.config.json'),
        JSON.stringify({ name: 'next-kit', framework: 'sveltekit' }),
      );
      await writeFile(join(dir, 'vite.config.ts'), 'export default {};\n');
      await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
      await writeFile(join(dir, 'node_modules', '.bin', 'vite'), '#!/bin/sh\nexit 1\n', {
        mode: 0o755,
      });
      await mkdir(join(dir, 'node_modules', '@sveltejs', 'kit'), { recursive: true });
      await writeFile(
        join(dir, 'node_modules', '@sveltejs', 'kit', 'package.json'),
        JSON.stringify({ name: '@sveltejs/kit', version: '3.4.1' }),
      );
      const e = await buildError(dir);
      expect(e.message).toContain(
        'the app has SvelteKit 3.4.1, and flotilla build builds SvelteKit 2 apps',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('needs Vite installed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-sveltekit-'));
    try {
      await writeFile(
        join(dir, 'flotilla.config.json'),
        JSON.stringify({ name: 'bare', framework: 'sveltekit' }),
      );
      const e = await buildError(dir);
      expect(e.message).toMatch(
        /needs Vite, and .*node_modules\/\.bin\/vite does not exist: install the app's dependencies/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('routePattern', () => {
  it.each([
    ['/', '/'],
    ['/p/[id]', '/p/:id'],
    ['/p/[id=integer]', '/p/:id'],
    ['/(shop)/cart', '/cart'],
    ['/[[lang]]/docs/[...rest]', '/:lang?/docs/:rest*'],
    ['/v[n]', undefined],
    ['/a/[x+2f]', undefined],
  ])('%s → %s', (id, pattern) => {
    expect(routePattern(id)).toBe(pattern);
  });
});
