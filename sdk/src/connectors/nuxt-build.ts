/**
 * Runs a Nuxt app's own build for `flotilla build`: Nuxt's `loadNuxt` and
 * `buildNuxt` (what `nuxt build` runs), from the app's own `nuxt/kit`, in a
 * child process on the Node running `flotilla`, with options layered over
 * the app's config (Nuxt's `overrides`, never a change to its files):
 *
 * - **Nitro preset**: Flotilla's own (a `base-worker` preset, written under
 *   `<app>/.flotilla/nuxt/`), whose entry is one classic script calling
 *   `Flotilla.serve({ fetch })`. Each request goes to Nitro's `localFetch`
 *   with the environment's variables as `event.context.flotilla.env`
 *   (Nitro's platform context, as `event.context.cloudflare.env` on
 *   Cloudflare); nothing is written to a global, since one isolate serves
 *   several environments.
 * - **No caching inside the isolate**: the runtime's copy of the route
 *   rules has no `cache` (Nitro would wrap the route's handler in its cache,
 *   hashing every response in JavaScript); `isr: true` takes its place, so
 *   Nuxt still renders a cached route's payload (`/p/7/_payload.json`) for
 *   client-side navigation. Nitro's `cache` storage (what the app's own
 *   `defineCachedEventHandler`/`defineCachedFunction` use) is unstorage's
 *   `null` driver: nothing is kept in the isolate's memory, which every
 *   environment it serves shares. The shield caches instead, from the
 *   manifest (see `nuxt-routes.ts`).
 * - `vite.ssr.noExternal: ['unctx']`: Nuxt 4.6's server build otherwise
 *   leaves `unctx` as an import a single-script bundle cannot have.
 * - A plugin in both the Vite server build and Nitro's Rollup build that
 *   records every Node built-in the app's own files import, with the chain
 *   of imports from a page, component or server route.
 * - `node:async_hooks` is the isolate's AsyncLocalStorage
 *   (`Flotilla.AsyncLocalStorage`), for `experimental.asyncContext`.
 *
 * The run reports the normalised route rules, the prerendered routes, the
 * output directories and whether the server build uses `node:async_hooks`.
 *
 * Node-only.
 *
 * @module
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BuildProgress } from '../build.ts';
import { buildFailure } from '../build-errors.ts';
import { displayPath } from '../project-config.ts';
import { findUp, pathWithThisNode, runFrameworkProcess } from './framework-build.ts';

/** A route rule as Nitro normalises it (the parts Flotilla reads). */
export interface NuxtRouteRule {
  cache?: false | { maxAge?: number; staleMaxAge?: number; swr?: boolean };
  swr?: boolean | number;
  isr?: boolean | number | { expiration?: number | false };
  prerender?: boolean;
  headers?: Record<string, string>;
  [key: string]: unknown;
}

/** A route Nitro prerendered. */
export interface NuxtPrerendered {
  /** The URL path, e.g. `/about` or `/about/_payload.json`. */
  route: string;
  /** The file under the public directory, e.g. `/about/index.html`. */
  fileName: string;
  contentType?: string;
}

/** What the run of Nuxt's build reports. */
export interface NuxtBuildReport {
  /** Nitro's normalised route rules (Nuxt's `/_payload.json` rules included). */
  routeRules: Record<string, NuxtRouteRule>;
  prerendered: NuxtPrerendered[];
  /** Absolute: Nitro's public output (client build, `public/`, prerendered pages). */
  publicDir: string;
  /** Absolute: the server bundle (`index.mjs`, one classic script). */
  serverFile: string;
  /** Nuxt's `buildAssetsDir` (`/_nuxt/`), where Vite's content-hashed files are. */
  buildAssetsDir: string;
  /** This build's id (`/_nuxt/builds/meta/<id>.json`). */
  buildId: string;
  /** Import chains (app-relative) from the app's own code to a Node built-in. */
  builtins: string[][];
  /**
   * The server build uses AsyncLocalStorage (Nuxt's and Nitro's
   * `experimental.asyncContext`, or the app's own code imports
   * `node:async_hooks`): the bundle must be lowered for it.
   */
  asyncHooks: boolean;
}

/** Oldest Node versions Nuxt 4.6 runs on, per major (its `engines`). */
const NUXT_NODE: Record<number, number> = { 22: 22, 24: 15 };

/**
 * The Nitro preset: a `base-worker` (one IIFE, no externals, Node built-ins
 * replaced by unenv's) with Flotilla's entry.
 */
