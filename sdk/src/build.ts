/**
 * `flotilla build`: turns an app into what the fleet deploys, a directory
 * holding `bundle.js` (one classic script evaluated inside an isolate),
 * `manifest.json` (Manifest v2: routes, backends, assets) and `assets/`
 * (the static files and, for React and Vue apps, the browser code that
 * hydrates their pages, at `assets<asset.path>`).
 *
 * - {@link buildProject} reads `flotilla.config.json` from a project directory.
 * - {@link buildApp} takes the same settings as options (programmatic use).
 *
 * Node-only (it runs esbuild): import it from `@flotilla/sdk/build`, never
 * from code that ends up inside a bundle.
 *
 * @module
 */
import { join, relative, resolve } from 'node:path';
import type { BundleFramework, Manifest, ManifestLimits, ManifestRoute } from '@flotilla/manifest';
import { collectAssets } from './build-assets.ts';
import { bundleEntry } from './build-bundle.ts';
import { bundleClient, type ClientBundle } from './build-client.ts';
import { BuildError, buildFailure } from './build-errors.ts';
import { type BuildSpec, validateOptions } from './build-options.ts';
import { checkOutDir } from './build-output.ts';
import { describePrerender } from './build-prerender.ts';
import { routeWarnings } from './build-route-warnings.ts';
import { describeRoutes } from './build-routes.ts';
import { resolveStaticRoutes } from './build-static-routes.ts';
import { writeBuild } from './build-write.ts';
import { buildAngular } from './connectors/angular.ts';
import { buildNext } from './connectors/next.ts';
import { buildNuxt } from './connectors/nuxt.ts';
import { buildReactRouter } from './connectors/react-router.ts';
import { buildSvelteKit } from './connectors/sveltekit.ts';
import { describeDetection } from './detect.ts';
import { displayPath, entryApp, loadProjectConfig, type ProjectConfig } from './project-config.ts';

export {
  ASYNC_CONTEXT_LOWERING,
  ISOLATE_BUNDLE_OPTIONS,
  lowerForAsyncContext,
} from './build-bundle.ts';
export { BuildError, type BuildErrorCode } from './build-errors.ts';
export { DESCRIBE_ROUTES } from './build-routes.ts';
export { type BuiltApp, computeContentHash, writeBuild } from './build-write.ts';
export type { FrameworkDetection, PackageJson } from './detect.ts';
export { describeDetection, detectFramework, readPackageJson } from './detect.ts';
export type { FrameworkInfo, ProjectFramework } from './detect-frameworks.ts';
export { FRAMEWORKS, PROJECT_FRAMEWORKS } from './detect-frameworks.ts';
export {
  DEFAULT_MAX_BUNDLE_BYTES,
  loadProjectConfig,
  PROJECT_CONFIG_FILE,
  type ProjectConfig,
} from './project-config.ts';

/** The phases of a build, in order (`config` only for {@link buildProject}). */
export type BuildPhase =
  | 'config'
  | 'framework'
  | 'assets'
  | 'client'
  | 'bundle'
  | 'routes'
  | 'write';

/** A progress report: each phase reports when it starts and when it is done. */
export interface BuildProgress {
  phase: BuildPhase;
  /** Human-readable, e.g. `bundling src/app.tsx` or `bundle.js is 120.4 KB`. */
  detail: string;
}

/** Options of {@link buildApp}. */
export interface BuildAppOptions {
  /**
   * Path of the app module (relative to the current directory or absolute).
   * Its default export must be a Router or a `FetchHandler`.
   */
  entry: string;
  /**
   * Directory that receives `bundle.js`, `manifest.json` and `assets/`. It
   * is replaced as a whole, and only once the build succeeded.
   */
  outDir: string;
  /** App name: lower-case letters, digits and `-`, 1–50 characters (it becomes a host label). */
  name: string;
  /** Framework the app renders with. */
  framework: BundleFramework;
  /**
   * Named backends the bundle may fetch (name → origin). Proxy routes must
   * name one of them.
   * @default {}
   */
  backends?: Record<string, string>;
  /** Directory of static files (relative to the current directory or absolute). @default none */
  staticDir?: string;
  /** Largest accepted `bundle.js`, in bytes. @default 10 MiB ({@link DEFAULT_MAX_BUNDLE_BYTES}) */
  maxBundleBytes?: number;
  /**
   * Extra esbuild `define`s (identifier → JS expression as source text), e.g.
   * Vue's `__VUE_OPTIONS_API__: 'true'`. `process.env.NODE_ENV` is always
   * `"production"` and `__FLOTILLA_ASSETS__` is always the asset map.
   * @default {}
   */
  define?: Record<string, string>;
  /**
   * Sandbox limits the app asks for, written to the manifest's `limits`:
   * `cpuMs`, `wallMs`, `heapMb` (at least 8), `outputBytes`, `bundleBytes`,
   * `backendResponseBytes`, each a positive integer. A worker holds the
   * deployment to the smaller of these and the operator's limits (asking
   * for more than the operator allows gets the operator's limit).
   * @default none: the operator's limits
   * @example { cpuMs: 200, heapMb: 64 }
   */
  limits?: ManifestLimits;
  /** Paths prerendered at promote, besides `router.prerender()`'s (config `prerenderRequests`). */
  prerenderRequests?: Array<{ path: string }>;
  /** Called as each phase starts and ends. */
  onProgress?: (progress: BuildProgress) => void;
}

