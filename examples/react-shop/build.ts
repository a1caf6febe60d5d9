/**
 * Builds the React shop into `dist/bundle.js` + `dist/manifest.json`.
 *
 * Run it (`node build.ts`, `pnpm build`) or import `build` from
 * `@flotilla/example-react-shop/build`.
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
 * Builds the React shop bundle and manifest.
 *
 * @returns Absolute paths of `bundle.js` and `manifest.json`, and the manifest.
 */
export async function build(options: BuildOptions = {}): Promise<BuildAppResult> {
  return buildApp({
    entry: join(import.meta.dirname, 'src', 'app.tsx'),
    outDir: options.outDir ?? join(import.meta.dirname, 'dist'),
    name: 'react-shop',
    framework: 'react',
    routes: [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/p/:id' },
    ],
  });
}

if (import.meta.main) {
  const { bundlePath, manifest } = await build();
  console.log(
    `built ${manifest.name}: ${bundlePath} (${(manifest.bundleBytes / 1024).toFixed(1)} KiB, sha256 ${manifest.bundleHash})`,
  );
}
