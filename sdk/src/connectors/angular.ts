/**
 * `flotilla build` for an Angular SSR app (`"framework": "angular"` in
 * `flotilla.config.json`, no `entry`):
 *
 * 1. the app's own Angular build (see `angular-cli.ts`): production
 *    configuration, server build platform-neutral, starting at a fetch-style
 *    `AngularAppEngine` entry instead of the app's Express `server.ts`;
 * 2. the server build refused when it imports a Node built-in, naming the
 *    import chain from the app's files (`src/app/app.ts → src/app/disk.ts →
 *    node:fs`), or when it asks for `withXhr()` (Node's `xhr2`);
 * 3. the server build bundled into `bundle.js` (`import('xhr2')`, which
 *    Angular's server platform keeps for `withXhr()`, answers with an error);
 * 4. `browser/` as the deployment's assets: the build's content-hashed files
 *    (`main-5QWHXVQ2.js`, `styles-PZWDMQZ7.css`, `chunk-*.js`, `media/*`)
 *    permanent and immutable, each prerendered page (`about/index.html`) at
 *    its route (`/about`), the rest (what `public/` held) plain;
 * 5. the routes of Angular's server routes (`angular-app-manifest.mjs`), in
 *    the manifest with the edge caching their `Cache-Control` header asks
 *    for (see `angular-routes.ts`).
 *
 * Node-only.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BuildAppResult, type BuildProgress, checkBundleSize } from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { contentTypeOf } from '../build-assets.ts';
import { bundleEntry } from '../build-bundle.ts';
import { buildFailure } from '../build-errors.ts';
import { describeRoutes } from '../build-routes.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';
import { runAngularBuild } from './angular-cli.ts';
import { type AngularServerRoute, angularManifestRoutes } from './angular-routes.ts';
import {
  buildWithFramework,
  byPath,
  dataAsset,
  filesUnder,
  fileUrlPath,
  hashedSummary,
  readBytes,
  throwProblems,
} from './framework-build.ts';

/** An esbuild-hashed output name: `main-5QWHXVQ2.js`, `chunk-SSOXHOGH.js`, `media/logo-AB12CD34.png`. */
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z0-9]+$/;

/** The one Node built-in a bundle may import (`AsyncLocalStorage`; `bundleEntry` provides it). */
const ASYNC_HOOKS = new Set(['async_hooks', 'node:async_hooks']);

/** What `import('xhr2')` gets in the bundle: Angular's server platform loads it for `withXhr()` only. */
const XHR2_STUB = `// Written by flotilla build: the isolate has no Node http for xhr2.
export default {
  get XMLHttpRequest() {
    throw new Error('HttpClient with withXhr() needs xhr2 (Node http), which the isolate does not have: use Angular\\'s default fetch backend (provideHttpClient() without withXhr())');
  },
};
`;

/** esbuild's metafile (`server-stats.json`), the parts read here. */
interface Metafile {
  inputs: Record<string, { imports?: Array<{ path: string; external?: boolean }> }>;
  outputs: Record<string, { entryPoint?: string }>;
}

/**
 * Builds the Angular app of `config` into `outDir` (see the module
 * documentation).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when Angular's build fails or
 * cannot run, when the server build imports a Node built-in (with the
 * import chain) or uses `withXhr()`, when the app is localized into more than
 * one locale, when the bundle does not load, or when the result is over
 * `maxBundleBytes`.
 */
export async function buildAngular(
  config: ProjectConfig,
  outDir: string,
  progress: (progress: BuildProgress) => void,
): Promise<BuildAppResult> {
  const { name, dir, backends } = config;
  return buildWithFramework(
    { config, framework: 'angular', outDir, progress, removeEmptyFlotillaDir: true },
    async (work) => {
      const report = await runAngularBuild({ app: name, dir, work, progress });
      const serverDir = join(report.outDir, 'server');
      const browserDir = join(report.outDir, 'browser');
      const stats = JSON.parse(
        await readFile(join(report.outDir, 'server-stats.json'), 'utf8'),
      ) as Metafile;
      const browserStats = JSON.parse(
        await readFile(join(report.outDir, 'browser-stats.json'), 'utf8'),
      ) as Metafile;
      refuseBuiltins(name, { server: stats, browser: browserStats });
      await refuseXhr(name, dir, stats);

      const engineManifest = (await import(
        pathToFileURL(join(serverDir, 'angular-app-engine-manifest.mjs')).href
      )) as { default: { supportedLocales?: Record<string, string> } };
      const locales = Object.keys(engineManifest.default.supportedLocales ?? {});
      if (locales.length > 1) {
        throw buildFailure(
          name,
          `the app is localized into ${locales.length} locales (${locales.join(', ')}): Flotilla builds Angular apps with one locale so far; ` +
            'build one app per locale (a "localize" of one locale in angular.json), or leave "localize" out',
        );
      }
      const appManifest = (await import(
        pathToFileURL(join(serverDir, 'angular-app-manifest.mjs')).href
      )) as { default: { routes?: AngularServerRoute[]; baseHref?: string } };
      const serverRoutes = appManifest.default.routes ?? [];

      progress({ phase: 'assets', detail: `browser build in ${displayPath(browserDir)}` });
      const assets = await browserAssets(browserStats, browserDir);
      const hashed = assets.filter((a) => a.permanent);
      const pages = assets.filter((a) => a.contentType.startsWith('text/html'));
      progress({
        phase: 'assets',
        detail: `${hashedSummary(assets)}, ${pages.length} prerendered page(s), ${assets.length - hashed.length - pages.length} plain`,
      });

      const stub = join(work, 'xhr2-stub.mjs');
      await writeFile(stub, XHR2_STUB);
      const entry = join(serverDir, 'server.mjs');
      progress({ phase: 'bundle', detail: `bundling ${displayPath(entry)}` });
      const code = await bundleEntry({
        app: name,
        entry,
        root: dir,
        define: config.define,
        hashedPaths: {},
        alias: { xhr2: stub },
      });
      checkBundleSize(name, code, config.maxBundleBytes, progress);

      // Loads the bundle as the isolate would (a server build that throws at load fails here).
      progress({ phase: 'routes', detail: 'evaluating bundle.js' });
      describeRoutes({ app: name, code, backends });
      const routes = angularManifestRoutes(serverRoutes);
      progress({
        phase: 'routes',
        detail: `${serverRoutes.length} Angular server route(s): ${serverRoutes
          .map((r) => `${r.route} (${renderModeName(r.renderMode)}${cacheNote(r)})`)
          .join(', ')}`,
      });

      return { code, routes, assets };
    },
  );
}

