/**
 * Static assets of a build: every file under the static directory, served
 * both at its own path (`/app.css`, follows the environment) and at a hashed,
 * permanent path (`/assets/app.3f2a1b9c00.css`).
 *
 * Node-only.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, posix } from 'node:path';
import type { ManifestAsset } from '@flotilla/manifest';
import { buildFailure } from './build-errors.ts';

/** URL prefix of the hashed copies. */
export const HASHED_ASSET_PREFIX = '/assets/';

/** Hex digits of the sha256 in a hashed file name. */
export const ASSET_HASH_LENGTH = 10;

/** An asset of the build with its bytes. */
export interface CollectedAsset extends ManifestAsset {
  data: Uint8Array;
}

/** What {@link collectAssets} found. */
export interface CollectedAssets {
  /** Every asset (plain and hashed), sorted by path. */
  assets: CollectedAsset[];
  /** Plain path → hashed path, the value of `__FLOTILLA_ASSETS__` (`/app.css` → `/assets/app.3f2a1b9c00.css`). */
  hashedPaths: Record<string, string>;
  /** Number of files in the static directory. */
  fileCount: number;
}

const TEXT = '; charset=utf-8';

/** Content types by lower-case extension; anything else is `application/octet-stream`. */
export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': `text/html${TEXT}`,
  '.htm': `text/html${TEXT}`,
  '.css': `text/css${TEXT}`,
  '.js': `text/javascript${TEXT}`,
  '.mjs': `text/javascript${TEXT}`,
  '.json': `application/json${TEXT}`,
  '.map': `application/json${TEXT}`,
  '.webmanifest': `application/manifest+json${TEXT}`,
  '.txt': `text/plain${TEXT}`,
  '.md': `text/markdown${TEXT}`,
  '.csv': `text/csv${TEXT}`,
  '.xml': `application/xml${TEXT}`,
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.bmp': 'image/bmp',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.mp4': 'video/mp4',
  '.webm': 'video/webm',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
  '.ogg': 'audio/ogg',
};

/** The content type for a file name, from {@link CONTENT_TYPES}. */
export function contentTypeOf(fileName: string): string {
  return CONTENT_TYPES[extname(fileName).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Reads every file under `staticDir` and returns both served forms of each:
 * `/<rel>` (`permanent: false`) and `/assets/<stem>.<hash10><ext>`
 * (`permanent: true`). Path segments are percent-encoded where needed.
 *
 * @param app - App name, for error messages.
 * @param staticDir - Absolute directory, or undefined for none.
 * @throws BuildError when two files would be served at the same path with different bytes.
 */
export async function collectAssets(
  app: string,
  staticDir: string | undefined,
): Promise<CollectedAssets> {
  const byPath = new Map<string, CollectedAsset>();
  const hashedPaths: Record<string, string> = {};
  if (staticDir === undefined) return { assets: [], hashedPaths, fileCount: 0 };

  const files = await listFiles(staticDir);
  const add = (asset: CollectedAsset, source: string): void => {
    const existing = byPath.get(asset.path);
    if (existing === undefined) {
      byPath.set(asset.path, asset);
      return;
    }
    if (existing.hash === asset.hash && existing.permanent === asset.permanent) return;
    throw buildFailure(
      app,
      `static file ${source} would be served at ${asset.path}, which another static file already uses; rename one of them`,
    );
  };

  for (const rel of files) {
    const data = new Uint8Array(await readFile(join(staticDir, ...rel.split('/'))));
    const hash = createHash('sha256').update(data).digest('hex');
    const base = posix.basename(rel);
    const ext = extname(base);
    const stem = base.slice(0, base.length - ext.length);
    const contentType = contentTypeOf(base);
    const plainPath = `/${rel.split('/').map(encodeSegment).join('/')}`;
    const hashedPath = `${HASHED_ASSET_PREFIX}${encodeSegment(`${stem}.${hash.slice(0, ASSET_HASH_LENGTH)}${ext}`)}`;
    const common = { hash, bytes: data.byteLength, contentType, data };
    add({ path: plainPath, permanent: false, ...common }, rel);
    add({ path: hashedPath, permanent: true, ...common }, rel);
    hashedPaths[plainPath] = hashedPath;
    const rawPath = `/${rel}`;
    if (rawPath !== plainPath) hashedPaths[rawPath] = hashedPath;
  }

  const assets = [...byPath.values()].sort((a, b) => compare(a.path, b.path));
  return { assets, hashedPaths, fileCount: files.length };
}

/** Relative paths (with `/`) of the regular files under `dir`, sorted; follows symlinks. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  const entries = await readdir(join(dir, prefix), { withFileTypes: true });
  for (const entry of entries) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    let isDir = entry.isDirectory();
    let isFile = entry.isFile();
    if (entry.isSymbolicLink()) {
      const target = await stat(join(dir, rel)).catch(() => undefined);
      isDir = target?.isDirectory() ?? false;
      isFile = target?.isFile() ?? false;
    }
    if (isDir) out.push(...(await listFiles(dir, rel)));
    else if (isFile) out.push(rel);
  }
  return out.sort(compare);
}

/** Percent-encodes what may not appear raw in a URL path segment. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(2[146-9ABC]|3[ABD]|40)/g, (m) =>
    decodeURIComponent(m),
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