function presetSource(entry: string, output: string): string {
  return `// Written by flotilla build for one run of Nuxt's build; not the app's config.
export default {
  extends: 'base-worker',
  entry: ${JSON.stringify(entry)},
  exportConditions: ['workerd', 'worker', 'browser'],
  serveStatic: false,
  // The isolate is a current V8: no lowering of modern syntax to helpers.
  esbuild: { options: { target: 'es2022' } },
  minify: true,
  sourceMap: false,
  output: {
    dir: ${JSON.stringify(output)},
    serverDir: '{{ output.dir }}/server',
    publicDir: '{{ output.dir }}/public',
  },
};
`;
}

/** The preset's entry: the bundle contract (`Flotilla.serve`) over Nitro's `localFetch`. */
const ENTRY_SOURCE = `// Written by flotilla build for one run of Nuxt's build; not the app's code.
import '#nitro-internal-pollyfills';
import { useNitroApp } from 'nitropack/runtime';

const nitroApp = useNitroApp();
// The request's URL is absolute and already normalised: split it without a URL object.
const ORIGIN = /^([a-z][a-z0-9+.-]*:)\\/\\/([^/?#]*)/i;

Flotilla.serve({
  async fetch(request, env) {
    const origin = ORIGIN.exec(request.url);
    const path = (origin ? request.url.slice(origin[0].length) : request.url).split('#')[0] || '/';
    const body =
      request.method === 'GET' || request.method === 'HEAD' || request.body === null
        ? undefined
        : new Uint8Array(await request.arrayBuffer());
    return nitroApp.localFetch(path, {
      host: origin ? origin[2] : 'localhost',
      // node-mock-http marks the request encrypted for protocol 'https'.
      protocol: origin ? origin[1].slice(0, -1) : 'http',
      headers: request.headers,
      method: request.method,
      redirect: 'manual',
      body,
      // Nitro copies _platform into event.context: event.context.flotilla.env in server routes.
      context: { _platform: { flotilla: { env, request } } },
    });
  },
});
`;

