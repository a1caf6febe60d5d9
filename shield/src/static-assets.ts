/**
 * A deployment's static files, answered by the shield itself without a
 * render: hashed ones immutable (and still served after a newer deployment
 * is promoted), unhashed ones following the environment.
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FlotillaError } from '@flotilla/protocol';
import type { SiteDirectory, SiteTarget } from './site-directory.ts';
import { decisionFor, withHeaderRules } from './static-header-rules.ts';

/**
 * Answers a GET/HEAD for one of the deployment's static assets (or a hashed
 * asset of an earlier deployment of the app) without a render; false when
 * the request is for no asset.
 *
 * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` when the asset's bytes are missing from the store.
 */
export async function serveAsset(
  req: IncomingMessage,
  res: ServerResponse,
  target: SiteTarget,
  sites: SiteDirectory,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return false;
  const pathname = target.path.split('?')[0] ?? '/';
  const asset = sites.assetFor(target, pathname);
  if (!asset) return false;
  const etag = `"${asset.hash}"`;
  const headers: Record<string, string> = {
    'content-type': asset.contentType,
    etag,
    'cache-control': asset.permanent
      ? 'public, max-age=31536000, immutable'
      : 'public, max-age=0, must-revalidate',
    'x-flotilla-deployment': target.deploymentId,
  };
  req.resume();
  const decision = decisionFor(req, target);
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, withHeaderRules(req, decision, headers));
    res.end();
    return true;
  }
  const bytes = await sites.assetBytes(asset);
  if (!bytes) {
    throw new FlotillaError(
      'FLOTILLA_ERR_NOT_FOUND',
      `asset ${pathname} is missing from the store`,
    );
  }
  headers['content-length'] = String(bytes.byteLength);
  res.writeHead(200, withHeaderRules(req, decision, headers));
  res.end(method === 'HEAD' ? undefined : bytes);
  return true;
}