/** What a build wrote. */
export interface BuildAppResult {
  /** Absolute path of the output directory. */
  outDir: string;
  /** Absolute path of `bundle.js`. */
  bundlePath: string;
  /** Absolute path of `manifest.json`. */
  manifestPath: string;
  /** The manifest as written. */
  manifest: Manifest;
}

/** Options of {@link buildProject}. */
export interface BuildProjectOptions {
  /** The project directory, holding `flotilla.config.json`. */
  dir: string;
  /**
   * Where to write the build (relative to the current directory or
   * absolute). Replaced as a whole, and only once the build succeeded.
   * @default `<dir>/.flotilla/build`
   */
  outDir?: string;
  /** Called as each phase starts and ends. */
  onProgress?: (progress: BuildProgress) => void;
}

/** What {@link buildProject} wrote, and the config it read. */
export interface BuildProjectResult extends BuildAppResult {
  config: ProjectConfig;
}

/** Default output directory of {@link buildProject}, relative to the project. */
export const DEFAULT_OUT_DIR = join('.flotilla', 'build');

/**
 * Builds the project in `dir` as its `flotilla.config.json` says.
 *
 * @returns Paths of what was written, the manifest and the config.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` for a bad config (see
 * {@link loadProjectConfig}), `FLOTILLA_ERR_BUILD` when the app does not
 * build. A failed build leaves an earlier output directory as it was.
 * @example
 * const { manifest, outDir } = await buildProject({
 *   dir: 'examples/react-shop',
 *   onProgress: ({ phase, detail }) => console.log(`${phase}: ${detail}`),
 * });
 */
export async function buildProject(options: BuildProjectOptions): Promise<BuildProjectResult> {
  if (typeof options !== 'object' || options === null) {
    throw new BuildError('FLOTILLA_ERR_INVALID_OPTION', 'buildProject: options must be an object');
  }
  const { dir, onProgress } = options;
  if (typeof dir !== 'string' || dir === '') {
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      'buildProject: option "dir" must be a non-empty path',
    );
  }
  if (
    options.outDir !== undefined &&
    (typeof options.outDir !== 'string' || options.outDir === '')
  ) {
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      'buildProject: option "outDir" must be a non-empty path',
    );
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new BuildError(
      'FLOTILLA_ERR_INVALID_OPTION',
      'buildProject: option "onProgress" must be a function',
    );
  }
  const progress = onProgress ?? (() => {});
  progress({
    phase: 'config',
    detail: `reading ${displayPath(join(resolve(dir), 'flotilla.config.json'))}`,
  });
  const config = await loadProjectConfig(dir);
  if (config.detected) progress({ phase: 'config', detail: describeDetection(config.detected) });
  const outDir =
    options.outDir === undefined ? join(config.dir, DEFAULT_OUT_DIR) : resolve(options.outDir);
  // Apps built by their framework's own build (framework mode) go through their connector.
  if (config.framework === 'react-router') {
    return { ...(await buildReactRouter(config, outDir, progress)), config };
  }
  if (config.framework === 'nuxt') {
    return { ...(await buildNuxt(config, outDir, progress)), config };
  }
  if (config.framework === 'sveltekit') {
    return { ...(await buildSvelteKit(config, outDir, progress)), config };
  }
  if (config.framework === 'angular') {
    return { ...(await buildAngular(config, outDir, progress)), config };
  }
  if (config.framework === 'next') {
    return { ...(await buildNext(config, outDir, progress)), config };
  }
  const app = entryApp(config);
  progress({
    phase: 'config',
    detail: `${config.name} (${config.framework}), entry ${relative(config.dir, app.entry)}`,
  });
  const result = await runBuild({
    ...config,
    ...app,
    root: config.dir,
    outDir,
    progress,
  });
  return { ...result, config };
}

/**
 * Bundles `entry` into `<outDir>/bundle.js`, copies the static files into
 * `<outDir>/assets/` and writes `<outDir>/manifest.json` (Manifest v2).
 *
 * Steps: the static files are hashed; the bundle is built with
 * `__FLOTILLA_ASSETS__` mapping each plain path to its hashed path (esbuild
 * IIFE for the browser platform, ES2022, minified, automatic JSX); the
 * bundle is evaluated in a `node:vm` context and the Router it serves
 * describes its routes (a plain fetch handler gets one catch-all render
 * route); everything is written to a temporary directory beside `outDir`
 * that then replaces it.
 *
 * @param options - See {@link BuildAppOptions}.
 * @returns Paths of the written files and the manifest.
 * @throws BuildError `FLOTILLA_ERR_INVALID_OPTION` when an option is invalid
 * (the message names it); `FLOTILLA_ERR_BUILD` when esbuild fails (with its
 * diagnostics, and the import chain to any Node built-in or native addon),
 * when the bundle is over `maxBundleBytes`, or when its routes cannot be
 * described.
 * @example
 * await buildApp({ entry: 'src/app.tsx', outDir: 'dist', name: 'shop', framework: 'react',
 *   backends: { api: 'https://api.shop.example' }, staticDir: 'public' });
 */
