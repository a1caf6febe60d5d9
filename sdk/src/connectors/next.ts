/**
 * `flotilla build` for a Next.js app (`"framework": "next"` in
 * `flotilla.config.json`, no `entry`), on Next's Adapters API.
 *
 * Architecture (probed with create-next-app 16.4.3 / next 16.4.3, App Router,
 * Turbopack):
 *
 * 1. the app's own `next build` with Flotilla's adapter
 *    (`NEXT_ADAPTER_PATH`, see `next-build.ts`), whose `onBuildComplete`
 *    reports the outputs and the routing table;
 * 2. files outside the isolate: `.next/static/**` at `/_next/static/…`
 *    (content-hashed by Next) as permanent assets, `public/` and the app's
 *    metadata files (`/favicon.ico`) as plain assets, all served by the shield;
 * 3. `bundle.js`, one classic script in three parts:
 *    - the Node-compatibility layer (`@flotilla/node-compat`: `require` of
 *      `node:buffer`, `node:util`, `node:async_hooks`, … over the isolate's
 *      web APIs, `process.env` holding the build's env), `self`, and the
 *      global `AsyncLocalStorage` Next looks for (`Flotilla.AsyncLocalStorage`:
 *      only Next bundles get it as a global; the whole bundle is then
 *      lowered for async context, see `lowerForAsyncContext`);
 *    - the files of every **edge** output (pages and route handlers with
 *      `export const runtime = 'edge'`), each evaluated once, in Next's order;
 *    - the module map of the **Node-runtime** outputs (`next-node-files.ts`);
 *    - the handler (`next-server.ts`): Next's `beforeMiddleware` redirects,
 *      then prerendered pages and their RSC twins and segments (inlined at
 *      build, the `rsc` header choosing the twin), then the edge functions by
 *      their matchers, then the prerendered not-found page;
 * 4. one catch-all render route whose cache key holds the headers of
 *    `routing.rsc.varyHeader` (`rsc`, `next-router-state-tree`, …): the HTML
 *    and the RSC of one URL never share a cache entry at the shield.
 *    Prerendered answers carry `s-maxage` (a year for a static page; their
 *    `revalidate`, then stale-while-revalidate until `expireTime`), and
 *    Next's cache tags as `surrogate-key`s.
 *
 * Middleware (`middleware.ts`, edge runtime) is evaluated with the edge
 * outputs and runs first on the paths its matchers take (see `next-server.ts`).
 *
 * Node-runtime outputs (Next's default runtime) that render at request
 * time are loader stubs around Turbopack's Node runtime (`handler(req, res,
 * ctx)` over Node `req`/`res`, manifests read with `fs` + `vm`, ~200 traced
 * files): their traced files go into `bundle.js` as a module map
 * (`next-node-files.ts`), which `@flotilla/node-compat`'s Node runtime
 * loads inside the isolate (see `next-server.ts`). The build refuses pages
 * with a postponed (partially prerendered) part and Node-runtime
 * middleware (`proxy.ts`) by name; revalidating pages are served but never
 * regenerated.
 *
 * Node-only.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ManifestRoute } from '@flotilla/manifest';
import { NODE_RUNTIME_MODULES, PROVIDED_MODULES } from '@flotilla/node-compat/names';
import { build } from 'esbuild';
import {
  type BuildAppResult,
  type BuildProgress,
  checkBundleSize,
  formatBytes,
  writeBuild,
} from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { contentTypeOf } from '../build-assets.ts';
import { bundleEntry, ISOLATE_BUNDLE_OPTIONS, lowerForAsyncContext } from '../build-bundle.ts';
import { buildFailure } from '../build-errors.ts';
import { checkOutDir } from '../build-output.ts';
import { CATCH_ALL_ROUTE } from '../build-routes.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';
import { type NextBuildReport, type NextOutput, runNextBuild } from './next-build.ts';
import { collectNodeFiles } from './next-node-files.ts';
import type {
  NextEdgeFunction,
  NextNodeFunction,
  NextPrerender,
  NextServerTable,
} from './next-server.ts';

/** Where Next serves its content-hashed files. */
const HASHED_PREFIX = '/_next/static/';

/** Content types a prerender keeps as text in the bundle (others, e.g. a generated image, as base64). */
const TEXT_TYPE = /^(text\/|application\/(json|xml|javascript|manifest\+json)|[^;]*\+xml)/;

/** Next's internal pages, answered from their prerenders when a request reaches them. */
const INTERNAL_PAGES = new Set(['/_not-found', '/_global-error', '/_error', '/404', '/500']);

