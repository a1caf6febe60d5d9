/**
 * The last step of a build: the manifest (with its content hash), checked
 * as the shield and the workers will check it, written with `bundle.js` and
 * the assets.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  type BundleFramework,
  MANIFEST_LIMIT_KEYS,
  type Manifest,
  type ManifestAsset,
  type ManifestLimits,
  type ManifestRoute,
  validateManifest,
} from '@flotilla/manifest';
import type { BuildAppResult, BuildProgress } from './build.ts';
import type { CollectedAsset } from './build-assets.ts';
import { buildFailure } from './build-errors.ts';
import { writeOutput } from './build-output.ts';
import { displayPath } from './project-config.ts';

/**
 * The identity of a build: sha256 over the bundle hash, every asset (path,
 * hash, permanence, content type; sorted by path), the routes, the backends,
 * the name, the framework and, only when they set any, the `limits` (so the
 * hash of a build without limits is the same as before limits existed).
 * `builtAt` is not part of it, so two builds of the same input have the same
 * `contentHash`.
 */
export function computeContentHash(manifest: Omit<Manifest, 'contentHash' | 'builtAt'>): string {
  const h = createHash('sha256');
  h.update(`flotilla manifest ${manifest.manifestVersion}\n`);
  h.update(`app ${manifest.name} ${manifest.framework}\n`);
  h.update(`bundle ${manifest.bundleHash}\n`);
  const assets = [...manifest.assets].sort((a, b) =>
    a.path < b.path ? -1 : a.path > b.path ? 1 : 0,
  );
  for (const a of assets) {
    h.update(`asset ${a.path} ${a.hash} ${a.permanent ? 'permanent' : 'plain'} ${a.contentType}\n`);
  }
  h.update(`routes ${JSON.stringify(manifest.routes)}\n`);
  const backends = Object.keys(manifest.backends)
    .sort()
    .map((name) => [name, manifest.backends[name]]);
  h.update(`backends ${JSON.stringify(backends)}\n`);
  const limits = manifest.limits ?? {};
  const asked = MANIFEST_LIMIT_KEYS.filter((key) => limits[key] !== undefined).map((key) => [
    key,
    limits[key],
  ]);
  if (asked.length > 0) h.update(`limits ${JSON.stringify(asked)}\n`);
  if (manifest.prerender) h.update(`prerender ${JSON.stringify(manifest.prerender)}\n`);
  return h.digest('hex');
}

/** What a build made, ready to be written (see {@link writeBuild}). @internal */
export interface BuiltApp {
  name: string;
  framework: BundleFramework;
  /** The bytes of `bundle.js`. */
  code: Uint8Array;
  routes: ManifestRoute[];
  backends: Record<string, string>;
  assets: CollectedAsset[];
  limits?: ManifestLimits | undefined;
  /** Paths prerendered at promote (the manifest's `prerender`). @default none */
  prerender?: string[] | undefined;
  /** Absolute. */
  outDir: string;
  progress: (progress: BuildProgress) => void;
}

/**
 * Makes the manifest of a build (content hash, assets, routes), checks it as
 * the shield and the workers will, and writes `bundle.js`, `manifest.json`
 * and `assets/` to `outDir` (swapped in whole).
 *
 * @internal for the framework connectors (`connectors/`), which build their own way.
 */
export async function writeBuild(built: BuiltApp): Promise<BuildAppResult> {
  const { name, framework, code, routes, backends, assets, limits, outDir, progress } = built;
  const prerender = built.prerender?.length ? { prerender: [...new Set(built.prerender)] } : {};
  const bundleHash = createHash('sha256').update(code).digest('hex');
  const manifestAssets: ManifestAsset[] = assets.map(
    ({ path, hash, bytes, contentType, permanent }) => ({
      path,
      hash,
      bytes,
      contentType,
      permanent,
    }),
  );
  const identity = {
    manifestVersion: 2 as const,
    name,
    framework,
    bundleHash,
    bundleBytes: code.byteLength,
    routes,
    backends,
    assets: manifestAssets,
    ...(limits ? { limits } : {}),
    ...prerender,
  };
  // Key order as in the Manifest type; contentHash and builtAt after bundleBytes.
  // `limits` only when the app asks for some: manifests without stay as they were.
  const manifest: Manifest = {
    manifestVersion: 2,
    name,
    framework,
    bundleHash,
    bundleBytes: code.byteLength,
    contentHash: computeContentHash(identity),
    builtAt: new Date().toISOString(),
    routes,
    backends,
    assets: manifestAssets,
    ...(limits ? { limits } : {}),
    ...prerender,
  };

  try {
    validateManifest(JSON.parse(JSON.stringify(manifest)));
  } catch (error) {
    // A safety net: what the shield and the workers would refuse is never written.
    throw buildFailure(name, `the manifest would be invalid: ${(error as Error).message}`, error);
  }

  progress({ phase: 'write', detail: `writing ${displayPath(outDir)}` });
  await writeOutput(outDir, code, manifest, assets);
  progress({
    phase: 'write',
    detail: `wrote ${displayPath(outDir)} (${manifest.contentHash.slice(0, 12)})`,
  });
  return {
    outDir,
    bundlePath: join(outDir, 'bundle.js'),
    manifestPath: join(outDir, 'manifest.json'),
    manifest,
  };
}
