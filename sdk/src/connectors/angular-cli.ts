/**
 * Runs an Angular app's own build (the `build` target of its `angular.json`,
 * production configuration, through Angular's Architect API from the app's
 * own `@angular/cli`) for `flotilla build`, with options overridden for this
 * one run and the app's files left alone:
 *
 * - `ssr: { entry, platform: 'neutral' }`: the server build starts at a
 *   fetch-style entry of Flotilla's (`AngularAppEngine`, see
 *   {@link angularServerEntry}) instead of the app's Express `server.ts`, and
 *   is platform-neutral (the `node` platform prepends `createRequire` from
 *   `node:module` to every server file);
 * - `externalDependencies`: the app's own plus every Node built-in, so that
 *   a built-in import does not stop the build at esbuild's first
 *   "Could not resolve" but stays in the stats, where `angular.ts` names
 *   it with its import chain;
 * - `outputPath` under `<app>/.flotilla/angular/`, `outputMode: 'server'`,
 *   `outputHashing: 'all'` (Flotilla serves the hashed files as permanent
 *   assets) and `statsJson` (the server build's import graph, for the
 *   Node built-in check).
 *
 * `ng build` cannot take these (its `--ssr` is a boolean), so a small script
 * written to the work directory drives Architect the way `ng build` does.
 *
 * Node-only.
 *
 * @module
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { BuildProgress } from '../build.ts';
import { buildFailure } from '../build-errors.ts';
import { displayPath } from '../project-config.ts';
import { findUp, runFrameworkProcess } from './framework-build.ts';

/** What the Angular build produced. */
export interface AngularBuildReport {
  /** The `angular.json` project built. */
  project: string;
  /** Absolute output directory (`browser/`, `server/`, the stats files). */
  outDir: string;
}

/**
 * The script that runs the build: `node run-build.mjs <app dir> <overrides
 * JSON> <report file>`. It resolves Architect from the app's `@angular/cli`
 * (which depends on it), picks the one project whose `build` target uses an
 * `:application` builder, and writes `{ project, success, error }`.
 */
const RUNNER = `// Written by flotilla build for one Angular build; not the app's code.
import { writeFileSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { join } from 'node:path';

const [root, overridesJson, reportFile] = process.argv.slice(2);
const report = (fields) => writeFileSync(reportFile, JSON.stringify(fields));
const fromApp = createRequire(join(root, 'package.json'));
let fromCli;
try {
  fromCli = createRequire(fromApp.resolve('@angular/cli/package.json'));
} catch {
  report({ problem: 'cli' });
  process.exit(3);
}
const { Architect } = fromCli('@angular-devkit/architect');
const { WorkspaceNodeModulesArchitectHost } = fromCli('@angular-devkit/architect/node');
const { logging, schema, workspaces } = fromCli('@angular-devkit/core');
const { NodeJsSyncHost } = fromCli('@angular-devkit/core/node');

const { workspace } = await workspaces.readWorkspace(
  join(root, 'angular.json'),
  workspaces.createWorkspaceHost(new NodeJsSyncHost()),
);
const builds = [...workspace.projects]
  .map(([name, project]) => ({ name, target: project.targets.get('build') }))
  .filter(({ target }) => target && /:application$/.test(target.builder));
if (builds.length !== 1) {
  report({ problem: 'projects', projects: builds.map((b) => b.name) });
  process.exit(3);
}
const [{ name: project, target }] = builds;
if (!target.options?.server) {
  report({ problem: 'no-server', project });
  process.exit(3);
}
const registry = new schema.CoreSchemaRegistry();
registry.addPostTransform(schema.transforms.addUndefinedDefaults);
const architect = new Architect(new WorkspaceNodeModulesArchitectHost(workspace, root), registry);
const logger = new logging.Logger('angular');
logger.subscribe((entry) => console.log(entry.message));
const configuration = target.configurations?.production ? 'production' : undefined;
const overrides = JSON.parse(overridesJson);
// Node built-ins stay imports (esbuild would stop at the first one), so that
// flotilla build can name each with its import chain from the build's stats.
const builtins = builtinModules.flatMap((name) => (name.startsWith('node:') ? [name] : [name, 'node:' + name]));
const own = configuration ? target.configurations.production.externalDependencies : undefined;
overrides.externalDependencies = [...(own ?? target.options.externalDependencies ?? []), ...builtins];
const run = await architect.scheduleTarget(
  { project, target: 'build', ...(configuration ? { configuration } : {}) },
  overrides,
  { logger },
);
let result;
try {
  result = await run.lastOutput;
} catch (error) {
  result = { success: false, error: String(error?.stack ?? error) };
}
await run.stop();
report({ project, success: result.success, error: result.error });
process.exit(result.success ? 0 : 1);
`;

/**
 * The fetch-style server entry the Angular build starts at. The engine is
 * made on the first request, so the build's own route extraction (which
 * loads this module) does not make one.
 *
 * - `allowedHosts: ['*']`: the shield routes every request to the
 *   deployment by its host or path prefix before the bundle sees it, and
 *   the isolate's `fetch` reaches only the declared backends, so the
 *   server-side request forgery Angular's host check guards against cannot
 *   happen; the hosts that reach an app (`<app>.<domain>`, environments,
 *   previews, any host with the `/<app>/` prefix) are the fleet's, not
 *   known at build time.
 * - `trustProxyHeaders: ['x-forwarded-prefix']`: the only forwarding header
 *   the shield sets (it drops every `x-forwarded-*` a client sends).
 * - The answer waits for Angular's own clean-up: it destroys each request's
 *   platform in a `setTimeout(0)` after the page is rendered, and the
 *   isolate cancels a render's pending timers once the render answers, so
 *   without the wait every render's platform (its DOM and injectors) would
 *   stay in the isolate's heap until the heap limit disposed it.
 */
