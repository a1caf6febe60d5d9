/**
 * `flotilla build` for a SvelteKit app (`"framework": "sveltekit"` in
 * `flotilla.config.json`, no `entry`):
 *
 * 1. the app's own `vite build`, with Flotilla's adapter in place of the
 *    app's (see `sveltekit-vite.ts`; no file of the app changes);
 * 2. the server the adapter wrote bundled for the isolate behind
 *    SvelteKit's fetch-style `server.respond(request)`, Node built-ins
 *    refused with the import chain from the app's own modules;
 * 3. the client files as the deployment's assets: `_app/immutable/*`
 *    (content-hashed by Vite) permanent and immutable at their exact paths,
 *    the rest (what `static/` held, `_app/version.json`) plain; prerendered
 *    pages as plain assets at their paths (`/about` → `about.html`), so the
 *    shield answers them without a render (SvelteKit's server answers 404
 *    for them);
 * 4. caching: a route whose `export const config` has `isr: { expiration }`
 *    gets a manifest route with edge caching for its pages and their
 *    `__data.json`, decided before any code runs; every other response is
 *    cached by its own `Cache-Control: s-maxage=…, stale-while-revalidate=…`
 *    (`setHeaders` in a load function), which the shield honours. One
 *    catch-all render route comes last: SvelteKit matches routes itself.
 *
 * Node-only.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { ManifestRoute, RouteCacheOptions } from '@flotilla/manifest';
import type { Plugin } from 'esbuild';
import { type BuildAppResult, type BuildProgress, checkBundleSize } from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { contentTypeOf } from '../build-assets.ts';
import { bundleEntry } from '../build-bundle.ts';
import { buildFailure } from '../build-errors.ts';
import { describeRoutes } from '../build-routes.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';
import {
  buildWithFramework,
  byPath,
  dataAsset,
  filesUnder,
  hashedSummary,
  readBytes,
  throwProblems,
} from './framework-build.ts';
import {
  runSvelteKitBuild,
  type SvelteKitBuildReport,
  type SvelteKitRoute,
} from './sveltekit-vite.ts';

/**
 * Seconds a page of an `isr` route is served stale (while one render
 * refreshes it) once its `expiration` has passed.
 */
export const ISR_STALE_SECONDS = 86_400;

/** Edge lifetime of an `isr` route with `expiration: false` (never expires): a year. */
const ISR_FOREVER_SECONDS = 31_536_000;

/** Edge lifetime of a prerendered file the bundle answers (it never changes within a deployment). */
const PRERENDERED_EDGE_SECONDS = 31_536_000;

/**
 * The module that stands in for `node:async_hooks` where SvelteKit and
 * Svelte import it optionally (`import('node:async_hooks')` in
 * `@sveltejs/kit/src/exports/internal/event.js`, which falls back to a
 * synchronous `getRequestEvent()`, and in Svelte's server renderer): it
 * fails unless the isolate provides `AsyncLocalStorage`.
 */
const ASYNC_HOOKS_STAND_IN = [
  'const ALS = globalThis.AsyncLocalStorage;',
  "if (typeof ALS !== 'function') throw new Error('AsyncLocalStorage is not available in this isolate');",
  'export { ALS as AsyncLocalStorage };',
  '',
].join('\n');

/**
 * Files of SvelteKit and Svelte themselves, whose Node built-in imports are
 * optional (`node:async_hooks`, caught when it fails) or for `vite dev`
 * only, and the server the adapter wrote (where Svelte's are inlined).
 */
const FRAMEWORK_FILE =
  /[\\/](?:@sveltejs[\\/]kit|svelte)[\\/]src[\\/]|[\\/]\.flotilla[\\/]sveltekit[\\/]out[\\/]/;

/**
 * Builds the SvelteKit app of `config` into `outDir` (see the module
 * documentation).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when SvelteKit's build fails or
 * cannot run, when the app turns on an experimental feature isolates cannot
 * run, when the server imports a Node built-in (with the import chain), when
 * a route's `config.isr` is not valid, or when the result is over
 * `maxBundleBytes`.
 */
