/**
 * The path prefix an app is served under: the shield routes
 * `/<app>/…` on a shared host to the app with the prefix stripped and passed
 * in `x-forwarded-prefix`, so links and asset URLs the app writes must start
 * with it. Bundle-safe.
 *
 * @module
 */
import { PATH_PREFIX } from '@flotilla/protocol/patterns';

/**
 * A prefix as links use it: `value` when it is a plain absolute path
 * (`/react-shop`), without a trailing `/`; `''` for anything else (absent,
 * a URL, `//host`, spaces, control characters), so a forged value can never
 * point a link elsewhere.
 *
 * @example
 * normalizePrefix('/react-shop/'); // '/react-shop'
 * normalizePrefix('//evil.example'); // ''
 */
export function normalizePrefix(value: string | null | undefined): string {
  if (typeof value !== 'string' || !PATH_PREFIX.test(value)) return '';
  return value.endsWith('/') ? value.slice(0, -1) : value;
}

/**
 * The prefix `request` was served under (its `x-forwarded-prefix`,
 * normalized by {@link normalizePrefix}), `''` when none.
 *
 * @example
 * const href = `${requestPrefix(ctx.request)}/p/${id}`;
 */
export function requestPrefix(request: Request): string {
  return normalizePrefix(request.headers.get('x-forwarded-prefix'));
}
