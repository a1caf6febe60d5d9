/**
 * Runs a React Router app's own build (`react-router build`, from the
 * project's `node_modules/.bin`) for `flotilla build`, with the app's Vite
 * config wrapped by a small plugin that:
 *
 * - renders with React Router's **web** server entry where the app has no
 *   `app/entry.server.*` of its own: RR picks its Node entry
 *   (`renderToPipeableStream`, `node:stream`) whenever the app depends on
 *   `@react-router/node` or `@react-router/serve`, which an isolate cannot
 *   run. The web entry (`renderToReadableStream`) is RR's own as well, so
 *   the app needs no change;
 * - reports where the build went (server entry file, client directory) and
 *   the server build's module graph, so that a Node built-in imported by a
 *   loader is named with the app's own import chain.
 *
 * Node-only.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BuildProgress } from '../build.ts';
import { buildFailure } from '../build-errors.ts';
import { displayPath } from '../project-config.ts';
import {
  findUp,
  firstExisting,
  pathWithThisNode,
  runFrameworkProcess,
  VITE_CONFIGS,
} from './framework-build.ts';

/** What the wrapping plugin reports about the build. */
export interface ReactRouterBuildReport {
  /** Absolute path of the server build's entry (`build/server/index.js`). */
  serverFile: string;
  /** Absolute path of the client build (`build/client`). */
  clientDir: string;
  /** The server build's module graph: module id → the ids it imports (externals included). */
  graph: Record<string, string[]>;
  /** Ids of the server build's entry modules. */
  entries: string[];
}

/** The environment variable the wrapping plugin writes its report to. */
const REPORT_ENV = 'FLOTILLA_REACT_ROUTER_REPORT';

/**
 * The Vite config `react-router build` runs with: the app's own, plus the
 * plugin described in this module's documentation. Plain JavaScript; Vite
 * bundles it (and the app's config it imports) when it loads it.
 */
function wrappingConfig(appConfig: string): string {
  return `// Written by flotilla build for one run of react-router build; not the app's config.
import { readFileSync, writeFileSync } from 'node:fs';
import appConfig from ${JSON.stringify(appConfig)};

const NODE_ENTRY = /[\\\\/]@react-router[\\\\/]dev[\\\\/]dist[\\\\/]config[\\\\/]defaults[\\\\/]entry\\.server\\.node\\.([jt]sx)$/;

function flotilla() {
  const report = { serverFile: null, clientDir: null, graph: {}, entries: [] };
  const save = () => writeFileSync(process.env.${REPORT_ENV}, JSON.stringify(report));
  return {
    name: 'flotilla:react-router',
    enforce: 'pre',
    load(id) {
      const file = id.split('?')[0];
      const node = NODE_ENTRY.exec(file);
      // React Router's own web entry (renderToReadableStream) instead of its Node one.
      if (node) return readFileSync(file.replace(/entry\\.server\\.node\\.[jt]sx$/, 'entry.server.web.' + node[1]), 'utf8');
      return null;
    },
    generateBundle(options, bundle) {
      if (this.environment?.name === 'client') return;
      for (const id of this.getModuleIds()) {
        const info = this.getModuleInfo(id);
        if (!info || info.isExternal) continue;
        report.graph[id] = [...info.importedIds, ...info.dynamicallyImportedIds];
        if (info.isEntry) report.entries.push(id);
      }
      const entry = Object.values(bundle).find((c) => c.type === 'chunk' && c.isEntry);
      if (entry && options.dir) report.serverFile = options.dir + '/' + entry.fileName;
    },
    writeBundle(options) {
      if (this.environment?.name === 'client' && options.dir) report.clientDir = options.dir;
      save();
    },
  };
}

export default async (env) => {
  const config = typeof appConfig === 'function' ? await appConfig(env) : await appConfig;
  return { ...config, plugins: [flotilla(), ...(config?.plugins ?? [])] };
};
`;
}

/** Options of {@link runReactRouterBuild}. */
export interface RunReactRouterBuildOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute project directory. */
  dir: string;
  /** Absolute directory for this build's own files (the wrapping config, the report). */
  work: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Runs `react-router build` in `dir` (its output lines go to `progress`, phase
 * `framework`) and returns what it built.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when React Router's CLI or the
 * app's Vite config is missing, or the build fails (with the end of its output).
 */
export async function runReactRouterBuild(
  options: RunReactRouterBuildOptions,
): Promise<ReactRouterBuildReport> {
  const { app, dir, work, progress } = options;
  const cli = await findUp(dir, join('node_modules', '.bin', 'react-router'));
  if (cli === undefined) {
    throw buildFailure(
      app,
      `framework "react-router" needs React Router's CLI, and ${displayPath(join(dir, 'node_modules', '.bin', 'react-router'))} does not exist: ` +
        'install the app\'s dependencies (npm install; "@react-router/dev" among its devDependencies)',
    );
  }
  const appConfig = await firstExisting(dir, VITE_CONFIGS);
  if (appConfig === undefined) {
    throw buildFailure(
      app,
      `framework "react-router" needs the app's Vite config (${VITE_CONFIGS.slice(0, 3).join(', ')}…) in ${displayPath(dir)}, ` +
        "with React Router's plugin: export default defineConfig({ plugins: [reactRouter()] })",
    );
  }
  const configFile = join(work, 'vite.config.mjs');
  const reportFile = join(work, 'report.json');
  await writeFile(configFile, wrappingConfig(appConfig));

  progress({ phase: 'framework', detail: `react-router build (${displayPath(cli)})` });
  const { code, tail } = await runFrameworkProcess({
    command: cli,
    args: ['build', dir, '--config', configFile],
    cwd: dir,
    // The Node running flotilla runs React Router too (the .bin shim calls `node`).
    env: {
      ...process.env,
      PATH: pathWithThisNode(),
      NODE_ENV: 'production',
      [REPORT_ENV]: reportFile,
    },
    progress,
  });
  if (code !== 0) {
    const node = process.versions.node.split('.').map(Number);
    const oldNode =
      (node[0] ?? 0) < 22 || (node[0] === 22 && (node[1] ?? 0) < 22)
        ? ` (React Router 8 needs Node 22.22 or later; this is Node ${process.versions.node})`
        : '';
    throw buildFailure(
      app,
      `react-router build failed (${typeof code === 'number' ? `exit code ${code}` : code})${oldNode}:\n${tail.join('\n')}`,
    );
  }

  let report: Partial<ReactRouterBuildReport>;
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8')) as Partial<ReactRouterBuildReport>;
  } catch (error) {
    throw buildFailure(
      app,
      `react-router build succeeded but did not run flotilla's Vite plugin (${(error as Error).message}); ` +
        `does ${displayPath(appConfig)} export its config as its default export?`,
      error,
    );
  }
  if (typeof report.serverFile !== 'string' || typeof report.clientDir !== 'string') {
    throw buildFailure(
      app,
      'react-router build made no server build or no client build: check that react-router.config.ts does not turn ssr off',
    );
  }
  return {
    serverFile: report.serverFile,
    clientDir: report.clientDir,
    graph: report.graph ?? {},
    entries: report.entries ?? [],
  };
}
