/**
 * Runs a SvelteKit app's own build (`vite build`, from the project's
 * `node_modules/.bin`) for `flotilla build`, with the app's Vite config
 * wrapped by a small config that:
 *
 * - swaps the app's adapter (`adapter-auto`, `adapter-node`, any other) for
 *   Flotilla's, in memory: the wrapper finds SvelteKit's setup plugin among
 *   the app's plugins and sets `kit.adapter` on the config it holds, so
 *   `svelte.config.js` and options passed to `sveltekit({ … })` alike stay
 *   as the app wrote them. Flotilla's adapter writes the client, the
 *   prerendered pages, the server and its manifest under the work directory
 *   and reports the routes (with their `export const config`) and the
 *   prerendered pages;
 * - refuses Svelte's `experimental.async` before anything builds (it needs
 *   `AsyncLocalStorage`, which isolates do not have);
 * - reports the server build's module graph, so that a Node built-in
 *   imported by a load function is named with the app's own import chain.
 *
 * Node-only.
 *
 * @module
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
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

/** One route of the app, as SvelteKit's builder describes it. */
export interface SvelteKitRoute {
  /** The route's id, e.g. `/p/[id]`. */
  id: string;
  /** Whether it is prerendered: `true`, `false` or `'auto'`. */
  prerender: boolean | 'auto';
  /** The route's `export const config` (merged from its layouts), or null. */
  config: Record<string, unknown> | null;
  /** It has a page (`+page.svelte`). */
  page: boolean;
}

/** One prerendered page: its path and the file it was written to. */
export interface SvelteKitPrerenderedPage {
  path: string;
  /** Relative to the prerendered directory, e.g. `about.html`. */
  file: string;
}

/** What Flotilla's adapter and the wrapping config report about the build. */
export interface SvelteKitBuildReport {
  /** Absolute path of the server the adapter wrote (exports SvelteKit's `Server`). */
  server: string;
  /** Absolute path of the server's manifest the adapter wrote (exports `manifest`). */
  manifest: string;
  /** Absolute path of the client files (`_app/…` and `static/`), base path included. */
  clientDir: string;
  /** Absolute path of the prerendered files, base path included. */
  prerenderedDir: string;
  /** `kit.paths.base`, e.g. `''` or `/shop`. */
  base: string;
  /** `kit.appDir` under the base, e.g. `_app`. */
  appDir: string;
  routes: SvelteKitRoute[];
  prerendered: SvelteKitPrerenderedPage[];
  /** The server build's module graph: module id → the ids it imports (externals included). */
  graph: Record<string, string[]>;
  /** Ids of the server build's entry modules. */
  entries: string[];
  /** The app's modules that import `read` from `$app/server`, when the server uses it. */
  read: string[];
}

/** Environment variables the wrapping config reads: where to report, where to write. */
const REPORT_ENV = 'FLOTILLA_SVELTEKIT_REPORT';
const OUT_ENV = 'FLOTILLA_SVELTEKIT_OUT';

/** What the wrapper writes to the report when it refuses the app before building. */
interface Refusal {
  refused: string;
}

/**
 * The Vite config `vite build` runs with: the app's own, its SvelteKit
 * adapter swapped for Flotilla's. Plain JavaScript; Vite bundles it (and the
 * app's config it imports) when it loads it. SvelteKit runs a second Vite
 * build (the client) in the same process with the same config file, so what
 * both builds share lives on `globalThis`.
 */
