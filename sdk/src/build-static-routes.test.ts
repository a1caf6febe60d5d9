import { join } from 'node:path';
import type { ManifestAsset, ManifestRoute } from '@flotilla/manifest';
import { describe, expect, it } from 'vitest';
import { resolveStaticRoutes } from './build-static-routes.ts';

const ROOT = '/project';
const asset = (path: string): ManifestAsset => ({
  path,
  hash: 'a'.repeat(64),
  bytes: 1,
  contentType: 'text/html; charset=utf-8',
  permanent: false,
});
const ctx = {
  root: ROOT,
  staticDir: join(ROOT, 'public'),
  assets: [asset('/errors/404.html'), asset('/service-worker.js')],
};
const route = (action: ManifestRoute['action'], extra: Partial<ManifestRoute> = {}) =>
  ({
    id: 3,
    criteria: { path: '/sw.js', method: ['GET'] },
    fallback: false,
    action,
    headerOps: [],
    ...extra,
  }) as ManifestRoute;

describe('resolveStaticRoutes', () => {
  it('fills in the URL path of a file given relative to the project or to the static directory', () => {
    const [sw, page] = resolveStaticRoutes(
      'shop',
      [
        route({ kind: 'asset', file: 'public/service-worker.js', serviceWorker: true }),
        route({ kind: 'asset', file: 'errors/404.html', status: 404 }),
      ],
      ctx,
    );
    expect(sw?.action).toEqual({
      kind: 'asset',
      file: 'public/service-worker.js',
      serviceWorker: true,
      path: '/service-worker.js',
    });
    expect(page?.action).toMatchObject({ path: '/errors/404.html', status: 404 });
  });

  it('fails naming the route and the helper when the file is not a static file of the build', () => {
    expect(() =>
      resolveStaticRoutes(
        'shop',
        [route({ kind: 'asset', file: 'dist/sw.js', serviceWorker: true })],
        ctx,
      ),
    ).toThrow(
      /flotilla build: shop: route GET \/sw\.js \(route 3\): serviceWorker\("dist\/sw\.js"\) names no file of the static directory "public"/,
    );
    expect(() =>
      resolveStaticRoutes(
        'shop',
        [route({ kind: 'asset', file: 'errors/500.html' }, { catch: { regex: '5\\d\\d' } })],
        ctx,
      ),
    ).toThrow(/route catch \/5\\d\\d\/ \(route 3\): serveStatic\("errors\/500\.html"\)/);
    expect(() =>
      resolveStaticRoutes('shop', [route({ kind: 'asset', file: 'a.html' })], {
        ...ctx,
        staticDir: undefined,
      }),
    ).toThrow(/the app has none: set "static"/);
  });

  it('checks that router.static names the static directory', () => {
    const staticRoute = route({ kind: 'static', dir: 'public', permanent: false, filesOnly: true });
    expect(resolveStaticRoutes('shop', [staticRoute], ctx)).toEqual([staticRoute]);
    expect(() =>
      resolveStaticRoutes(
        'shop',
        [route({ kind: 'static', dir: 'dist', permanent: false, filesOnly: true })],
        ctx,
      ),
    ).toThrow(
      /router\.static\("dist"\) serves the files of the app's static directory at the root, and that is "public": set "static": "dist"/,
    );
    // serveStatic(dir) routes are left as they are.
    const dirRoute = route({ kind: 'static', dir: 'elsewhere', permanent: true });
    expect(resolveStaticRoutes('shop', [dirRoute], ctx)).toEqual([dirRoute]);
  });
});
