/**
 * Builds the Vue shop (as `flotilla.config.json` says) into `dist/`:
 * `bundle.js`, `manifest.json` and `assets/` (the stylesheet and the
 * browser code that hydrates the pages).
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-vue-shop/build`.
 *
 * @module
 */
import {
  buildShop,
  describeBuild,
  type ShopBuildOptions,
} from '@flotilla/example-products-api/shop-build';
import type { BuildProjectResult } from '@flotilla/sdk/build';

/** The package directory (holding `flotilla.config.json`). */
export const PROJECT_DIR = import.meta.dirname;

/**
 * Compile-time flags Vue's builds read, as esbuild `define`s: the same as
 * `define` in `flotilla.config.json` (the bundle and the browser code are
 * built with those), for any other build of this source (the bench's
 * plain-Node baseline).
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
export function build(options: ShopBuildOptions = {}): Promise<BuildProjectResult> {
  return buildShop(PROJECT_DIR, options);
}

if (import.meta.main) console.log(describeBuild(await build()));
