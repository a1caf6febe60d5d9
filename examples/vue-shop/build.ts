/**
 * Builds the Vue shop (as `flotilla.config.json` says) into `dist/`:
 * `bundle.js`, `manifest.json` and `assets/`.
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-vue-shop/build`.
 *
 * @module
 */
import { join } from 'node:path';
import { type BuildProjectResult, buildProject } from '@flotilla/sdk/build';

/** Options of {@link build}. */
export interface BuildOptions {
  /** Where to write the build. @default `<package>/dist` */
  outDir?: string;
}

/** The package directory (holding `flotilla.config.json`). */
export const PROJECT_DIR = import.meta.dirname;

/**
 * Compile-time flags Vue's builds read, as esbuild `define`s: the same as
 * `define` in `flotilla.config.json` (the bundle is built with those), for
 * any other build of this source (the bench's plain-Node baseline).
 */
export const VUE_DEFINES: Readonly<Record<string, string>> = {
  __VUE_OPTIONS_API__: 'true',
  __VUE_PROD_DEVTOOLS__: 'false',
  __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
};

/**
 * Builds the Vue shop.
 *
 * @returns `outDir`, `bundlePath`, `manifestPath` (absolute), the manifest and the config read.
 * @example
 * const { manifest, outDir } = await build({ outDir: '/tmp/vue-shop' });
 */
export async function build(options: BuildOptions = {}): Promise<BuildProjectResult> {
  return buildProject({ dir: PROJECT_DIR, outDir: options.outDir ?? join(PROJECT_DIR, 'dist') });
}

if (import.meta.main) {
  const { outDir, manifest } = await build();
  console.log(
    `built ${manifest.name}: ${outDir} (${(manifest.bundleBytes / 1024).toFixed(1)} KiB bundle, ` +
      `${manifest.routes.length} routes, ${manifest.assets.length} asset paths, content ${manifest.contentHash.slice(0, 12)})`,
  );
}
