/**
 * `flotilla build` of an Angular SSR app: Angular's server routes as
 * manifest routes (pure), and the build errors of the real build: the
 * example app (`examples/angular-shop`, whose dependencies hold the Angular
 * CLI) copied to a scratch directory inside it (so its `node_modules`
 * resolve), with a file changed, built with `buildProject`. The example's
 * successful build, rendered on a fleet, is `test/browser/angular.test.ts`.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeploymentIsolate } from '@flotilla/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProject } from '../build.ts';
import {
  angularManifestRoutes,
  angularPathPattern,
  cacheFromCacheControl,
} from './angular-routes.ts';
import { type ExampleCopies, exampleCopies, expectBuildError } from './connector-tests.fixture.ts';

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'angular-shop');
/** The app's own files (what `ng new` made and a developer wrote), copied into each scratch project. */
const APP_FILES = [
  'src',
  'public',
  'package.json',
  'flotilla.config.json',
  'angular.json',
  'tsconfig.json',
  'tsconfig.app.json',
];

let copies: ExampleCopies;

beforeAll(async () => {
  copies = await exampleCopies(EXAMPLE, APP_FILES);
});

afterAll(async () => {
  await copies.remove();
});

const app = (name: string, files?: Record<string, string>) => copies.app(name, files);
const buildError = (dir: string) => expectBuildError({ dir, outDir: join(dir, 'out') });

describe("Angular's server routes in the manifest", () => {
  it('maps Cache-Control s-maxage and stale-while-revalidate to edge caching', () => {
    expect(cacheFromCacheControl('s-maxage=60, stale-while-revalidate=600')).toEqual({
      edge: { maxAgeSeconds: 60, staleWhileRevalidateSeconds: 600 },
    });
    expect(cacheFromCacheControl('public, S-MaxAge="30"')).toEqual({
      edge: { maxAgeSeconds: 30 },
    });
    expect(cacheFromCacheControl('private, s-maxage=60')).toEqual({ edge: false });
    expect(cacheFromCacheControl('no-store')).toEqual({ edge: false });
    // Nothing for the edge: the response's own headers decide.
    expect(cacheFromCacheControl('max-age=60')).toBeUndefined();
    expect(cacheFromCacheControl(undefined)).toBeUndefined();
  });

  it("turns Angular's wildcards into parameters", () => {
    expect(angularPathPattern('/')).toBe('/');
    expect(angularPathPattern('/p/*')).toBe('/p/:seg1');
    expect(angularPathPattern('/a/*/b/*')).toBe('/a/:seg1/b/:seg2');
    expect(angularPathPattern('/docs/**')).toBe('/docs/:rest*');
    expect(angularPathPattern('/**')).toBe('/:rest*');
  });

  it('orders static routes, then one-segment wildcards, then fallbacks', () => {
    const routes = angularManifestRoutes([
      { route: '/**', renderMode: 0, status: 404 },
      { route: '/p/*', renderMode: 0, headers: { 'cache-control': 's-maxage=300' } },
      { route: '/about', renderMode: 2 },
      { route: '/', renderMode: 0, headers: { 'Cache-Control': 's-maxage=60' } },
    ]);
    expect(routes.map((r) => [r.id, r.criteria.path, r.fallback, r.cache])).toEqual([
      [0, '/about', false, undefined],
      [1, '/', false, { edge: { maxAgeSeconds: 60 } }],
      [2, '/p/:seg1', false, { edge: { maxAgeSeconds: 300 } }],
      [3, '/:rest*', true, undefined],
    ]);
    for (const route of routes) expect(route.action).toEqual({ kind: 'render' });
  });

  it('ends with a catch-all when the app has none, and leaves out paths patterns cannot say', () => {
    const routes = angularManifestRoutes([
      { route: '/a b', renderMode: 0, headers: { 'cache-control': 's-maxage=5' } },
      { route: '/ok', renderMode: 0 },
    ]);
    expect(routes.map((r) => [r.criteria.path, r.fallback])).toEqual([
      ['/ok', false],
      ['/:rest*', true],
    ]);
  });
});

