/** One product, for its detail page. */
export default defineEventHandler(async (event) => {
  const id = getRouterParam(event, 'id') ?? '';
  if (!/^\d+$/.test(id)) throw createError({ statusCode: 404, statusMessage: 'Not found' });
  return await api<Product>(`/products/${id}`);
});
