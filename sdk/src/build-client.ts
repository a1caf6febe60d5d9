/**
 * The browser step of `flotilla build`: the code that hydrates an app's
 * pages. Its entry imports the app module itself and runs the client
 * runtime (`client/hydrate.ts`) on its default export; in this build
 * `@flotilla/sdk/react` and `@flotilla/sdk/vue` are their browser versions
 * (`client/react.ts`, `client/vue.ts`: they hydrate instead of rendering)
 * and the server renderers are left out.
 *
 * The output is ES modules, code-split, minified, with content-hashed
 * names, served as permanent assets under `/assets/client/`: the entry
 * (the app's code and the runtime) and a shared chunk with the framework
 * (React and React DOM, or Vue), which changes only when the framework does.
 *
 * Node-only.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BundleFramework } from '@flotilla/manifest';
import { type BuildResult, build, type Metafile, type Plugin } from 'esbuild';
import { CONTENT_TYPES, type CollectedAsset, HASHED_ASSET_PREFIX } from './build-assets.ts';
import { INNER_RESOLVE, importGraph, isInnerResolve } from './build-bundle.ts';
import { buildFailure } from './build-errors.ts';
import type { ClientScripts } from './router/page.ts';

/** URL path prefix of the browser code's files. */
export const CLIENT_ASSET_PREFIX = `${HASHED_ASSET_PREFIX}client/`;

/**
 * The esbuild options of the browser code: ES modules for current
 * browsers, split into chunks, minified, with content-hashed file names.
 */
export const CLIENT_BUNDLE_OPTIONS = {
  bundle: true,
  write: false,
  format: 'esm',
  splitting: true,
  platform: 'browser',
  target: 'es2022',
  minify: true,
  jsx: 'automatic',
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
} as const;

/**
 * The packages of each framework that go into the shared framework chunk
 * (what the browser versions of the page modules import, and the JSX runtime).
 */
const FRAMEWORK_MODULES: Partial<Record<BundleFramework, readonly string[]>> = {
  react: ['react', 'react/jsx-runtime', 'react-dom/client'],
  vue: ['vue'],
};

/** Server renderers: left out of the browser code (a page renders on the server). */
const SERVER_RENDERERS =
  /^(?:react-dom\/server(?:\.edge|\.browser|\.node)?|react-dom\/static(?:\.edge|\.browser|\.node)?|@vue\/server-renderer|vue\/server-renderer)$/;

/** What the browser's stand-in for a server renderer exports: functions that say why they fail. */
const SERVER_RENDERER_STUB = [
  'const unavailable = (name) => () => {',
  "  throw new Error(name + ' is not in the browser code: pages render on the server');",
  '};',
  'module.exports = Object.fromEntries([',
  "  'renderToString', 'renderToStaticMarkup', 'renderToReadableStream', 'renderToPipeableStream',",
  "  'resume', 'resumeToPipeableStream', 'prerender', 'prerenderToNodeStream',",
  "  'renderToWebStream', 'renderToNodeStream', 'renderToSimpleStream', 'renderToStream',",
  "  'pipeToNodeWritable', 'pipeToWebWritable',",
  '].map((name) => [name, unavailable(name)]));',
].join('\n');

/** Page modules whose browser versions this build uses. */
const PAGE_MODULES = /^@flotilla\/sdk\/(react|vue)$/;

/** Source files of this package end like this module (`.ts` from source, `.js` built). */
const OWN_EXTENSION = extname(fileURLToPath(import.meta.url));

/** The client runtime the browser entry runs. */
const HYDRATE_MODULE = fileURLToPath(new URL(`./client/hydrate${OWN_EXTENSION}`, import.meta.url));

const VIRTUAL = 'flotilla-client';

/** Options of {@link bundleClient}. */
export interface BundleClientOptions {
  /** App name, for error messages. */
  app: string;
  /** Absolute path of the app module. */
  entry: string;
  /** Directory paths in messages are shown relative to (and esbuild's working directory). */
  root: string;
  /** The app's framework: which packages make the framework chunk. */
  framework: BundleFramework;
  /** Extra esbuild defines, as for the isolate's bundle. */
  define: Record<string, string>;
  /** Plain asset path → hashed path, compiled in as `__FLOTILLA_ASSETS__` (as in the bundle). */
  hashedPaths: Record<string, string>;
}

/** The browser code of a build. */
export interface ClientBundle {
  /** Its files, as permanent assets under {@link CLIENT_ASSET_PREFIX}. */
  assets: CollectedAsset[];
  /** What a page loads: the entry and the chunks to preload. */
  scripts: ClientScripts;
}

/**
 * Builds the browser code that hydrates the app's pages, or returns
 * undefined when the app has none to hydrate (its framework is not React
 * or Vue, or it uses neither `@flotilla/sdk/react` nor `@flotilla/sdk/vue`).
 *
 * @throws BuildError `FLOTILLA_ERR_BUILD` with esbuild's diagnostics, or
 * naming the import chain to a Node built-in or native addon.
 */
