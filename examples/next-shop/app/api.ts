/**
 * The products API, from server components only. Inside the fleet the app
 * fetches its declared backend `api` (`backend://api/…`); under `next start`
 * it fetches `$API_ORIGIN`, default `http://127.0.0.1:4001`.
 */

declare const Flotilla: object | undefined;

const ORIGIN =
  typeof Flotilla === 'object'
    ? 'backend://api'
    : (process.env.API_ORIGIN ?? 'http://127.0.0.1:4001');

/** One product as the API returns it. */
export interface Product {
  id: number;
  name: string;
  priceCents: number;
  description: string;
  rating: number;
  reviewCount: number;
  tags: string[];
  category: string;
}

/** GETs `path` from the API as JSON; `undefined` for a 404. */
export async function api<T>(path: string): Promise<T | undefined> {
  const res = await fetch(`${ORIGIN}${path}`, {
    headers: { accept: 'application/json' },
    cache: 'no-store',
  });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`products API answered ${res.status} for ${path}`);
  return (await res.json()) as T;
}

/** `$12.34`. */
export function formatPrice(cents: number): string {
  return `$${(cents / 100).toFixed(2)}`;
}
