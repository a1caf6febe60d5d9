/**
 * The example apps as plain Node runs them: each app's module bundled by
 * esbuild for Node (ESM, minified, `NODE_ENV=production`, the app's own
 * compile-time flags), imported in-process. This is the baseline of the SSR
 * throughput bench.
 *
 * @module
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build as buildReactShop } from '@flotilla/example-react-shop/build';
import { build as buildVueShop, VUE_DEFINES } from '@flotilla/example-vue-shop/build';
import type { BuildAppResult } from '@flotilla/sdk/build';
import { build } from 'esbuild';

/** An example app the bench renders both ways. */
export interface BenchApp {
  /** The app's name (`react-shop`), also its host label. */
  name: string;
  /** For people: `React`, `Vue`. */
  label: string;
  /** Package whose main module default-exports `{ fetch }`. */
  module: string;
  /** esbuild `define`s besides `process.env.NODE_ENV`. */
  define: Readonly<Record<string, string>>;
  /** Builds the bundle the fleet deploys (the sandbox side). */
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

/** What the bundled app module exports (the part the bench uses). */
export interface PlainApp {
  default: { fetch(request: Request): Response | Promise<Response> };
}

/**
 * Bundles `app` for Node into `<dir>/<name>.node.mjs`; returns its path.
 * Packages resolve as Node resolves them (`platform: 'node'`: Vue's CommonJS
 * production build, for one), as a plain Node server would run them.
 */
export async function bundlePlainApp(dir: string, app: BenchApp): Promise<string> {
  const entry = fileURLToPath(import.meta.resolve(app.module));
  const outfile = join(dir, `${app.name}.node.mjs`);
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    minify: true,
    jsx: 'automatic',
    define: { ...app.define, 'process.env.NODE_ENV': '"production"' },
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

/** Imports a module written by {@link bundlePlainApp}. */
export async function loadPlainApp(path: string): Promise<PlainApp> {
  return (await import(pathToFileURL(path).href)) as PlainApp;
}

/** One render the way a fetch-style server does it: Request in, HTML text out. */
export async function renderOnce(app: PlainApp, url: string): Promise<string> {
  const response = await app.default.fetch(new Request(url));
  if (response.status !== 200) throw new Error(`plain render of ${url}: status ${response.status}`);
  return response.text();
}
