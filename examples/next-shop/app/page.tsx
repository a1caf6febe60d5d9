import Link from 'next/link';
import { api, formatPrice, type Product } from './api';

// Rendered inside the isolate on each request (Node-runtime rendering is not supported yet).
export const runtime = 'edge';

/** Products on the listing page. */
const PAGE_SIZE = 24;

export default async function Home() {
  const products = (await api<Product[]>(`/products?limit=${PAGE_SIZE}`)) ?? [];
  return (
    <>
      <h1>Products</h1>
      <ul className="grid">
        {products.map((p) => (
          <li key={p.id} className="card">
            <h2>
              <Link href={`/p/${p.id}`}>{p.name}</Link>
            </h2>
            <p>{formatPrice(p.priceCents)}</p>
          </li>
        ))}
      </ul>
    </>
  );
}
