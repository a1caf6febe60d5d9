import { RenderMode, type ServerRoute } from '@angular/ssr';

export const serverRoutes: ServerRoute[] = [
  // Rendered once at build time; the fleet's shield serves it as a file.
  { path: 'about', renderMode: RenderMode.Prerender },
  // The fleet's shield caches the listing for 60 s, then serves it stale for 10 min while it refreshes.
  {
    path: '',
    renderMode: RenderMode.Server,
    headers: { 'Cache-Control': 's-maxage=60, stale-while-revalidate=600' },
  },
  // Product pages change less often: 5 minutes fresh, an hour stale.
  {
    path: 'p/:id',
    renderMode: RenderMode.Server,
    headers: { 'Cache-Control': 's-maxage=300, stale-while-revalidate=3600' },
  },
  { path: '**', renderMode: RenderMode.Server, status: 404 },
];
