import { type ReactNode, useEffect, useState } from 'react';
import {
  isRouteErrorResponse,
  Link,
  Links,
  Meta,
  Outlet,
  Scripts,
  ScrollRestoration,
  useRouteError,
} from 'react-router';
import type { Cart } from './cart.ts';
import './app.css';

export function links() {
  return [{ rel: 'icon', href: '/favicon.svg', type: 'image/svg+xml' }];
}

export function Layout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <Meta />
        <Links />
      </head>
      <body>
        {children}
        <ScrollRestoration />
        <Scripts />
      </body>
    </html>
  );
}

/** The page chrome and the cart: state that survives client-side navigation. */
export default function App() {
  const [count, setCount] = useState(0);
  const cart: Cart = { count, add: () => setCount((n) => n + 1) };
  // Effects run only in the browser, once React has hydrated the page (tests wait for it).
  useEffect(() => {
    document.documentElement.dataset.hydrated = 'true';
  }, []);
  return (
    <>
      <header>
        <Link to="/">React Router Shop</Link>
        <span data-testid="cart">Cart: {count}</span>
      </header>
      <main>
        <Outlet context={cart} />
      </main>
    </>
  );
}

export function ErrorBoundary() {
  const error = useRouteError();
  const title = isRouteErrorResponse(error) ? `${error.status} ${error.statusText}` : 'Error';
  return (
    <main>
      <h1>{title}</h1>
      <p>
        <Link to="/">Back to the shop</Link>
      </p>
    </main>
  );
}
