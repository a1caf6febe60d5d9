/**
 * The shops' cart: the ids of the products added, kept in the browser's
 * `localStorage` so that it survives navigation, with listeners for the
 * counter in the header. It only exists in the browser: on the server (no
 * `localStorage`) a cart is empty, so the server and the first render in
 * the browser agree, and the counter shows the stored count once hydrated.
 * Bundle-safe.
 *
 * @module
 */

/** A shop's cart (one per shop: both shops may share an origin). */
export interface Cart {
  /** Number of products in the cart (0 without `localStorage`). */
  count(): number;
  /** Adds a product; listeners are called. */
  add(productId: number): void;
  /**
   * Calls `listener` whenever the cart changes, in this tab or another.
   * @returns Stops listening.
   */
  subscribe(listener: () => void): () => void;
}

/** The cart of shop `name`, stored under `localStorage["cart:<name>"]`. */
export function shopCart(name: string): Cart {
  const key = `cart:${name}`;
  const listeners = new Set<() => void>();
  const read = (): number[] => {
    try {
      const ids: unknown = JSON.parse(globalThis.localStorage?.getItem(key) ?? '[]');
      return Array.isArray(ids) ? ids.filter((id): id is number => Number.isInteger(id)) : [];
    } catch {
      return [];
    }
  };
  return {
    count: () => read().length,
    add(productId) {
      globalThis.localStorage?.setItem(key, JSON.stringify([...read(), productId]));
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      const onStorage = (event: StorageEvent) => {
        if (event.key === key) listener();
      };
      listeners.add(listener);
      globalThis.addEventListener?.('storage', onStorage);
      return () => {
        listeners.delete(listener);
        globalThis.removeEventListener?.('storage', onStorage);
      };
    },
  };
}