/** What {@link planNextBuild} makes of the adapter's report. */
export interface NextBuildPlan {
  table: NextServerTable;
  /** Files to evaluate before the handler (absolute paths, in order). */
  edgeFiles: string[];
  /** The env of the edge functions (`process.env`). */
  env: Record<string, string>;
  /** Node-runtime outputs served at request time (`entry`: the real path of the output's file). */
  node: NextNodeFunction[];
  /** Files each Node-runtime output needs (absolute paths, as Next's tracing lists them). */
  nodeAssets: string[][];
  /** Why the build cannot serve the app as it is, one line each. */
  problems: string[];
  /** What is served but not as Next would, one line each. */
  warnings: string[];
}

/** Next's `(?P<name>` (PCRE) as JavaScript's `(?<name>`. */
function jsRegex(source: string): string {
  return source.replaceAll('(?P<', '(?<');
}

function flatHeaders(
  headers: Record<string, string | string[]> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Decides what the bundle serves from the adapter's report: prerenders,
 * edge functions, redirects; and what the build must refuse or warn about.
 */
export async function planNextBuild(report: NextBuildReport): Promise<NextBuildPlan> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const prerenders: Record<string, NextPrerender> = {};
  const postponed = new Set<string>();
  for (const p of report.outputs.prerenders) {
    const fallback = p.fallback;
    if (fallback?.filePath === undefined) continue;
    if (fallback.postponedState !== undefined) {
      postponed.add(p.parentOutputId ?? p.pathname);
      continue;
    }
    const revalidate = fallback.initialRevalidate ?? false;
    if (revalidate !== false && !p.pathname.includes('.rsc')) {
      warnings.push(
        `${p.pathname} revalidates every ${revalidate}s: Flotilla serves its build-time prerender (edge-cached, stale-while-revalidate) and never regenerates it`,
      );
    }
    const headers = flatHeaders(fallback.initialHeaders);
    const bytes = await readFile(fallback.filePath);
    const text = TEXT_TYPE.test(headers['content-type'] ?? 'text/html');
    prerenders[p.pathname] = {
      status: fallback.initialStatus ?? 200,
      headers,
      body: text ? bytes.toString('utf8') : bytes.toString('base64'),
      ...(text ? {} : { base64: true }),
      revalidate,
    };
  }

  if (!report.imagesUnoptimized) {
    const optimized = Object.entries(prerenders)
      .filter(([, page]) => page.body.includes('/_next/image?'))
      .map(([path]) => path);
    if (optimized.length > 0) {
      warnings.push(
        `${optimized.join(', ')} link next/image's optimiser (/_next/image), which Flotilla does not serve: set images: { unoptimized: true } in next.config, or use SVG or plain <img>`,
      );
    }
  }

  // Next's static not-found page, when it made no prerender of it (App Router: pages/404.html).
  const notFound = report.outputs.staticFiles.find((f) => f.pathname === '/404');
  if (prerenders['/_not-found'] === undefined && notFound?.filePath !== undefined) {
    prerenders['/_not-found'] = {
      status: 404,
      headers: { 'content-type': 'text/html; charset=utf-8' },
      body: await readFile(notFound.filePath, 'utf8'),
      revalidate: false,
    };
  }

  const edge: NextEdgeFunction[] = [];
  const node: NextNodeFunction[] = [];
  const nodeAssets: string[][] = [];
  const seenNode = new Set<string>();
  const edgeFiles: string[] = [];
  const env: Record<string, string> = {};
  const seenFiles = new Set<string>();
  const seenEntries = new Set<string>();
  const served = (o: NextOutput): boolean => prerenders[o.pathname] !== undefined;
  const { outputs } = report;
  for (const o of [
    ...outputs.appPages,
    ...outputs.appRoutes,
    ...outputs.pages,
    ...outputs.pagesApi,
  ]) {
    if (o.runtime === 'edge' && o.edgeRuntime !== undefined) {
      Object.assign(env, o.config?.env ?? {});
      if (seenEntries.has(o.edgeRuntime.entryKey)) continue;
      seenEntries.add(o.edgeRuntime.entryKey);
      for (const file of Object.values(o.assets ?? {})) {
        if (seenFiles.has(file) || !file.endsWith('.js')) continue;
        seenFiles.add(file);
        edgeFiles.push(file);
      }
      edge.push({
        page: o.pathname.replace(/\.rsc$/, ''),
        entryKey: o.edgeRuntime.entryKey,
        matchers: edgeMatchers(report, o),
      });
      continue;
    }
    if (served(o) || INTERNAL_PAGES.has(o.pathname.replace(/\.rsc$/, ''))) continue;
    if (o.pathname.endsWith('.rsc')) continue;
    const page = o.pathname;
    if (postponed.has(o.id) || postponed.has(page)) {
      problems.push(
        `${page} is partially prerendered (request-time data under cacheComponents), which Flotilla cannot serve yet (its static shell and the resumed dynamic part): cache its data ('use cache') so Next prerenders it whole, or read the request (headers(), cookies()) at the top of the page so it renders whole at request time`,
      );
      continue;
    }
    if (o.filePath === undefined || seenNode.has(page)) continue;
    // Next's default runtime: rendered in the isolate over @flotilla/node-compat's Node runtime.
    seenNode.add(page);
    node.push({ page, entry: o.filePath, matchers: edgeMatchers(report, o) });
    nodeAssets.push([o.filePath, ...Object.values(o.assets ?? {})]);
  }
  let middleware: NextEdgeFunction | undefined;
  const mw = outputs.middleware;
  if (mw !== undefined && mw.runtime === 'edge' && mw.edgeRuntime !== undefined) {
    Object.assign(env, mw.config?.env ?? {});
    for (const file of Object.values(mw.assets ?? {})) {
      if (seenFiles.has(file) || !file.endsWith('.js')) continue;
      seenFiles.add(file);
      edgeFiles.push(file);
    }
    middleware = {
      page: 'middleware',
      entryKey: mw.edgeRuntime.entryKey,
      matchers: (mw.config?.matchers ?? []).map((m) => jsRegex(m.sourceRegex ?? m.regexp ?? '^/')),
    };
  } else if (mw !== undefined) {
    problems.push(
      `middleware (${displayPath(mw.filePath ?? 'proxy')}) runs with the Node.js runtime, which Flotilla cannot run yet: use middleware.ts with the edge runtime`,
    );
  }
  warnings.push(...(await unprovidedBuiltins(edgeFiles)));
  if (report.routing.beforeFiles.length + report.routing.afterFiles.length > 0) {
    problems.push('rewrites in next.config are not supported by Flotilla yet');
  }

  const redirects = report.routing.beforeMiddleware
    .filter(
      (r) => r.status !== undefined && r.status >= 300 && r.status < 400 && r.headers?.Location,
    )
    .map((r) => ({
      sourceRegex: jsRegex(r.sourceRegex),
      location: r.headers?.Location ?? '/',
      status: r.status ?? 308,
    }));
  const rsc = report.routing.rsc;
  return {
    table: {
      prerenders,
      edge,
      node: [],
      nodeEnv: {},
      nodeCwd: '/',
      middleware,
      redirects,
      rsc: {
        header: rsc.header,
        varyHeader: rsc.varyHeader,
        suffix: rsc.suffix,
        prefetchSegmentHeader: rsc.prefetchSegmentHeader,
        prefetchSegmentSuffix: rsc.prefetchSegmentSuffix,
        prefetchSegmentDirSuffix: rsc.prefetchSegmentDirSuffix,
      },
      expireSeconds: report.expireTime,
    },
    edgeFiles,
    env,
    node,
    nodeAssets,
    problems,
    warnings,
  };
}