/** The child process: Nuxt's build with Flotilla's overrides (see the module documentation). */
const RUNNER_SOURCE = `// Written by flotilla build for one run of Nuxt's build; not the app's code.
import { isBuiltin } from 'node:module';
import { relative, sep } from 'node:path';
import { writeFileSync } from 'node:fs';

const [dir, preset, reportFile] = process.argv.slice(2);
const kit = await import('nuxt/kit');
const report = { routeRules: {}, prerendered: [], publicDir: null, serverFile: null, buildAssetsDir: '/_nuxt/', builtins: [], asyncHooks: false };
const save = () => writeFileSync(reportFile, JSON.stringify(report));

const clean = (id) => (id ?? '').replace(/^\\0/, '').split('?')[0];
let buildDir = null;
const own = (id) => {
  const file = clean(id);
  const rel = relative(dir, file);
  if (rel.startsWith('..') || rel === file) return false;
  if (rel.split(sep).some((s) => s === 'node_modules' || s === '.flotilla')) return false;
  return !(buildDir && !relative(buildDir, file).startsWith('..'));
};
const show = (id) => relative(dir, clean(id)).split(sep).join('/');

const ASYNC_HOOKS = /^(node:)?async_hooks$/;
const ASYNC_HOOKS_ID = '\\0flotilla-async-hooks';

/**
 * node:async_hooks: the isolate's AsyncLocalStorage (Flotilla.AsyncLocalStorage)
 * over unenv's module, which keeps the rest (AsyncResource, which unenv's events use).
 */
function asyncHooks() {
  let unenv = null;
  return {
    name: 'flotilla:async-hooks',
    resolveId: {
      order: 'pre',
      async handler(source, importer, options) {
        if (!ASYNC_HOOKS.test(source)) return null;
        if (unenv === null) {
          const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
          unenv = resolved && !resolved.external ? resolved.id : '';
        }
        return ASYNC_HOOKS_ID;
      },
    },
    load(id) {
      if (id !== ASYNC_HOOKS_ID) return null;
      const rest = unenv ? 'export * from ' + JSON.stringify(unenv) + '; ' : '';
      return rest + 'export const AsyncLocalStorage = globalThis.Flotilla.AsyncLocalStorage; export default { AsyncLocalStorage };';
    },
  };
}

/**
 * Built-ins whose unenv stand-ins throw when called (files, processes, sockets,
 * threads): a dependency of the app that imports one is refused too.
 */
const THROWING = new Set(['fs', 'child_process', 'net', 'tls', 'dgram', 'dns', 'cluster', 'worker_threads', 'http2', 'inspector', 'repl', 'readline', 'v8', 'vm']);
/** Packages of the framework itself, whose built-in imports unenv serves. */
const FRAMEWORK = /^(unenv|nitropack|nitro|nuxt|@nuxt[/].*|h3|vite|rolldown|@vue[/].*|vue|vue-router|unhead|@unhead[/].*)$/;
const packageOf = (id) => {
  const file = clean(id);
  const at = file.lastIndexOf('/node_modules/');
  if (at === -1) return null;
  const [first, second] = file.slice(at + '/node_modules/'.length).split('/');
  return first.startsWith('@') ? first + '/' + second : first;
};

/** Records Node built-ins imported by the app's own files (and dependencies' that throw), with the chain from the app's entry points. */
function builtins(where) {
  const found = [];
  return {
    name: 'flotilla:node-builtins',
    enforce: 'pre',
    resolveId: {
      order: 'pre',
      handler(source, importer) {
        if (where === 'vite' && this.environment && this.environment.name === 'client') return null;
        if (!importer || !(isBuiltin(source) || source.startsWith('node:'))) return null;
        if (ASYNC_HOOKS.test(source)) {
          // The app's own AsyncLocalStorage: the bundle is lowered for it.
          if (own(importer)) report.asyncHooks = true;
          return null;
        }
        const pkg = packageOf(importer);
        const bare = source.replace(/^node:/, '').split('/')[0];
        if (own(importer) || (pkg && !FRAMEWORK.test(pkg) && THROWING.has(bare))) {
          found.push([source, importer]);
        }
        return null;
      },
    },
    buildEnd() {
      for (const [source, importer] of found) {
        const chain = [source];
        const seen = new Set();
        for (let at = importer; at && !seen.has(at); ) {
          seen.add(at);
          const label = own(at) ? show(at) : packageOf(at);
          if (label && chain[0] !== label) chain.unshift(label);
          const info = this.getModuleInfo(at);
          const importers = info ? [...info.importers, ...info.dynamicImporters] : [];
          at = importers.find(own) ?? (own(at) ? undefined : importers[0]);
        }
        const key = chain.join(' → ');
        if (!report.builtins.some((c) => c.join(' → ') === key)) report.builtins.push(chain);
      }
      found.length = 0;
    },
  };
}

const nuxt = await kit.loadNuxt({
  cwd: dir,
  dev: false,
  overrides: {
    nitro: { preset },
    vite: { ssr: { noExternal: ['unctx'] }, plugins: [builtins('vite')] },
    hooks: {
      'nitro:config'(nitroConfig) {
        // The shield caches (from the manifest): Nitro's cached handlers store nothing in the isolate.
        nitroConfig.storage = { ...nitroConfig.storage, cache: { driver: 'null' } };
      },
      'nitro:init'(nitro) {
        nitro.hooks.hook('prerender:route', (route) => {
          if (!route.error && route.fileName) {
            report.prerendered.push({ route: route.route, fileName: route.fileName, contentType: route.contentType });
          }
        });
        nitro.hooks.hook('rollup:before', (n, rollupConfig) => {
          if (n.options.preset === 'nitro-prerender') return;
          report.routeRules = JSON.parse(JSON.stringify(n.options.routeRules));
          // The runtime's copy of the rules: no cache (Nitro would wrap the handler in its cache,
          // hashing every body to store nothing), isr instead, which keeps Nuxt rendering the
          // route's payload for client-side navigation.
          const runtime = {};
          for (const [path, rule] of Object.entries(n.options.routeRules)) {
            const { cache, ...rest } = rule;
            runtime[path] = cache && rest.isr === undefined ? { ...rest, isr: true } : rest;
          }
          // A prerendered page's payload may have to be rendered (see nuxt.ts).
          for (const page of report.prerendered) {
            if (!page.fileName.endsWith('.html')) continue;
            const key = page.route.split('?')[0].replace(/[/]$/, '') + '/_payload.json';
            runtime[key] = { ...runtime[key], isr: true };
          }
          n.options.runtimeConfig.nitro.routeRules = runtime;
          rollupConfig.plugins = [asyncHooks(), builtins('nitro'), ...[rollupConfig.plugins ?? []].flat()];
        });
        nitro.hooks.hook('compiled', (n) => {
          report.publicDir = n.options.output.publicDir;
          report.serverFile = n.options.output.serverDir + '/index.mjs';
        });
      },
    },
  },
});
buildDir = nuxt.options.buildDir;
report.buildAssetsDir = nuxt.options.app.buildAssetsDir;
// Nuxt's and Nitro's async context: the bundle is lowered for it (Nitro imports
// node:async_hooks either way, and leaves it unused without the flag).
if (nuxt.options.experimental?.asyncContext) report.asyncHooks = true;
report.buildId = nuxt.options.runtimeConfig?.app?.buildId ?? nuxt.options.buildId;
await kit.writeTypes(nuxt);
await kit.buildNuxt(nuxt);
await nuxt.close();
save();
`;