export async function buildApp(options: BuildAppOptions): Promise<BuildAppResult> {
  const spec = await validateOptions(options);
  return runBuild(spec);
}

/** `11.2 MB`, `340.5 KB`, `512 bytes` (1024-based). */
export function formatBytes(bytes: number): string {
  const trim = (n: number): string => n.toFixed(1).replace(/\.0$/, '');
  if (bytes < 1024) return `${bytes} bytes`;
  if (bytes < 1024 * 1024) return `${trim(bytes / 1024)} KB`;
  return `${trim(bytes / (1024 * 1024))} MB`;
}

async function runBuild(spec: BuildSpec): Promise<BuildAppResult> {
  const { name, framework, entry, root, outDir, backends, staticDir, limits, progress } = spec;
  await checkOutDir(spec);

  // Assets first: the bundle needs their hashed paths.
  progress({
    phase: 'assets',
    detail: staticDir ? `hashing static files in ${displayPath(staticDir)}` : 'no static directory',
  });
  const { assets, hashedPaths, fileCount } = await collectAssets(name, staticDir);
  const assetBytes = assets.reduce((n, a) => n + (a.permanent ? a.bytes : 0), 0);
  progress({
    phase: 'assets',
    detail: `${fileCount} static file(s), ${formatBytes(assetBytes)}, served at ${assets.length} path(s)`,
  });

  // The browser code next: the bundle's pages link its scripts.
  const client = await buildClient(spec, hashedPaths);
  for (const asset of client?.assets ?? []) {
    if (assets.some((a) => a.path === asset.path)) {
      throw buildFailure(
        name,
        `a static file would be served at ${asset.path}, where the browser code is; rename it`,
      );
    }
    assets.push(asset);
  }
  assets.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  progress({ phase: 'bundle', detail: `bundling ${relative(root, entry) || entry}` });
  const code = await bundleEntry({
    app: name,
    entry,
    root,
    define: spec.define,
    hashedPaths,
    client: client?.scripts,
  });
  checkBundleSize(name, code, spec.maxBundleBytes, progress);

  progress({ phase: 'routes', detail: 'evaluating bundle.js to describe its routes' });
  const routes: ManifestRoute[] = resolveStaticRoutes(
    name,
    describeRoutes({ app: name, code, backends }),
    { root, staticDir, assets },
  );
  progress({ phase: 'routes', detail: `${routes.length} route(s)` });
  for (const warning of routeWarnings(routes))
    progress({ phase: 'routes', detail: `warning: ${warning}` });

  const configured = spec.prerenderRequests;
  const prerender = await describePrerender({ app: name, code, configured, routes, progress });
  const out = { name, framework, code, routes, backends, assets, limits, outDir, progress };
  return writeBuild({ ...out, prerender });
}

/** Refuses a `bundle.js` over `maxBundleBytes`; reports its size. @internal for the framework connectors. */
export function checkBundleSize(
  name: string,
  code: Uint8Array,
  maxBundleBytes: number,
  progress: (progress: BuildProgress) => void,
): void {
  if (code.byteLength > maxBundleBytes) {
    throw buildFailure(
      name,
      `bundle.js is ${formatBytes(code.byteLength)} (${code.byteLength} bytes), over the ` +
        `${formatBytes(maxBundleBytes)} cap (maxBundleBytes)`,
    );
  }
  progress({ phase: 'bundle', detail: `bundle.js is ${formatBytes(code.byteLength)}` });
}

/** The browser code of a React or Vue app (see `build-client.ts`), with progress. */
async function buildClient(
  spec: BuildSpec,
  hashedPaths: Record<string, string>,
): Promise<ClientBundle | undefined> {
  const { name, framework, entry, root, progress } = spec;
  if (framework !== 'react' && framework !== 'vue') return undefined;
  progress({ phase: 'client', detail: 'bundling the browser code that hydrates the pages' });
  const client = await bundleClient({
    app: name,
    entry,
    root,
    framework,
    define: spec.define,
    hashedPaths,
  });
  progress({
    phase: 'client',
    detail: client
      ? `${client.assets.map((a) => `${a.path.slice(a.path.lastIndexOf('/') + 1)} ${formatBytes(a.bytes)}`).join(', ')}`
      : `no pages to hydrate (the app uses neither reactPage nor vuePage): no browser code`,
  });
  return client;
}
