/** The routes the shop fixture describes (what a Router would produce). */
export const ROUTES = [
  {
    id: 0,
    criteria: { path: '/', method: ['GET'] },
    fallback: false,
    action: { kind: 'render' },
    cache: { edge: { maxAgeSeconds: 60 } },
    headerOps: [],
  },
  {
    id: 1,
    criteria: { path: '/api/:path*', method: ['GET'] },
    fallback: false,
    action: { kind: 'proxy', backend: 'api', path: '/:path*' },
    headerOps: [{ op: 'setResponse', name: 'x-via', value: 'shop' }],
  },
  {
    id: 2,
    criteria: { path: '/:path*' },
    fallback: true,
    action: { kind: 'render' },
    headerOps: [],
  },
];