export async function buildSvelteKit(
  config: ProjectConfig,
  outDir: string,
  progress: (progress: BuildProgress) => void,
): Promise<BuildAppResult> {
  const { name, dir, backends } = config;
  return buildWithFramework({ config, framework: 'sveltekit', outDir, progress }, async (work) => {
    const report = await runSvelteKitBuild({ app: name, dir, work, progress });
    refuseBuiltins(name, dir, report);
    refuseRead(name, dir, report);
    const cached = isrRoutes(name, report);

    progress({ phase: 'assets', detail: `client files in ${displayPath(report.clientDir)}` });
    const { assets, embedded } = await collectAssets(report);
    const hashed = assets.filter((a) => a.permanent);
    progress({
      phase: 'assets',
      detail:
        `${hashedSummary(assets)}, ` +
        `${assets.length - hashed.length} plain, ${report.prerendered.length} prerendered page(s)` +
        (embedded.length > 0
          ? `; answered by the bundle (no asset path can hold them): ${embedded.map((f) => f.path).join(', ')}`
          : ''),
    });
    const entry = join(work, 'server-entry.mjs');
    await writeFile(entry, serverEntry(report, embedded));

    progress({ phase: 'bundle', detail: `bundling ${displayPath(report.server)}` });
    const code = await bundleEntry({
      app: name,
      entry,
      root: dir,
      define: config.define,
      hashedPaths: {},
      conditions: ['worker'],
      plugins: [optionalAsyncHooks()],
    });
    checkBundleSize(name, code, config.maxBundleBytes, progress);

    // Loads the bundle as the isolate would (a server that throws at load fails here).
    progress({ phase: 'routes', detail: 'evaluating bundle.js' });
    const [catchAll] = describeRoutes({ app: name, code, backends });
    const routes: ManifestRoute[] = [...cached.map((r) => r.route), catchAll as ManifestRoute].map(
      (route, id) => ({ ...route, id }),
    );
    for (const r of cached.filter((c) => !c.route.criteria.path.endsWith('/__data.json'))) {
      progress({
        phase: 'routes',
        detail: `${r.id}: config.isr → edge cache ${r.route.criteria.path} (and its __data.json)`,
      });
    }
    progress({ phase: 'routes', detail: 'one catch-all route: SvelteKit matches the rest' });

    return { code, routes, assets };
  });
}

/** Stands in for SvelteKit's and Svelte's optional `node:async_hooks` imports (see {@link ASYNC_HOOKS_STAND_IN}). */
function optionalAsyncHooks(): Plugin {
  return {
    name: 'flotilla-sveltekit-async-hooks',
    setup(b) {
      b.onResolve({ filter: /^(node:)?async_hooks$/ }, (args) =>
        FRAMEWORK_FILE.test(args.importer)
          ? { path: 'async_hooks', namespace: 'flotilla-sveltekit' }
          : undefined,
      );
      b.onLoad({ filter: /.*/, namespace: 'flotilla-sveltekit' }, () => ({
        contents: ASYNC_HOOKS_STAND_IN,
        loader: 'js',
      }));
    },
  };
}

/**
 * Refuses a server build whose app code imports a Node built-in, naming the
 * chain from a route module (`src/routes/+page.server.ts → src/lib/server/db.ts → node:fs`).
 */
function refuseBuiltins(app: string, dir: string, report: SvelteKitBuildReport): void {
  const show = (id: string): string => {
    const clean = id.replace(/^\0/, '').split('?')[0] ?? id;
    const rel = relative(dir, clean);
    return isAbsolute(clean) && !rel.startsWith('..') ? rel.split(sep).join('/') : clean;
  };
  const hidden = (id: string): boolean =>
    id.startsWith('\0') || id.includes(`${sep}.svelte-kit${sep}`) || /^[\w-]+:/.test(id);
  const parent = new Map<string, string>();
  const queue = [...report.entries];
  const seen = new Set(queue);
  const problems: string[] = [];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    for (const imported of report.graph[id] ?? []) {
      if (isBuiltin(imported) || imported.startsWith('node:')) {
        // Their own, guarded or dev-only; what survives into the server is checked when bundling.
        if (FRAMEWORK_FILE.test(id)) continue;
        const chain = [imported];
        for (let at: string | undefined = id; at !== undefined; at = parent.get(at)) {
          if (!hidden(at)) chain.unshift(show(at));
        }
        problems.push(
          `imports the Node built-in "${imported}", which bundles cannot use (they run in an isolate, without Node's APIs): ${chain.join(' → ')}`,
        );
        continue;
      }
      if (seen.has(imported)) continue;
      seen.add(imported);
      parent.set(imported, id);
      queue.push(imported);
    }
  }
  throwProblems(app, problems);
}

/**
 * Refuses `read` from `$app/server` in the server: it reads the app's
 * files at run time, and a bundle has none. (SvelteKit asks the adapter
 * about it from a config of its own, which does not hold Flotilla's.)
 */
