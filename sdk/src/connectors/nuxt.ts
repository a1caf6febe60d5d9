/**
 * `flotilla build` for a Nuxt app (`"framework": "nuxt"` in
 * `flotilla.config.json`, no `entry`):
 *
 * 1. the app's own Nuxt build with Flotilla's Nitro preset layered over its
 *    config (see `nuxt-build.ts`);
 * 2. a Node built-in imported by the app's own code (a page, a component, a
 *    server route or what they import) is a build error naming the chain;
 * 3. Nitro's server output (one classic script calling `Flotilla.serve`)
 *    is `bundle.js`, checked by loading it as the isolate would; when it
 *    uses AsyncLocalStorage (`experimental.asyncContext`), its async
 *    functions are lowered so the isolate carries the context across
 *    `await` (see `runtime/README.md`, "AsyncLocalStorage");
 * 4. Nitro's public output as the deployment's assets: Vite's
 *    content-hashed files under `/_nuxt/` (and the build's own
 *    `/_nuxt/builds/meta/<build id>.json`, not the earlier builds' ones Nuxt
 *    copies from its cache) permanent and immutable, every
 *    other file (`public/`, `/_nuxt/builds/latest.json`) plain, and each
 *    prerendered page also at its route (`/about` → `about/index.html`),
 *    so the shield serves it without a render;
 * 5. the route rules that cache (`swr`, `isr`, `cache`) as header-only
 *    manifest routes with edge cache options, then one catch-all render
 *    route (see `nuxt-routes.ts`).
 *
 * Node-only.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { type BuildAppResult, type BuildProgress, checkBundleSize } from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { contentTypeOf } from '../build-assets.ts';
import { lowerForAsyncContext } from '../build-bundle.ts';
import { describeRoutes } from '../build-routes.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';
import {
  buildWithFramework,
  dataAsset,
  filesUnder,
  hashedSummary,
  readBytes,
  throwProblems,
} from './framework-build.ts';
import { type NuxtBuildReport, runNuxtBuild } from './nuxt-build.ts';
import { nuxtRoutes } from './nuxt-routes.ts';

/** `Object.getPrototypeOf(Object.getPrototypeOf(async function*(){}).prototype)`, minified. */
const ASYNC_ITERATOR_PROTOTYPE =
  /Object\.getPrototypeOf\(Object\.getPrototypeOf\(async function\s*\*\s*\(\)\s*\{\s*\}\)\.prototype\)/g;

/**
 * Builds the Nuxt app of `config` into `outDir` (see the module documentation).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when Nuxt's build fails or cannot
 * run, when the app's code imports a Node built-in (with the import chain),
 * or when the bundle does not load or is over `maxBundleBytes`.
 */
export async function buildNuxt(
  config: ProjectConfig,
  outDir: string,
  progress: (progress: BuildProgress) => void,
): Promise<BuildAppResult> {
  const { name, dir, backends } = config;
  return buildWithFramework({ config, framework: 'nuxt', outDir, progress }, async (work) => {
    const report = await runNuxtBuild({ app: name, dir, work, progress });
    refuseBuiltins(name, report);

    progress({ phase: 'assets', detail: `public output in ${displayPath(report.publicDir)}` });
    const { assets, rendered } = await publicAssets(report);
    const hashed = assets.filter((a) => a.permanent);
    progress({
      phase: 'assets',
      detail: `${hashedSummary(assets)}, ${assets.length - hashed.length} plain, ${report.prerendered.length} prerendered`,
    });
    if (rendered.length > 0) {
      progress({
        phase: 'assets',
        detail: `prerendered but rendered (a file and a directory at once cannot be assets), cached for the deployment's life: ${rendered.join(', ')}`,
      });
    }

    progress({ phase: 'bundle', detail: `Nitro server build ${displayPath(report.serverFile)}` });
    let code = new Uint8Array(await readFile(report.serverFile));
    if (report.asyncHooks) {
      progress({
        phase: 'bundle',
        detail: 'uses AsyncLocalStorage (node:async_hooks): async functions lowered to carry it',
      });
      // Lowered, `async function*(){}` is a plain function without the async iterator
      // prototype unenv's events module reads at load: give it an equivalent object.
      const text = new TextDecoder()
        .decode(code)
        .replace(ASYNC_ITERATOR_PROTOTYPE, '{[Symbol.asyncIterator](){return this}}');
      code = new TextEncoder().encode(await lowerForAsyncContext(text));
    }
    checkBundleSize(name, code, config.maxBundleBytes, progress);

    // Loads the bundle as the isolate would (a server build that throws at load fails here).
    progress({ phase: 'routes', detail: 'evaluating bundle.js' });
    describeRoutes({ app: name, code, backends });
    const routes = nuxtRoutes(report.routeRules, rendered);
    progress({
      phase: 'routes',
      detail: `${routes.length - 1} caching route rule(s), then one catch-all route: Nuxt matches the rest`,
    });

    return { code, routes, assets };
  });
}

