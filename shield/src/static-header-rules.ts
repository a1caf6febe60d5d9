/**
 * The routes' header rules on the static files the shield serves itself
 * (assets and `serveStatic(file)` routes): the same rules, and the same
 * code (`@flotilla/manifest`), the bundle's router applies to what it answers.
 *
 * @module
 */
import type { IncomingMessage } from 'node:http';
import {
  applyResponseRules,
  applyUpstreamRules,
  hasOps,
  matchRoutes,
  RESPONSE_OPS,
  type RouteDecision,
  UPSTREAM_OPS,
} from '@flotilla/manifest';
import { headerRecord } from './front-door/upstream-headers.ts';
import { hostOnly } from './host.ts';
import type { SiteTarget } from './site-directory.ts';

/** The routes `req` matches on `target` (no query in the path). */
export function decisionFor(req: IncomingMessage, target: SiteTarget): RouteDecision {
  const url = new URL(target.path, 'http://shield.invalid');
  return matchRoutes(target.manifest.routes, {
    method: (req.method ?? 'GET').toUpperCase(),
    host: hostOnly(req.headers.host ?? ''),
    path: url.pathname,
    query: url.search.slice(1),
    headers: headerRecord(req.rawHeaders),
  });
}

/**
 * `headers` of a file the shield answers, with the matched routes' upstream
 * and response header rules applied (the file is the action's answer);
 * `headers` itself when no rule applies.
 */
export function withHeaderRules(
  req: IncomingMessage,
  decision: RouteDecision,
  headers: Record<string, string>,
): Record<string, string | string[]> {
  const ops = decision.headerOps;
  if (!hasOps(ops, UPSTREAM_OPS) && !hasOps(ops, RESPONSE_OPS)) return headers;
  const bag = new Headers(headers);
  applyUpstreamRules(bag, ops);
  applyResponseRules(bag, ops, headerRecord(req.rawHeaders));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of bag) if (name !== 'set-cookie') out[name] = value;
  const cookies = bag.getSetCookie();
  if (cookies.length > 0) out['set-cookie'] = cookies;
  return out;
}
