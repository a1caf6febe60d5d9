import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Manifest, ManifestLimits, ManifestRoute } from '@flotilla/manifest';
import { buildSync } from 'esbuild';

/** What {@link publishBundle} needs of a control plane (`ControlPlane` of `@flotilla/deploy`). */
export interface BundlePublisher {
  publish(
    build: { dir: string },
    options: { env: string },
  ): Promise<{ deployment: { id: string } }>;
}

/** A hand-written bundle published as its own app, served at `/<name>/`. */
export interface TestBundle {
  name: string;
  code: string;
  /** Declared backends of the deployment (name → origin). */
  backends?: Record<string, string>;
  /**
   * The manifest's routes (with their cache options), as a build would
   * write them.
   * @default one catch-all render route without cache options
   */
  routes?: ManifestRoute[];
  /**
   * Sandbox limits the deployment asks for (the manifest's `limits`): the
   * worker holds it to the smaller of these and its own.
   * @default none: the worker's limits
   * @example { cpuMs: 600 }
   */
  limits?: ManifestLimits;
}

/** The route of a bundle that declares none: every path renders, no cache options. */
const CATCH_ALL: ManifestRoute[] = [
  {
    id: 0,
    criteria: { path: '/:path*' },
    fallback: false,
    action: { kind: 'render' },
    headerOps: [],
  },
];

/**
 * Writes `bundle` as a build directory (bundle.js + a version 2 manifest
 * with its `routes`, by default one catch-all render route, and its
 * `limits` when it has any) under `dir`,
 * publishes it to the control plane and points its `production` environment
 * at it (served by path prefix `/<name>/` and on `<name>.localhost`).
 * Resolves with the deployment id.
 */
export async function publishBundle(
  controlPlane: BundlePublisher,
  dir: string,
  bundle: TestBundle,
): Promise<string> {
  const out = join(dir, bundle.name);
  await mkdir(out, { recursive: true });
  const bundleHash = createHash('sha256').update(bundle.code).digest('hex');
  const manifest: Manifest = {
    manifestVersion: 2,
    name: bundle.name,
    framework: 'none',
    bundleHash,
    bundleBytes: Buffer.byteLength(bundle.code),
    contentHash: createHash('sha256')
      .update(`${bundleHash}\n${JSON.stringify(bundle.backends ?? {})}`)
      // Routes are part of a deployment's identity (only when declared, so
      // the deployment ids of bundles without routes stay as they were).
      .update(bundle.routes ? `\n${JSON.stringify(bundle.routes)}` : '')
      // So are limits (only when asked for, for the same reason).
      .update(bundle.limits ? `\nlimits ${JSON.stringify(bundle.limits)}` : '')
      .digest('hex'),
    builtAt: new Date().toISOString(),
    routes: bundle.routes ?? CATCH_ALL,
    backends: bundle.backends ?? {},
    assets: [],
    ...(bundle.limits ? { limits: bundle.limits } : {}),
  };
  await writeFile(join(out, 'bundle.js'), bundle.code);
  await writeFile(join(out, 'manifest.json'), JSON.stringify(manifest));
  const { deployment } = await controlPlane.publish({ dir: out }, { env: 'production' });
  return deployment.id;
}

/**
 * One classic script for the isolate from `source`, an ES module that calls
 * `Flotilla.serve`: its imports resolved from `resolveDir` (a folder whose
 * packages provide them) as an edge runtime resolves them (`edge-light`,
 * `worker`), production builds (`NODE_ENV=production`), ES2022.
 */
export function isolateBundleOf(source: string, resolveDir: string): string {
  const out = buildSync({
    stdin: { contents: source, resolveDir, loader: 'js' },
    bundle: true,
    write: false,
    format: 'iife',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['edge-light', 'worker'],
    define: { 'process.env.NODE_ENV': '"production"' },
    target: 'es2022',
  });
  return (out.outputFiles[0] as { text: string }).text;
}
