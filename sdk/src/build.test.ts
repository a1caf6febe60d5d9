import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest, ManifestRoute } from '@flotilla/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildProgress,
  buildApp,
  buildProject,
  computeContentHash,
  DEFAULT_OUT_DIR,
  formatBytes,
} from './build.ts';
import { BuildError } from './build-errors.ts';
import { call, evaluateBundle, type Scratch, scratch } from './build-test-support.ts';

/** The one route a build writes for an entry without a Router. */
const CATCH_ALL_ROUTE: ManifestRoute = {
  id: 0,
  criteria: { path: '/:path*' },
  fallback: false,
  action: { kind: 'render' },
  headerOps: [],
};

const REQUEST_URL_MODULE = join(import.meta.dirname, 'request-url.ts');
const DESCRIBE = "Symbol.for('flotilla.router.describe')";
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

let s: Scratch;
let dir: string;

beforeAll(async () => {
  s = await scratch();
  dir = await s.project('files', {
    'greeting.ts': "export function greeting(name: string): string { return 'hello ' + name; }\n",
    'app.ts': [
      `import { parseRequestUrl } from ${JSON.stringify(REQUEST_URL_MODULE)};`,
      "import { greeting } from './greeting.ts';",
      'export default {',
      '  fetch(request: Request): Response {',
      '    const { pathname, query } = parseRequestUrl(request.url);',
      "    return new Response(greeting(query.name ?? 'nobody') + ' at ' + pathname, {",
      "      status: pathname === '/' ? 200 : 404,",
      "      headers: { 'content-type': 'text/plain; charset=utf-8' },",
      '    });',
      '  },',
      '};',
    ].join('\n'),
    'fn-app.ts': "export default (request: Request) => new Response('fn ' + request.method);\n",
    'no-default.ts': 'export const handler = () => new Response("x");\n',
  });
});

afterAll(async () => {
  await s.cleanup();
});

/** Runs `promise`, expecting a BuildError; returns it. */
async function failure(promise: Promise<unknown>): Promise<BuildError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(BuildError);
  return error as BuildError;
}

/** A project whose entry is `app` (TypeScript source) with the given config overrides. */
function appProject(
  name: string,
  app: string,
  config: object = {},
  files: Record<string, string> = {},
) {
  return s.project(name, {
    'flotilla.config.json': { name, entry: 'src/app.ts', framework: 'none', ...config },
    'src/app.ts': app,
    ...files,
  });
}

/** Source of an entry whose default export describes `routes` (or throws `error`). */
function describingApp(body: string): string {
  return [
    'export default {',
    "  fetch: () => new Response('ok'),",
    `  [${DESCRIBE}]() { ${body} },`,
    '};',
  ].join('\n');
}

