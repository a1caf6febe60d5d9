import { NextResponse } from 'next/server';

/** Marks product pages and the About page with a header, as a shop's middleware might. */
export function middleware() {
  const response = NextResponse.next();
  response.headers.set('x-shop', 'next-shop');
  return response;
}

export const config = { matcher: ['/p/:path*', '/about'] };
