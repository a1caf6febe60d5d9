/**
 * A small Router app for `isolate.test.ts`: bundled with esbuild and run in
 * a real isolate. Not part of the SDK.
 */
import { createElement } from 'react';
import { assetUrl, CustomCacheKey, Router } from './index.ts';
import { notFound, reactPage, useLoaderData } from './react.ts';

interface Product {
  id: number;
  name: string;
  price: number;
}

function ProductPage() {
  const product = useLoaderData<Product>();
  return createElement(
    'main',
    null,
    createElement('h1', null, product.name),
    createElement('p', { className: 'price' }, `${product.price} EUR`),
  );
}

function ProductMissing() {
  const data = useLoaderData<{ id: string }>();
  return createElement('h1', null, `No product ${data.id}`);
}

const productPage = reactPage<Product>(ProductPage, {
  load: async ({ params, backend }) => {
    const res = await backend('api').fetch(
      `/products/${encodeURIComponent(params.productId ?? '')}`,
    );
    if (res.status === 404) throw notFound({ id: params.productId });
    return (await res.json()) as Product;
  },
  head: (p) =>
    `<title>${p.name}</title><link rel="stylesheet" href="${assetUrl('/assets/app.css')}">`,
  notFound: ProductMissing,
});

const api = new Router().match(
  { path: '/api/:path*', method: ['GET', 'POST'] },
  ({ proxy, removeUpstreamResponseHeader }) => {
    removeUpstreamResponseHeader('x-internal');
    proxy('api', { path: '/:path*' });
  },
);

export default new Router()
  .match('/:path*', ({ setResponseHeader }) => setResponseHeader('x-served-by', 'flotilla'))
  .get('/p/:productId', ({ cache, render }) => {
    cache({
      edge: { maxAgeSeconds: 60 },
      key: new CustomCacheKey().excludeAllQueryParametersExcept('color'),
    });
    render(productPage);
  })
  .use(api)
  .get('/env', ({ render }) => render(({ env }) => Response.json(env)))
  .get('/old/:id', ({ redirect }) => redirect('/p/:id', { statusCode: 301 }))
  .get('/assets/:file*', ({ serveStatic }) => serveStatic('public/assets', { permanent: true }))
  .fallback(({ send }) => send('nothing here', 404, { 'content-type': 'text/plain' }));
