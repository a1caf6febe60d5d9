/** The first products, for the listing page. */
export default defineEventHandler(async (event) => {
  const { limit } = getQuery(event);
  const n = Math.min(Math.max(Number(limit) || 24, 1), 120);
  return await api<Product[]>(`/products?limit=${n}`);
});
