/**
 * A hand-written stand-in for a Router: a fetch handler that also describes
 * its routes through `Symbol.for('flotilla.router.describe')`.
 */
import { ROUTES } from './routes.ts';

declare const __FLOTILLA_ASSETS__: Record<string, string>;

function assetUrl(path: string): string {
  return __FLOTILLA_ASSETS__[path] ?? path;
}

export default {
  fetch(request: Request): Response {
    const { pathname } = new URL(request.url);
    if (pathname === '/') {
      return new Response(`<link rel="stylesheet" href="${assetUrl('/app.css')}">`, {
        headers: { 'content-type': 'text/html; charset=utf-8' },
      });
    }
    return new Response('not found', { status: 404 });
  },
  [Symbol.for('flotilla.router.describe')]() {
    return ROUTES;
  },
};
