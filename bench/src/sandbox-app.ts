/**
 * The sandbox side of the benches: bundles of the example apps for the
 * isolate, and a directory of deployments the workers'
 * `DirectoryBundleStore` reads (`<root>/<deploymentId>/{bundle.js,manifest.json}`).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Manifest } from '@flotilla/sdk';
import { ISOLATE_BUNDLE_OPTIONS } from '@flotilla/sdk/build';
import { build } from 'esbuild';
import { type BenchApp, defines, entrySource } from './plain-app.ts';

const RESOLVE_DIR = dirname(fileURLToPath(import.meta.url));

/** A bundle for the isolate: its code and content hash. */
export interface SandboxBundle {
  code: string;
  bundleHash: string;
  bundleBytes: number;
}

/**
 * The `memory` entry of `app` (see `plain-app.ts`: `renderRoute` over the
 * catalogue compiled into the bundle, passed to `Flotilla.serve`) bundled as
 * `flotilla build` bundles an app: esbuild IIFE for the browser platform,
 * ES2022, minified, automatic JSX, the build's asset map and `define`s.
 *
 * @param manifest - The manifest of the app's real build (its asset map).
 */
export async function bundleMemoryApp(app: BenchApp, manifest: Manifest): Promise<SandboxBundle> {
  const result = await build({
    stdin: {
      contents: entrySource(app, 'memory', 'isolate'),
      resolveDir: RESOLVE_DIR,
      sourcefile: '<bench-memory-entry>',
      loader: 'js',
    },
    ...ISOLATE_BUNDLE_OPTIONS,
    define: defines(app, manifest),
    logLevel: 'warning',
  });
  const file = result.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no bundle for ${app.name}`);
  return {
    code: file.text,
    bundleHash: createHash('sha256').update(file.contents).digest('hex'),
    bundleBytes: file.contents.byteLength,
  };
}

/** The bundle `flotilla build` wrote to `bundlePath`. */
export async function readBuiltBundle(
  bundlePath: string,
  manifest: Manifest,
): Promise<SandboxBundle> {
  const code = await readFile(bundlePath, 'utf8');
  return { code, bundleHash: manifest.bundleHash, bundleBytes: Buffer.byteLength(code) };
}

/**
 * Writes `bundle` as deployment `deploymentId` under `root` for a
 * `DirectoryBundleStore(root)`: `bundle.js`, and a `manifest.json` holding
 * what the store reads (`bundleHash`, `backends`) and the app's name.
 */
export async function writeDeployment(
  root: string,
  deploymentId: string,
  app: string,
  bundle: SandboxBundle,
  backends: Record<string, string>,
): Promise<void> {
  const dir = join(root, deploymentId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'bundle.js'), bundle.code);
  const manifest = {
    name: app,
    bundleHash: bundle.bundleHash,
    bundleBytes: bundle.bundleBytes,
    backends,
  };
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
}
