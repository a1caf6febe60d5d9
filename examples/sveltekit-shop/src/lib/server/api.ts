/**
 * The products API, from server load functions only (`$lib/server` never
 * reaches the browser). On the fleet the app fetches its declared backend
 * `api` (`backend://api/…`, which an environment can re-point); on a plain
 * Node server (`node build`, `vite dev`) it fetches `$API_ORIGIN`, default
 * `http://127.0.0.1:4001`.
 */
import { error } from '@sveltejs/kit';

declare const Flotilla: object | undefined;

const ORIGIN =
  typeof Flotilla === 'object'
    ? 'backend://api'
    : (globalThis.process?.env.API_ORIGIN ?? 'http://127.0.0.1:4001');

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

/** GETs `path` from the API as JSON; its 404 is the page's 404. */
export async function api<T>(fetch: typeof globalThis.fetch, path: string): Promise<T> {
  const res = await fetch(`${ORIGIN}${path}`, { headers: { accept: 'application/json' } });
  if (res.status === 404) error(404, 'Not found');
  if (!res.ok) throw new Error(`products API answered ${res.status} for ${path}`);
  return (await res.json()) as T;
}
