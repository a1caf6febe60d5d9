import { Link, type LoaderFunctionArgs, type MetaArgs, useLoaderData } from 'react-router';
import { api, type Product } from '../api.server.ts';
import { useCart } from '../cart.ts';
import { formatPrice } from '../format.ts';

export async function loader({ params }: LoaderFunctionArgs) {
  if (!/^\d+$/.test(params.id ?? '')) throw new Response('Not found', { status: 404 });
  const product = await api<Product>(`/products/${params.id}`);
  return { product };
}

/** Product pages change less often than the listing: 5 minutes fresh, an hour stale. */
export function headers() {
  return { 'Cache-Control': 's-maxage=300, stale-while-revalidate=3600' };
}

export function meta({ loaderData }: MetaArgs<typeof loader>) {
  return [{ title: loaderData ? `${loaderData.product.name} · React Router Shop` : 'Not found' }];
}

export default function ProductPage() {
  const { product } = useLoaderData<typeof loader>();
  const cart = useCart();
  return (
    <article className="card">
      <h1>{product.name}</h1>
      <p>{product.description}</p>
      <p>
        {formatPrice(product.priceCents)} · {product.rating} / 5 ({product.reviewCount} reviews)
      </p>
      <button type="button" onClick={cart.add}>
        Add to cart
      </button>
      <p>
        <Link to="/">All products</Link>
      </p>
    </article>
  );
}
