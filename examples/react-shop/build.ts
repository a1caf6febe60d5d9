/**
 * Builds the React shop (as `flotilla.config.json` says) into `dist/`:
 * `bundle.js`, `manifest.json` and `assets/` (the stylesheet and the
 * browser code that hydrates the pages).
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-react-shop/build`.
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
 * Builds the React shop.
 *
 * @returns `outDir`, `bundlePath`, `manifestPath` (absolute), the manifest and the config read.
 * @example
 * const { manifest, outDir } = await build({ outDir: '/tmp/react-shop' });
 */
export function build(options: ShopBuildOptions = {}): Promise<BuildProjectResult> {
  return buildShop(PROJECT_DIR, options);
}

if (import.meta.main) console.log(describeBuild(await build()));
