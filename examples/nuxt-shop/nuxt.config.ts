// https://nuxt.com/docs/api/configuration/nuxt-config
export default defineNuxtConfig({
  compatibilityDate: '2025-07-15',
  devtools: { enabled: true },
  css: ['~/assets/main.css'],
  app: {
    head: {
      title: 'Nuxt Shop',
      link: [{ rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }],
    },
  },
  routeRules: {
    // The listing: fresh for 60 s, then served stale while it refreshes.
    '/': { swr: 60 },
    // Product pages and their API data change less often.
    '/p/**': { cache: { swr: true, maxAge: 300, staleMaxAge: 3600 } },
    '/api/products/**': { swr: 300 },
    // Rendered once at build time, served as a file.
    '/about': { prerender: true },
  },
});
