/**
 * The shops' build scripts (`examples/*-shop/build.ts`): `flotilla build`
 * of a shop's directory into its `dist/`, and the line they print when run.
 * Node-only.
 *
 * @module
 */
import { join } from 'node:path';
import { type BuildProjectResult, buildProject } from '@flotilla/sdk/build';

/** Options of a shop's `build`. */
export interface ShopBuildOptions {
  /** Where to write the build. @default `<shop>/dist` */
  outDir?: string;
}

/**
 * Builds the shop in `projectDir` (holding `flotilla.config.json`).
 *
 * @returns `outDir`, `bundlePath`, `manifestPath` (absolute), the manifest and the config read.
 */
export function buildShop(
  projectDir: string,
  options: ShopBuildOptions = {},
): Promise<BuildProjectResult> {
  return buildProject({ dir: projectDir, outDir: options.outDir ?? join(projectDir, 'dist') });
}

/** What a shop's build script prints: `built react-shop: dist (…)`. */
export function describeBuild({ outDir, manifest }: BuildProjectResult): string {
  const client = manifest.assets.filter((a) => a.path.startsWith('/assets/client/'));
  const clientBytes = client.reduce((n, a) => n + a.bytes, 0);
  return (
    `built ${manifest.name}: ${outDir} (${(manifest.bundleBytes / 1024).toFixed(1)} KiB bundle, ` +
    `${(clientBytes / 1024).toFixed(1)} KiB browser code in ${client.length} files, ` +
    `${manifest.routes.length} routes, ${manifest.assets.length} asset paths, content ${manifest.contentHash.slice(0, 12)})`
  );
}
