import { error } from '@sveltejs/kit';
import { api, type Product } from '$lib/server/api';
import type { PageServerLoad } from './$types';

/**
 * Product pages change less often than the listing: the fleet caches them
 * (and their __data.json) for 5 minutes, decided from the manifest before
 * the page renders.
 */
export const config = { isr: { expiration: 300 } };

export const load: PageServerLoad = async ({ fetch, params }) => {
  if (!/^\d+$/.test(params.id)) error(404, 'Not found');
  return { product: await api<Product>(fetch, `/products/${params.id}`) };
};