function wrappingConfig(appConfig: string): string {
  return `// Written by flotilla build for one run of vite build; not the app's config.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import appConfig from ${JSON.stringify(appConfig)};

const REPORT = process.env.${REPORT_ENV};
const OUT = process.env.${OUT_ENV};
const state = (globalThis.__flotillaSvelteKit ??= { graph: {}, entries: [], readers: [], readUsed: false });
const READ_USED = /__SVELTEKIT_TRACK__\\(['"]\\$app\\/server:read['"]\\)/;
const READ_IMPORT = /import\\s*\\{[^}]*\\bread\\b[^}]*\\}\\s*from\\s*['"]\\$app\\/server['"]/;

const adapter = {
  name: 'flotilla',
  supports: {
    // $app/server's read() needs the adapter to read files at run time; bundles have no files.
    read: () => false,
    instrumentation: () => false,
  },
  async adapt(builder) {
    const base = builder.config.kit.paths.base;
    const client = OUT + '/client' + base;
    const prerendered = OUT + '/prerendered' + base;
    builder.rimraf(OUT);
    builder.mkdirp(OUT);
    builder.writeClient(client);
    builder.writePrerendered(prerendered);
    builder.writeServer(OUT + '/server');
    writeFileSync(
      OUT + '/manifest.js',
      'export const manifest = ' + builder.generateManifest({ relativePath: './server' }) + ';\\n',
    );
    const report = {
      server: OUT + '/server/index.js',
      manifest: OUT + '/manifest.js',
      clientDir: client,
      prerenderedDir: prerendered,
      base,
      appDir: builder.getAppPath(),
      routes: builder.routes.map((route) => ({
        id: route.id,
        prerender: route.prerender,
        config: route.config ?? null,
        page: Boolean(route.page),
      })),
      prerendered: [...builder.prerendered.pages].map(([path, page]) => ({ path, file: page.file })),
      graph: state.graph,
      entries: state.entries,
      read: state.readUsed ? [...new Set(state.readers)] : [],
    };
    writeFileSync(REPORT, JSON.stringify(report));
  },
};

function flotilla() {
  return {
    name: 'flotilla:sveltekit',
    // The app's modules that import read from $app/server (their code as Vite has it: imports as written).
    transform(code, id) {
      if (!this.environment?.config?.build?.ssr || /[\\\\/]node_modules[\\\\/]/.test(id)) return null;
      if (READ_IMPORT.test(code)) state.readers.push(id);
      return null;
    },
    // Runs before SvelteKit's own renderChunk, which replaces the marker of read() where the server uses it.
    renderChunk(code) {
      if (this.environment?.config?.build?.ssr && READ_USED.test(code)) state.readUsed = true;
      return null;
    },
    generateBundle() {
      if (!this.environment?.config?.build?.ssr) return;
      for (const id of this.getModuleIds()) {
        const info = this.getModuleInfo(id);
        if (!info || info.isExternal) continue;
        state.graph[id] = [...info.importedIds, ...info.dynamicallyImportedIds];
        if (info.isEntry) state.entries.push(id);
      }
    },
  };
}

/** SvelteKit's setup plugin (it holds the validated config) among possibly nested, possibly promised plugins. */
async function findKit(plugins) {
  for (const plugin of plugins ?? []) {
    const p = await plugin;
    if (Array.isArray(p)) {
      const found = await findKit(p);
      if (found) return found;
    } else if (p && p.name === 'vite-plugin-sveltekit-setup' && p.api?.options?.kit) {
      return p.api.options;
    }
  }
  return undefined;
}

export default async (env) => {
  const config = typeof appConfig === 'function' ? await appConfig(env) : await appConfig;
  const plugins = config?.plugins ?? [];
  const svelte = await findKit(plugins);
  if (!svelte) {
    writeFileSync(REPORT, JSON.stringify({ refused: 'no-kit' }));
    throw new Error('flotilla: the Vite config has no sveltekit() plugin');
  }
  if (svelte.compilerOptions?.experimental?.async) {
    writeFileSync(REPORT, JSON.stringify({ refused: 'experimental.async' }));
    throw new Error('flotilla: compilerOptions.experimental.async needs AsyncLocalStorage');
  }
  // The same object SvelteKit's plugins read when they run the adapter.
  svelte.kit.adapter = adapter;
  mkdirSync(OUT, { recursive: true });
  return { ...config, plugins: [flotilla(), ...plugins] };
};
`;
}

/** The version of `@sveltejs/kit` installed for `dir` (its `node_modules` or a parent's), or undefined. */
async function kitVersion(dir: string): Promise<string | undefined> {
  for (let at = dir; ; at = dirname(at)) {
    const manifest = join(at, 'node_modules', '@sveltejs', 'kit', 'package.json');
    const text = await readFile(manifest, 'utf8').catch(() => undefined);
    if (text !== undefined) return (JSON.parse(text) as { version?: string }).version;
    if (dirname(at) === at) return undefined;
  }
}

/** The SvelteKit major version the adapter is written for. */
export const SVELTEKIT_MAJOR = 2;

