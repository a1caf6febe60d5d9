import { InvalidOptionError, isSubjectToken } from '@flotilla/protocol';

/** An app the shield serves: which requests go to which deployment. */
export interface AppRoute {
  /** App name, also its path prefix on any other host: `/<name>/…`. */
  name: string;
  /** Immutable deployment that renders the app. */
  deploymentId: string;
  /** Host names (without port) that serve the app at `/`. @example ['react-shop.localhost'] */
  hosts: string[];
}

/** Where a request goes. */
export interface RouteMatch {
  app: AppRoute;
  /** Path (with query) the app sees. */
  path: string;
  /** Path prefix the shield stripped, `''` when routed by host. */
  prefix: string;
}

/** The host name of a `Host` header: lower case, without the port (IPv6 literals keep their brackets). */
export function hostOnly(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** First path segments the shield answers itself; an app there would hide them. */
const RESERVED = new Set(['healthz', 'livez', 'metrics']);

/** Validates the app list: names are unique tokens, hosts are unique. */
export function validateApps(apps: AppRoute[]): void {
  if (!Array.isArray(apps)) throw new InvalidOptionError('apps', 'must be an array');
  const names = new Set<string>();
  const hosts = new Set<string>();
  for (const [i, app] of apps.entries()) {
    if (!app || !isSubjectToken(app.name)) {
      throw new InvalidOptionError(
        `apps[${i}].name`,
        'must be lower-case letters, digits and dashes',
      );
    }
    if (names.has(app.name))
      throw new InvalidOptionError(`apps[${i}].name`, `repeats "${app.name}"`);
    names.add(app.name);
    if (RESERVED.has(app.name)) {
      throw new InvalidOptionError(
        `apps[${i}].name`,
        `must not be "${app.name}": the shield serves /${app.name} itself`,
      );
    }
    if (!isSubjectToken(app.deploymentId)) {
      throw new InvalidOptionError(`apps[${i}].deploymentId`, 'must be a deployment id');
    }
    if (!Array.isArray(app.hosts)) {
      throw new InvalidOptionError(`apps[${i}].hosts`, 'must be an array of host names');
    }
    for (const h of app.hosts) {
      if (typeof h !== 'string' || h.trim() === '') {
        throw new InvalidOptionError(`apps[${i}].hosts`, 'must hold non-empty host names');
      }
      const host = h.toLowerCase();
      if (hosts.has(host)) throw new InvalidOptionError(`apps[${i}].hosts`, `repeats host "${h}"`);
      hosts.add(host);
    }
  }
}

/**
 * Matches a request to an app: by host first (`react-shop.localhost`), then
 * by the first path segment (`/react-shop/p/1` → `/p/1`).
 */
export function matchRoute(
  apps: AppRoute[],
  hostHeader: string,
  rawPath: string,
): RouteMatch | undefined {
  const host = hostOnly(hostHeader);
  for (const app of apps) {
    if (app.hosts.some((h) => h.toLowerCase() === host)) {
      return { app, path: rawPath, prefix: '' };
    }
  }
  const m = /^\/([^/?#]+)(.*)$/.exec(rawPath);
  if (!m) return undefined;
  const app = apps.find((a) => a.name === m[1]);
  if (!app) return undefined;
  const rest = m[2] ?? '';
  const path = rest === '' || rest.startsWith('?') ? `/${rest}` : rest;
  return { app, path, prefix: `/${app.name}` };
}
