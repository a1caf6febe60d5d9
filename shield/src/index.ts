export { ShieldError } from './errors.ts';
export { type AppRoute, matchRoute, type RouteMatch } from './routes.ts';
export { Shield, type ShieldOptions } from './shield.ts';
