import type { Metadata } from 'next';
import Link from 'next/link';
import { notFound } from 'next/navigation';
import { api, formatPrice, type Product } from '../../api';
import { AddToCart } from './add-to-cart';

export const runtime = 'edge';

interface Props {
  params: Promise<{ id: string }>;
}

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { id } = await params;
  return { title: `Product ${id} · Next Shop` };
}

export default async function ProductPage({ params }: Props) {
  const { id } = await params;
  const product = /^\d+$/.test(id) ? await api<Product>(`/products/${id}`) : undefined;
  if (product === undefined) notFound();
  return (
    <article>
      <p>
        <Link href="/">← All products</Link>
      </p>
      <h1>{product.name}</h1>
      <p className="price">{formatPrice(product.priceCents)}</p>
      <p>{product.description}</p>
      <AddToCart name={product.name} />
    </article>
  );
}
