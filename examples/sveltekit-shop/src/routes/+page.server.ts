import { api, type Product } from '$lib/server/api';
import type { PageServerLoad } from './$types';

/** Products on the listing page. */
const PAGE_SIZE = 24;

export const load: PageServerLoad = async ({ fetch, setHeaders }) => {
  // The fleet's shield caches the page (and its __data.json) for 60 s, then
  // serves it stale for 10 min while it refreshes.
  setHeaders({ 'cache-control': 's-maxage=60, stale-while-revalidate=600' });
  return { products: await api<Product[]>(fetch, `/products?limit=${PAGE_SIZE}`) };
};
