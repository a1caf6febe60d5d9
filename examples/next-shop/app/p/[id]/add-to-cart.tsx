'use client';

import { useState } from 'react';

/** A client component: counts clicks in the browser once the page has hydrated. */
export function AddToCart({ name }: { name: string }) {
  const [count, setCount] = useState(0);
  return (
    <p>
      <button type="button" onClick={() => setCount((n) => n + 1)}>
        Add {name} to cart
      </button>{' '}
      <output data-testid="cart-count">{count}</output> in cart
    </p>
  );
}