/** Turbopack's externals in edge chunks: `a.x("node:buffer", () => require("node:buffer"))`. */
const EDGE_EXTERNAL = /\.x\("(node:[\w/]+)"/g;

/**
 * Warnings for Node built-ins the edge code may require that
 * `@flotilla/node-compat` does not give (requiring one throws, naming it).
 */
async function unprovidedBuiltins(files: string[]): Promise<string[]> {
  const missing = new Map<string, string>();
  for (const file of files) {
    for (const match of (await readFile(file, 'utf8')).matchAll(EDGE_EXTERNAL)) {
      const name = (match[1] ?? '').slice('node:'.length);
      if (!PROVIDED_MODULES.includes(name) && !missing.has(name)) missing.set(name, file);
    }
  }
  return [...missing].map(
    ([name, file]) =>
      `${displayPath(file)} may require node:${name}, which the isolate does not provide: a render that reaches it fails naming the module`,
  );
}

/** The paths an edge output serves: the middleware manifest's matchers, else its own path. */
function edgeMatchers(report: NextBuildReport, o: NextOutput): string[] {
  const page = o.pathname.replace(/\.rsc$/, '');
  const dynamic = report.routing.dynamicRoutes.find((r) => r.source === page);
  if (dynamic !== undefined) {
    // `^[/]?/p/(?<nxtPid>[^/]+?)(\.rsc|\.segments/.+\.segment\.rsc|)(?:/)?$`: the page path only.
    return [jsRegex(dynamic.sourceRegex)];
  }
  const literal = (page === '/index' ? '/' : page).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return [`^${literal}(?:/)?$`];
}

/** Builds the Next.js app of `config` into `outDir` (see the module documentation). */
export async function buildNext(
  config: ProjectConfig,
  outDir: string,
  progress: (progress: BuildProgress) => void,
): Promise<BuildAppResult> {
  const { name, dir, backends, limits } = config;
  progress({ phase: 'config', detail: `${name} (next), app in ${displayPath(dir)}` });
  await checkOutDir({ outDir, name, staticDir: undefined });
  const work = join(dir, '.flotilla', 'next');
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const report = await runNextBuild({ app: name, dir, work, progress });
    progress({
      phase: 'framework',
      detail: `Next.js ${report.nextVersion}, build ${report.buildId}`,
    });
    const plan = await planNextBuild(report);
    for (const warning of plan.warnings)
      progress({ phase: 'framework', detail: `warning: ${warning}` });
    if (plan.problems.length === 1) throw buildFailure(name, plan.problems[0] ?? '');
    if (plan.problems.length > 1) {
      throw buildFailure(
        name,
        `${plan.problems.length} build error(s):\n${plan.problems.map((p) => `  - ${p}`).join('\n')}`,
      );
    }

    const assets = await nextAssets(report, dir);
    const hashed = assets.filter((a) => a.permanent);
    progress({
      phase: 'assets',
      detail: `${assets.length} file(s): ${hashed.length} hashed (${formatBytes(hashed.reduce((n, a) => n + a.bytes, 0))}), ${assets.length - hashed.length} plain`,
    });

    let nodeSource = '';
    if (plan.node.length > 0) {
      const files = await collectNodeFiles(plan.nodeAssets, dir);
      const at = async (file: string) => files.virtual.get(await realpath(file));
      const node: NextNodeFunction[] = [];
      for (const fn of plan.node) {
        const entry = await at(fn.entry);
        if (entry === undefined)
          throw buildFailure(
            name,
            `${fn.page}: its file ${displayPath(fn.entry)} is not among its traced files`,
          );
        node.push({ ...fn, entry });
      }
      plan.table.node = node;
      plan.table.nodeCwd = `/${relative(files.root, await realpath(dir))
        .split(sep)
        .join('/')}`;
      plan.table.nodeEnv = { ...plan.env, NODE_ENV: 'production', NEXT_RUNTIME: 'nodejs' };
      nodeSource = files.source;
      const refused = [...files.builtins].filter((b) => !NODE_RUNTIME_MODULES.includes(b)).sort();
      progress({
        phase: 'bundle',
        detail: `${plan.node.length} Node-runtime function(s): ${files.count} traced file(s), ${formatBytes(files.bytes)} before minifying${refused.length > 0 ? `; node:${refused.join(', node:')} load but throw when called (no sockets, processes or threads in the isolate)` : ''}`,
      });
    }
    progress({
      phase: 'bundle',
      detail: `${Object.keys(plan.table.prerenders).length} prerender(s), ${plan.table.edge.length} edge function(s) (${plan.edgeFiles.length} file(s)), ${plan.table.node.length} Node-runtime function(s)`,
    });
    const code = await nextBundle(name, dir, work, plan, nodeSource);
    checkBundleSize(name, code, config.maxBundleBytes, progress);
    // Node-runtime pages read the whole request (cookies, headers): routes
    // the shield never caches (`edge: false`), which it forwards as the
    // client sent them.
    const routes: ManifestRoute[] = plan.table.node.map((fn, id) => ({
      id,
      criteria: { path: routePattern(fn.page) },
      fallback: false,
      action: { kind: 'render' },
      cache: { edge: false },
      headerOps: [],
    }));
    routes.push({
      ...structuredClone(CATCH_ALL_ROUTE),
      id: routes.length,
      cache: {
        key: {
          query: { mode: 'all' },
          cookies: [],
          headers: plan.table.rsc.varyHeader.split(',').map((h) => h.trim().toLowerCase()),
          device: false,
          browser: false,
        },
      },
    });
    progress({
      phase: 'routes',
      detail:
        routes.length === 1
          ? 'one catch-all route keyed by the RSC headers'
          : `${routes.length - 1} uncached route(s) for Node-runtime pages (${plan.table.node.map((fn) => fn.page).join(', ')}), then one catch-all route keyed by the RSC headers`,
    });
    return await writeBuild({
      name,
      framework: 'next',
      code,
      routes,
      backends,
      assets,
      limits,
      prerender: config.prerenderRequests?.map((r) => r.path),
      outDir,
      progress,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A Next page path as a manifest route pattern: `/p/[id]` → `/p/:p0`,
 * `[...slug]` → `:p0+`, `[[...slug]]` → `:p0*`.
 */
export function routePattern(page: string): string {
  if (page === '/index') return '/';
  let n = 0;
  return page
    .split('/')
    .map((segment) => {
      if (/^\[\[\.\.\.[^\]]+\]\]$/.test(segment)) return `:p${n++}*`;
      if (/^\[\.\.\.[^\]]+\]$/.test(segment)) return `:p${n++}+`;
      if (/^\[[^\]]+\]$/.test(segment)) return `:p${n++}`;
      return segment;
    })
    .join('/');
}

/** Absolute path of `next-server.ts` (`.js` once the sdk is built for npm). */
function nextServerModule(): string {
  const here = fileURLToPath(import.meta.url);
  return join(dirname(here), `next-server${extname(here)}`);
}

/** Absolute path of `@flotilla/node-compat`'s entry. */
function nodeCompatEntry(): string {
  return fileURLToPath(import.meta.resolve('@flotilla/node-compat'));
}

/** The three parts of `bundle.js` (see the module documentation), lowered for async context. */
async function nextBundle(
  app: string,
  dir: string,
  work: string,
  plan: NextBuildPlan,
  nodeSource: string,
): Promise<Uint8Array> {
  const headEntry = join(work, 'head.mjs');
  await writeFile(
    headEntry,
    [
      `import { installNodeCompat } from ${JSON.stringify(nodeCompatEntry())};`,
      `installNodeCompat({ env: ${JSON.stringify({ ...plan.env, NODE_ENV: 'production', NEXT_RUNTIME: 'edge' })} });`,
      'globalThis.self = globalThis;',
      // Next reads a global AsyncLocalStorage; only Next bundles get one.
      'globalThis.AsyncLocalStorage = globalThis.Flotilla.AsyncLocalStorage;',
      '',
    ].join('\n'),
  );
  let head: string;
  try {
    const result = await build({
      entryPoints: [headEntry],
      ...ISOLATE_BUNDLE_OPTIONS,
      absWorkingDir: dir,
      logLevel: 'silent',
    });
    head = result.outputFiles[0]?.text ?? '';
  } catch (error) {
    throw buildFailure(
      app,
      `bundling the Node-compatibility layer failed: ${(error as Error).message}`,
      error,
    );
  }
  const serverEntry = join(work, 'server.mjs');
  await writeFile(
    serverEntry,
    [
      `import { createNextHandler } from ${JSON.stringify(nextServerModule())};`,
      `export default createNextHandler(${JSON.stringify(plan.table)});`,
      '',
    ].join('\n'),
  );
  const tail = new TextDecoder().decode(
    await bundleEntry({ app, entry: serverEntry, root: dir, define: {}, hashedPaths: {} }),
  );
  const parts = [head];
  for (const file of plan.edgeFiles) {
    // Each of Next's classic scripts in its own function scope, `this` the global object.
    parts.push(`;(function(){${await readFile(file, 'utf8')}\n}).call(globalThis);`);
  }
  if (nodeSource !== '') parts.push(`;${nodeSource}`);
  parts.push(tail);
  return new TextEncoder().encode(await lowerForAsyncContext(parts.join('\n')));
}

/**
 * The files served by the shield: Next's static files (`/_next/static/…`
 * permanent, the rest plain; the `/404` and `/500` pages are answered by
 * the bundle) and `public/` (plain, at their own paths).
 */
async function nextAssets(report: NextBuildReport, dir: string): Promise<CollectedAsset[]> {
  const files = new Map<string, string>();
  for (const f of report.outputs.staticFiles) {
    if (f.filePath === undefined || INTERNAL_PAGES.has(f.pathname)) continue;
    files.set(f.pathname, f.filePath);
  }
  const publicDir = join(dir, 'public');
  if ((await stat(publicDir).catch(() => undefined))?.isDirectory()) {
    for (const entry of await readdir(publicDir, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || entry.name.startsWith('.')) continue;
      const rel = relative(publicDir, join(entry.parentPath, entry.name)).split('\\').join('/');
      const path = `/${rel}`;
      if (!files.has(path)) files.set(path, join(publicDir, rel));
    }
  }
  const assets: CollectedAsset[] = [];
  for (const [path, file] of files) {
    const data = new Uint8Array(await readFile(file));
    assets.push({
      path: path.split('/').map(encodeURIComponent).join('/'),
      hash: createHash('sha256').update(data).digest('hex'),
      bytes: data.byteLength,
      contentType: contentTypeOf(path),
      permanent: path.startsWith(HASHED_PREFIX),
      data,
    });
  }
  return assets.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
