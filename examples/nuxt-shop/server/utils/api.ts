/**
 * The products API, from server routes only. Inside the fleet the app
 * fetches its declared backend `api` (`backend://api/…`, which an environment
 * can re-point); on a plain Node server (`nuxt dev`, `nuxt preview`) it
 * fetches `$API_ORIGIN`, default `http://127.0.0.1:4001`.
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

/** GETs `path` from the API as JSON; a 404 stays a 404. */
export async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${ORIGIN}${path}`, { headers: { accept: 'application/json' } });
  if (res.status === 404) throw createError({ statusCode: 404, statusMessage: 'Not found' });
  if (!res.ok)
    throw createError({ statusCode: 502, statusMessage: `products API answered ${res.status}` });
  return (await res.json()) as T;
}
