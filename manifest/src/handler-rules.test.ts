import { describe, expect, it } from 'vitest';
import { catchPatternOf, catchRouteFor } from './handler-rules.ts';
import { matchRoutes } from './match.ts';
import type { ManifestRoute } from './route-schema.ts';
import { validateRoute } from './validate.ts';

const route = (id: number, extra: Partial<ManifestRoute>): ManifestRoute => ({
  id,
  criteria: { path: '/:path*' },
  fallback: false,
  action: { kind: 'render' },
  headerOps: [],
  ...extra,
});

describe('catch routes', () => {
  it('turns a status or a RegExp into a pattern', () => {
    expect(catchPatternOf(404)).toBe('^404$');
    expect(catchPatternOf(/5\d{2}/)).toBe('5\\d{2}');
    expect(catchPatternOf('404')).toBeUndefined();
    expect(catchPatternOf(4.5)).toBeUndefined();
  });

  it('picks the first catch route matching an error status, never for other statuses', () => {
    const routes = [
      route(0, { action: { kind: 'redirect', to: '/x', statusCode: 302 } }),
      route(1, { catch: { regex: '^404$' }, action: { kind: 'asset', file: 'e/404.html' } }),
      route(2, { catch: { regex: '4\\d\\d' } }),
    ];
    expect(catchRouteFor(routes, 404)?.id).toBe(1);
    expect(catchRouteFor(routes, 410)?.id).toBe(2);
    expect(catchRouteFor(routes, 500)).toBeUndefined();
    expect(catchRouteFor(routes, 200)).toBeUndefined();
  });

  it('catch routes and router.static routes are never matched by a request', () => {
    const routes = [
      route(0, { action: { kind: 'static', dir: 'public', permanent: false, filesOnly: true } }),
      route(1, { catch: { regex: '^404$' }, action: { kind: 'asset', file: 'e/404.html' } }),
      route(2, {}),
    ];
    const d = matchRoutes(routes, { method: 'GET', host: 'a', path: '/x', query: '', headers: {} });
    expect(d.terminal?.id).toBe(2);
    expect(d.routeIds).toEqual([2]);
  });
});

describe('the handler helpers in the manifest', () => {
  it('accepts the header rules and asset routes the writer records', () => {
    const r = route(0, {
      action: { kind: 'asset', file: 'public/sw.js', path: '/sw.js', serviceWorker: true },
      headerOps: [
        { op: 'updateResponse', name: 'X-A', regex: 'a(b)', flags: 'gi', replacement: '$1' },
        { op: 'cors', origin: ['https://a.example'], credentials: true },
        { op: 'addResponseCookie', name: 'c', value: 'v' },
      ],
    });
    expect(validateRoute(r, 0).headerOps[0]).toMatchObject({ name: 'x-a' });
  });

  it('refuses a bad regex, flags, cookie value or asset status, naming the field', () => {
    const bad =
      (headerOps: unknown[], action: unknown = { kind: 'render' }) =>
      () =>
        validateRoute(route(0, { headerOps, action } as never), 0);
    expect(
      bad([{ op: 'updateResponse', name: 'x', regex: '(', flags: '', replacement: '' }]),
    ).toThrow(/headerOps\[0\].*\/\(\/ is not a valid regular expression/);
    expect(
      bad([{ op: 'updateResponse', name: 'x', regex: 'a', flags: 'gg', replacement: '' }]),
    ).toThrow(/\/a\/gg is not a valid regular expression/);
    expect(
      bad([{ op: 'updateRequest', name: 'x', regex: 'a', flags: 'y', replacement: '' }]),
    ).toThrow(/has the flag "y", which the matcher cannot carry \(only g, i, m, s, u\)/);
    expect(bad([{ op: 'updateResponse', name: 'x', regex: '(a+)+', replacement: '' }])).toThrow(
      /nests a repetition inside a repetition/,
    );
    expect(bad([{ op: 'addResponseCookie', name: 'c', value: 'a b' }])).toThrow(
      /must not contain ";", "," or white space/,
    );
    expect(bad([], { kind: 'asset', file: 'a.html', status: 100 })).toThrow(
      /action\.status must be an integer from 200 to 599/,
    );
    expect(bad([], { kind: 'asset', file: '../a.html' })).toThrow(
      /must not contain "\.\." segments/,
    );
  });
});