export async function bundleClient(
  options: BundleClientOptions,
): Promise<ClientBundle | undefined> {
  const { app, entry, root } = options;
  const frameworkModules = FRAMEWORK_MODULES[options.framework];
  if (frameworkModules === undefined) return undefined;
  const graph = importGraph(app, root);
  let usesPages = false;

  const sources: Record<string, string> = {
    // The app's code and the runtime that hydrates its pages.
    main: [
      `import app from ${JSON.stringify(entry)};`,
      `import { hydrateApp } from ${JSON.stringify(HYDRATE_MODULE)};`,
      'hydrateApp(app);',
    ].join('\n'),
    // Never loaded: its only purpose is to make the framework a chunk of its own,
    // shared with `main`.
    framework: [
      ...frameworkModules.map((m, i) => `import * as m${i} from ${JSON.stringify(m)};`),
      `export { ${frameworkModules.map((_, i) => `m${i}`).join(', ')} };`,
    ].join('\n'),
  };

  const browserVersions: Plugin = {
    name: 'flotilla-browser-versions',
    setup(b) {
      b.onResolve({ filter: /^flotilla-client:/ }, (args) => ({
        path: args.path.slice(VIRTUAL.length + 1),
        namespace: VIRTUAL,
      }));
      b.onLoad({ filter: /.*/, namespace: VIRTUAL }, (args) => ({
        contents: sources[args.path] ?? '',
        resolveDir: dirname(entry),
        loader: 'js',
      }));
      b.onResolve({ filter: SERVER_RENDERERS }, (args) =>
        isInnerResolve(args) ? undefined : { path: args.path, namespace: 'flotilla-server-only' },
      );
      b.onLoad({ filter: /.*/, namespace: 'flotilla-server-only' }, () => ({
        contents: SERVER_RENDERER_STUB,
        loader: 'js',
      }));
      // The page modules the app imports, swapped for their browser versions
      // beside them (the same copy of the SDK the app resolves).
      b.onResolve({ filter: PAGE_MODULES }, async (args) => {
        if (isInnerResolve(args)) return undefined;
        const server = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          namespace: args.namespace,
          resolveDir: args.resolveDir,
          pluginData: { [INNER_RESOLVE]: true },
        });
        if (server.errors.length > 0) return undefined;
        const file = server.path;
        const browser = join(dirname(file), 'client', basename(file));
        if (!existsSync(browser)) {
          return {
            errors: [{ text: `${args.path} has no browser version (looked for ${browser})` }],
          };
        }
        usesPages = true;
        return { path: browser };
      });
    },
  };

  let result: BuildResult<{ metafile: true; write: false }>;
  try {
    result = await build({
      ...CLIENT_BUNDLE_OPTIONS,
      entryPoints: [
        { in: `${VIRTUAL}:main`, out: 'main' },
        { in: `${VIRTUAL}:framework`, out: 'framework' },
      ],
      outdir: join(root, '.flotilla-client'),
      absWorkingDir: root,
      metafile: true,
      define: {
        ...options.define,
        __FLOTILLA_ASSETS__: JSON.stringify(options.hashedPaths),
        'process.env.NODE_ENV': '"production"',
      },
      plugins: [browserVersions, graph.plugin],
      logLevel: 'silent',
    });
  } catch (error) {
    // Without pages the browser code is not needed: whatever is wrong with
    // the app itself, the bundle's build says.
    if (!usesPages) return undefined;
    throw await graph.failure(error);
  }
  if (!usesPages) return undefined;
  return clientAssets(app, root, result.metafile, result.outputFiles);
}

/** The entry's output and every chunk it imports, as assets; the scripts a page loads. */
function clientAssets(
  app: string,
  root: string,
  metafile: Metafile,
  files: ReadonlyArray<{ path: string; contents: Uint8Array }>,
): ClientBundle {
  const byPath = new Map(files.map((f) => [f.path, f.contents]));
  const absolute = (rel: string) => join(root, rel);
  const outputs = Object.entries(metafile.outputs);
  const main = outputs.find(([, o]) => o.entryPoint === `${VIRTUAL}:main`)?.[0];
  if (main === undefined) throw buildFailure(app, 'esbuild wrote no browser entry');

  const imports = (rel: string, kind?: string) =>
    (metafile.outputs[rel]?.imports ?? [])
      .filter((i) => !i.external && (kind === undefined || i.kind === kind))
      .map((i) => i.path);
  /** `from` and every output it imports (of `kind`), transitively. */
  const closure = (from: string, kind?: string): string[] => {
    const found = new Set([from]);
    for (const rel of found) for (const next of imports(rel, kind)) found.add(next);
    return [...found];
  };
  const urlOf = (rel: string) => `${CLIENT_ASSET_PREFIX}${basename(rel)}`;
  const assets = closure(main).map((rel): CollectedAsset => {
    const data = byPath.get(absolute(rel));
    if (data === undefined) throw buildFailure(app, `esbuild wrote no ${rel}`);
    return {
      path: urlOf(rel),
      hash: createHash('sha256').update(data).digest('hex'),
      bytes: data.byteLength,
      contentType: CONTENT_TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream',
      permanent: true,
      data,
    };
  });
  const preload = closure(main, 'import-statement')
    .filter((rel) => rel !== main)
    .map(urlOf);
  return {
    assets: assets.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    scripts: { entry: `${CLIENT_ASSET_PREFIX}${basename(main)}`, preload },
  };
}