describe('buildProject with framework "angular": Node built-ins and build errors', () => {
  it('names a Node built-in with its import chain from the server entry', async () => {
    const cart = await readFile(join(EXAMPLE, 'src', 'app', 'cart.ts'), 'utf8');
    const dir = await app('builtin', {
      'src/app/disk.ts':
        "import { readFileSync } from 'node:fs';\nexport const motd = () => readFileSync('/etc/motd', 'utf8');\n",
      'src/app/cart.ts': `import { motd } from './disk';\n${cart.replace(
        'readonly count = signal(0);',
        'readonly count = signal(0);\n  readonly motd = motd;',
      )}`,
    });
    const angularJson = await readFile(join(dir, 'angular.json'), 'utf8');
    const error = await buildError(dir);
    expect(error.message).toContain('imports the Node built-in "node:fs"');
    expect(error.message).toContain(
      'src/main.server.ts → src/app/app.ts → src/app/cart.ts → src/app/disk.ts → node:fs',
    );
    expect(error.message).toContain('fetch a declared backend');
    // The same file is in the browser build too.
    expect(error.message).toContain(
      'the browser build imports the Node built-in "node:fs", which browsers do not have: src/main.ts → src/app/app.ts → src/app/cart.ts → src/app/disk.ts → node:fs',
    );
    // The app's files are as they were, and flotilla's own are gone.
    expect(await readFile(join(dir, 'angular.json'), 'utf8')).toBe(angularJson);
    expect(await readdir(dir)).not.toContain('.flotilla');
  }, 240_000);

  it('lets server-only code import AsyncLocalStorage, the one built-in the isolate has', async () => {
    const serverConfig = await readFile(
      join(EXAMPLE, 'src', 'app', 'app.config.server.ts'),
      'utf8',
    );
    const dir = await app('async-hooks', {
      'src/app/app.config.server.ts': `import { AsyncLocalStorage } from 'node:async_hooks';\n${serverConfig.replace(
        'providers: [',
        "providers: [\n    { provide: 'requestNumber', useFactory: () => requests.run(7, () => requests.getStore()) },",
      )}\nconst requests = new AsyncLocalStorage<number>();\n`,
    });
    const built = await buildProject({ dir, outDir: join(dir, 'out') });
    const code = await readFile(built.bundlePath, 'utf8');
    const iso = await DeploymentIsolate.load({
      deploymentId: 'angular-als',
      code,
      bundleHash: createHash('sha256').update(code).digest('hex'),
    });
    try {
      const res = await iso.render(
        { method: 'GET', url: 'http://angular-shop.test/nope', headers: [], body: null },
        { deadline: Date.now() + 20_000 },
      );
      expect(res.status).toBe(404);
      expect(new TextDecoder().decode(res.body)).toContain('<h1>Not found</h1>');
    } finally {
      iso.dispose();
    }
  }, 240_000);

  it("fails with the end of Angular's output when the app does not compile", async () => {
    const dir = await app('type-error', {
      'src/app/cart.ts':
        "import { Injectable } from '@angular/core';\n@Injectable({ providedIn: 'root' })\nexport class Cart { readonly count: number = 'none'; add(): void {} }\n",
    });
    const error = await buildError(dir);
    expect(error.message).toMatch(
      /^flotilla build: angular-shop: ng build failed \(exit code 1\):\n/,
    );
    expect(error.message).toContain('src/app/cart.ts');
    expect(error.message).toMatch(/TS2322/);
  }, 240_000);

  it("refuses withXhr(), which needs Node's http on the server", async () => {
    const config = await readFile(join(EXAMPLE, 'src', 'app', 'app.config.ts'), 'utf8');
    const dir = await app('xhr', {
      'src/app/app.config.ts': config
        .replace('withFetch', 'withXhr')
        .replace('withFetch()', 'withXhr()'),
    });
    const error = await buildError(dir);
    expect(error.message).toContain('src/app/app.config.ts uses withXhr()');
    expect(error.message).toContain("Angular's default fetch backend");
  }, 240_000);

  it('says how to add server rendering to an app without it', async () => {
    const dir = await app('no-ssr');
    const workspace = JSON.parse(await readFile(join(dir, 'angular.json'), 'utf8'));
    const options = workspace.projects['angular-shop'].architect.build.options;
    delete options.server;
    delete options.ssr;
    delete options.outputMode;
    await writeFile(join(dir, 'angular.json'), JSON.stringify(workspace, null, 2));
    const error = await buildError(dir);
    expect(error.message).toContain('has no server rendering');
    expect(error.message).toContain('ng add @angular/ssr');
  }, 120_000);
});

describe('buildProject with framework "angular": an app with zone.js', () => {
  it('builds and renders in the isolate with zone-based change detection, leaving no platform behind', async () => {
    const config = await readFile(join(EXAMPLE, 'src', 'app', 'app.config.ts'), 'utf8');
    const dir = await app('zone', {
      'src/app/app.config.ts': config
        .replace(
          "import { type ApplicationConfig, provideBrowserGlobalErrorListeners } from '@angular/core';",
          "import {\n  type ApplicationConfig,\n  provideBrowserGlobalErrorListeners,\n  provideZoneChangeDetection,\n} from '@angular/core';",
        )
        .replace(
          'provideBrowserGlobalErrorListeners(),',
          'provideBrowserGlobalErrorListeners(),\n    provideZoneChangeDetection({ eventCoalescing: true }),',
        ),
    });
    expect(await readFile(join(dir, 'src', 'app', 'app.config.ts'), 'utf8')).toContain(
      'provideZoneChangeDetection({',
    );
    const workspace = JSON.parse(await readFile(join(dir, 'angular.json'), 'utf8'));
    workspace.projects['angular-shop'].architect.build.options.polyfills = ['zone.js'];
    await writeFile(join(dir, 'angular.json'), JSON.stringify(workspace, null, 2));

    const built = await buildProject({ dir, outDir: join(dir, 'out') });
    const code = await readFile(built.bundlePath, 'utf8');
    // zone.js itself is in the server build (a zoneless build has none of it).
    expect(code).toContain('__zone_symbol__');
    // A small heap: Angular destroys each request's platform in a timer after
    // the page, which must run before the render ends or every render's
    // platform stays in the heap (300 renders would not fit).
    const iso = await DeploymentIsolate.load({
      deploymentId: 'angular-zone',
      code,
      bundleHash: createHash('sha256').update(code).digest('hex'),
      limits: { heapMb: 32 },
    });
    try {
      for (let i = 0; i < 300; i++) {
        const res = await iso.render(
          {
            method: 'GET',
            url: 'http://angular-shop.test/no/such/page',
            headers: [['accept', 'text/html']],
            body: null,
          },
          { deadline: Date.now() + 20_000 },
        );
        expect(res.status).toBe(404);
        const html = new TextDecoder().decode(res.body);
        expect(html).toContain('ng-server-context="ssr"');
        expect(html).toContain('<h1>Not found</h1>');
      }
    } finally {
      iso.dispose();
    }
  }, 240_000);
});