function refuseRead(app: string, dir: string, report: SvelteKitBuildReport): void {
  if (report.read.length === 0) return;
  const files = report.read.map((id) => relative(dir, id).split(sep).join('/'));
  throw buildFailure(
    app,
    `${files.join(', ')} ${files.length === 1 ? 'uses' : 'use'} read() from $app/server, which bundles cannot run ` +
      "(they run in an isolate, without the app's files): import the file's contents instead " +
      "(import text from '$lib/data.txt?raw'), or fetch it from a declared backend",
  );
}

/** A manifest route made from a SvelteKit route's `config.isr`. */
interface IsrRoute {
  /** The SvelteKit route id. */
  id: string;
  route: ManifestRoute;
}

/**
 * The Flotilla path pattern of a SvelteKit route id (`/p/[id]` → `/p/:id`,
 * `/[[lang]]/docs/[...rest]` → `/:lang?/docs/:rest*`, groups dropped), or
 * undefined for a segment a pattern cannot say (`/v[n]`, `[x+2f]`).
 */
export function routePattern(routeId: string): string | undefined {
  const out: string[] = [];
  for (const segment of routeId.split('/').filter((s) => s !== '')) {
    if (/^\(.+\)$/.test(segment)) continue;
    const param = /^\[(\[)?(\.\.\.)?([A-Za-z_$][\w$]*)(?:=[\w$]+)?\]?\]$/.exec(segment);
    if (param) {
      const [, optional, rest, name] = param;
      if (optional !== undefined && !segment.endsWith(']]')) return undefined;
      out.push(`:${name}${rest ? '*' : optional ? '?' : ''}`);
      continue;
    }
    if (/[[\]()]/.test(segment)) return undefined;
    out.push(segment);
  }
  return `/${out.join('/')}`;
}

/** The edge cache options of a route's `config.isr`, or undefined when it has none. */
function isrCache(app: string, route: SvelteKitRoute): RouteCacheOptions | undefined {
  const isr = route.config?.isr;
  if (isr === undefined || isr === null || isr === false) return undefined;
  const where = `route ${route.id}: config.isr`;
  if (typeof isr !== 'object' || Array.isArray(isr)) {
    throw buildFailure(
      app,
      `${where} must be an object like { expiration: 60 } (got ${JSON.stringify(isr)})`,
    );
  }
  const expiration = (isr as { expiration?: unknown }).expiration;
  if (expiration === false) {
    return { edge: { maxAgeSeconds: ISR_FOREVER_SECONDS } };
  }
  if (typeof expiration !== 'number' || !Number.isInteger(expiration) || expiration <= 0) {
    throw buildFailure(
      app,
      `${where}.expiration must be a positive whole number of seconds, or false for never (got ${JSON.stringify(expiration)})`,
    );
  }
  return {
    edge: { maxAgeSeconds: expiration, staleWhileRevalidateSeconds: ISR_STALE_SECONDS },
  };
}

/**
 * One manifest route for each page route with `config.isr`, for its page
 * and its `__data.json`, most specific first as SvelteKit orders them.
 */
function isrRoutes(app: string, report: SvelteKitBuildReport): IsrRoute[] {
  const routes: IsrRoute[] = [];
  for (const route of report.routes) {
    if (route.prerender === true) continue;
    const cache = isrCache(app, route);
    if (cache === undefined) continue;
    const pattern = routePattern(route.id);
    if (pattern === undefined) {
      throw buildFailure(
        app,
        `route ${route.id} has config.isr, but Flotilla cannot match its path before rendering: ` +
          "remove config.isr and cache its responses with setHeaders({ 'cache-control': 's-maxage=…' }) in its load function",
      );
    }
    const path = `${report.base}${pattern === '/' ? '' : pattern}`;
    // SvelteKit marks data responses `private, no-store` unless a load sets headers;
    // an isr route's data is as public as its page.
    const data: RouteCacheOptions =
      cache.edge === undefined || cache.edge === false
        ? cache
        : { ...cache, edge: { ...cache.edge, forcePrivateCaching: true } };
    const both: Array<[string, RouteCacheOptions]> = [
      [path === '' ? '/' : path, cache],
      [`${path}/__data.json`, data],
    ];
    for (const [criteria, options] of both) {
      routes.push({
        id: route.id,
        route: {
          id: 0,
          criteria: { path: criteria, method: ['GET', 'HEAD'] },
          fallback: false,
          action: { kind: 'render' },
          cache: options,
          headerOps: [],
        },
      });
    }
  }
  return routes;
}

/** A prerendered file the shield cannot hold as an asset, answered by the bundle instead. */
interface EmbeddedFile {
  path: string;
  contentType: string;
  body: string;
}

