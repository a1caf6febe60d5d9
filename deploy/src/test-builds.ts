/**
 * Hand-written build directories for the control plane's tests: `bundle.js`,
 * a version-2 `manifest.json` and asset files in the layout `publish` reads
 * (`<dir>/assets<asset.path>`). No SDK build involved.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { assetFileSegments, type Manifest } from '@flotilla/manifest';

/** One asset of a test build. */
export interface TestAsset {
  /** URL path, e.g. `/assets/app.css`. */
  path: string;
  content: string | Uint8Array;
  contentType?: string;
}

/** What a test build contains. */
export interface TestBuildSpec {
  /** App name. @default 'shop' */
  name?: string;
  /** Text of bundle.js. @default a tiny fetch handler */
  code?: string;
  assets?: TestAsset[];
  /** Declared backends. @default { api: 'http://127.0.0.1:9' } */
  backends?: Record<string, string>;
  /** builtAt (not part of the content hash). @default now */
  builtAt?: string;
  /** The manifest's `limits` (part of the content hash when given). @default none */
  limits?: Manifest['limits'];
  /** The manifest's routes. @default one catch-all render route */
  routes?: Manifest['routes'];
}

/** A build directory written by {@link writeBuild}. */
export interface TestBuild {
  dir: string;
  manifest: Manifest;
  /** The deployment id publishing it yields. */
  id: string;
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
}

/** Writes a build directory under `root/<sub>` and returns it with its manifest. */
export async function writeBuild(
  root: string,
  sub: string,
  spec: TestBuildSpec = {},
): Promise<TestBuild> {
  const dir = join(root, sub);
  const name = spec.name ?? 'shop';
  const code = spec.code ?? `export default { fetch: () => new Response('hello from ${name}') };\n`;
  const backends = spec.backends ?? { api: 'http://127.0.0.1:9' };
  await mkdir(join(dir, 'assets'), { recursive: true });
  await writeFile(join(dir, 'bundle.js'), code);
  const assets: Manifest['assets'] = [];
  for (const asset of spec.assets ?? []) {
    const file = join(dir, 'assets', ...assetFileSegments(asset.path));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, asset.content);
    assets.push({
      path: asset.path,
      hash: sha256(asset.content),
      bytes: byteLength(asset.content),
      contentType: asset.contentType ?? 'text/plain',
      permanent: true,
    });
  }
  const routes: Manifest['routes'] = spec.routes ?? [
    {
      id: 0,
      criteria: { path: '/:path*' },
      fallback: false,
      action: { kind: 'render' },
      headerOps: [],
    },
  ];
  const bundleHash = sha256(code);
  const contentHash = sha256(
    JSON.stringify({
      bundleHash,
      assets: assets.map((a) => [a.path, a.hash]),
      routes,
      backends,
      // Only when given: the ids of builds without limits stay as they were.
      ...(spec.limits ? { limits: spec.limits } : {}),
    }),
  );
  const manifest: Manifest = {
    manifestVersion: 2,
    name,
    framework: 'none',
    bundleHash,
    bundleBytes: byteLength(code),
    contentHash,
    builtAt: spec.builtAt ?? new Date().toISOString(),
    routes,
    backends,
    assets,
    ...(spec.limits ? { limits: spec.limits } : {}),
  };
  await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, manifest, id: `${name}-${contentHash.slice(0, 12)}` };
}

/** A fresh temp directory and its removal. */
export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}
