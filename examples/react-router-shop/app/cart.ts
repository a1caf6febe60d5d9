import { useOutletContext } from 'react-router';

/** The cart the root route keeps in React state: it lives as long as the page (client-side navigations included). */
export interface Cart {
  count: number;
  add: () => void;
}

/** The cart, from a route rendered inside the root's `<Outlet>`. */
export function useCart(): Cart {
  return useOutletContext<Cart>();
}
