/**
 * Router destinations (EdgeJS `router.destination(name, router)`): one
 * deployment holds several routers, and the split test picks one per
 * visitor. The shield and the bundle choose routes the same way.
 *
 * @module
 */
import type { ManifestRoute } from './route-schema.ts';

/**
 * Request header carrying the destination the shield chose to the bundle.
 * A client never sets it: the shield drops every client `x-flotilla-*` header.
 */
export const DESTINATION_HEADER = 'x-flotilla-destination';

/** The destinations a deployment's routes declare, in declaration order. */
export function routeDestinations(routes: readonly ManifestRoute[]): string[] {
  const names: string[] = [];
  for (const route of routes) {
    if (route.destination !== undefined && !names.includes(route.destination)) {
      names.push(route.destination);
    }
  }
  return names;
}

/**
 * The routes that serve `destination`: those of no destination and those
 * of that destination. An unknown or absent destination gets the first
 * declared one (a deployment whose routes declare none: every route).
 */
export function routesForDestination(
  routes: readonly ManifestRoute[],
  destination: string | undefined,
): readonly ManifestRoute[] {
  const names = routeDestinations(routes);
  if (names.length === 0) return routes;
  const chosen = destination !== undefined && names.includes(destination) ? destination : names[0];
  return routes.filter((r) => r.destination === undefined || r.destination === chosen);
}
