/**
 * Files the routes name, answered by the shield without a render:
 * `serveStatic(file)` and `serviceWorker(file)` routes, and the static
 * error pages of `router.catch(status, ({ serveStatic }) => …)`, which the
 * shield also sends for its own errors (a failed render's 502, a 504).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { catchRouteFor, type Manifest } from '@flotilla/manifest';
import { FlotillaError } from '@flotilla/protocol';
import type { SiteDirectory, SiteTarget } from './site-directory.ts';
import { decisionFor, withHeaderRules } from './static-header-rules.ts';

/** A page the shield sends in place of a body. */
export interface FilePage {
  contentType: string;
  body: Uint8Array;
}

async function bytesOf(sites: SiteDirectory, target: SiteTarget, path: string): Promise<FilePage> {
  const asset = sites.assetFor(target, path);
  const bytes = asset ? await sites.assetBytes(asset) : undefined;
  if (!asset || !bytes) {
    throw new FlotillaError('FLOTILLA_ERR_NOT_FOUND', `asset ${path} is missing from the store`);
  }
  return { contentType: asset.contentType, body: bytes };
}

/**
 * Answers a GET/HEAD whose route serves one file (`serveStatic(file)`,
 * `serviceWorker(file)`); false when its route does something else.
 *
 * @throws FlotillaError `FLOTILLA_ERR_NOT_FOUND` when the file's bytes are missing from the store.
 */
export async function serveRouteFile(
  req: IncomingMessage,
  res: ServerResponse,
  target: SiteTarget,
  sites: SiteDirectory,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') return false;
  const decision = decisionFor(req, target);
  const action = decision.terminal?.action;
  if (action?.kind !== 'asset' || action.path === undefined) return false;
  req.resume();
  const page = await bytesOf(sites, target, action.path);
  const headers: Record<string, string> = {
    'content-type': page.contentType,
    'content-length': String(page.body.byteLength),
    'x-flotilla-deployment': target.deploymentId,
    // A service worker is checked for updates on every navigation.
    'cache-control': action.serviceWorker
      ? 'no-cache, no-store, must-revalidate'
      : 'public, max-age=0, must-revalidate',
  };
  if (action.serviceWorker) headers['service-worker-allowed'] = '/';
  res.writeHead(action.status ?? 200, withHeaderRules(req, decision, headers));
  res.end(method === 'HEAD' ? undefined : page.body);
  return true;
}

/**
 * The static error page `router.catch()` declares for `status` on this
 * deployment, or undefined (no catch route matches, or it runs code: the
 * bundle answers those).
 */
export async function catchPage(
  manifest: Manifest,
  status: number,
  target: SiteTarget,
  sites: SiteDirectory | undefined,
): Promise<FilePage | undefined> {
  if (!sites) return undefined;
  const route = catchRouteFor(manifest.routes, status);
  if (route?.action.kind !== 'asset' || route.action.path === undefined) return undefined;
  try {
    return await bytesOf(sites, target, route.action.path);
  } catch {
    // The plain error is better than none.
    return undefined;
  }
}