/** One file of `root` as an asset at `path`. */
async function asset(
  root: string,
  rel: string,
  path: string,
  permanent: boolean,
): Promise<CollectedAsset> {
  return dataAsset(path, await readBytes(root, rel), contentTypeOf(rel), permanent);
}

/** The files under `root` (see {@link filesUnder}), none when it does not exist. */
const filesIn = (root: string): Promise<string[]> => filesUnder(root).catch(() => []);

const urlPath = (rel: string): string => rel.split('/').map(encodeURIComponent).join('/');

/**
 * Asset paths are files of the build directory: no empty segment (`/`,
 * `/docs/`), and no path that is another's directory (`/about` beside
 * `/about/__data.json`).
 */
class AssetPaths {
  readonly #files = new Set<string>();
  readonly #dirs = new Set<string>();

  /** Takes `path` when it can be a file beside those taken so far. */
  take(path: string): boolean {
    const segments = path.split('/').slice(1);
    if (segments.some((s) => s === '')) return false;
    if (this.#files.has(path) || this.#dirs.has(path)) return false;
    const parents = segments.slice(0, -1).map((_, i) => `/${segments.slice(0, i + 1).join('/')}`);
    if (parents.some((dir) => this.#files.has(dir))) return false;
    this.#files.add(path);
    for (const dir of parents) this.#dirs.add(dir);
    return true;
  }
}

/**
 * The client files (`_app/immutable/*` permanent, the rest plain) and the
 * prerendered files (pages at their paths, the rest at their file paths),
 * under the base path. A prerendered file whose path cannot be an asset
 * (`/`, a trailing slash, a page beside its `__data.json`) is embedded in
 * the bundle instead.
 */
async function collectAssets(
  report: SvelteKitBuildReport,
): Promise<{ assets: CollectedAsset[]; embedded: EmbeddedFile[] }> {
  const assets: CollectedAsset[] = [];
  const embedded: EmbeddedFile[] = [];
  const paths = new AssetPaths();
  const immutable = `${report.appDir}/immutable/`;
  for (const rel of await filesIn(report.clientDir)) {
    const path = `${report.base}/${urlPath(rel)}`;
    if (paths.take(path)) {
      assets.push(await asset(report.clientDir, rel, path, rel.startsWith(immutable)));
    }
  }
  const pages = new Map(report.prerendered.map((p) => [p.file, p.path]));
  const files = await filesIn(report.prerenderedDir);
  // Pages first: a page keeps its path, and its data (`/about/__data.json`) goes in the bundle.
  files.sort((a, b) => Number(pages.has(b)) - Number(pages.has(a)));
  for (const rel of files) {
    const page = pages.get(rel);
    const path = page ?? `${report.base}/${urlPath(rel)}`;
    if (paths.take(path)) {
      assets.push(await asset(report.prerenderedDir, rel, path, false));
    } else {
      embedded.push({
        path,
        contentType: contentTypeOf(rel),
        body: await readFile(join(report.prerenderedDir, rel), 'utf8'),
      });
    }
  }
  return { assets: byPath(assets), embedded };
}

/**
 * The module the bundle is made from: SvelteKit's server with the
 * adapter's manifest, answering the embedded prerendered files itself.
 * `server.init` runs on every request (cheap after the first) because it
 * is what hands the environment's variables to `$env/dynamic/*`.
 */
function serverEntry(report: SvelteKitBuildReport, embedded: EmbeddedFile[]): string {
  const files = Object.fromEntries(
    embedded.map((f) => [f.path, { type: f.contentType, body: f.body }]),
  );
  return [
    `import { Server } from ${JSON.stringify(report.server)};`,
    `import { manifest } from ${JSON.stringify(report.manifest)};`,
    'const server = new Server(manifest);',
    `const prerendered = new Map(Object.entries(${JSON.stringify(files)}));`,
    'const address = (request) =>',
    "  request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() || '127.0.0.1';",
    'export default {',
    '  async fetch(request, env) {',
    "    if (request.method === 'GET' || request.method === 'HEAD') {",
    '      const file = prerendered.get(new URL(request.url).pathname);',
    '      if (file) {',
    "        return new Response(request.method === 'HEAD' ? null : file.body, {",
    // Built once per deployment, and the shield's cache keys hold the deployment.
    `          headers: { 'content-type': file.type, 'cache-control': 'public, max-age=0, s-maxage=${PRERENDERED_EDGE_SECONDS}' },`,
    '        });',
    '      }',
    '    }',
    '    await server.init({ env: env ?? {} });',
    '    return server.respond(request, {',
    '      getClientAddress: () => address(request),',
    '      platform: { env },',
    '    });',
    '  },',
    '};',
    '',
  ].join('\n');
}