describe('buildApp', () => {
  it('writes bundle.js and a v2 manifest with a catch-all route for a plain handler', async () => {
    const outDir = join(dir, 'out-app');
    const result = await buildApp({
      entry: join(dir, 'app.ts'),
      outDir,
      name: 'hello',
      framework: 'none',
      backends: { api: 'http://127.0.0.1:9' },
    });
    expect(result.outDir).toBe(outDir);
    expect(result.bundlePath).toBe(join(outDir, 'bundle.js'));
    expect(result.manifestPath).toBe(join(outDir, 'manifest.json'));

    const bundle = await readFile(result.bundlePath);
    const manifest = JSON.parse(await readFile(result.manifestPath, 'utf8')) as Manifest;
    expect(manifest).toEqual(result.manifest);
    expect(manifest).toMatchObject({
      manifestVersion: 2,
      name: 'hello',
      framework: 'none',
      bundleHash: sha256(bundle),
      bundleBytes: bundle.byteLength,
      backends: { api: 'http://127.0.0.1:9' },
      assets: [],
      routes: [CATCH_ALL_ROUTE],
    });
    expect(manifest.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.contentHash).toBe(computeContentHash(manifest));
    expect(new Date(manifest.builtAt).toISOString()).toBe(manifest.builtAt);
    expect((await readdir(outDir)).sort()).toEqual(['bundle.js', 'manifest.json']);
  });

  it('produces a script that serves the default export', async () => {
    const { bundlePath } = await buildApp({
      entry: join(dir, 'app.ts'),
      outDir: join(dir, 'out-serve'),
      name: 'hello',
      framework: 'none',
    });
    const code = await readFile(bundlePath, 'utf8');
    expect(code).not.toMatch(/\brequire\(/);
    expect(code).not.toMatch(/^\s*(import|export)\b/m);
    const handler = evaluateBundle(code);

    const ok = await call(handler, 'http://hello.localhost:3000/?name=caf%C3%A9');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await ok.text()).toBe('hello café at /');
    expect((await call(handler, 'http://hello.localhost:3000/nope')).status).toBe(404);
  });

  it('accepts a plain function as the handler', async () => {
    const { bundlePath, manifest } = await buildApp({
      entry: join(dir, 'fn-app.ts'),
      outDir: join(dir, 'out-fn'),
      name: 'fn',
      framework: 'none',
    });
    expect(manifest.routes).toHaveLength(1);
    const handler = evaluateBundle(await readFile(bundlePath, 'utf8'));
    expect(typeof handler).toBe('function');
    expect(await (await call(handler, 'http://x/', { method: 'POST' })).text()).toBe('fn POST');
  });

  it('serves static files from staticDir at their own and at hashed paths', async () => {
    const staticDir = join(dir, 'static-files');
    await s.project('files', { 'static-files/a b+c.txt': 'spaced' });
    const { outDir, manifest } = await buildApp({
      entry: join(dir, 'fn-app.ts'),
      outDir: join(dir, 'out-static'),
      name: 'st',
      framework: 'none',
      staticDir,
    });
    const hash = sha256('spaced');
    expect(manifest.assets.map((a) => [a.path, a.permanent])).toEqual([
      ['/a%20b+c.txt', false],
      [`/assets/a%20b+c.${hash.slice(0, 10)}.txt`, true],
    ]);
    expect(await readFile(join(outDir, 'assets', 'a%20b+c.txt'), 'utf8')).toBe('spaced');
  });

  it('fails when the entry has no default export', async () => {
    const e = await failure(
      buildApp({
        entry: join(dir, 'no-default.ts'),
        outDir: join(dir, 'out-nodefault'),
        name: 'nodefault',
        framework: 'none',
      }),
    );
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toMatch(/^flotilla build: nodefault: /);
    expect(e.message).toMatch(/default/);
  });

  it('fails when the bundle is over maxBundleBytes, naming size and cap', async () => {
    const outDir = join(dir, 'out-big');
    const e = await failure(
      buildApp({
        entry: join(dir, 'app.ts'),
        outDir,
        name: 'big',
        framework: 'none',
        maxBundleBytes: 16,
      }),
    );
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toMatch(
      /^flotilla build: big: bundle\.js is [\d.]+ (bytes|KB) \(\d+ bytes\), over the 16 bytes cap \(maxBundleBytes\)$/,
    );
    await expect(readdir(outDir)).rejects.toThrow();
  });

  it('writes the limits option into the manifest, and refuses a bad one by name', async () => {
    const { manifest } = await buildApp({
      entry: join(dir, 'fn-app.ts'),
      outDir: join(dir, 'out-limits'),
      name: 'limits',
      framework: 'none',
      limits: { cpuMs: 50 },
    });
    expect(manifest.limits).toEqual({ cpuMs: 50 });
    expect(manifest.contentHash).toBe(computeContentHash(manifest));
    const e = await failure(
      buildApp({
        entry: join(dir, 'fn-app.ts'),
        outDir: join(dir, 'out-bad-limits'),
        name: 'limits',
        framework: 'none',
        limits: { wallMs: 1.5 },
      }),
    );
    expect(e.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(e.message).toBe('buildApp: option "limits.wallMs" must be a positive integer (got 1.5)');
  });

  it('applies extra defines but keeps NODE_ENV production', async () => {
    await writeFile(
      join(dir, 'defines.ts'),
      [
        'declare const __FLAG__: boolean;',
        'declare const process: { env: { NODE_ENV: string } };',
        "export default () => new Response(__FLAG__ + ' ' + process.env.NODE_ENV);",
      ].join('\n'),
    );
    const { bundlePath } = await buildApp({
      entry: join(dir, 'defines.ts'),
      outDir: join(dir, 'out-defines'),
      name: 'defines',
      framework: 'none',
      define: { __FLAG__: 'true', 'process.env.NODE_ENV': '"development"' },
    });
    const handler = evaluateBundle(await readFile(bundlePath, 'utf8'));
    expect(await (await call(handler, 'http://x/')).text()).toBe('true production');
  });

  it.each([
    [{ entry: '' }, /option "entry"/],
    [{ entry: 'does-not-exist.ts' }, /option "entry" names a file that does not exist/],
    [{ outDir: '' }, /option "outDir"/],
    [{ name: 'Bad Name' }, /option "name"/],
    [
      { framework: 'svelte' },
      /option "framework" must be one of react, vue, none, react-router, sveltekit, angular, nuxt, next \(got "svelte"\)/,
    ],
    [{ routes: [{ method: 'GET', path: '/' }] }, /option "routes" is no longer supported/],
    [{ staticdir: 'public' }, /option "staticdir" is not a known option/],
    [{ staticDir: 'no-such-dir' }, /option "staticDir" names a directory that does not exist/],
    [{ backends: { api: 'ftp://x' } }, /option "backends\.api" must be an http: or https: origin/],
    [{ maxBundleBytes: 0 }, /option "maxBundleBytes"/],
    [{ define: { X: 1 } }, /option "define\.X"/],
    [{ onProgress: 'yes' }, /option "onProgress" must be a function/],
  ])('rejects invalid options %j', async (override, message) => {
    const options = {
      entry: join(dir, 'app.ts'),
      outDir: join(dir, 'out-invalid'),
      name: 'ok',
      framework: 'none',
      ...override,
    } as unknown as Parameters<typeof buildApp>[0];
    const e = await failure(buildApp(options));
    expect(e.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(e.message).toMatch(message);
  });
});

describe('buildProject', () => {
  it('builds a project: routes from its description, backends, assets, progress', async () => {
    const project = await s.fixture('shop');
    const progress: BuildProgress[] = [];
    const { outDir, manifest, config } = await buildProject({
      dir: project,
      onProgress: (p) => progress.push(p),
    });
    expect(outDir).toBe(join(project, DEFAULT_OUT_DIR));
    expect(config.name).toBe('shop');

    const { ROUTES } = (await import(join(project, 'src', 'routes.ts'))) as { ROUTES: unknown };
    expect(manifest.routes).toEqual(ROUTES);
    expect(manifest.backends).toEqual({ api: 'http://api.shop.example' });

    const css = await readFile(join(project, 'public', 'app.css'), 'utf8');
    const cssHashed = `/assets/app.${sha256(css).slice(0, 10)}.css`;
    expect(manifest.assets.map((a) => a.path)).toEqual([
      '/app.css',
      cssHashed,
      expect.stringMatching(/^\/assets\/logo\.[0-9a-f]{10}\.svg$/),
      expect.stringMatching(/^\/assets\/robots\.[0-9a-f]{10}\.txt$/),
      '/img/logo.svg',
      '/robots.txt',
    ]);
    expect(manifest.assets.find((a) => a.path === '/app.css')).toEqual({
      path: '/app.css',
      hash: sha256(css),
      bytes: Buffer.byteLength(css),
      contentType: 'text/css; charset=utf-8',
      permanent: false,
    });
    expect(manifest.assets.find((a) => a.path === cssHashed)?.permanent).toBe(true);
    expect(manifest.assets.find((a) => a.path === '/img/logo.svg')?.contentType).toBe(
      'image/svg+xml',
    );
    for (const asset of manifest.assets) {
      const bytes = await readFile(join(outDir, 'assets', ...asset.path.split('/')));
      expect(sha256(bytes)).toBe(asset.hash);
    }
    expect(JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8'))).toEqual(manifest);

    // __FLOTILLA_ASSETS__ maps the plain path to the hashed one inside the bundle.
    const handler = evaluateBundle(await readFile(join(outDir, 'bundle.js'), 'utf8'));
    const page = await (await call(handler, 'http://shop.localhost/')).text();
    expect(page).toBe(`<link rel="stylesheet" href="${cssHashed}">`);

    expect([...new Set(progress.map((p) => p.phase))]).toEqual([
      'config',
      'assets',
      'bundle',
      'routes',
      'write',
    ]);
    expect(progress.find((p) => p.phase === 'routes' && /3 route/.test(p.detail))).toBeDefined();
  });

  it('names the import chain to a Node built-in', async () => {
    const project = await appProject(
      'uses-fs',
      "import { read } from './lib/db.ts';\nexport default () => new Response(read());\n",
      {},
      {
        'src/lib/db.ts':
          "import { readFileSync } from 'node:fs';\nexport const read = () => readFileSync('/etc/hostname', 'utf8');\n",
      },
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toBe(
      'flotilla build: uses-fs: imports the Node built-in "node:fs", which bundles cannot use ' +
        "(they run in an isolate, without Node's APIs): src/app.ts → src/lib/db.ts → node:fs",
    );
    await expect(readdir(join(project, DEFAULT_OUT_DIR))).rejects.toThrow();
  });

  it('names the chain through a package to a bare built-in', async () => {
    const project = await appProject(
      'uses-pkg',
      "import { connect } from 'legacy-db';\nexport default () => new Response(String(connect()));\n",
      {},
      {
        'node_modules/legacy-db/package.json': '{ "name": "legacy-db", "main": "lib/index.js" }',
        'node_modules/legacy-db/lib/index.js':
          "const net = require('net');\nexports.connect = () => typeof net.connect;\n",
      },
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.message).toBe(
      'flotilla build: uses-pkg: imports the Node built-in "net", which bundles cannot use ' +
        "(they run in an isolate, without Node's APIs): src/app.ts → node_modules/legacy-db/lib/index.js → net",
    );
  });

  it('refuses native addons, directly or through a package', async () => {
    const project = await appProject(
      'native',
      [
        "import fast from 'fast-native';",
        "import local from '../build/Release/local.node';",
        'export default () => new Response(String(fast) + String(local));',
      ].join('\n'),
      {},
      {
        'node_modules/fast-native/package.json': '{ "name": "fast-native", "main": "fast.node" }',
        'node_modules/fast-native/fast.node': '\u007fELF not really',
        'build/Release/local.node': '\u007fELF not really',
      },
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toContain(
      'imports the native addon node_modules/fast-native/fast.node, which bundles cannot load',
    );
    expect(e.message).toMatch(/^flotilla build: native: 2 build error\(s\):\n/);
    expect(e.message).toContain(': src/app.ts → node_modules/fast-native/fast.node\n');
    expect(e.message).toContain(': src/app.ts → build/Release/local.node');
    expect(e.message).not.toContain('No loader'); // esbuild's own message is replaced
  });

  it('surfaces a route whose cache options are not static', async () => {
    const project = await appProject(
      'dyn',
      describingApp(
        "throw new Error('GET /p/:id (route 3): cache options must be static: edge.maxAgeSeconds was 60, then 61');",
      ),
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toBe(
      'flotilla build: dyn: route GET /p/:id (route 3): cache options must be static: edge.maxAgeSeconds was 60, then 61',
    );
  });

  it('refuses a proxy route to an undeclared backend', async () => {
    const route = {
      id: 0,
      criteria: { path: '/api/:path*', method: ['GET'] },
      fallback: false,
      action: { kind: 'proxy', backend: 'cms' },
      headerOps: [],
    };
    const project = await appProject('proxy', describingApp(`return [${JSON.stringify(route)}];`), {
      backends: { api: 'http://127.0.0.1:9' },
    });
    const e = await failure(buildProject({ dir: project }));
    expect(e.message).toBe(
      'flotilla build: proxy: route GET /api/:path* (route 0) proxies to backend "cms", which is not declared; declared backends: api',
    );
  });

  it('refuses a route description with an invalid field, naming route and field', async () => {
    const route = {
      id: 0,
      criteria: { path: '/p/:id', method: ['GET'] },
      fallback: false,
      action: { kind: 'render' },
      cache: { edge: { maxAgeSeconds: -1 } },
      headerOps: [],
    };
    const project = await appProject(
      'malformed',
      describingApp(`return [${JSON.stringify(route)}];`),
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.code).toBe('FLOTILLA_ERR_BUILD');
    expect(e.message).toMatch(
      /^flotilla build: malformed: route GET \/p\/:id \(route 0\) is described with an invalid field: routes\[0\]\.cache\.edge\.maxAgeSeconds /,
    );
  });

  it('refuses a default export that is not a handler', async () => {
    const project = await appProject('nothandler', 'export default { render() {} };\n');
    const e = await failure(buildProject({ dir: project }));
    expect(e.message).toBe(
      "flotilla build: nothandler: the entry's default export must be a Router, a fetch function or an object with a fetch method (got an object without fetch)",
    );
  });

  it('reports a bundle that throws while loading', async () => {
    const project = await appProject(
      'throws',
      "if (!globalThis.location) throw new TypeError('no location');\nexport default () => new Response('x');\n",
    );
    const e = await failure(buildProject({ dir: project }));
    expect(e.message).toBe(
      'flotilla build: throws: bundle.js threw while loading: TypeError: no location',
    );
  });

  it('gives the same contentHash to the same input, another when an asset changes', async () => {
    const project = await s.fixture('shop', 'shop-hash');
    const first = await buildProject({ dir: project, outDir: join(project, 'out-1') });
    const second = await buildProject({ dir: project, outDir: join(project, 'out-2') });
    expect(second.manifest.contentHash).toBe(first.manifest.contentHash);
    expect(second.manifest.bundleHash).toBe(first.manifest.bundleHash);

    await writeFile(join(project, 'public', 'robots.txt'), 'User-agent: *\nDisallow: /\n');
    const third = await buildProject({ dir: project, outDir: join(project, 'out-3') });
    expect(third.manifest.contentHash).not.toBe(first.manifest.contentHash);
    expect(third.manifest.bundleHash).not.toBe(first.manifest.bundleHash); // the asset map changed

    expect(computeContentHash({ ...first.manifest, routes: [] })).not.toBe(
      first.manifest.contentHash,
    );
  });

  it('writes the limits a project asks for into the manifest and its contentHash', async () => {
    const app = "export default () => new Response('limited');\n";
    const config = { name: 'limited', entry: 'src/app.ts', framework: 'none' };
    const plain = await s.project('limited-plain', {
      'flotilla.config.json': config,
      'src/app.ts': app,
    });
    const limited = await s.project('limited-asks', {
      'flotilla.config.json': { ...config, limits: { heapMb: 64, cpuMs: 200 } },
      'src/app.ts': app,
    });
    const reordered = await s.project('limited-reordered', {
      'flotilla.config.json': { ...config, limits: { cpuMs: 200, heapMb: 64 } },
      'src/app.ts': app,
    });
    const empty = await s.project('limited-empty', {
      'flotilla.config.json': { ...config, limits: {} },
      'src/app.ts': app,
    });
    const [a, b, c, d] = await Promise.all(
      [plain, limited, reordered, empty].map((project) => buildProject({ dir: project })),
    );
    if (!a || !b || !c || !d) throw new Error('a build is missing');

    // Without limits the manifest has no `limits` and its hash is as before.
    expect(a.manifest).not.toHaveProperty('limits');
    expect(d.manifest).not.toHaveProperty('limits');
    expect(d.manifest.contentHash).toBe(a.manifest.contentHash);

    expect(b.manifest.limits).toEqual({ cpuMs: 200, heapMb: 64 });
    expect(b.config.limits).toEqual({ cpuMs: 200, heapMb: 64 });
    const written = JSON.parse(await readFile(join(b.outDir, 'manifest.json'), 'utf8'));
    expect(written.limits).toEqual({ cpuMs: 200, heapMb: 64 });
    expect(b.manifest.bundleHash).toBe(a.manifest.bundleHash);
    expect(b.manifest.contentHash).not.toBe(a.manifest.contentHash);
    expect(b.manifest.contentHash).toBe(computeContentHash(b.manifest));
    expect(c.manifest.contentHash).toBe(b.manifest.contentHash);
    const { limits: _limits, ...withoutLimits } = b.manifest;
    expect(computeContentHash(withoutLimits)).toBe(a.manifest.contentHash);
    expect(computeContentHash({ ...b.manifest, limits: { cpuMs: 201, heapMb: 64 } })).not.toBe(
      b.manifest.contentHash,
    );
  });

  it('refuses bad limits in flotilla.config.json, naming the field and the file', async () => {
    for (const [limits, message] of [
      [{ cpuMs: -1 }, /field "limits\.cpuMs" must be a positive integer \(got -1\)/],
      [{ heapMb: 4 }, /field "limits\.heapMb" must be at least 8 \(got 4\)/],
      [{ cpu: 100 }, /field "limits\.cpu" is not a known field \(known: cpuMs, wallMs,/],
    ] as const) {
      const project = await appProject(
        `bad-limits-${Object.keys(limits)[0]?.toLowerCase()}`,
        "export default () => new Response('x');\n",
        { limits },
      );
      const e = await failure(buildProject({ dir: project }));
      expect(e.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
      expect(e.message).toMatch(/^flotilla build: .*flotilla\.config\.json: /);
      expect(e.message).toMatch(message);
    }
  });

  it('replaces the previous build, and a failed build leaves it intact', async () => {
    const project = await s.fixture('shop', 'shop-atomic');
    const outDir = join(project, DEFAULT_OUT_DIR);
    const first = await buildProject({ dir: project });
    await rm(join(project, 'public', 'robots.txt'));
    const second = await buildProject({ dir: project });
    expect(second.manifest.assets.map((a) => a.path)).not.toContain('/robots.txt');
    await expect(readFile(join(outDir, 'assets', 'robots.txt'))).rejects.toThrow();
    expect(second.manifest.contentHash).not.toBe(first.manifest.contentHash);

    const before = await readFile(join(outDir, 'manifest.json'), 'utf8');
    const bundleBefore = await readFile(join(outDir, 'bundle.js'));
    await writeFile(join(project, 'src', 'app.ts'), 'export default {{ syntax error');
    const e = await failure(buildProject({ dir: project }));
    expect(e.message).toMatch(/^flotilla build: shop: /);
    expect(await readFile(join(outDir, 'manifest.json'), 'utf8')).toBe(before);
    expect(await readFile(join(outDir, 'bundle.js'))).toEqual(bundleBefore);
    expect(await readdir(join(project, '.flotilla'))).toEqual(['build']);

    // What a build killed mid-write left behind is cleaned up by the next one.
    await writeFile(join(project, 'src', 'app.ts'), "export default () => new Response('x');\n");
    const abandoned = join(project, '.flotilla', '.build.tmp-4194305-0123456789ab');
    await s.project('shop-atomic', { '.flotilla/.build.tmp-4194305-0123456789ab/bundle.js': 'x' });
    await readdir(abandoned);
    await buildProject({ dir: project });
    expect(await readdir(join(project, '.flotilla'))).toEqual(['build']);
  });

  it('refuses to replace an output directory that is not a build', async () => {
    const project = await appProject(
      'notbuild',
      "export default () => new Response('x');\n",
      {},
      {
        'precious/notes.txt': 'keep me',
      },
    );
    const e = await failure(buildProject({ dir: project, outDir: join(project, 'precious') }));
    expect(e.message).toMatch(/is not empty and holds no manifest\.json/);
    expect(await readFile(join(project, 'precious', 'notes.txt'), 'utf8')).toBe('keep me');
  });

  it('reports config errors with the config file name', async () => {
    const project = await s.project('bad-config', { 'flotilla.config.json': '{ "name": ' });
    const e = await failure(buildProject({ dir: project }));
    expect(e.code).toBe('FLOTILLA_ERR_INVALID_OPTION');
    expect(e.message).toMatch(/flotilla\.config\.json:1:\d+: invalid JSON/);
  });
});

describe('computeContentHash', () => {
  const FIXED: Omit<Manifest, 'contentHash' | 'builtAt'> = {
    manifestVersion: 2,
    name: 'golden',
    framework: 'react',
    bundleHash: 'a'.repeat(64),
    bundleBytes: 10,
    routes: [CATCH_ALL_ROUTE],
    backends: { api: 'https://api.example' },
    assets: [
      {
        path: '/app.css',
        hash: 'b'.repeat(64),
        bytes: 3,
        contentType: 'text/css; charset=utf-8',
        permanent: false,
      },
    ],
  };
  // Computed before manifests had `limits`: deployment ids of existing apps must not change.
  const GOLDEN = '3d782ac754090baf29b40b98487af6a2ef431ff4673f933907d9f9cc1c63ba81';

  it('keeps the hash of a manifest without limits (or with none set) as it was', () => {
    expect(computeContentHash(FIXED)).toBe(GOLDEN);
    expect(computeContentHash({ ...FIXED, limits: {} })).toBe(GOLDEN);
  });

  it('hashes limits when present, whatever their key order', () => {
    const limited = computeContentHash({ ...FIXED, limits: { cpuMs: 200, heapMb: 64 } });
    expect(limited).not.toBe(GOLDEN);
    expect(computeContentHash({ ...FIXED, limits: { heapMb: 64, cpuMs: 200 } })).toBe(limited);
    expect(computeContentHash({ ...FIXED, limits: { cpuMs: 200 } })).not.toBe(limited);
  });
});

describe('formatBytes', () => {
  it('formats sizes the way the size error shows them', () => {
    expect(formatBytes(512)).toBe('512 bytes');
    expect(formatBytes(340_480)).toBe('332.5 KB');
    expect(formatBytes(10 * 1024 * 1024)).toBe('10 MB');
    expect(formatBytes(11_744_051)).toBe('11.2 MB');
  });
});
