/**
 * `flotilla build` of a React Router app in framework mode, for real: the
 * example app (`examples/react-router-shop`, whose dependencies hold React
 * Router's CLI and Vite) copied to a scratch directory inside it (so its
 * `node_modules` resolve and parallel builds do not share `build/`), built
 * with `buildProject`, and the bundle rendered in a real isolate against a
 * products API on 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

const EXAMPLE = join(import.meta.dirname, '..', '..', '..', 'examples', 'react-router-shop');
/** The app's own files (what a developer writes), copied into each scratch project. */
const APP_FILES = [
  'app',
  'public',
  'package.json',
  'flotilla.config.json',
  'react-router.config.ts',
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

describe('buildProject with framework "react-router"', () => {
  let result: Awaited<ReturnType<typeof buildProject>>;
  const progress: BuildProgress[] = [];
  let dir: string;

  beforeAll(async () => {
    dir = await app('shop');
    result = await buildProject({ dir, onProgress: (p) => progress.push(p) });
  }, 120_000);

  it("runs the app's own react-router build, its output reported as progress", () => {
    const framework = progress.filter((p) => p.phase === 'framework').map((p) => p.detail);
    expect(framework[0]).toMatch(/^react-router build \(.*node_modules\/\.bin\/react-router\)$/);
    expect(framework.some((line) => /building ssr environment for production/.test(line))).toBe(
      true,
    );
    expect(progress.map((p) => p.phase)).toEqual(
      expect.arrayContaining(['config', 'framework', 'assets', 'bundle', 'routes', 'write']),
    );
  });

  it('writes one catch-all render route and the client build as assets', async () => {
    const { manifest } = result;
    expect(manifest.framework).toBe('react-router');
    expect(manifest.routes).toEqual([
      {
        id: 0,
        criteria: { path: '/:path*' },
        fallback: false,
        action: { kind: 'render' },
        headerOps: [],
      },
    ]);
    expect(manifest.backends).toEqual({ api: 'http://127.0.0.1:4001' });
    const hashed = manifest.assets.filter((a) => a.permanent).map((a) => a.path);
    // Vite's content-hashed names, served at their exact paths.
    expect(hashed.length).toBeGreaterThan(3);
    for (const path of hashed) expect(path).toMatch(/^\/assets\/[\w.-]+-[\w-]{8}\.(js|css)$/);
    expect(hashed.some((p) => /^\/assets\/entry\.client-.*\.js$/.test(p))).toBe(true);
    expect(hashed.some((p) => p.endsWith('.css'))).toBe(true);
    // public/ files are plain; Vite's own manifest is not served.
    const plain = manifest.assets.filter((a) => !a.permanent).map((a) => a.path);
    expect(plain).toEqual(['/favicon.svg']);
    expect(manifest.assets.some((a) => a.path.includes('.vite'))).toBe(false);
    const client = await readFile(join(dir, 'build', 'client', hashed[0]?.slice(1) ?? ''));
    const written = await readFile(join(result.outDir, 'assets', hashed[0]?.slice(1) ?? ''));
    expect(Buffer.compare(client, written)).toBe(0);
  });

  it("renders with React Router's web server entry, though the app depends on @react-router/node", async () => {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(pkg.dependencies['@react-router/node']).toBeDefined();
    expect(await readFile(join(dir, 'app', 'root.tsx'), 'utf8')).toBeTruthy();
    const code = await readFile(result.bundlePath, 'utf8');
    expect(code).not.toContain('renderToPipeableStream');
    expect(code).toContain('renderToReadableStream');
  });

  it('serves pages, single-fetch data and 404s from the bundle in an isolate', async () => {
    const code = await readFile(result.bundlePath, 'utf8');
    const iso = await DeploymentIsolate.load({
      deploymentId: 'rr-connector',
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
        return {
          status: res.status,
          headers: Object.fromEntries(res.headers),
          body: new TextDecoder().decode(res.body),
        };
      };
      const home = await get('/');
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toBe('text/html');
      expect(home.headers['cache-control']).toBe('s-maxage=60, stale-while-revalidate=600');
      expect(home.body).toContain('Product 2');
      expect(home.body).toMatch(/<script type="module"[^>]*>[^<]*entry\.client-/);

      const page = await get('/p/7');
      expect(page.body).toContain('<title>Product 7 · React Router Shop</title>');
      expect(page.headers['cache-control']).toBe('s-maxage=300, stale-while-revalidate=3600');

      const data = await get('/p/7.data');
      expect(data.status).toBe(200);
      expect(data.headers['content-type']).toBe('text/x-script');
      expect(data.body).toContain('Product 7');
      expect(data.body).not.toContain('<html');

      const routes = await get('/_.data?_routes=routes/home');
      expect(routes.status).toBe(200);
      expect(routes.body).toContain('Product 3');

      expect((await get('/no/such/page')).status).toBe(404);
    } finally {
      iso.dispose();
    }
  });
});

describe('react-router build errors', () => {
  it('names the import chain from a route module to a Node built-in', async () => {
    const home = await readFile(join(EXAMPLE, 'app', 'routes', 'home.tsx'), 'utf8');
    const dir = await app('builtin', {
      'app/disk.server.ts':
        "import { readFileSync } from 'node:fs';\nexport const motd = () => readFileSync('/etc/motd', 'utf8');\n",
      'app/routes/home.tsx': home.replace(
        'export async function loader() {',
        "import { motd } from '../disk.server.ts';\nexport async function loader() {\n  motd();",
      ),
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      'imports the Node built-in "node:fs", which bundles cannot use (they run in an isolate, without Node\'s APIs): app/routes/home.tsx → app/disk.server.ts → node:fs',
    );
  }, 120_000);

  it("says how to fix an app's own server entry written for Node", async () => {
    const dir = await app('node-entry', {
      'app/entry.server.tsx': [
        "import { PassThrough } from 'node:stream';",
        "import type { EntryContext } from 'react-router';",
        'export default function handleRequest(request: Request, status: number, headers: Headers, context: EntryContext) {',
        '  return new Response(String(new PassThrough()), { status, headers });',
        '}',
        '',
      ].join('\n'),
    });
    const e = await buildError(dir);
    expect(e.message).toContain(
      "app/entry.server.tsx → node:stream. app/entry.server.tsx must render with renderToReadableStream, as React Router's web entry does: delete it",
    );
  }, 120_000);

  it('fails with the end of the framework output when react-router build fails', async () => {
    const dir = await app('broken', {
      'app/routes/product.tsx': 'export default function Broken() { return <p>unclosed; }\n',
    });
    const e = await buildError(dir);
    expect(e.message).toMatch(/react-router build failed \(exit code 1\):\n/);
    expect(e.message).toContain('product.tsx');
  }, 120_000);

  it("needs the app's Vite config", async () => {
    const dir = await app('no-vite');
    await rm(join(dir, 'vite.config.ts'));
    const e = await buildError(dir);
    expect(e.message).toMatch(
      /needs the app's Vite config \(vite\.config\.js, .*with React Router's plugin/,
    );
  });

  it("needs React Router's CLI installed", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-rr-'));
    try {
      await writeFile(
        join(dir, 'flotilla.config.json'),
        JSON.stringify({ name: 'bare', framework: 'react-router' }),
      );
      const e = await buildError(dir);
      expect(e.message).toMatch(
        /needs React Router's CLI, and .*node_modules\/\.bin\/react-router does not exist: install the app's dependencies/,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