/** Options of {@link runSvelteKitBuild}. */
export interface RunSvelteKitBuildOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute project directory. */
  dir: string;
  /** Absolute directory for this build's own files (the wrapping config, the adapter's output, the report). */
  work: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Runs `vite build` in `dir` with Flotilla's adapter (its output lines go to
 * `progress`, phase `framework`) and returns what it built.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when Vite or the app's Vite config
 * is missing, when the app's SvelteKit is not version 2, when the app turns
 * on `experimental.async`, or when the build fails (with the end of its output).
 */
export async function runSvelteKitBuild(
  options: RunSvelteKitBuildOptions,
): Promise<SvelteKitBuildReport> {
  const { app, dir, work, progress } = options;
  const vite = await findUp(dir, join('node_modules', '.bin', 'vite'));
  if (vite === undefined) {
    throw buildFailure(
      app,
      `framework "sveltekit" needs Vite, and ${displayPath(join(dir, 'node_modules', '.bin', 'vite'))} does not exist: ` +
        'install the app\'s dependencies (npm install; "@sveltejs/kit" and "vite" among its devDependencies)',
    );
  }
  const appConfig = await firstExisting(dir, VITE_CONFIGS);
  if (appConfig === undefined) {
    throw buildFailure(
      app,
      `framework "sveltekit" needs the app's Vite config (${VITE_CONFIGS.slice(0, 3).join(', ')}…) in ${displayPath(dir)}, ` +
        "with SvelteKit's plugin: export default defineConfig({ plugins: [sveltekit()] })",
    );
  }
  const version = await kitVersion(dir);
  if (version !== undefined && Number(version.split('.')[0]) !== SVELTEKIT_MAJOR) {
    throw buildFailure(
      app,
      `the app has SvelteKit ${version}, and flotilla build builds SvelteKit ${SVELTEKIT_MAJOR} apps (${SVELTEKIT_MAJOR}.x, as sv create makes them)`,
    );
  }
  const configFile = join(work, 'vite.config.mjs');
  const reportFile = join(work, 'report.json');
  const outDir = join(work, 'out');
  await writeFile(configFile, wrappingConfig(appConfig));

  progress({ phase: 'framework', detail: `vite build (${displayPath(vite)})` });
  const { code, tail } = await runFrameworkProcess({
    command: vite,
    args: ['build', '--config', configFile],
    cwd: dir,
    // The Node running flotilla runs Vite too (the .bin shim calls `node`).
    env: {
      ...process.env,
      PATH: pathWithThisNode(),
      NODE_ENV: 'production',
      [REPORT_ENV]: reportFile,
      [OUT_ENV]: outDir,
    },
    progress,
  });

  let report: Partial<SvelteKitBuildReport & Refusal> | undefined;
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8')) as Partial<
      SvelteKitBuildReport & Refusal
    >;
  } catch {
    report = undefined;
  }
  if (report?.refused === 'experimental.async') {
    throw buildFailure(
      app,
      `${displayPath(appConfig)} turns on Svelte's compilerOptions.experimental.async, which Flotilla cannot run yet: ` +
        "SvelteKit's async rendering (and getRequestEvent() after an await) needs AsyncLocalStorage (node:async_hooks), " +
        'which bundles do not have (they run in an isolate, without Node\'s APIs). Turn "experimental.async" off to build for the fleet',
    );
  }
  if (report?.refused === 'no-kit') {
    throw buildFailure(
      app,
      `${displayPath(appConfig)} has no SvelteKit plugin: framework "sveltekit" needs export default defineConfig({ plugins: [sveltekit()] })`,
    );
  }
  if (code !== 0) {
    throw buildFailure(
      app,
      `vite build failed (${typeof code === 'number' ? `exit code ${code}` : code}):\n${tail.join('\n')}`,
    );
  }
  if (
    report === undefined ||
    typeof report.server !== 'string' ||
    typeof report.manifest !== 'string'
  ) {
    throw buildFailure(
      app,
      `vite build succeeded but did not run flotilla's SvelteKit adapter; ` +
        `does ${displayPath(appConfig)} export its config as its default export, with sveltekit() among its plugins?`,
    );
  }
  return {
    server: report.server,
    manifest: report.manifest,
    clientDir: report.clientDir ?? join(outDir, 'client'),
    prerenderedDir: report.prerenderedDir ?? join(outDir, 'prerendered'),
    base: report.base ?? '',
    appDir: report.appDir ?? '_app',
    routes: report.routes ?? [],
    prerendered: report.prerendered ?? [],
    graph: report.graph ?? {},
    entries: report.entries ?? [],
    read: report.read ?? [],
  };
}
