import { cookies, headers } from 'next/headers';
import Link from 'next/link';
import { api, formatPrice, type Product } from '../api';

/**
 * A page rendered at request time with Next's default (Node.js) runtime:
 * it reads the request's cookies and headers and fetches the products API
 * uncached, so Next cannot prerender it.
 */
export default async function AccountPage() {
  const jar = await cookies();
  const visitor = jar.get('visitor')?.value ?? 'guest';
  const agent = (await headers()).get('user-agent') ?? 'unknown';
  const products = (await api<Product[]>('/products?limit=2')) ?? [];
  return (
    <article>
      <h1>Account</h1>
      <p id="visitor">Signed in as {visitor}</p>
      <p id="agent">Browser: {agent}</p>
      <h2>Recommended</h2>
      <ul>
        {products.map((p) => (
          <li key={p.id}>
            <Link href={`/p/${p.id}`}>{p.name}</Link> {formatPrice(p.priceCents)}
          </li>
        ))}
      </ul>
      <p>
        <Link href="/">← All products</Link>
      </p>
    </article>
  );
}
