/**
 * The example apps as both sides of the SSR bench run them, built from one
 * entry per app and render path so that both sides run the same code:
 *
 * - `memory`: a fetch handler around the app's pure
 *   `renderRoute(path, PRODUCTS)`, the catalogue compiled into the bundle
 *   (no Router, no backend fetch): the render work alone;
 * - `router`: the app as deployed, its Router default export, which loads
 *   the catalogue from backend `api` (`backend://api/products`) on every
 *   render.
 *
 * The plain-Node side bundles the entry with esbuild for Node (ESM,
 * minified, `NODE_ENV=production`, the app's compile-time flags; packages
 * resolved as Node resolves them, e.g. Vue's CommonJS production build) and
 * imports it; the sandbox side (see `sandbox-app.ts`) bundles the same entry
 * as `flotilla build` bundles an app. Both compile in the same asset map
 * (`__FLOTILLA_ASSETS__`), so both render the same HTML.
 *
 * @module
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build as buildReactShop } from '@flotilla/example-react-shop/build';
import { build as buildVueShop, VUE_DEFINES } from '@flotilla/example-vue-shop/build';
import type { Manifest } from '@flotilla/sdk';
import type { BuildAppResult } from '@flotilla/sdk/build';
import { build } from 'esbuild';

/** An example app the bench renders both ways. */
export interface BenchApp {
  /** The app's name (`react-shop`), also its host label. */
  name: string;
  /** For people: `React`, `Vue`. */
  label: string;
  /**
   * Package whose main module default-exports the app's Router and exports
   * `renderRoute(path, products, prefix?)`.
   */
  module: string;
  /** esbuild `define`s besides `process.env.NODE_ENV` and `__FLOTILLA_ASSETS__`. */
  define: Readonly<Record<string, string>>;
  /** Builds the app as the fleet deploys it (`flotilla build`). */
  build(options: { outDir: string }): Promise<BuildAppResult>;
}

export const REACT_SHOP: BenchApp = {
  name: 'react-shop',
  label: 'React',
  module: '@flotilla/example-react-shop',
  define: {},
  build: buildReactShop,
};

export const VUE_SHOP: BenchApp = {
  name: 'vue-shop',
  label: 'Vue',
  module: '@flotilla/example-vue-shop',
  define: VUE_DEFINES,
  build: buildVueShop,
};

/** The URL of the page both sides render: the listing `/` of `app`, on its host. */
export function pageUrl(app: BenchApp): string {
  return `http://${app.name}.localhost/`;
}

/**
 * What a page is rendered from: `memory`, the catalogue compiled into the
 * bundle; `router`, the app's Router fetching it from backend `api`.
 */
export type RenderPath = 'memory' | 'router';

/** Where the generated entries resolve their imports from (this package's dependencies). */
const RESOLVE_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * Source of the entry module of `app` for `path`. `target: 'node'` makes it
 * default-export the fetch handler; `'isolate'` passes it to
 * `Flotilla.serve`, as `flotilla build`'s entry does.
 */
export function entrySource(app: BenchApp, path: RenderPath, target: 'node' | 'isolate'): string {
  const lines =
    path === 'memory'
      ? [
          `import { renderRoute } from ${JSON.stringify(app.module)};`,
          "import { PRODUCTS } from '@flotilla/example-products-api/products';",
          // The same handler on both sides: Request in, Response out.
          'const handler = {',
          '  async fetch(request) {',
          '    const url = new URL(request.url);',
          '    const { status, html } = await renderRoute(url.pathname + url.search, PRODUCTS);',
          "    return new Response(html, { status, headers: { 'content-type': 'text/html; charset=utf-8' } });",
          '  },',
          '};',
        ]
      : [`import handler from ${JSON.stringify(app.module)};`];
  lines.push(target === 'node' ? 'export default handler;' : 'globalThis.Flotilla.serve(handler);');
  return lines.join('\n');
}

/**
 * Plain asset path → hashed path, as `flotilla build` compiles it into the
 * bundle (`__FLOTILLA_ASSETS__`), from the build's manifest.
 */
export function hashedAssetPaths(manifest: Manifest): Record<string, string> {
  const map: Record<string, string> = {};
  for (const plain of manifest.assets) {
    if (plain.permanent) continue;
    const hashed = manifest.assets.find((a) => a.permanent && a.hash === plain.hash);
    if (hashed) map[plain.path] = hashed.path;
  }
  return map;
}

/** The `define`s of both sides: the app's flags, the asset map, production mode. */
export function defines(app: BenchApp, manifest: Manifest): Record<string, string> {
  return {
    ...app.define,
    __FLOTILLA_ASSETS__: JSON.stringify(hashedAssetPaths(manifest)),
    'process.env.NODE_ENV': '"production"',
  };
}

/**
 * Bundles the `path` entry of `app` for Node into `<dir>/<name>.<path>.node.mjs`;
 * returns its path. Packages resolve as Node resolves them
 * (`platform: 'node'`: Vue's CommonJS production build, for one), as a plain
 * Node server would run them.
 *
 * @param manifest - The manifest of the app's build: its asset map is
 * compiled in, so asset URLs (`assetUrl('/styles.css')`) resolve to the same
 * hashed paths as in the sandbox bundle.
 */
export async function bundlePlainApp(
  dir: string,
  app: BenchApp,
  path: RenderPath,
  manifest: Manifest,
): Promise<string> {
  const outfile = join(dir, `${app.name}.${path}.node.mjs`);
  await build({
    stdin: {
      contents: entrySource(app, path, 'node'),
      resolveDir: RESOLVE_DIR,
      sourcefile: `<bench-${path}-entry>`,
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    jsx: 'automatic',
    define: defines(app, manifest),
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** What a module written by {@link bundlePlainApp} exports. */
export interface PlainApp {
  default: { fetch(request: Request): Response | Promise<Response> };
}

/** Imports a module written by {@link bundlePlainApp}. */
export async function loadPlainApp(path: string): Promise<PlainApp> {
  return (await import(pathToFileURL(path).href)) as PlainApp;
}

/**
 * Makes this thread's global `fetch` answer `backend://<name><path>` (what
 * the Router's `ctx.backend(name)` fetches) from `backends[name]`, as the
 * isolate host does; other URLs are fetched as they are.
 */
export function installBackendFetch(backends: Readonly<Record<string, string>>): void {
  const fetchUrl = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const match = /^backend:\/\/([^/?#]+)(.*)$/s.exec(url);
    if (!match) return fetchUrl(input, init);
    const origin = backends[match[1] ?? ''];
    if (origin === undefined) {
      return Promise.reject(new TypeError(`backend "${match[1]}" is not declared`));
    }
    return fetchUrl(`${origin}${match[2] ?? ''}`, init);
  };
}

/** One render the way a fetch-style server does it: Request in, HTML text out. */
export async function renderOnce(app: PlainApp, url: string): Promise<string> {
  const response = await app.default.fetch(new Request(url));
  if (response.status !== 200) throw new Error(`plain render of ${url}: status ${response.status}`);
  return response.text();
}
