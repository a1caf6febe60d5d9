/**
 * Builds the Next.js shop (as `flotilla.config.json` says) into `dist/`:
 * Next.js's own build (`next build`) first, then `bundle.js`, `manifest.json` and
 * `assets/` for the fleet.
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-next-shop/build`.
 *
 * @module
 */
import { join } from 'node:path';
import { type BuildProgress, type BuildProjectResult, buildProject } from '@flotilla/sdk/build';

/** Options of {@link build}. */
export interface BuildOptions {
  /** Where to write the build. @default `<package>/dist` */
  outDir?: string;
  /** Called as each phase starts and ends (Next's output lines too). @default none */
  onProgress?: (progress: BuildProgress) => void;
}

/** The package directory (holding `flotilla.config.json`). */
export const PROJECT_DIR = import.meta.dirname;

/**
 * Builds the Next.js shop.
 *
 * @returns `outDir`, `bundlePath`, `manifestPath` (absolute), the manifest and the config read.
 * @example
 * const { manifest, outDir } = await build({ outDir: '/tmp/next-shop' });
 */
export async function build(options: BuildOptions = {}): Promise<BuildProjectResult> {
  return buildProject({
    dir: PROJECT_DIR,
    outDir: options.outDir ?? join(PROJECT_DIR, 'dist'),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
}

if (import.meta.main) {
  const { outDir, manifest } = await build({
    onProgress: ({ phase, detail }) => process.stderr.write(`${phase}: ${detail}\n`),
  });
  console.log(
    `built ${manifest.name}: ${outDir} (${(manifest.bundleBytes / 1024).toFixed(1)} KiB bundle, ` +
      `${manifest.assets.length} asset paths, content ${manifest.contentHash.slice(0, 12)})`,
  );
}
