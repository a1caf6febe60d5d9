/**
 * Builds the Vue shop into `dist/bundle.js` + `dist/manifest.json`.
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-vue-shop/build`.
 *
 * @module
 */
import { join } from 'node:path';
import { type BuildAppResult, buildApp } from '@flotilla/sdk/build';

/** Options of {@link build}. */
export interface BuildOptions {
  /** Where to write `bundle.js` and `manifest.json`. @defaultValue `<package>/dist` */
  outDir?: string;
}

/**
 * Compile-time flags Vue's builds read, as esbuild `define`s: the bundle is
 * built with them, and so is any other build of this source (the bench's
 * plain-Node baseline).
 */
export const VUE_DEFINES: Readonly<Record<string, string>> = {
  __VUE_OPTIONS_API__: 'true',
  __VUE_PROD_DEVTOOLS__: 'false',
  __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
};

/**
 * Builds the Vue shop bundle and manifest.
 *
 * @returns Absolute paths of `bundle.js` and `manifest.json`, and the manifest.
 */
export async function build(options: BuildOptions = {}): Promise<BuildAppResult> {
  return buildApp({
    entry: join(import.meta.dirname, 'src', 'app.ts'),
    outDir: options.outDir ?? join(import.meta.dirname, 'dist'),
    name: 'vue-shop',
    framework: 'vue',
    routes: [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/p/:id' },
    ],
    define: { ...VUE_DEFINES },
  });
}

if (import.meta.main) {
  const { bundlePath, manifest } = await build();
  console.log(
    `built ${manifest.name}: ${bundlePath} (${(manifest.bundleBytes / 1024).toFixed(1)} KiB, sha256 ${manifest.bundleHash})`,
  );
}