/** Refuses an app whose own code imports a Node built-in, naming each chain. */
function refuseBuiltins(app: string, report: NuxtBuildReport): void {
  const problems = report.builtins.map((chain) => {
    const builtin = chain.at(-1) ?? '';
    return (
      `imports the Node built-in "${builtin}", which bundles cannot use (they run in an isolate, without Node's APIs): ${chain.join(' → ')}. ` +
      'Fetch what it reads from a declared backend instead, or keep it out of the server build'
    );
  });
  throwProblems(app, problems);
}

/** A file path (`/p/a b.html`) as the URL path it is served at (`/p/a%20b.html`). */
function urlPath(path: string): string {
  return path
    .split('/')
    .map((s) => encodeURIComponent(decodeURIComponent(s)))
    .join('/');
}

/** An asset of `data` at the URL path of `path`. */
function asset(path: string, name: string, data: Uint8Array, permanent: boolean): CollectedAsset {
  return dataAsset(urlPath(path), data, contentTypeOf(name), permanent);
}

/** What {@link publicAssets} found. */
interface PublicAssets {
  assets: CollectedAsset[];
  /** Prerendered routes the shield cannot serve as files (see {@link publicAssets}): rendered, cached for the deployment. */
  rendered: string[];
}

/**
 * Nitro's public output as assets (see the module documentation). Dot-files
 * are not served. A deployment's files sit at their URL paths, so a path
 * cannot be both a file and a directory: a prerendered page is served at its
 * route (`/about`) only when nothing but its own prerendered files
 * (`about/index.html`, `about/_payload.json`) is under it, and then those
 * are left out; `/` and a page with pages below it are rendered instead (and
 * cached at the edge for the deployment's life, as are the payloads left out).
 */
async function publicAssets(report: NuxtBuildReport): Promise<PublicAssets> {
  const root = report.publicDir;
  const hashedDir = report.buildAssetsDir.replace(/^\/+|\/+$/g, '');
  const byPath = new Map<string, CollectedAsset>();
  for (const rel of await filesUnder(root)) {
    // Nuxt keeps earlier builds' meta files in its cache and copies them all: this build's only
    // (an earlier deployment's stay served by the shield as its permanent assets).
    const meta = `${hashedDir}/builds/meta/`;
    if (report.buildId !== '' && rel.startsWith(meta) && rel !== `${meta}${report.buildId}.json`) {
      continue;
    }
    const data = await readBytes(root, rel);
    const inHashed = hashedDir !== '' && rel.startsWith(`${hashedDir}/`);
    const permanent =
      inHashed &&
      (!rel.startsWith(`${hashedDir}/builds/`) || rel.startsWith(`${hashedDir}/builds/meta/`));
    byPath.set(`/${rel}`, asset(`/${rel}`, rel, data, permanent));
  }
  const prerenderedFiles = new Map(report.prerendered.map((p) => [p.fileName, p.route]));
  const pages = report.prerendered
    .filter((p) => p.fileName.endsWith('.html') && p.route !== p.fileName)
    .map((p) => ({ route: p.route.split('?')[0] ?? p.route, fileName: p.fileName }))
    .sort((a, b) => b.route.split('/').length - a.route.split('/').length);
  const rendered = new Set<string>();
  for (const page of pages) {
    const file = byPath.get(page.fileName);
    if (!file) continue;
    const dir = page.route.endsWith('/') ? page.route : `${page.route}/`;
    const below = [...byPath.keys()].filter((path) => path.startsWith(dir));
    if (page.route === '/' || below.some((path) => !prerenderedFiles.has(path))) {
      rendered.add(page.route);
      continue;
    }
    for (const path of below) {
      byPath.delete(path);
      const route = prerenderedFiles.get(path);
      const bare = route?.split('?')[0];
      if (bare !== undefined && bare !== page.route) rendered.add(bare);
    }
    byPath.set(page.route, { ...file, path: urlPath(page.route), permanent: false });
  }
  const assets = [...byPath.values()].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
  );
  return { assets, rendered: [...rendered].sort() };
}
