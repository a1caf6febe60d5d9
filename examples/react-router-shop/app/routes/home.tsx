import { Link, useLoaderData } from 'react-router';
import { api, type Product } from '../api.server.ts';
import { useCart } from '../cart.ts';
import { formatPrice } from '../format.ts';

/** Products on the listing page. */
const PAGE_SIZE = 24;

export async function loader() {
  const products = await api<Product[]>(`/products?limit=${PAGE_SIZE}`);
  return { products };
}

/** The fleet's shield caches the page (and its `.data`) for 60 s, then serves it stale for 10 min while it refreshes. */
export function headers() {
  return { 'Cache-Control': 's-maxage=60, stale-while-revalidate=600' };
}

export function meta() {
  return [{ title: 'React Router Shop' }];
}

export default function Home() {
  const { products } = useLoaderData<typeof loader>();
  const cart = useCart();
  return (
    <>
      <h1>Products</h1>
      <ul className="grid">
        {products.map((p) => (
          <li key={p.id} className="card">
            <h2>
              <Link to={`/p/${p.id}`}>{p.name}</Link>
            </h2>
            <p>{formatPrice(p.priceCents)}</p>
            <button type="button" onClick={cart.add}>
              Add to cart
            </button>
          </li>
        ))}
      </ul>
    </>
  );
}
