/**
 * The cart: state of the page in the browser, kept across client-side
 * navigations. The server renders it empty; only clicks change it.
 */
export const cart = $state({ count: 0 });

export function addToCart(): void {
  cart.count += 1;
}