export function angularServerEntry(): string {
  return `// Written by flotilla build for one Angular build; not the app's code.
import { AngularAppEngine } from '@angular/ssr';

let engine;
const turn = () => new Promise((resolve) => setTimeout(resolve, 0));

export default {
  async fetch(request) {
    engine ??= new AngularAppEngine({ allowedHosts: ['*'], trustProxyHeaders: ['x-forwarded-prefix'] });
    const response = await engine.handle(request);
    if (!response) {
      return new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
    // Angular destroys each request's platform in a timer after the page is
    // done; the isolate cancels a render's timers once it answers, so the
    // page is read here and the answer waits one timer turn (Angular's timer
    // was set first; timers of one delay run in order), or every render's
    // platform would stay in the heap.
    const body = response.body === null ? null : await response.arrayBuffer();
    await turn();
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  },
};
`;
}

/** Options of {@link runAngularBuild}. */
export interface RunAngularBuildOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute project directory (holding `angular.json`). */
  dir: string;
  /** Absolute directory for this build's own files (entry, runner, output). */
  work: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Runs the app's Angular build (its output lines go to `progress`, phase
 * `framework`) and returns where it went.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when `angular.json` or the
 * Angular CLI is missing, when the workspace has no single application
 * project with server rendering, or when the build fails (with the end of
 * its output).
 */
export async function runAngularBuild(
  options: RunAngularBuildOptions,
): Promise<AngularBuildReport> {
  const { app, dir, work, progress } = options;
  if (!(await stat(join(dir, 'angular.json')).catch(() => undefined))?.isFile()) {
    throw buildFailure(
      app,
      `framework "angular" needs the app's angular.json in ${displayPath(dir)} (an Angular CLI workspace, as ng new makes)`,
    );
  }
  if ((await findUp(dir, join('node_modules', '@angular', 'cli', 'package.json'))) === undefined) {
    throw buildFailure(
      app,
      `framework "angular" needs the Angular CLI, and ${displayPath(join(dir, 'node_modules', '@angular', 'cli'))} does not exist: ` +
        'install the app\'s dependencies (npm install; "@angular/cli" and "@angular/build" among its devDependencies)',
    );
  }
  const entry = join(work, 'server-entry.mjs');
  const runner = join(work, 'run-build.mjs');
  const reportFile = join(work, 'report.json');
  const outDir = join(work, 'dist');
  await writeFile(entry, angularServerEntry());
  await writeFile(runner, RUNNER);
  const overrides = {
    ssr: { entry: relative(dir, entry).split('\\').join('/'), platform: 'neutral' },
    outputPath: {
      base: relative(dir, outDir).split('\\').join('/'),
      browser: 'browser',
      server: 'server',
    },
    outputMode: 'server',
    outputHashing: 'all',
    statsJson: true,
    deleteOutputPath: true,
    progress: false,
  };

  progress({ phase: 'framework', detail: 'ng build (Angular CLI Architect, production)' });
  const { code, tail } = await runFrameworkProcess({
    command: process.execPath,
    args: [runner, dir, JSON.stringify(overrides), reportFile],
    cwd: dir,
    env: { ...process.env, NODE_ENV: 'production', NG_CLI_ANALYTICS: 'false' },
    progress,
  });

  const report = JSON.parse(await readFile(reportFile, 'utf8').catch(() => '{}')) as {
    problem?: string;
    projects?: string[];
    project?: string;
    error?: string;
  };
  if (report.problem === 'cli') {
    throw buildFailure(
      app,
      `framework "angular" needs the Angular CLI, and "@angular/cli" does not resolve from ${displayPath(dir)}: install the app's dependencies (npm install)`,
    );
  }
  if (report.problem === 'projects') {
    const names = report.projects ?? [];
    throw buildFailure(
      app,
      names.length === 0
        ? 'angular.json has no project whose build target uses the application builder ("@angular/build:application"); Flotilla builds Angular apps made with ng new (Angular 17 or later)'
        : `angular.json has ${names.length} application projects (${names.join(', ')}); Flotilla builds a workspace with one`,
    );
  }
  if (report.problem === 'no-server') {
    throw buildFailure(
      app,
      `project "${report.project}" has no server rendering (no "server" option in angular.json's build target): add it with ng add @angular/ssr`,
    );
  }
  if (code !== 0) {
    const node = process.versions.node.split('.').map(Number);
    const oldNode =
      (node[0] ?? 0) < 22 || (node[0] === 22 && (node[1] ?? 0) < 12)
        ? ` (Angular 22 needs Node 22.12 or later; this is Node ${process.versions.node})`
        : '';
    throw buildFailure(
      app,
      `ng build failed (${typeof code === 'number' ? `exit code ${code}` : code})${oldNode}:\n${tail.join('\n')}${report.error ? `\n${report.error}` : ''}`,
    );
  }
  return { project: report.project ?? app, outDir };
}
