/**
 * `flotilla build` for a React Router app in framework mode
 * (`"framework": "react-router"` in `flotilla.config.json`, no `entry`):
 *
 * 1. the app's own `react-router build` (see `react-router-vite.ts`);
 * 2. its server build bundled for the isolate behind React Router's
 *    fetch-style handler (`createRequestHandler(build)`), resolved with the
 *    edge conditions (`workerd`, `worker`, `browser`: React DOM's
 *    `renderToReadableStream` build), Node built-ins refused with the import
 *    chain from the app's route modules;
 * 3. the client build (`build/client`) as the deployment's assets: Vite's
 *    content-hashed `assets/*` at their exact paths, permanent and
 *    immutable; every other file (what `public/` held) as a plain asset;
 * 4. one catch-all render route: React Router matches routes itself, and
 *    caching comes from each route's `headers` (`Cache-Control: s-maxage=…,
 *    stale-while-revalidate=…`), which the shield honours per response. A
 *    page (`/p/7`) and its data (`/p/7.data`, `?_routes=`) have different
 *    paths or queries, so never one cache entry.
 *
 * Node-only.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { isAbsolute, join, relative } from 'node:path';
import type { ManifestRoute } from '@flotilla/manifest';
import { type BuildAppResult, type BuildProgress, checkBundleSize } from '../build.ts';
import type { CollectedAsset } from '../build-assets.ts';
import { contentTypeOf } from '../build-assets.ts';
import { bundleEntry } from '../build-bundle.ts';
import { describeRoutes } from '../build-routes.ts';
import { displayPath, type ProjectConfig } from '../project-config.ts';
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
import { type ReactRouterBuildReport, runReactRouterBuild } from './react-router-vite.ts';

/**
 * Package export conditions the server build is bundled with: React DOM's
 * edge server renderer (`workerd`; its `browser` build needs
 * `MessageChannel`), then what workers and browsers get.
 */
export const REACT_ROUTER_CONDITIONS = ['workerd', 'worker', 'browser'];

/** The app's own server entry (`app/entry.server.tsx`), as shown in an import chain. */
const SERVER_ENTRY = /(^|\/)entry\.server\.[cm]?[jt]sx?$/;

/** Where Vite puts content-hashed files in the client build. */
const HASHED_DIR = 'assets';

/**
 * Builds the React Router app of `config` into `outDir` (see the module
 * documentation).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when React Router's build fails or
 * cannot run, when the server build imports a Node built-in (with the
 * import chain) or does not bundle, or when the result is over `maxBundleBytes`.
 */
export async function buildReactRouter(
  config: ProjectConfig,
  outDir: string,
  progress: (progress: BuildProgress) => void,
): Promise<BuildAppResult> {
  const { name, dir, backends } = config;
  return buildWithFramework(
    { config, framework: 'react-router', outDir, progress },
    async (work) => {
      const report = await runReactRouterBuild({ app: name, dir, work, progress });
      refuseBuiltins(name, dir, report);

      progress({ phase: 'assets', detail: `client build in ${displayPath(report.clientDir)}` });
      const assets = await clientAssets(report.clientDir);
      const hashed = assets.filter((a) => a.permanent);
      progress({
        phase: 'assets',
        detail: `${hashedSummary(assets)}, ${assets.length - hashed.length} plain`,
      });

      const entry = join(work, 'server-entry.mjs');
      await writeFile(
        entry,
        [
          `import * as build from ${JSON.stringify(report.serverFile)};`,
          "import { createRequestHandler } from 'react-router';",
          "const handle = createRequestHandler(build, 'production');",
          'export default { fetch: (request) => handle(request) };',
          '',
        ].join('\n'),
      );
      progress({ phase: 'bundle', detail: `bundling ${displayPath(report.serverFile)}` });
      const code = await bundleEntry({
        app: name,
        entry,
        root: dir,
        define: config.define,
        hashedPaths: {},
        conditions: REACT_ROUTER_CONDITIONS,
      });
      checkBundleSize(name, code, config.maxBundleBytes, progress);

      // Loads the bundle as the isolate would (a server build that throws at load fails here).
      progress({ phase: 'routes', detail: 'evaluating bundle.js' });
      const routes: ManifestRoute[] = describeRoutes({ app: name, code, backends });
      progress({ phase: 'routes', detail: 'one catch-all route: React Router matches the rest' });

      return { code, routes, assets };
    },
  );
}

/**
 * Refuses a server build whose app code imports a Node built-in, naming the
 * chain from a route module (`app/routes/p.tsx → app/db.server.ts → node:fs`).
 * Built-ins that dependencies import are caught when bundling, with their chain.
 */
function refuseBuiltins(app: string, dir: string, report: ReactRouterBuildReport): void {
  const show = (id: string): string => {
    const clean = id.replace(/^\0/, '').split('?')[0] ?? id;
    const rel = relative(dir, clean);
    return isAbsolute(clean) && !rel.startsWith('..') ? rel.split('\\').join('/') : clean;
  };
  const parent = new Map<string, string>();
  const queue = [...report.entries];
  const seen = new Set(queue);
  const problems: string[] = [];
  while (queue.length > 0) {
    const id = queue.shift() as string;
    for (const imported of report.graph[id] ?? []) {
      if (isBuiltin(imported) || imported.startsWith('node:')) {
        const chain = [imported];
        for (let at: string | undefined = id; at !== undefined; at = parent.get(at)) {
          if (!at.includes('virtual:react-router')) chain.unshift(show(at));
        }
        const entryServer = chain.find((file) => SERVER_ENTRY.test(file));
        problems.push(
          `imports the Node built-in "${imported}", which bundles cannot use (they run in an isolate, without Node's APIs): ${chain.join(' → ')}` +
            (entryServer === undefined
              ? ''
              : `. ${entryServer} must render with renderToReadableStream, as React Router's web entry does: ` +
                `delete it (flotilla build then uses that entry), or start from node_modules/@react-router/dev/dist/config/defaults/entry.server.web.tsx`),
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
 * The client build's files as assets: `assets/*` (content-hashed by Vite)
 * permanent at their own paths, the rest (copied from `public/`) plain.
 * Vite's own bookkeeping (`.vite/`) and other dot-files are not served.
 */
async function clientAssets(clientDir: string): Promise<CollectedAsset[]> {
  const assets: CollectedAsset[] = [];
  for (const rel of await filesUnder(clientDir)) {
    assets.push(
      dataAsset(
        fileUrlPath(rel),
        await readBytes(clientDir, rel),
        contentTypeOf(rel),
        rel.startsWith(`${HASHED_DIR}/`),
      ),
    );
  }
  return byPath(assets);
}