function renderModeName(mode: number): string {
  return mode === 0 ? 'server' : mode === 1 ? 'client' : mode === 2 ? 'prerender' : `mode ${mode}`;
}

function cacheNote(route: AngularServerRoute): string {
  const value = Object.entries(route.headers ?? {}).find(
    ([header]) => header.toLowerCase() === 'cache-control',
  )?.[1];
  return value === undefined ? '' : `, ${value}`;
}

/**
 * Refuses a build that imports a Node built-in, naming the chain from the
 * build's entry through the app's files to the built-in: the server build
 * (the isolate has only `node:async_hooks`) and the browser build (browsers
 * have none; Angular's own build would stop there, but Flotilla keeps
 * built-ins external so that each is named).
 */
function refuseBuiltins(app: string, builds: { server: Metafile; browser: Metafile }): void {
  const problems = [
    ...builtinImports(builds.server, ASYNC_HOOKS).map(
      ({ target, chain }) =>
        `imports the Node built-in "${target}", which bundles cannot use (they run in an isolate, without Node's APIs): ${chain}; ` +
        'use a web API instead (fetch a declared backend for data, crypto.subtle, TextEncoder) or keep that import out of what the server build reaches',
    ),
    ...builtinImports(builds.browser, new Set()).map(
      ({ target, chain }) =>
        `the browser build imports the Node built-in "${target}", which browsers do not have: ${chain}`,
    ),
  ];
  throwProblems(app, problems);
}

/** Each Node built-in (but `allowed`) a build imports, with the chain from its entry (`a.ts → b.ts → node:fs`). */
function builtinImports(
  stats: Metafile,
  allowed: ReadonlySet<string>,
): Array<{ target: string; chain: string }> {
  const parent = new Map<string, string>();
  const entries = Object.values(stats.outputs)
    .map((output) => output.entryPoint)
    .filter((entry): entry is string => entry !== undefined);
  const queue = [...entries];
  const seen = new Set(queue);
  const found: Array<{ target: string; chain: string }> = [];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    for (const imported of stats.inputs[id]?.imports ?? []) {
      const target = imported.path;
      if (
        imported.external &&
        (isBuiltin(target) || target.startsWith('node:')) &&
        !allowed.has(target)
      ) {
        const chain = [target];
        for (let at: string | undefined = id; at !== undefined; at = parent.get(at)) {
          if (!at.startsWith('angular:') && !at.includes('.flotilla/')) chain.unshift(at);
        }
        found.push({ target, chain: chain.join(' → ') });
        continue;
      }
      if (imported.external || seen.has(target) || !(target in stats.inputs)) continue;
      seen.add(target);
      parent.set(target, id);
      queue.push(target);
    }
  }
  return found;
}

/** Refuses an app whose own code asks HttpClient for the XHR backend (`xhr2`, Node's http). */
async function refuseXhr(app: string, dir: string, stats: Metafile): Promise<void> {
  for (const input of Object.keys(stats.inputs)) {
    if (input.includes('node_modules/') || input.includes(':') || !/\.[cm]?[jt]s$/.test(input)) {
      continue;
    }
    const source = await readFile(join(dir, input), 'utf8').catch(() => '');
    if (/\bwithXhr\s*\(/.test(source)) {
      throw buildFailure(
        app,
        `${input} uses withXhr(): HttpClient's XHR backend on the server needs xhr2 (Node's http), which bundles cannot use; ` +
          "remove withXhr() (Angular's default fetch backend runs in the isolate and fetches the declared backends)",
      );
    }
  }
}

/**
 * The browser build's files as assets: esbuild's content-hashed outputs
 * permanent at their own paths, prerendered pages (`x/index.html`) at
 * their route (`/x`), the rest (copied from `public/`) plain. The client
 * shell (`index.csr.html`) is the server's to answer, not a file to serve.
 */
async function browserAssets(
  browserStats: Metafile,
  browserDir: string,
): Promise<CollectedAsset[]> {
  const built = new Set(
    Object.keys(browserStats.outputs).map((path) => path.split('\\').join('/')),
  );
  const assets: CollectedAsset[] = [];
  for (const rel of await filesUnder(browserDir)) {
    if (rel === 'index.csr.html' || rel.endsWith('.map')) continue;
    const name = rel.slice(rel.lastIndexOf('/') + 1);
    const permanent = HASHED_NAME.test(name) && (built.has(rel) || rel.startsWith('media/'));
    const data = await readBytes(browserDir, rel);
    if (name === 'index.html') {
      const route = rel === 'index.html' ? '' : rel.slice(0, -'/index.html'.length);
      assets.push(dataAsset(fileUrlPath(route), data, 'text/html; charset=utf-8', permanent));
    } else {
      assets.push(dataAsset(fileUrlPath(rel), data, contentTypeOf(name), permanent));
    }
  }
  return byPath(assets);
}
