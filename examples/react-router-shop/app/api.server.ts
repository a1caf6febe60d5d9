/**
 * The products API, from loaders only (a `.server` module never reaches the
 * browser). Inside the fleet the app fetches its declared backend `api`
 * (`backend://api/…`, which an environment can re-point); on a plain Node
 * server (`react-router-serve`, `react-router dev`) it fetches
 * `$API_ORIGIN`, default `http://127.0.0.1:4001`.
 */
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

/**
 * GETs `path` from the API as JSON. A 404 becomes React Router's 404 (the
 * route's error boundary); any other failure an error.
 */
export async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${ORIGIN}${path}`, { headers: { accept: 'application/json' } });
  if (res.status === 404) throw new Response('Not found', { status: 404 });
  if (!res.ok) throw new Error(`products API answered ${res.status} for ${path}`);
  return (await res.json()) as T;
}
