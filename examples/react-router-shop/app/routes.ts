import { index, type RouteConfig, route } from '@react-router/dev/routes';

export default [
  index('routes/home.tsx'),
  route('p/:id', 'routes/product.tsx'),
] satisfies RouteConfig;