/**
 * `env` without what marks a test run (`VITEST*`, `TEST`, `JEST_WORKER_ID`):
 * Nuxt builds differently under a test runner (a fixed build id `test`, no
 * output), and `flotilla build` always makes a production build.
 */
function productionEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(env).filter(([key]) => !/^(VITEST.*|TEST|JEST_WORKER_ID)$/.test(key)),
  );
}

/** `<dir or a parent>/node_modules/nuxt`, as npm and pnpm install it. */
async function findNuxt(dir: string): Promise<string | undefined> {
  const pkg = await findUp(dir, join('node_modules', 'nuxt', 'package.json'));
  return pkg === undefined ? undefined : dirname(pkg);
}

/** Why this Node cannot run Nuxt 4.6, or undefined when it can. */
export function nodeTooOld(version: string = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const floor = NUXT_NODE[major];
  const ok = major >= 26 || (floor !== undefined && minor >= floor);
  return ok ? undefined : `Nuxt 4.6 needs Node ^22.22.3, ^24.15.0 or 26+; this is Node ${version}`;
}

/** Options of {@link runNuxtBuild}. */
export interface RunNuxtBuildOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute project directory. */
  dir: string;
  /** Absolute directory (inside `dir`) for this build's own files and Nitro's output. */
  work: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Runs Nuxt's build of the app in `dir` with Flotilla's preset (its output
 * lines go to `progress`, phase `framework`) and returns what it built.
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` when Nuxt is not installed or the
 * build fails (with the end of its output).
 */
export async function runNuxtBuild(options: RunNuxtBuildOptions): Promise<NuxtBuildReport> {
  const { app, dir, work, progress } = options;
  const nuxtDir = await findNuxt(dir);
  if (nuxtDir === undefined) {
    throw buildFailure(
      app,
      `framework "nuxt" needs Nuxt, and ${displayPath(join(dir, 'node_modules', 'nuxt'))} does not exist: ` +
        'install the app\'s dependencies (npm install; "nuxt" among its dependencies)',
    );
  }
  const runner = join(work, 'runner.mjs');
  const preset = join(work, 'preset');
  const reportFile = join(work, 'report.json');
  await writeFile(runner, RUNNER_SOURCE);
  await mkdir(preset, { recursive: true });
  await writeFile(join(preset, 'entry.mjs'), ENTRY_SOURCE);
  await writeFile(
    join(preset, 'nitro.config.mjs'),
    presetSource(join(preset, 'entry.mjs'), join(work, 'output')),
  );

  progress({ phase: 'framework', detail: `nuxt build (${displayPath(nuxtDir)})` });
  const { code, tail } = await runFrameworkProcess({
    command: process.execPath,
    args: [runner, dir, preset, reportFile],
    cwd: dir,
    env: {
      ...productionEnv(process.env),
      PATH: pathWithThisNode(),
      NODE_ENV: 'production',
      // Nuxt's own presets never win over Flotilla's.
      NITRO_PRESET: preset,
      SERVER_PRESET: preset,
    },
    progress,
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips cursor moves as well as colours
    escapes: /\u001b\[[0-9;?]*[A-Za-z]/g,
  });

  let report: Partial<NuxtBuildReport> | undefined;
  try {
    report = JSON.parse(await readFile(reportFile, 'utf8')) as Partial<NuxtBuildReport>;
  } catch {
    report = undefined;
  }
  if (code !== 0) {
    const old = nodeTooOld();
    throw buildFailure(
      app,
      `nuxt build failed (${typeof code === 'number' ? `exit code ${code}` : code})${old ? ` (${old})` : ''}:\n${tail.join('\n')}`,
    );
  }
  if (
    report === undefined ||
    typeof report.serverFile !== 'string' ||
    typeof report.publicDir !== 'string'
  ) {
    throw buildFailure(
      app,
      'nuxt build made no server build: check that nuxt.config does not turn ssr off or generate a static site only' +
        (tail.length > 0 ? `; the end of its output:\n${tail.join('\n')}` : ''),
    );
  }
  return {
    routeRules: report.routeRules ?? {},
    prerendered: report.prerendered ?? [],
    publicDir: report.publicDir,
    serverFile: report.serverFile,
    buildAssetsDir: report.buildAssetsDir ?? '/_nuxt/',
    buildId: report.buildId ?? '',
    builtins: report.builtins ?? [],
    asyncHooks: report.asyncHooks === true,
  };
}
